"""The service as an operator meets it: `awareness serve` processes, concurrent
`awareness run --now`, SIGTERM in the middle of sending, ad hoc runs and their history."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from awareness import pipeline
from awareness.store import runlog
from awareness.service import runs as service
from awareness.core.errors import UnknownName
from awareness.store.locks import SCHEDULER, holder_of
from awareness.store.store import Store
from awareness.store.schema import bulletins, deliveries
from servers import LoopbackHTTPServer, LoopbackSMTPServer, _Collector
from service_world import World, database_url, make_world, world  # noqa: F401 - fixtures

import sqlalchemy as sa

SUBSCRIBERS = tuple(f"reader{i}@example.org" for i in range(1, 6))


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def ledger(world: World) -> tuple[int, int]:
    """(bulletins recorded, distinct (subscriber, item) deliveries)."""
    store = Store(world.database_url)
    try:
        with store.engine.connect() as conn:
            sent = conn.execute(sa.select(sa.func.count()).select_from(bulletins)).scalar_one()
            pairs = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one()
        return sent, pairs
    finally:
        store.close()


def test_a_second_serve_refuses_while_the_first_runs(world: World) -> None:
    first = world.popen("serve", "--port", "0")
    try:
        store = Store(world.database_url)
        try:
            wait_for(lambda: holder_of(store, SCHEDULER) is not None, what="the first serve to take the lock")
            holder = holder_of(store, SCHEDULER)
            assert holder and holder[0].endswith(f":{first.pid}")
            second = world.cli("serve", "--port", "0")
            assert second.returncode == 1
            assert "another `awareness serve` is already running" in second.stderr
            assert f":{first.pid}" in second.stderr, "names who holds it"
            assert first.poll() is None, "the first one carries on"
        finally:
            store.close()
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    store = Store(world.database_url)
    try:
        assert holder_of(store, SCHEDULER) is None, "the lock is released on a clean stop"
    finally:
        store.close()


def test_two_concurrent_runs_send_each_message_once(tmp_path: Path, database_url: str,
                                                     http_server: LoopbackHTTPServer,
                                                     smtp_server: LoopbackSMTPServer) -> None:
    w = make_world(tmp_path, database_url, http_server, smtp_server, subscribers=SUBSCRIBERS)
    # A deployment that has run before: schema, sources and profiles registered (a dry run sends and
    # records no delivery). What races below is the sending.
    assert w.invoke("send", "--dry-run").exit_code == 0
    runs = [w.popen("run", "--now") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], results
    for address in SUBSCRIBERS:
        assert len(smtp_server.to(address)) == 1, f"{address} got {len(smtp_server.to(address))} messages"
    sent, _ = ledger(w)
    assert sent == len(SUBSCRIBERS)


class _SlowCollector(_Collector):
    """Accepts each message after a pause, so a test can act while one is in flight."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(0.4)
        return answer


def test_sigterm_mid_send_finishes_the_message_and_the_next_run_sends_the_rest(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    smtp = LoopbackSMTPServer()
    smtp.handler = _SlowCollector()
    smtp.start()
    try:
        w = make_world(tmp_path, f"sqlite:///{tmp_path / 'awareness.db'}", http_server, smtp,
                       subscribers=SUBSCRIBERS)
        run = w.popen("run", "--now")
        wait_for(lambda: len(smtp.messages) >= 1, what="the first message")
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 1 and "stopped early (SIGTERM)" in err
        first_batch = len(smtp.messages)
        assert 1 <= first_batch < len(SUBSCRIBERS)
        assert ledger(w)[0] == first_batch, "every message that went is recorded"
        store = Store(w.database_url)
        try:
            stopped = runlog.list_runs(store)[0]
        finally:
            store.close()
        assert stopped.status == "stopped" and stopped.bulletins_sent == first_batch

        rerun = w.invoke("run")             # not --now: the unfinished bulletin is still due
        assert rerun.exit_code == 0, rerun.output
        for address in SUBSCRIBERS:
            assert len(smtp.to(address)) == 1, f"{address}: each reader gets the bulletin exactly once"
        assert ledger(w)[0] == len(SUBSCRIBERS)
    finally:
        smtp.stop()


def test_an_ad_hoc_run_is_recorded_and_answers_at_once(world: World) -> None:
    pipeline.STOP.clear()
    settings = world.settings()
    run_id = service.trigger_run(settings, profile="ph-team", trigger="web", who="admin@example.org")
    store = Store(world.database_url)
    try:
        wait_for(lambda: (r := runlog.get_run(store, run_id)) is not None and r.finished is not None,
                 what="the run to finish")
        record = runlog.get_run(store, run_id)
        assert record is not None
        assert (record.trigger, record.who, record.profile, record.status) == ("web", "admin@example.org",
                                                                               "ph-team", "ok")
        assert record.sources_fetched == 1 and record.items_new >= 1 and record.bulletins_sent == 1
        with pytest.raises(UnknownName, match="no profile 'nope'"):
            service.trigger_run(settings, profile="nope")
        assert [r.id for r in runlog.list_runs(store)] == [run_id], "a typo records no run"
    finally:
        store.close()
    assert len(world.smtp.to("alice@example.org")) == 1


def test_runs_lists_history_as_a_table_json_and_details(world: World) -> None:
    world.http.routes["/broken.xml"] = lambda h: __import__("servers").Route(b"gone", status=500)
    sources = world.dir / "sources.yaml"
    sources.write_text(sources.read_text() + f"- id: broken\n  url: {world.http.url('/broken.xml')}\n")
    assert world.invoke("run", "--now").exit_code == 0, "a failing source never stops a run"
    table = world.invoke("runs")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "trigger", "started"]
    assert " cli " in lines[1] and " partial " in lines[1], "a bulletin went although a source failed"
    as_json = world.invoke("runs", "--last", "1", "--json")
    record = json.loads(as_json.stdout.splitlines()[0])
    assert set(record) == {"id", "trigger", "who", "profile", "source", "started", "finished", "status",
                           "sources_fetched", "sources_failed", "items_new", "matches", "bulletins_sent",
                           "bulletins_failed", "errors"}
    assert (record["trigger"], record["sources_fetched"], record["sources_failed"], record["bulletins_sent"]) == \
        ("cli", 1, 1, 1)
    assert any(e.startswith("broken: ") for e in record["errors"])
    shown = world.invoke("runs", "show", str(record["id"]))
    assert "bulletins  1 sent, 0 not sent" in shown.stdout and "! broken: " in shown.stdout
    missing = world.invoke("runs", "show", "999")
    assert missing.exit_code == 1 and "no run 999" in missing.output
