"""One error tree for the whole service.

    AwarenessError
    ├── ConfigError        a bad setting (names the key)
    ├── ProfileError       a bad profile (names the file and line)
    ├── SourcesError       a bad sources.yaml / OPML file (names the file and line)
    │   └── SourcesFileError   the file as a whole cannot be read (missing, not YAML, not a list)
    ├── SourceError        one source failed this time (names the source id and URL)
    │   ├── FetchError     HTTP error, timeout, size cap, refused address
    │   └── ParseError     not a feed, malformed beyond salvage
    ├── DeliveryError      SMTP refused or unreachable; nothing was marked sent
    ├── UnknownName        a profile or source id that is not configured
    │   raised where their rule lives, above core:
    ├── SchemaError        the database is at an older schema (store/migrations)
    ├── LockHeld           another `awareness serve` runs on this database (store/locks)
    ├── RunInProgress      another run is gathering or sending now (store/runlock)
    ├── UserError          an account that cannot be made or changed (store/users)
    └── BadToken           a signed link that is tampered with or for another purpose (deliver/tokens)
        └── ExpiredToken   a signed link past its time

Every message is written for the person who has to fix it: what is wrong,
where, and what to do.
"""

from __future__ import annotations


class AwarenessError(Exception):
    """Base of every error Awareness raises on purpose."""


class ConfigError(AwarenessError):
    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")


class _FileLineError(AwarenessError):
    """An error at a place in a file a person edits."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class ProfileError(_FileLineError):
    """A profile YAML file is not valid."""


class SourcesError(_FileLineError):
    """A sources.yaml or OPML file is not valid."""


class SourcesFileError(SourcesError):
    """sources.yaml as a whole cannot be read: the one sources problem that stops a run (issue 16)."""


class SourceError(AwarenessError):
    def __init__(self, source_id: str, url: str, problem: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        self.source_id = source_id
        self.url = url
        self.problem = problem
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(f"source '{source_id}' ({url}): {problem}")


class FetchError(SourceError):
    """The source could not be fetched this time."""


class ParseError(SourceError):
    """The source answered, but not with a feed we can read."""


class DeliveryError(AwarenessError):
    """A message could not be handed to the mail server; nothing was marked sent.

    ``unreachable`` means the server itself could not be reached, so every
    other message in this run would fail the same way.  ``fate`` says what
    became of the message: "not sent" (safe to send again), "refused" (a
    permanent 5xx: sending again would fail the same way) or "unknown" (the
    connection dropped after the message data went out: it may have arrived).
    ``temporary`` marks failures worth retrying within the same run (4xx
    replies, a server that is down or dropped the connection early).
    """

    def __init__(self, message: str, *, unreachable: bool = False, fate: str = "not sent",
                 temporary: bool = False) -> None:
        self.unreachable = unreachable
        self.fate = fate
        self.temporary = temporary
        super().__init__(message)


class UnknownName(AwarenessError):
    """A profile or source id given on the command line that is not configured."""
