"""Items 13 and 14: the process killed mid-send, and the database locked by another writer.

13: `awareness run` runs in a child process; the SMTP server holds the
(k+1)th message unanswered, the child is SIGKILLed right there, and the next
run must send exactly the N-k bulletins that were not accepted.
14: another process holds SQLite's write lock, once while items are being
stored and once between a message being accepted and its ledger entry; the
run waits, retries, and neither loses nor repeats anything.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from awareness.deliver.transport import SMTP_TIMEOUT
from awareness.store import dblock
from awareness import pipeline
from relworld import ENV, NOW, World, frail, make_world, rss
from servers import LoopbackHTTPServer, Route, _Collector
from smtpfaults import faulty_server


# ------------------------------------------------------------------ 13. SIGKILL after k of N

@contextmanager
def killed_run(world: World) -> Iterator[subprocess.Popen[bytes]]:
    """``awareness run`` in a child process, SIGKILLed where it has got to when the block ends."""
    child = subprocess.Popen([sys.executable, "-m", "awareness", "--config", str(world.config), "run"],
                             env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield child
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


def test_a_run_killed_after_k_of_n_messages_is_finished_by_the_next_run_with_the_remaining_n_minus_k(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    n, k = 6, 3
    people = [f"reader{i}@example.org" for i in range(n)]
    http_server.routes["/feed.xml"] = Route(rss([frail(1), frail(2), frail(3)]))
    smtp, handler = faulty_server()
    handler.hold_after = k                       # accept k, then hold the next one unanswered
    smtp.start()
    try:
        world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp.url,
                           subscribers=people, extra_config="smtp_retry_for = 1\n")
        with killed_run(world) as child:
            assert handler.holding.wait(60), "the child never reached message k+1"
        assert child.returncode == -signal.SIGKILL
        handler.release.set()
        first = [to for _, tos in handler.envelopes for to in tos]
        assert len(first) == k and len(handler.received_but_unanswered) == 1

        handler.hold_after = None
        ctx = world.context()
        report = pipeline.run(ctx)                  # the next scheduled run, not forced
        ctx.close()
        assert report.ok and report.profiles[0].sent == n - k, "exactly the remaining N-k"
        everyone = sorted(to for _, tos in handler.envelopes for to in tos)
        assert everyone == sorted(people), "each reader exactly once, nobody twice"
    finally:
        smtp.stop()


def test_a_run_killed_while_one_message_hangs_has_recorded_every_other_the_server_accepted(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    """Messages go over several connections at once; one the server sits on must not keep the
    ledger from the others it accepted, or a kill right then would send those twice."""
    people = [f"reader{i}@example.org" for i in range(8)]
    stuck = people[1]
    http_server.routes["/feed.xml"] = Route(rss([frail(1), frail(2)]))
    smtp, handler = faulty_server()
    handler.hold_for = {stuck}
    smtp.start()
    try:
        world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp.url,
                           subscribers=people, extra_config="smtp_retry_for = 1\n")
        with killed_run(world) as child:
            assert handler.holding.wait(60), "the child never sent to the reader whose message hangs"
            deadline = time.monotonic() + SMTP_TIMEOUT / 2   # the child still waits for that answer
            while _readers_in_ledger(tmp_path / "awareness.db") < len(people) - 1:
                assert time.monotonic() < deadline, (
                    f"the ledger has {_readers_in_ledger(tmp_path / 'awareness.db')} of the "
                    f"{len(handler.envelopes)} readers the server accepted while one message hung")
                assert child.poll() is None, child.communicate()
                time.sleep(0.05)
        handler.release.set()
        assert sorted(to for _, tos in handler.envelopes for to in tos) == sorted(set(people) - {stuck})

        handler.hold_for = set()
        ctx = world.context()
        report = pipeline.run(ctx)
        ctx.close()
        assert report.ok and report.profiles[0].sent == 1, "only the reader whose message hung"
        everyone = sorted(to for _, tos in handler.envelopes for to in tos)
        assert everyone == sorted(people), "each reader exactly once, nobody twice"
    finally:
        smtp.stop()


def _readers_in_ledger(db: Path) -> int:
    """Readers the child's ledger has, read with sqlite3 itself while the child runs."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute("select count(distinct subscriber_id) from deliveries").fetchone()[0])
    except sqlite3.OperationalError:   # not created yet
        return 0
    finally:
        conn.close()


# ------------------------------------------------------------------ 14. SQLite locked by another writer

LOCKER = textwrap.dedent("""\
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")          # the write lock, as any other writer would hold it
    conn.execute("CREATE TABLE IF NOT EXISTS other_writer (x)")
    conn.execute("INSERT INTO other_writer VALUES (1)")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    print("released", flush=True)
""")


class Locker:
    """Another process holding SQLite's write lock for a while."""

    def __init__(self, database: Path, hold: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(database), str(hold)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"
        self.taken_at = time.monotonic()

    def finish(self) -> float:
        """Wait for the release; returns when it happened (monotonic)."""
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(10)
        self.proc.stdout.close()
        return time.monotonic()


@pytest.fixture
def impatient_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy timeout far shorter than the lock, so the retry layer (not only SQLite's wait) is exercised."""
    monkeypatch.setattr(dblock, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(dblock, "LOCKED_RETRY_FOR", 20.0)


def test_gathering_while_another_process_holds_the_write_lock_waits_and_stores_everything(
        tmp_path: Path, http_server: LoopbackHTTPServer, impatient_sqlite: None,
        caplog: pytest.LogCaptureFixture) -> None:
    http_server.routes["/feed.xml"] = Route(rss([frail(i) for i in range(1, 6)]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")})
    ctx = world.context()
    caplog.set_level(logging.WARNING)
    locker = Locker(tmp_path / "awareness.db", hold=1.5)
    report = pipeline.refresh_due(ctx, now=NOW)
    released = locker.finish()
    assert report.errors == {} and report.new_items == 5
    assert len(ctx.store.items_since(NOW - pipeline.timedelta(days=30))) == 5
    assert any("locked by another writer; retrying" in r.getMessage() for r in caplog.records)
    assert time.monotonic() >= released
    ctx.close()


def test_a_lock_between_sending_and_recording_neither_loses_nor_repeats_a_message(
        tmp_path: Path, http_server: LoopbackHTTPServer, impatient_sqlite: None,
        caplog: pytest.LogCaptureFixture) -> None:
    """The dangerous moment: the server has accepted a message and the ledger write finds the database locked."""
    http_server.routes["/feed.xml"] = Route(rss([frail(1), frail(2)]))
    smtp, handler = faulty_server()
    database = tmp_path / "awareness.db"
    lockers: list[Locker] = []
    original = handler.handle_DATA

    async def accept_then_lock(server: Any, session: Any, envelope: Any) -> str:
        reply = await original(server, session, envelope)
        if not lockers:                       # the first message: lock the database before answering
            lockers.append(Locker(database, hold=1.5))
        return reply

    handler.handle_DATA = accept_then_lock    # type: ignore[method-assign]
    smtp.start()
    try:
        world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp.url)
        ctx = world.context()
        caplog.set_level(logging.WARNING)
        report = pipeline.run(ctx, now=NOW)
        lockers[0].finish()
        assert report.ok and report.profiles[0].sent == 2
        assert any("retrying record_deliveries" in r.getMessage() for r in caplog.records), \
            "the ledger write met the lock and waited"
        assert pipeline.run(ctx, now=NOW + pipeline.timedelta(hours=1), force=True).profiles[0].sent == 0
        for address in ("alice@example.org", "bob@example.org"):
            assert len(smtp.to(address)) == 1
        ctx.close()
    finally:
        smtp.stop()
