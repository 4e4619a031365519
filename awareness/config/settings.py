"""Settings: one typed object, read from awareness.toml and AWARENESS_* variables.

Where the file comes from, in order: ``--config PATH``, ``$AWARENESS_CONFIG``,
``./awareness.toml``; with none of them the defaults below apply (they make
``make demo`` work).  Every key can be overridden by ``AWARENESS_<KEY>``; a list
(``fetch_allow``) as ``a,b`` or as a JSON list ``["a", "b"]``.
Secrets (``secret_key``, the SMTP password) come only from the environment.
Relative paths are taken from the directory of the config file (or the
working directory when there is none).
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import logging
import os
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .. import __version__
from ..core.errors import ConfigError
from ..core.extras import SEMANTIC_HINT, semantic_available
from ..core.localtime import DEFAULT_ZONE, check_zone
from ..core.logs import check_log_format

logger = logging.getLogger(__name__)

ENV_PREFIX = "AWARENESS_"
SECRET_KEYS = {"secret_key", "admin_token", "metrics_token"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/awareness.db"
    sources: Path = Path("sources.yaml")
    profiles: Path = Path("profiles")
    smtp_url: str = ""
    outbox: Path = Path("var/outbox")
    sender: str = "Awareness <awareness@localhost>"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    admin_token: str = ""
    metrics_token: str = ""                  # Bearer token for /metrics; without one only this host may read it
    fetch_allow: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()    # addresses of reverse proxies whose X-Forwarded-For is believed
    # Gathering limits: generous for real feeds, tight enough to stay polite and bounded.
    fetch_concurrency: int = 16
    fetch_per_host: int = 2
    fetch_timeout: float = 30.0          # overall deadline per request, seconds
    fetch_max_bytes: int = 10_000_000    # decoded body cap per response
    contact_url: str = "https://github.com/awareness-lks/awareness"
    smtp_retry_for: float = 120.0        # seconds a run keeps retrying a mail server that is down or says "later"
    # The service (issue 5): logging, the scheduler's catch-up window, the default time zone.
    log_format: str = "keyvalue"          # keyvalue or json: one line per source fetch and per message sent
    misfire_grace_time: int = 21600       # seconds: a run missed while the service was down still runs this late
    timezone: str = DEFAULT_ZONE          # for profiles that name none, and the weekly source-health summary
    watch_interval: int = 5               # seconds between checks of sources.yaml and profiles/ for edits
    # Sentence-embedding evidence in matching (awareness/match/semantic.py): needs the
    # `semantic` extra; off by default (bench/matching.md, "Embeddings (2)").
    semantic_matching: bool = False
    smtp_password: str = field(default="", repr=False)
    home: Path = field(default=Path("."), repr=False)   # the config file's folder; var/ lives here

    # -------------------------------------------------------------- derived

    @property
    def user_agent(self) -> str:
        return f"Awareness/{__version__} (+{self.contact_url}; current-awareness service for NHS libraries)"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        nets = []
        for entry in self.fetch_allow:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                pass  # a host name, matched by name in fetch.guard
        return nets

    def allowed_hosts(self) -> set[str]:
        hosts = set()
        for entry in self.fetch_allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                hosts.add(entry.lower())
        return hosts

    @property
    def data_dir(self) -> Path:
        """Where the install keeps its own files: the SQLite database's folder, else ``var/`` by the config."""
        if self.is_sqlite:
            path = self.database_url.split("///", 1)[-1].split("?", 1)[0]
            if path and path != ":memory:":
                return Path(path).expanduser().resolve().parent
        return self.home / "var"

    def ensure_secret_key(self) -> str:
        """The signing key, the same for the CLI, the scheduler and the web app (issue 16).

        Without AWARENESS_SECRET_KEY a key is generated once into the data directory and
        read from there by every process.  When the service runs with AWARENESS_SECRET_KEY,
        its fingerprint is kept there too, so a command started without it refuses to sign
        links the web app would reject, instead of making a key of its own.
        """
        fingerprint_file = self.data_dir / "secret_key.fingerprint"
        if self.secret_key:
            _keep_fingerprint(fingerprint_file, self.secret_key)
            return self.secret_key
        legacy = self.home / "var" / "secret_key"
        key_file = legacy if legacy.exists() else self.data_dir / "secret_key"
        try:
            key = _read_or_create_key(key_file)
        except OSError as e:
            raise ConfigError("secret_key", f"AWARENESS_SECRET_KEY is not set and no key could be kept in "
                              f"{key_file} ({e.strerror}); set AWARENESS_SECRET_KEY") from None
        if fingerprint_file.exists() and fingerprint_file.read_text().strip() != _fingerprint(key):
            raise ConfigError("secret_key", "AWARENESS_SECRET_KEY is not set here, but the service signs links "
                              "with it (see " f"{fingerprint_file}); links made by this command would not work in the "
                              "web app. Set AWARENESS_SECRET_KEY as the service has it (e.g. from "
                              "/etc/awareness/secrets.env)")
        return key


def _fingerprint(key: str) -> str:
    return hashlib.sha256(b"awareness-secret-key:" + key.encode()).hexdigest()[:32]


def _keep_fingerprint(path: Path, key: str) -> None:
    """Leave a fingerprint (never the key) where processes without the key will look."""
    try:
        if not path.exists() or path.read_text().strip() != _fingerprint(key):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_fingerprint(key) + "\n")
    except OSError:
        logger.debug("could not keep the key's fingerprint in %s", path)


def _read_or_create_key(key_file: Path) -> str:
    """The key in ``key_file``, made once so that processes starting together agree.

    The key is written to a private temporary file and then hard-linked into place: the
    link either wins or finds another process's complete key, and no reader ever sees the
    file before its key is in it (an O_EXCL create let a reader in between create and write).
    """
    if key_file.exists():
        return _read_key(key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd, draft = tempfile.mkstemp(prefix=".secret_key.", dir=key_file.parent)   # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(draft, key_file)
        except FileExistsError:   # another process made it a moment ago: use theirs
            return _read_key(key_file)
    finally:
        os.unlink(draft)
    logger.warning("AWARENESS_SECRET_KEY is not set; made a key in %s, used by every Awareness process "
                   "of this install", key_file)
    return key


def _read_key(key_file: Path) -> str:
    key = key_file.read_text().strip()
    if not key:
        raise OSError(errno.EINVAL, "the key file is empty; delete it to have a new key made", str(key_file))
    return key


# ------------------------------------------------------------------ loading

_INTERNAL = {"smtp_password", "home"}   # set from the environment or the file's place, never by key
_TYPES: dict[str, type] = {f.name: f.type for f in fields(Settings) if f.name not in _INTERNAL}  # type: ignore[misc]


def _coerce(key: str, value: Any, base: Path) -> Any:
    kind = str(_TYPES[key])
    try:
        if "Path" in kind:
            if not isinstance(value, str) or not value:
                raise ValueError("must be a path")
            p = Path(value).expanduser()
            return p if p.is_absolute() else base / p
        if "tuple" in kind:
            items = _list_value(key, value)
            items = [str(i).strip() for i in items if str(i).strip()]
            for entry in items:
                _check_allow_entry(entry)
            return tuple(items)
        if kind == "bool":
            return _bool_value(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            n = int(value)
            if n <= 0:
                raise ValueError
            return n
        if kind == "float":
            x = float(value)
            if x <= 0:
                raise ValueError
            return x
        if not isinstance(value, str):
            raise ValueError("must be text")
        return value
    except ValueError as e:
        if kind == "int":
            detail = f"must be a whole number above zero (got {value!r})"
        elif kind == "float":
            detail = f"must be a number above zero (got {value!r})"
        elif kind == "bool":
            detail = f"must be true or false (got {value!r})"
        else:
            detail = str(e) or f"{value!r} is not valid here"
        raise ConfigError(key, detail) from None


def _bool_value(value: Any) -> bool:
    """A switch from TOML (true/false) or the environment (1/0, true/false, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError


def _list_value(key: str, value: Any) -> list[Any]:
    """A list setting from TOML (a list) or the environment: `a,b` or a JSON list `["a", "b"]`."""
    if not isinstance(value, str):
        return list(value)
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{key.upper()}={value!r} starts like a JSON list but is not one; "
                             f'write it as ["a", "b"] or as a,b') from None
        if not isinstance(parsed, list):
            raise ValueError(f"{value!r} is not a list")
        return parsed
    return value.split(",")


def _check_allow_entry(entry: str) -> None:
    try:
        ipaddress.ip_network(entry, strict=False)
        return
    except ValueError:
        pass
    if not all(part.isalnum() or "-" in part for part in entry.lower().split(".")) or "/" in entry:
        raise ValueError(f"'{entry}' is neither a host name nor an address range like 10.0.0.0/8")


def _validate(s: Settings) -> Settings:
    if s.semantic_matching and not semantic_available():      # finds files, imports nothing
        raise ConfigError("semantic_matching", "is on, but the semantic extra is not installed "
                          f"({SEMANTIC_HINT}); or turn it off")
    url = s.database_url
    if not (url.startswith("sqlite:") or url.startswith("postgresql")):
        raise ConfigError("database_url", f"'{url}' is not a sqlite:/// or postgresql:// URL")
    if s.smtp_url:
        shape = ("should look like smtp://host:25, smtps://host:465 or smtp+starttls://user@host:587 "
                 "(leave it empty to write messages to the outbox folder)")
        try:
            parts = urlsplit(s.smtp_url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as e:
            raise ConfigError("smtp_url", f"'{s.smtp_url}' is not a valid URL ({e}); it {shape}") from None
        if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
            raise ConfigError("smtp_url", f"'{s.smtp_url}' {shape}")
    if not urlsplit(s.base_url).scheme in ("http", "https"):
        raise ConfigError("base_url", f"'{s.base_url}' is not an http(s) URL")
    if "@" not in s.sender:
        raise ConfigError("sender", f"'{s.sender}' has no email address")
    check_log_format(s.log_format)   # issue 5's keys: log_format, timezone
    try:
        check_zone(s.timezone)
    except ValueError as e:
        raise ConfigError("timezone", str(e)) from None
    return s


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path absolute and make sure its folder exists."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:" or url.startswith(prefix + "/"):
        path = url[len(prefix):] if url.startswith(prefix + "/") else None
    else:
        path = str(base / url[len(prefix):])
        url = prefix + path
    if path:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError("database_url", f"cannot create the folder for {path} ({e.strerror})") from None
    return url


def load_settings(config_path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build the settings from file, environment and explicit overrides (last wins)."""
    env = os.environ if environ is None else environ
    path = config_path or env.get(ENV_PREFIX + "CONFIG")
    base = Path.cwd()
    if path:
        p = Path(path)
        if not p.exists():
            raise ConfigError("config", f"the config file {p} does not exist")
        base = p.resolve().parent
        values: dict[str, Any] = _read_toml(p)
    elif Path("awareness.toml").exists():
        values = _read_toml(Path("awareness.toml"))
    else:
        values = {}
    for key in sorted(SECRET_KEYS & set(values)):
        if values[key]:
            logger.warning("'%s' is set in the config file; secrets belong in %s%s", key, ENV_PREFIX, key.upper())
    for key in _TYPES:
        env_value = env.get(ENV_PREFIX + key.upper())
        if env_value is not None:
            values[key] = env_value
    values.update({k: v for k, v in overrides.items() if v is not None})
    kwargs = {k: _coerce(k, v, base) for k, v in values.items()}
    settings = Settings(**kwargs)
    # Paths given as values were resolved by _coerce; the defaults are relative to the same base.
    defaults = {k: base / getattr(settings, k) for k in ("outbox", "sources", "profiles") if k not in kwargs}
    settings = replace(settings, **defaults, database_url=_resolve_sqlite(settings.database_url, base),
                       smtp_password=env.get(ENV_PREFIX + "SMTP_PASSWORD", ""), home=base)
    return _validate(settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", f"{path} is not valid TOML: {e}") from None
    unknown = set(data) - set(_TYPES) - {"smtp_password"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], f"unknown key in {path}; known keys are: " + ", ".join(_TYPES))
    if "smtp_password" in data:
        raise ConfigError("smtp_password", f"do not put the SMTP password in {path}; set AWARENESS_SMTP_PASSWORD")
    return data
