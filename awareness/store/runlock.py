"""One run at a time per database, and runs that died told apart from runs still going (issue 16).

Two runs gathering at once on SQLite race for the same new items; the loser's
unique-key error used to be recorded against healthy sources.  So every run
(CLI, web, schedule) first takes the ``run`` lock row: a second run waits for
it, or refuses with a message naming the run that holds it.  The holder
refreshes the row while it works, so when a run is SIGKILLed its row goes
stale (or names a process that is gone) and the next run to start marks the
run ``interrupted`` instead of leaving it "running" for ever.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa

from . import locks
from ..core.errors import AwarenessError
from .store import Store
from .schema import runs, utcnow

logger = logging.getLogger(__name__)

RUN_LOCK = "run"
RUN_TTL = timedelta(minutes=2)        # a run lock not refreshed for this long belongs to a dead run
WAIT_FOR = 600.0                      # seconds a run waits for the one before it to finish
INTERRUPTED = ("interrupted: the process ended without finishing this run (killed, or the machine stopped); "
               "what was sent before is recorded and the next run sends the rest")


class RunInProgress(AwarenessError):
    """Another run holds the run lock and did not finish in time."""


class RunLock:
    """The right to run now; ``release`` when done.  The heartbeat keeps it while the run works."""

    def __init__(self, store: Store, holder: str) -> None:
        self.store = store
        self.holder = holder
        self._done = threading.Event()
        self._beat = threading.Thread(target=self._keep_fresh, name="awareness-run-lock", daemon=True)
        self._beat.start()

    def _keep_fresh(self) -> None:
        while not self._done.wait(RUN_TTL.total_seconds() / 6):
            try:
                locks.refresh(self.store, RUN_LOCK, holder=self.holder)
            except Exception:  # a database blip must not end the run
                logger.exception("could not refresh the run lock")

    def release(self) -> None:
        self._done.set()
        self._beat.join(timeout=5)
        try:
            locks.release(self.store, RUN_LOCK, holder=self.holder)
        except Exception:
            logger.exception("could not release the run lock; it lapses after %s", RUN_TTL)


def acquire(store: Store, *, wait: float = WAIT_FOR) -> RunLock:
    """Take the run lock, waiting up to ``wait`` seconds for a run in progress; RunInProgress if it does not end."""
    holder = f"{locks.me()}:{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait
    told = False
    while not locks.try_claim(store, RUN_LOCK, holder=holder, ttl=RUN_TTL):
        busy = describe_holder(store)
        if time.monotonic() >= deadline:
            raise RunInProgress(f"another run is in progress ({busy}); nothing was done and no source was "
                                "marked. Try again when it has finished (see `awareness runs`)")
        if not told:
            logger.warning("another run is in progress (%s); waiting up to %.0f s for it to finish", busy, wait)
            told = True
        time.sleep(0.5)
    mark_interrupted(store)
    return RunLock(store, holder)


def describe_holder(store: Store) -> str:
    """Which run holds the lock, for a person: "run 12, cli by ana, started 09:14 UTC, process host:123"."""
    held = locks.holder_of(store, RUN_LOCK)
    if held is None:
        return "it has just finished"
    holder, _ = held
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(runs.c.id, runs.c.trigger, runs.c.who, runs.c.started)
                           .where(runs.c.holder == holder)).first()
    process = holder.rsplit(":", 1)[0]
    if row is None:
        return f"process {process}"
    who = f" by {row.who}" if row.who else ""
    return f"run {row.id}, {row.trigger}{who}, started {row.started:%Y-%m-%d %H:%M} UTC, process {process}"


def mark_interrupted(store: Store) -> list[int]:
    """Runs still "running" whose lock has lapsed or whose process is gone are marked interrupted; their ids."""
    held = locks.holder_of(store, RUN_LOCK)
    live = None
    if held is not None and held[1] >= utcnow() - RUN_TTL and locks.alive_here(held[0]):
        live = held[0]
    with store.engine.begin() as conn:
        stuck = conn.execute(sa.select(runs.c.id, runs.c.errors).where(
            runs.c.status == "running", runs.c.finished.is_(None),
            sa.or_(runs.c.holder.is_(None), runs.c.holder != (live or "")))).all()
        for run_id, errors in stuck:
            conn.execute(runs.update().where(runs.c.id == run_id, runs.c.status == "running").values(
                status="interrupted", errors=[*(errors or []), INTERRUPTED]))
    for run_id, _ in stuck:
        logger.warning("run %d never finished (its process was killed or the machine stopped): marked interrupted",
                       run_id)
    return [run_id for run_id, _ in stuck]
