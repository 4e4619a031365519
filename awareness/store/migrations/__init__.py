"""Schema versions (Alembic): make new databases at the latest version, refuse old ones.

A new, empty database is created from ``store.metadata`` and stamped with the
latest revision (fast: the test suite opens hundreds).  A database at an
older revision, or made before versioning existed, is refused with the
command that brings it up to date: ``awareness db upgrade``.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...core.errors import AwarenessError
from ..schema import metadata

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
FIRST = "0001"                     # the schema as it was before versioning
VERSION_TABLE = "alembic_version"
UPGRADE_HINT = "run `awareness db upgrade` (back up the database first)"

_version_meta = sa.MetaData()
_version = sa.Table(VERSION_TABLE, _version_meta,
                    sa.Column("version_num", sa.String(32), nullable=False),
                    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


class SchemaError(AwarenessError):
    """The database's schema is not the one this version of Awareness needs."""


def _config(connection: Connection | None = None) -> "object":
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def _revisions() -> dict[str, str | None]:
    """revision -> the one it revises, read from versions/ without importing Alembic (slow to import)
    on every start; tests/test_migrations.py checks this agrees with Alembic."""
    found: dict[str, str | None] = {}
    for path in sorted((HERE / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision\s*=\s*["\']([^"\']+)["\']', text, re.M)
        down = re.search(r'^down_revision\s*=\s*(?:["\']([^"\']+)["\']|None)', text, re.M)
        if rev and down:
            found[rev.group(1)] = down.group(1)
    return found


def head_revision() -> str:
    revisions = _revisions()
    heads = set(revisions) - {down for down in revisions.values() if down}
    if len(heads) != 1:
        raise RuntimeError(f"awareness/migrations/versions must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def known_revisions() -> set[str]:
    return set(_revisions())


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.select(_version.c.version_num)).scalar_one_or_none()


def _is_empty(conn: Connection) -> bool:
    """No table of ours yet (the scheduler's job table alone does not count)."""
    return not (set(sa.inspect(conn).get_table_names()) - {"apscheduler_jobs", VERSION_TABLE})


def ensure_schema(engine: Engine) -> None:
    """Create a new database at the latest revision, or check an existing one is at it."""
    head = head_revision()
    with engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        empty = not (existing - {"apscheduler_jobs", VERSION_TABLE})
        version = None if empty else current_revision(conn)
    if empty:
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":   # two processes creating one new database
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(727401)"))
                metadata.create_all(conn)
                _version_meta.create_all(conn)
                if current_revision(conn) is None:
                    conn.execute(_version.insert().values(version_num=head))
        except sa.exc.OperationalError:
            # Another process created it between our look and our create: check what it made.
            with engine.connect() as conn:
                if _is_empty(conn) or current_revision(conn) is None:
                    raise
        return
    shown = engine.url.render_as_string(hide_password=True)
    if version != head:
        engine.dispose()   # the caller never gets a Store to close
    if version is None:
        raise SchemaError(f"the database {shown} was made by an earlier version of Awareness, before "
                          f"schema versions were recorded; {UPGRADE_HINT}")
    if version != head:
        if version not in known_revisions():
            raise SchemaError(f"the database {shown} is at schema revision {version}, which this version of "
                              f"Awareness does not know (was it made by a newer one?); upgrade Awareness")
        raise SchemaError(f"the database {shown} is at schema revision {version}, but this version of "
                          f"Awareness needs {head}; {UPGRADE_HINT}")
    # Tables added since the last migration was written (during development) are made here;
    # tests/test_migrations.py fails until a migration covers them.
    missing = [table for name, table in metadata.tables.items() if name not in existing]
    if missing:
        metadata.create_all(engine, tables=missing)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the latest revision; returns (before, after)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)   # its INFO lines say nothing a person needs
    from alembic import command

    with engine.begin() as conn:
        before = current_revision(conn)
        if before is None and not _is_empty(conn):
            # Made before versioning: its tables are revision 0001's.
            command.stamp(_config(conn), FIRST)  # type: ignore[arg-type]
            before = FIRST
        command.upgrade(_config(conn), "head")  # type: ignore[arg-type]
        after = current_revision(conn)
    assert after is not None
    return before, after
