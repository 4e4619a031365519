"""Item 12: the mail server is down, says "later", says "never", or drops the line after the data.

The rule under test (README, "Security and reliability"): temporary failures
are retried with a growing pause until ``smtp_retry_for`` runs out, then left
for the next run; permanent refusals are marked and reported and never sent
again; only a message whose fate is unknown (the connection dropped after its
data went out) may reach a reader twice.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from awareness import pipeline
from awareness.cli import run as cli_run
from awareness.deliver import refusals
from relworld import NOW, World, frail, make_world, rss, text_of
from servers import LoopbackHTTPServer, Route
from smtpfaults import faulty_server

PEOPLE = ["alice@example.org", "bob@example.org", "carol@example.org", "dave@example.org", "erin@example.org"]


def world_for(tmp_path: Path, http_server: LoopbackHTTPServer, smtp_url: str, retry_for: float) -> World:
    http_server.routes["/feed.xml"] = Route(rss([frail(1), frail(2)]))
    return make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_url, subscribers=PEOPLE,
                      extra_config=f"smtp_retry_for = {retry_for}\n")


def retry_pauses(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(m.group(1)) for r in caplog.records if (m := re.search(r"retrying in ([\d.]+) s$", r.getMessage()))]


def test_a_mail_server_down_at_the_start_is_retried_with_growing_pauses_until_it_answers(
        tmp_path: Path, http_server: LoopbackHTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    smtp, handler = faulty_server()                     # not started: connection refused
    world = world_for(tmp_path, http_server, smtp.url, retry_for=20)
    ctx = world.context()
    caplog.set_level(logging.WARNING)

    class StartAfterTwoRetries(logging.Handler):
        """The mail server comes up once the sender has been turned away twice."""

        def emit(self, record: logging.LogRecord) -> None:
            if "retrying in" in record.getMessage() and len(retry_pauses(caplog)) >= 2 and not smtp.controller:
                smtp.start()

    watcher = StartAfterTwoRetries()
    logging.getLogger("awareness.deliver.transport").addHandler(watcher)
    try:
        report = pipeline.run(ctx, now=NOW)
    finally:
        logging.getLogger("awareness.deliver.transport").removeHandler(watcher)
        smtp.stop()
    assert report.ok, report.profiles[0].errors
    assert sorted(to for _, tos in handler.envelopes for to in tos) == sorted(PEOPLE), "each reader once"
    pauses = retry_pauses(caplog)
    assert len(pauses) >= 2 and pauses == sorted(pauses) and pauses[-1] > pauses[0], f"backoff grows: {pauses}"
    assert any("could not connect to the mail server 127.0.0.1" in r.getMessage() for r in caplog.records)
    ctx.close()


def test_a_mail_server_down_past_the_deadline_loses_nothing_and_the_next_run_sends_everything_once(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    smtp, handler = faulty_server()
    world = world_for(tmp_path, http_server, smtp.url, retry_for=1)
    ctx = world.context()
    started = time.monotonic()
    down = pipeline.run(ctx, now=NOW)
    assert time.monotonic() - started < 5, "the deadline bounds the wait"
    profile = down.profiles[0]
    assert not down.ok and profile.sent == 0 and profile.failed == len(PEOPLE)
    assert all(f"127.0.0.1:{smtp.port}" in e for e in profile.errors)
    assert ctx.store.has_pending_retry("ph-team")
    assert refusals.refusals_for(ctx.store, "ph-team") == [], "a server that is down refuses nothing"

    smtp.start()
    try:
        later = pipeline.run(ctx, now=NOW + timedelta(minutes=30))     # not forced, not the schedule: owed
        assert later.ok and later.profiles[0].sent == len(PEOPLE)
        again = pipeline.run(ctx, now=NOW + timedelta(hours=1))
        assert again.profiles[0].sent == 0
    finally:
        smtp.stop()
    assert sorted(to for _, tos in handler.envelopes for to in tos) == sorted(PEOPLE)
    ctx.close()


def test_a_4xx_recipient_is_retried_and_a_5xx_recipient_is_marked_reported_and_not_retried(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    smtp, handler = faulty_server()
    handler.temporary["carol@example.org"] = 2          # "mailbox busy" twice, then fine
    handler.permanent.add("dave@example.org")           # "no such mailbox" for ever
    smtp.start()
    try:
        world = world_for(tmp_path, http_server, smtp.url, retry_for=10)
        ctx = world.context()
        report = pipeline.run(ctx, now=NOW)
        profile = report.profiles[0]
        delivered = sorted(to for _, tos in handler.envelopes for to in tos)
        assert delivered == sorted(set(PEOPLE) - {"dave@example.org"})
        assert handler.rcpt_attempts["carol@example.org"] == 3, "carol's 4xx was retried until it cleared"
        assert handler.rcpt_attempts["dave@example.org"] == 1, "dave's 5xx was not retried"
        assert not report.ok and profile.sent == 4 and profile.failed == 1 and profile.refused == 1
        summary = cli_run._failure_summary(report.profiles)
        assert "refused for good" in summary and "will retry" not in summary, "the admin is not told it retries"
        (error,) = profile.errors
        assert error.startswith("dave@example.org: ") and "550 5.1.1" in error and "permanent" in error
        marked = refusals.refusals_for(ctx.store, "ph-team")
        assert len(marked) == 2 and all("550" in reason for _, _, reason in marked), "both items marked refused"

        again = pipeline.run(ctx, now=NOW + timedelta(minutes=10))
        assert handler.rcpt_attempts["dave@example.org"] == 1, "a permanent refusal is never sent again"
        assert again.ok and not ctx.store.has_pending_retry("ph-team")

        http_server.routes["/feed.xml"] = Route(rss([frail(3), frail(1), frail(2)]))
        pipeline.run(ctx, now=NOW + timedelta(days=8))
        alice = [text_of(m) for m in smtp.to("alice@example.org")]
        assert len(alice) == 2 and "number 3" in alice[1] and "number 1" not in alice[1]
        assert handler.rcpt_attempts["dave@example.org"] == 2, "dave's next bulletin is tried (new items only)"
        ctx.close()
    finally:
        smtp.stop()


def test_a_4xx_that_outlasts_the_deadline_is_left_for_the_next_run(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    smtp, handler = faulty_server()
    handler.temporary["carol@example.org"] = 1000
    smtp.start()
    try:
        world = world_for(tmp_path, http_server, smtp.url, retry_for=1)
        ctx = world.context()
        report = pipeline.run(ctx, now=NOW)
        assert report.profiles[0].failed == 1 and "450 4.2.1" in report.profiles[0].errors[0]
        assert refusals.refusals_for(ctx.store, "ph-team") == []
        handler.temporary["carol@example.org"] = 0
        assert pipeline.run(ctx, now=NOW + timedelta(minutes=5)).profiles[0].sent == 1
        assert len(smtp.to("carol@example.org")) == 1 and len(smtp.to("alice@example.org")) == 1
        ctx.close()
    finally:
        smtp.stop()


def test_a_connection_dropped_after_the_data_is_the_only_case_that_may_arrive_twice(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    smtp, handler = faulty_server()
    handler.drop_after_data.add("erin@example.org")
    smtp.start()
    try:
        world = world_for(tmp_path, http_server, smtp.url, retry_for=10)
        ctx = world.context()
        report = pipeline.run(ctx, now=NOW)
        profile = report.profiles[0]
        assert profile.sent == 4 and profile.failed == 1
        assert "may or may not have arrived" in profile.errors[0] and "twice" in profile.errors[0]
        assert len(smtp.to("erin@example.org")) == 1, "the run did not resend a message of unknown fate"
        assert refusals.refusals_for(ctx.store, "ph-team") == []
        assert ctx.store.delivered_item_ids("ph-team", _subscriber(ctx, "erin@example.org")) == set()

        assert pipeline.run(ctx, now=NOW + timedelta(minutes=5)).ok
        assert len(smtp.to("erin@example.org")) == 2, "unknown fate: sent again (the documented exception)"
        for other in set(PEOPLE) - {"erin@example.org"}:
            assert len(smtp.to(other)) == 1, f"{other} got exactly one"
        ctx.close()
    finally:
        smtp.stop()


def _subscriber(ctx: pipeline.Context, address: str) -> int:
    return ctx.store.sync_subscribers("ph-team", [address], now=NOW)[address]
