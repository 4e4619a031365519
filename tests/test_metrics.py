"""What an operator watches: the Prometheus text, the structured log lines, the weekly
source-health summary the librarian gets, and the run history's figures."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
import time_machine

from awareness.core import logs
from awareness import pipeline
from awareness.config.sources import load_sources
from awareness.store import runlog
from awareness.deliver.health_summary import send_summaries, summarise
from awareness.store.metrics import render_metrics
from awareness.gather.normalise import normalise
from awareness.service.scheduler import Scheduler
from awareness.store.store import Store
from awareness.store.schema import utcnow
from servers import Route
from service_world import World, database_url, world  # noqa: F401 - fixtures


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _add_broken_and_quiet(world: World) -> None:
    world.http.routes["/broken.xml"] = Route(b"oops", status=500)
    world.http.routes["/quiet.xml"] = Route(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Q</title>'
                                            b"<link>https://example.org/</link><description>d</description>"
                                            b"</channel></rss>")
    sources = world.dir / "sources.yaml"
    sources.write_text(sources.read_text() + f"- id: broken\n  url: {world.http.url('/broken.xml')}\n"
                       f"- id: quiet\n  name: Quiet Journal\n  url: {world.http.url('/quiet.xml')}\n")


def test_metrics_count_items_errors_bulletins_and_the_last_good_run(world: World) -> None:
    _add_broken_and_quiet(world)
    assert world.invoke("run", "--now").exit_code == 0
    (world.dir / "sources.yaml").write_text((world.dir / "sources.yaml").read_text().split("- id: broken")[0])
    assert world.invoke("run", "--now").exit_code == 0        # no failing source now: an "ok" run
    store = Store(world.database_url)
    try:
        text = render_metrics(store)
        last_ok = max(r.finished for r in runlog.list_runs(store) if r.status == "ok" and r.finished)
    finally:
        store.close()
    assert "# TYPE awareness_fetch_errors_total counter" in text
    got = _samples(text)
    assert got["awareness_items"] == 7
    assert got['awareness_source_items{source="policy"}'] == 7
    assert got['awareness_fetch_errors_total{source="broken"}'] == 1
    assert got['awareness_fetch_errors_total{source="policy"}'] == 0
    assert got['awareness_source_consecutive_failures{source="broken"}'] == 1
    assert got['awareness_bulletins_sent_total{profile="ph-team"}'] == 1
    assert got['awareness_runs_total{status="partial"}'] == 1 and got['awareness_runs_total{status="ok"}'] == 1
    assert got["awareness_last_successful_run_timestamp_seconds"] == pytest.approx(last_ok.timestamp())


@pytest.mark.parametrize("log_format", ["keyvalue", "json"])
def test_one_structured_line_per_fetch_and_per_message_and_no_addresses(
        world: World, log_format: str) -> None:
    formatter = logs.JSONFormatter() if log_format == "json" else logs.KeyValueFormatter()
    records: list[logging.LogRecord] = []
    collect = logging.Handler()
    collect.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("awareness.events").addHandler(collect)
    try:
        result = world.invoke("run", "--now")
    finally:
        logging.getLogger("awareness.events").removeHandler(collect)
    assert result.exit_code == 0
    lines = [formatter.format(r) for r in records]
    assert len(lines) == 2, lines
    ours = [line for line in result.stderr.splitlines() if "mail.log" not in line]   # the test's SMTP server
    assert "alice@example.org" not in "".join(lines) + "\n".join(ours)
    if log_format == "json":
        fetch, sent = (json.loads(line) for line in lines)
        assert (fetch["event"], fetch["source"], fetch["outcome"], fetch["new"]) == ("fetch", "policy", "ok", 7)
        assert (sent["event"], sent["profile"], sent["items"]) == ("sent", "ph-team", 7)
        assert isinstance(sent["subscriber"], int)
    else:
        assert re.search(r"level=info logger=awareness\.events event=fetch source=policy outcome=ok new=7 ", lines[0])
        assert re.search(r"event=sent profile=ph-team subscriber=\d+ items=7 message_id=<", lines[1])


def test_the_owner_hears_about_failing_and_quiet_sources(world: World) -> None:
    _add_broken_and_quiet(world)
    now = utcnow()
    store = Store(world.database_url)
    try:
        store.sync_sources(load_sources(world.dir / "sources.yaml"))
        for week in range(2, 6):      # the quiet journal used to publish five items a week
            at = now - timedelta(weeks=week)
            store.add_items("quiet", [normalise("quiet", guid=f"q{week}-{i}", link=f"https://example.org/q/{week}/{i}",
                                                title=f"Quiet journal paper {week}.{i} on hospital discharge",
                                                summary="", published=at, now=at) for i in range(5)], now=at)
    finally:
        store.close()
    assert world.invoke("run", "--now").exit_code == 0
    ctx = pipeline.open_context(world.settings())
    try:
        summary = summarise(ctx.store, ctx.profiles[0], ctx.sources)
        assert [s.id for s in summary.failing] == ["broken"] and [s.id for s in summary.quiet] == ["quiet"]
        assert send_summaries(ctx) == 1
    finally:
        ctx.close()
    [message] = world.smtp.to("librarian@example.org")
    assert message["Subject"] == "Awareness source health: Public Health Team (2 to look at)"
    body = message.get_content()
    assert "1 of 3 sources behind this bulletin are healthy." in body
    assert "broken (broken): HTTP 500" in body
    assert "Quiet Journal (quiet): 0 this week, usually about 5 a week" in body


def test_the_summary_goes_out_weekly_from_the_scheduler(world: World) -> None:
    pipeline.STOP.clear()
    with time_machine.travel(utcnow().replace(year=2026, month=1, day=12, hour=6, minute=0), tick=False) as t:
        store = Store(world.database_url)
        scheduler = Scheduler(world.settings(), store, synchronous=True)
        try:
            scheduler.start()
            scheduler.tick()
            for hour in (7, 8):
                t.move_to(utcnow().replace(hour=hour))
                scheduler.tick()
        finally:
            scheduler.shutdown()
            store.close()
    assert len(world.smtp.to("librarian@example.org")) == 1
    assert len(world.smtp.to("alice@example.org")) == 1
