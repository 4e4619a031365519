"""Commits that need not wait for the disk, and the one sync that makes them durable (issue 19).

A gathering commits once per feed, and on SQLite each commit is a disk sync (~3 ms here,
a tenth of the peer run's gathering).  In WAL mode a commit made with ``synchronous=NORMAL``
is still atomic and consistent; only a power cut before the next sync can take it back, and
then that feed is simply fetched again (its validators went with it).  ``sync`` at the end
of the gathering makes them all durable at once, before anything is matched or sent; any
later synced commit would too, since syncing the write-ahead log syncs everything in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine


@contextmanager
def unsynced(engine: Engine) -> Iterator[Connection]:
    """A transaction whose commit SQLite does not sync to disk (``synchronous=NORMAL``, WAL mode only).

    Other databases, and SQLite outside WAL mode: an ordinary transaction.
    """
    with engine.connect() as conn:
        before = None
        # Only in WAL mode: with a rollback journal NORMAL could leave a power cut's database corrupt.
        if conn.dialect.name == "sqlite":
            if str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal":
                before = conn.exec_driver_sql("PRAGMA synchronous").scalar()
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.commit()   # end SQLAlchemy's autobegun transaction (SQLite began none for a PRAGMA)
        try:
            with conn.begin():
                yield conn
        finally:
            if before is not None:   # the pooled connection goes back as it came: the ledger's commits stay synced
                conn.exec_driver_sql(f"PRAGMA synchronous={int(before)}")
                conn.commit()


def sync(engine: Engine) -> None:
    """Every commit so far on disk: SQLite's write-ahead log synced, as a synced commit does."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    try:
        fd = os.open(f"{engine.url.database}-wal", os.O_RDONLY)
    except FileNotFoundError:   # checkpointed into the database file, which the checkpoint synced
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
