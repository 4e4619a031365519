"""Issue 16: a full disk says what is full and that nothing was lost, and nothing is.

The "disk" is the SQLite database capped at its current size (PRAGMA max_page_count):
SQLite then answers SQLITE_FULL exactly as it does when the file system is full.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from runs_world import make_runs_world
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import rss


@pytest.fixture
def full_disk() -> Iterator[dict[str, bool]]:
    """While switched on, every new SQLite connection may not grow the database by a single page."""
    state = {"on": False}

    def cap(dbapi_conn: Any, _record: Any) -> None:
        if state["on"]:
            cur = dbapi_conn.cursor()
            pages = cur.execute("PRAGMA page_count").fetchone()[0]
            cur.execute(f"PRAGMA max_page_count = {pages}")
            cur.close()

    event.listen(sa.engine.Engine, "connect", cap)
    yield state
    event.remove(sa.engine.Engine, "connect", cap)


def test_a_full_disk_is_named_nothing_is_lost_and_the_next_run_carries_on(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer,
        full_disk: dict[str, bool]) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=2)
    assert world.invoke("run", "--now").exit_code == 0
    first = len(smtp_server.messages)
    now = datetime.now(timezone.utc)
    http_server.routes["/feed0.xml"] = Route(rss([
        (f"big-{n}", f"Frailty and falls in older people: briefing {n}", "Falls and frailty. " * 200, 0)
        for n in range(60)], now=now), conditional=False)

    full_disk["on"] = True
    result = world.invoke("run", "--now")
    assert result.exit_code == 1
    assert f"the disk is full: could not write the database {tmp_path / 'awareness.db'}" in result.output
    assert "Nothing was lost" in result.output and "Traceback" not in result.output
    assert len(result.output.splitlines()) < 10, result.output
    assert len(smtp_server.messages) == first, "nothing went out that is not recorded"

    full_disk["on"] = False
    again = world.invoke("run", "--now")
    assert again.exit_code == 0, again.output
    store = world.store()
    try:
        states = {s.id: s for s in store.source_states()}
    finally:
        store.close()
    assert states["feed-0"].items == 62 and states["feed-0"].last_error is None, "the full disk was not the feed's fault"
    assert all(s.consecutive_failures == 0 for s in states.values())
    frailty = [m for m in smtp_server.to("ann@example.org")][1:]
    assert len(frailty) == 1 and "briefing" in frailty[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
