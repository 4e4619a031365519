"""Locks held in the database, so that they work across processes and machines.

* One scheduler per database: on PostgreSQL a session advisory lock (released
  by the server if the process dies); on SQLite a row whose heartbeat the
  holder refreshes, taken over when it goes stale or its process is gone.
* One sender per profile at a time (``claim``): two ``awareness run --now``
  started together must not both compose the same bulletin; the delivery
  ledger's unique key stays the last line of defence.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import zlib
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.errors import AwarenessError
from .store import Store
from .schema import scheduler_lock, utcnow

logger = logging.getLogger(__name__)

SCHEDULER = "scheduler"
HEARTBEAT_EVERY = timedelta(seconds=10)
STALE_AFTER = timedelta(seconds=60)      # a scheduler lock not refreshed for this long is abandoned
DEAD_SESSION_GRACE = 3.0                 # seconds PostgreSQL may take to drop a killed client's session
CLAIM_TTL = timedelta(minutes=15)        # a send claim not refreshed for this long is abandoned


class LockHeld(AwarenessError):
    """Another process holds the lock."""


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(holder: str) -> bool:
    """False when ``holder`` names a process on this machine that no longer exists."""
    host, _, rest = holder.partition(":")     # host:pid, or host:pid:token for a send claim
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


alive_here = _alive_here   # for the run lock (runlock.py)


# ---------------------------------------------------------------- lock rows

def try_claim(store: Store, name: str, *, holder: str | None = None, ttl: timedelta = CLAIM_TTL,
              now: datetime | None = None) -> bool:
    """Take the named lock row if it is free, stale, ours, or its holder's process is gone.

    One conditional UPDATE decides, so two processes racing for it cannot both win.
    """
    holder = holder or me()
    now = now or utcnow()
    t = scheduler_lock
    if holder_of(store, name) is None:
        try:
            with store.engine.begin() as conn:
                conn.execute(t.insert().values(name=name, holder=holder, acquired=now, heartbeat=now))
            return True
        except sa.exc.IntegrityError:
            pass  # someone else inserted it first: see whether theirs is free below
    with store.engine.begin() as conn:
        current = conn.execute(sa.select(t.c.holder, t.c.heartbeat).where(t.c.name == name)).first()
        if current is None:
            return False
        free = (current.holder == holder or current.heartbeat < now - ttl or not _alive_here(current.holder))
        if not free:
            return False
        taken = conn.execute(t.update().where(t.c.name == name, t.c.holder == current.holder,
                                              t.c.heartbeat == current.heartbeat)
                             .values(holder=holder, acquired=now, heartbeat=now)).rowcount
        return taken == 1


def refresh(store: Store, name: str, *, holder: str | None = None) -> bool:
    """Keep our lock row fresh; False if someone else has taken it meanwhile."""
    with store.engine.begin() as conn:
        return conn.execute(scheduler_lock.update().where(scheduler_lock.c.name == name,
                                                          scheduler_lock.c.holder == (holder or me()))
                            .values(heartbeat=utcnow())).rowcount == 1


def release(store: Store, name: str, *, holder: str | None = None) -> None:
    with store.engine.begin() as conn:
        conn.execute(scheduler_lock.delete().where(scheduler_lock.c.name == name,
                                                   scheduler_lock.c.holder == (holder or me())))


def holder_of(store: Store, name: str) -> tuple[str, datetime] | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(scheduler_lock.c.holder, scheduler_lock.c.heartbeat)
                           .where(scheduler_lock.c.name == name)).first()
    return None if row is None else (row.holder, row.heartbeat)


@contextmanager
def profile_claim(store: Store, profile_id: str) -> Iterator[bool]:
    """Hold the right to send this profile's bulletins; yields False when another run has it."""
    name = f"send:{profile_id}"
    holder = f"{me()}:{uuid.uuid4().hex[:12]}"   # each claim its own, even within one thread
    claimed = try_claim(store, name, holder=holder)
    done = threading.Event()

    def keep_fresh() -> None:   # a long send (thousands of readers, a slow relay) keeps its claim
        while not done.wait(CLAIM_TTL.total_seconds() / 5):
            try:
                refresh(store, name, holder=holder)
            except Exception:
                logger.exception("could not refresh the send claim for %s", profile_id)

    refresher = threading.Thread(target=keep_fresh, name=f"awareness-claim-{profile_id}", daemon=True)
    if claimed:
        refresher.start()
    try:
        yield claimed
    finally:
        done.set()
        if claimed:
            refresher.join(timeout=5)
            release(store, name, holder=holder)


# ---------------------------------------------------------------- the scheduler lock

def _advisory_key(name: str) -> int:
    return zlib.crc32(f"awareness:{name}".encode()) & 0x7FFFFFFF


class SchedulerLock:
    """Held for the life of `awareness serve`; ``acquire`` raises LockHeld with a clear message."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.holder = me()
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def postgres(self) -> bool:
        return self.store.engine.dialect.name == "postgresql"

    def acquire(self) -> None:
        if self.postgres:
            conn = self.store.engine.connect()
            # A session whose client was just killed keeps its advisory lock until its server process
            # notices, a moment later: try for a few seconds before saying another serve holds it.
            deadline = time.monotonic() + DEAD_SESSION_GRACE
            while True:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": _advisory_key(SCHEDULER)}).scalar_one()
                conn.commit()
                if got or time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
            if not got:
                conn.close()
                raise LockHeld(self._refusal())
            self._conn = conn
            # The row only says who holds it; the advisory lock is what counts.
            try_claim(self.store, SCHEDULER, holder=self.holder, ttl=timedelta(0))
        elif not try_claim(self.store, SCHEDULER, holder=self.holder, ttl=STALE_AFTER):
            raise LockHeld(self._refusal())
        self._thread = threading.Thread(target=self._beat, name="awareness-lock-heartbeat", daemon=True)
        self._thread.start()

    def _refusal(self) -> str:
        held = holder_of(self.store, SCHEDULER)
        who = f" ({held[0]}, last heartbeat {held[1]:%Y-%m-%d %H:%M:%S} UTC)" if held else ""
        shown = self.store.engine.url.render_as_string(hide_password=True)
        return (f"another `awareness serve` is already running against {shown}{who}; only one scheduler may "
                "run per database. Stop it first (e.g. `systemctl stop awareness`), or use `awareness run --now` "
                "for a one-off run.")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
            try:
                if not refresh(self.store, SCHEDULER, holder=self.holder) and not self.postgres:
                    logger.error("the scheduler lock row was taken by another process")
            except Exception:  # a database blip must not kill the heartbeat thread
                logger.exception("could not refresh the scheduler lock")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            release(self.store, SCHEDULER, holder=self.holder)
        finally:
            if self._conn is not None:
                try:
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(SCHEDULER)})
                    self._conn.commit()
                finally:
                    self._conn.close()
                    self._conn = None


# ---------------------------------------------------------------- a reload request

RELOAD_REQUEST = "reload-requested"       # a lock-table row `awareness reload` leaves for the scheduler


def request_reload(store: Store) -> None:
    """`awareness reload`: leave a note the running scheduler picks up within ``watch_interval`` seconds."""
    try_claim(store, RELOAD_REQUEST, ttl=timedelta(0))


def take_reload_request(store: Store) -> bool:
    """Whether `awareness reload` asked since the last look; the note is taken away."""
    if holder_of(store, RELOAD_REQUEST) is None:
        return False
    with store.engine.begin() as conn:
        conn.execute(scheduler_lock.delete().where(scheduler_lock.c.name == RELOAD_REQUEST))
    return True
