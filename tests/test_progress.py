"""Progress: a live bar with counts on a terminal, one log line per source otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from awareness.gather.progress import GatherProgress


def test_live_bar_shows_counts_of_new_unchanged_and_failed() -> None:
    out = io.StringIO()
    progress = GatherProgress(3, stream=out, live=True)
    progress.source_done("a", new=4)
    progress.source_done("b", unchanged=True)
    progress.source_done("c", error="HTTP 500")
    progress.close()
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    assert "3/3 sources" in last and "4 new items" in last and "1 unchanged" in last and "1 failed" in last


def test_without_a_terminal_each_source_gets_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="awareness.gather")
    out = io.StringIO()
    progress = GatherProgress(2, stream=out, live=False)
    progress.source_done("nice", new=2)
    progress.source_done("cqc", error="HTTP 503 Service Unavailable")
    progress.close()
    assert out.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["[1/2] nice: 2 new", "[2/2] cqc failed: HTTP 503 Service Unavailable"]
