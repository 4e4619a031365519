"""The run history's rows: what each outcome is called and what the table shows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from awareness.pipeline import GatherReport, ProfileReport, RunReport
from awareness.store.runlog import finish_run, format_details, format_table, get_run, list_runs, start_run
from awareness.store.store import Store
from service_world import database_url  # noqa: F401 - fixture


@pytest.fixture
def store(database_url: str) -> Store:  # noqa: F811
    s = Store(database_url)
    yield s  # type: ignore[misc]
    s.close()


def _report(*, failed_sends: int = 0, stopped: bool = False) -> RunReport:
    gather = GatherReport(sources=3, fetched=2, unchanged=0, failed=1, new_items=12,
                          errors={"nice": "HTTP 503 from https://example.org/feed"})
    profile = ProfileReport("ph-team", "Public Health", sent=4, failed=failed_sends, items=9,
                            errors=["reader@example.org: mailbox unavailable"] * failed_sends)
    return RunReport(gather=gather, matched=30, profiles=[profile], stopped=stopped)


def test_a_run_is_recorded_from_start_to_its_figures(store: Store) -> None:
    run_id = start_run(store, trigger="web", who="admin@example.org", profile="ph-team", source=None)
    running = get_run(store, run_id)
    assert running is not None and running.status == "running" and running.finished is None
    finish_run(store, run_id, _report(failed_sends=1))
    done = get_run(store, run_id)
    assert done is not None and done.finished is not None and done.finished >= done.started
    assert (done.status, done.sources_fetched, done.sources_failed, done.items_new, done.matches,
            done.bulletins_sent, done.bulletins_failed) == ("partial", 2, 1, 12, 30, 4, 1)
    assert done.errors == ["nice: HTTP 503 from https://example.org/feed",
                           "ph-team: reader@example.org: mailbox unavailable"]
    assert done.as_json()["trigger"] == "web" and done.as_json()["who"] == "admin@example.org"


def test_outcomes_are_named_for_what_happened(store: Store) -> None:
    stopped = start_run(store, trigger="schedule", who=None, profile=None, source=None)
    finish_run(store, stopped, _report(stopped=True))
    broke = start_run(store, trigger="cli", who="lib", profile=None, source="nice")
    finish_run(store, broke, RuntimeError("database went away"))
    records = list_runs(store)
    assert [(r.id, r.status) for r in records] == [(broke, "error"), (stopped, "stopped")]
    assert records[0].errors == ["database went away"]
    with pytest.raises(ValueError, match="trigger must be one of"):
        start_run(store, trigger="cron", who=None, profile=None, source=None)


def test_the_table_and_the_details_read_well(store: Store) -> None:
    assert format_table([]) == "No runs recorded yet."
    run_id = start_run(store, trigger="cli", who="lib", profile="ph-team", source=None)
    finish_run(store, run_id, _report())
    [record] = list_runs(store)
    table = format_table([record]).splitlines()
    assert table[0].split() == ["id", "trigger", "started", "took", "status", "fetched", "failed", "new",
                                "sent", "unsent", "for"]
    assert table[1].split()[4] in ("GMT", "BST"), "times in the install's zone (Europe/London), not UTC"
    assert table[1].split()[-4:] == ["profile", "ph-team", "by", "lib"]
    details = format_details(record)
    assert "sources    2 fetched, 1 failed" in details and "  ! nice: HTTP 503" in details


def test_old_history_is_pruned_and_recent_history_kept(store: Store) -> None:
    import time_machine

    from awareness.store.runlog import KEEP, prune
    from awareness.store.schema import utcnow

    with time_machine.travel(utcnow() - KEEP - timedelta(days=1), tick=False):
        old = start_run(store, trigger="schedule", who=None, profile=None, source=None)
        finish_run(store, old, _report())
    recent = start_run(store, trigger="schedule", who=None, profile=None, source=None)
    finish_run(store, recent, _report())
    assert prune(store) == 1
    assert [r.id for r in list_runs(store)] == [recent]
