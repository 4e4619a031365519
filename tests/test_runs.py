"""Issue 16: runs that never stop for one bad part, and that say what they did.

Real loopback feeds, a real SMTP server and a real SQLite file; the CLI as an admin types it.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from awareness.deliver import health_summary
from awareness import pipeline
from awareness.store import runlog
from awareness.store.metrics import render_metrics
from awareness.store.schema import subscribers, utcnow
from runs_world import GOOD, MALFORMED, REFUSED, SECRET, RunsWorld, make_runs_world
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route, _Collector


def last_run(world: RunsWorld) -> dict:  # type: ignore[type-arg]
    result = world.invoke("runs", "--last", "1", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[0])


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------ bad entries in sources.yaml

def test_a_refused_url_and_a_malformed_entry_are_reported_and_the_ten_good_feeds_gathered(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, extra_sources=REFUSED + MALFORMED)
    refused_line, malformed_line = world.line_of("10.20.30.40"), world.line_of("Bad Id!")

    result = world.invoke("run", "--now")
    assert result.exit_code == 0, result.output
    assert f"skipped: {tmp_path / 'sources.yaml'}:{refused_line}: source 'intranet': refused" in result.output
    assert "add it to fetch_allow" in result.output, "says what to do"
    assert f"sources.yaml:{malformed_line}: source id \"Bad Id!\" must use lower case" in result.output
    assert all(http_server.hits(f"/feed{n}.xml") == 1 for n in range(GOOD)), "every good feed was fetched"

    store = world.store()
    try:
        states = store.source_states()
    finally:
        store.close()
    assert sorted(s.id for s in states) == sorted(f"feed-{n}" for n in range(GOOD))
    assert all(s.ok and s.items == 2 for s in states)
    assert len(smtp_server.to("cat@example.org")) == 1, "the bulletins went"

    record = last_run(world)
    assert (record["status"], record["sources_fetched"], record["sources_failed"]) == ("partial", GOOD, 0)
    assert any(f"sources.yaml:{refused_line}: source 'intranet'" in e for e in record["errors"])
    assert any(f"sources.yaml:{malformed_line}:" in e for e in record["errors"])
    shown = world.invoke("runs", "show", str(record["id"]))
    assert f"sources.yaml:{refused_line}" in shown.stdout and "skipped until fixed" in shown.stdout

    listed = world.invoke("sources", "list")
    assert listed.exit_code == 0, listed.output
    assert sum(1 for line in listed.stdout.splitlines() if line.startswith("feed-")) == GOOD
    assert re.search(r"last ok \d{4}-\d\d-\d\d \d\d:\d\d (GMT|BST)", listed.stdout), "the install's time zone"
    assert f"SKIPPED {tmp_path / 'sources.yaml'}:{refused_line}: source 'intranet'" in listed.stderr
    assert f"sources.yaml:{malformed_line}:" in listed.stderr
    as_json = [json.loads(line) for line in world.invoke("sources", "list", "--json").stdout.splitlines()]
    problems = [o for o in as_json if o.get("problem")]
    assert {o["line"] for o in problems} == {refused_line, malformed_line}
    assert all(o["ok"] is False and o["file"].endswith("sources.yaml") for o in problems)

    ctx = pipeline.open_context(world.settings())
    try:
        assert health_summary.send_summaries(ctx) == 2
    finally:
        ctx.close()
    [mail] = [m for m in smtp_server.to("librarian@example.org")
              if m["Subject"].startswith("Awareness source health: Frailty Team")]
    text = mail.get_content()
    assert "Skipped: entries in sources.yaml that cannot be gathered" in text
    assert f"sources.yaml:{refused_line}: source 'intranet'" in text and "(3 to look at)" in mail["Subject"]


def test_only_a_file_that_is_not_yaml_at_all_stops_the_run(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server)
    (tmp_path / "sources.yaml").write_text((tmp_path / "sources.yaml").read_text() + "- id: [unclosed\n")
    result = world.invoke("run", "--now")
    assert result.exit_code == 1
    assert f"{tmp_path / 'sources.yaml'}:" in result.output
    assert http_server.hits("/feed0.xml") == 0 and smtp_server.messages == []


# ------------------------------------------------------------------ a profile that fails

def test_a_profile_that_fails_is_reported_and_the_other_profiles_delivered(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server)
    assert world.invoke("send", "--dry-run").exit_code == 0      # the schema exists
    store = world.store()
    try:   # a subscriber row no mail can be addressed to (a header injection left by an old version)
        with store.engine.begin() as conn:
            conn.execute(subscribers.insert().values(profile_id="frailty-team", origin="web", created=utcnow(),
                                                     email="aaa@example.org\r\nBcc: eve@example.org"))
    finally:
        store.close()

    result = world.invoke("run", "--now")
    assert result.exit_code == 1 and "frailty-team" in result.output
    assert len(smtp_server.to("cat@example.org")) == 1, "the maternity team's bulletin still went"
    assert smtp_server.to("eve@example.org") == []
    record = last_run(world)
    assert record["status"] == "partial" and record["bulletins_sent"] >= 1
    assert any(e.startswith("frailty-team: ") for e in record["errors"])
    shown = world.invoke("runs", "show", str(record["id"])).stdout
    assert "maternity-team" in shown and "frailty-team" in shown


# ------------------------------------------------------------------ statuses

class _SlowCollector(_Collector):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(1.0)
        return answer


def test_statuses_ok_partial_failed_and_interrupted_each_arise_from_their_situation(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    smtp = LoopbackSMTPServer()
    smtp.handler = _SlowCollector()
    smtp.start()
    try:
        world = make_runs_world(tmp_path, http_server, smtp, good=2)
        # interrupted: the process is SIGKILLed half-way through sending
        child = world.popen("run", "--now")
        wait_for(lambda: len(smtp.messages) >= 1, what="the first message")
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        assert last_run(world)["status"] == "running", "nothing can mark it at the moment it dies"

        assert world.invoke("run", "--now").exit_code == 0          # everything works: ok
        history = {r["id"]: r for r in map(json.loads, world.invoke("runs", "--json").stdout.splitlines())}
        killed, good = sorted(history)
        assert history[killed]["status"] == "interrupted"
        assert any("interrupted: the process ended" in e for e in history[killed]["errors"])
        assert history[good]["status"] == "ok"
        assert "interrupted" in world.invoke("runs").stdout

        http_server.routes["/feed1.xml"] = Route(b"down", status=500)   # a source fails, bulletins go: partial
        http_server.routes["/feed0.xml"] = Route(http_server.routes["/feed0.xml"].body.replace(  # type: ignore[union-attr]
            b"report 0", b"report 0b").replace(b"frail-0", b"frail-0b"), conditional=False)
        assert world.invoke("run", "--now").exit_code == 0
        partial = last_run(world)
        assert (partial["status"], partial["sources_failed"], partial["bulletins_sent"]) == ("partial", 1, 2)

        store = world.store()
        try:
            assert runlog.last_successful_run(store) == runlog.get_run(store, partial["id"]).finished  # type: ignore[union-attr]
            assert "awareness_last_successful_run_timestamp_seconds" in render_metrics(store)
        finally:
            store.close()

        smtp.handler.refuse_all = True         # every message refused: nothing due was delivered
        http_server.routes["/feed0.xml"] = Route(http_server.routes["/feed0.xml"].body.replace(  # type: ignore[union-attr]
            b"0b", b"0c"), conditional=False)
        assert world.invoke("run", "--now").exit_code == 1
        assert last_run(world)["status"] == "failed"
    finally:
        smtp.stop()


# ------------------------------------------------------------------ two runs at once

def test_two_concurrent_runs_on_sqlite_leave_every_source_healthy_and_send_each_message_once(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server)
    assert world.invoke("db", "upgrade").exit_code == 0     # an install that exists; what races is the run
    feed = http_server.routes["/feed0.xml"]
    assert isinstance(feed, Route)
    held = []

    def slow_first_fetch(_request: object) -> Route:
        # The first run holds the run lock for a few seconds, so on a loaded machine the second one
        # still meets it (otherwise the first can finish before the second starts, and nothing races).
        if not held:
            held.append(True)
            time.sleep(3)             # under the world's 5 s fetch_timeout
        return feed

    http_server.routes["/feed0.xml"] = slow_first_fetch
    runs = [world.popen("run", "--now") for _ in range(2)]
    results = [p.communicate(timeout=180) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], results
    store = world.store()
    try:
        states = store.source_states()
    finally:
        store.close()
    assert len(states) == GOOD
    assert [(s.id, s.last_error) for s in states if not s.ok or s.last_error] == [], "no healthy source marked"
    for address in ("ann@example.org", "bob@example.org", "cat@example.org"):
        assert len(smtp_server.to(address)) == 1, address
    assert any("another run is in progress" in err for _, err in results), "the second one waited, and said so"


def test_a_run_refuses_when_another_holds_the_lock_past_the_wait_and_marks_nothing(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    from awareness.store import runlock
    from awareness.service import runs as service

    world = make_runs_world(tmp_path, http_server, smtp_server, good=2)
    store = world.store()
    try:
        held = runlock.acquire(store, wait=0)
        busy = runlog.start_run(store, trigger="web", who="admin@example.org", profile=None, source=None,
                                holder=held.holder)
        try:
            with pytest.raises(runlock.RunInProgress, match=f"another run is in progress \\(run {busy}, web by "
                               "admin@example.org.*nothing was done and no source was marked"):
                service.run_recorded(world.settings(), trigger="cli", who="me", wait=0.5)
            with pytest.raises(runlock.RunInProgress):
                service.trigger_run(world.settings(), trigger="web", who="other@example.org")
        finally:
            held.release()
        assert http_server.hits("/feed0.xml") == 0 and smtp_server.messages == []
        assert all(s.last_error is None for s in store.source_states())
        assert [r.id for r in runlog.list_runs(store)] == [busy], "a refused run records nothing"
    finally:
        store.close()


# ------------------------------------------------------------------ dry run

def _listed(output: str) -> set[tuple[str, str]]:
    """(address, item link) pairs from `run --dry-run`'s "to ADDRESS:" and "- [topic] title <link>" lines."""
    pairs, address = set(), None
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("to ") and (stripped.endswith("items") or stripped.endswith("item")):
            address = stripped[3:].split(":")[0]
        elif stripped.startswith("- [") and stripped.endswith(">"):
            assert address is not None
            pairs.add((address, stripped.rsplit("<", 1)[1][:-1]))
    return pairs


def test_a_dry_run_sends_nothing_and_the_next_real_run_sends_exactly_what_it_listed(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=3)
    dry = world.invoke("run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing was sent and nothing was marked sent" in dry.stdout
    listed = _listed(dry.stdout)
    assert {a for a, _ in listed} == {"ann@example.org", "bob@example.org", "cat@example.org"}
    assert ("cat@example.org", "https://example.org/pub/mat-0") in listed
    assert ("ann@example.org", "https://example.org/pub/mat-0") not in listed, "each team its own topic"
    assert smtp_server.messages == [] and world.ledger() == set()
    assert world.invoke("runs", "--json").stdout == "", "a dry run delivers nothing, so it is no run"

    real = world.invoke("run")
    assert real.exit_code == 0, real.output
    assert world.ledger() == listed, "the real run sent exactly what the dry run listed"
    assert sorted(to for _, tos in smtp_server.handler.envelopes for to in tos) == \
        ["ann@example.org", "bob@example.org", "cat@example.org"]
    again = world.invoke("run", "--dry-run", "--now")
    assert "nothing to send" in again.stdout or "no new items" in again.stdout


def test_profiles_check_reports_as_json(tmp_path: Path, http_server: LoopbackHTTPServer,
                                        smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=1)
    good = world.invoke("profiles", "check", "--json")
    assert good.exit_code == 0
    assert sorted(p["id"] for p in json.loads(good.stdout)["ok"]) == ["frailty-team", "maternity-team"]
    (tmp_path / "profiles" / "broken.yaml").write_text("id: broken\nname: Broken\ntopics: 3\n")
    bad = world.invoke("profiles", "check", "--json")
    assert bad.exit_code == 1
    [problem] = json.loads(bad.stdout)["problems"]
    assert problem["file"].endswith("broken.yaml") and problem["line"] == 3 and problem["problem"]
