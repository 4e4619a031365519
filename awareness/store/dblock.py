"""Writes that wait for another writer instead of failing: SQLite allows one writer at a time.

Two things make "database is locked" survivable.  SQLite's own busy handler
(``PRAGMA busy_timeout``) makes each statement wait up to BUSY_TIMEOUT_MS for
the lock.  When a writer holds it longer than that (a backup, a second
`awareness run`, an admin's sqlite3 shell), ``retry_when_locked`` runs the
whole transaction again with a growing pause, for up to LOCKED_RETRY_FOR
seconds.  Retrying is safe because each decorated method is one transaction,
rolled back in full when it fails.  What matters most is the ledger write
after a message was accepted: losing it would send the message twice.
PostgreSQL never raises these errors; its row locks simply wait.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Callable, TypeVar

import sqlalchemy as sa

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000       # how long one statement waits for the lock
LOCKED_RETRY_FOR = 300.0       # how long a transaction is retried while another writer holds the lock
_MAX_PAUSE = 2.0

F = TypeVar("F", bound=Callable[..., Any])


def is_locked(error: BaseException) -> bool:
    text = str(getattr(error, "orig", error)).lower()
    return "database is locked" in text or "database table is locked" in text or "database is busy" in text


def retry_when_locked(fn: F) -> F:
    """Run ``fn`` (one transaction) again while SQLite says another writer holds the database."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + LOCKED_RETRY_FOR
        pause = 0.05
        while True:
            try:
                return fn(*args, **kwargs)
            except sa.exc.OperationalError as e:
                if not is_locked(e) or time.monotonic() + pause > deadline:
                    raise
                logger.warning("the database is locked by another writer; retrying %s in %.2f s",
                               fn.__name__, pause)
                time.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE)

    return wrapper  # type: ignore[return-value]
