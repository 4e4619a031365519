"""Items 1-5 of the reliability matrix: sources that fail, throttle, bloat, loop or lie.

Each case runs the real pipeline against a real loopback HTTP server and a
real SQLite file, and asserts what a librarian would notice: the health
shown for the source, when it is fetched again, what is kept and what is sent.
"""

from __future__ import annotations

import gzip
import io
import json
import time
import tracemalloc
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from click.testing import CliRunner

from awareness import pipeline
from awareness.cli import main
from relworld import ENV, NOW, frail, make_world, rss, text_of
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route


def sources_json(world_config: Path) -> dict[str, dict]:
    out = CliRunner().invoke(main, ["--config", str(world_config), "sources", "list", "--json"], env=ENV)
    assert out.exit_code == 0, out.output
    return {row["id"]: row for row in map(json.loads, out.stdout.splitlines())}


# ------------------------------------------------------------------ 1. 500 three runs in a row

def test_a_feed_failing_three_runs_backs_off_stays_listed_and_recovers_without_resending(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(rss([frail(1), frail(2)]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url)
    ctx = world.context()
    assert pipeline.run(ctx, now=NOW).ok
    assert len(smtp_server.messages) == 2

    http_server.routes["/feed.xml"] = Route(b"database exploded", status=500, content_type="text/plain")
    checked_at, gaps = NOW, []
    for failure in range(1, 4):
        due = ctx.store.source_states(["policy"])[0].next_check
        assert due is not None
        hits = http_server.hits("/feed.xml")
        assert pipeline.refresh_due(ctx, now=due - timedelta(minutes=1)).sources == 0   # not yet
        report = pipeline.refresh_due(ctx, now=due)
        assert http_server.hits("/feed.xml") == hits + 1, "a failing source is still tried when due"
        assert report.errors["policy"].startswith("HTTP 500")
        gaps.append(due - checked_at)
        checked_at = due
        state = ctx.store.source_states(["policy"])[0]
        assert state.consecutive_failures == failure
    gap_after = [ctx.store.source_states(["policy"])[0].next_check - checked_at]
    assert gaps[1:] + gap_after == [timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)], "backoff grows"

    health = sources_json(world.config)["policy"]
    assert health["ok"] is False and health["consecutive_failures"] == 3
    assert "HTTP 500" in health["last_error"] and "retried next time" in health["last_error"]
    assert health["items"] == 2, "what was gathered before the outage is kept"

    http_server.routes["/feed.xml"] = Route(rss([frail(3), frail(1), frail(2)]))
    recovered_at = ctx.store.source_states(["policy"])[0].next_check
    report = pipeline.run(ctx, now=recovered_at, force=True)
    assert report.ok and report.gather.new_items == 1
    assert sources_json(world.config)["policy"]["ok"] is True
    assert len(smtp_server.messages) == 4
    for address in ("alice@example.org", "bob@example.org"):
        first, second = (text_of(m) for m in smtp_server.to(address))
        assert "update number 1" in first and "update number 2" in first
        assert "update number 3" in second
        assert "update number 1" not in second and "update number 2" not in second, "nothing sent twice"
    ctx.close()


def test_backoff_is_capped_so_a_broken_source_is_never_silently_abandoned(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(status=500, content_type="text/plain")
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")})
    ctx = world.context()
    when = NOW
    for _ in range(12):
        pipeline.refresh_due(ctx, now=when)
        state = ctx.store.source_states(["policy"])[0]
        assert state.next_check is not None
        assert state.next_check - when <= timedelta(hours=24)
        when = state.next_check
    assert http_server.hits("/feed.xml") == 12 and state.consecutive_failures == 12
    ctx.close()


# ------------------------------------------------------------------ 2. Retry-After

def test_429_with_retry_after_is_not_fetched_again_before_then_even_by_an_ad_hoc_run(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(status=429, content_type="text/plain", headers={"Retry-After": "7200"})
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")})
    ctx = world.context()
    report = pipeline.refresh_due(ctx, now=NOW)
    assert "retry after 7200 s" in report.errors["policy"]
    assert http_server.hits("/feed.xml") == 1
    for later in (timedelta(hours=1), timedelta(hours=1, minutes=59)):   # past the usual 1 h backoff
        pipeline.refresh_due(ctx, now=NOW + later)
        pipeline.refresh_due(ctx, now=NOW + later, force=True)           # `awareness run --now`
    assert http_server.hits("/feed.xml") == 1, "nothing was fetched before the server's Retry-After"
    http_server.routes["/feed.xml"] = Route(rss([frail(1)]))
    assert pipeline.refresh_due(ctx, now=NOW + timedelta(hours=2, seconds=1)).new_items == 1
    assert http_server.hits("/feed.xml") == 2
    ctx.close()


def test_503_with_an_http_date_retry_after(tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    from datetime import datetime, timezone
    from email.utils import format_datetime
    now = datetime.now(timezone.utc).replace(microsecond=0)   # an HTTP date is read against the real clock
    until = now + timedelta(hours=3)
    http_server.routes["/feed.xml"] = Route(status=503, content_type="text/plain",
                                            headers={"Retry-After": format_datetime(until, usegmt=True)})
    ctx = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}).context()
    pipeline.refresh_due(ctx, now=now)
    state = ctx.store.source_states(["policy"])[0]
    # the wait is measured from the real clock, so allow the seconds the test took
    assert abs((state.retry_until - until).total_seconds()) < 30
    pipeline.refresh_due(ctx, now=until - timedelta(minutes=5), force=True)
    assert http_server.hits("/feed.xml") == 1
    ctx.close()


def test_an_absurd_retry_after_cannot_switch_a_source_off(tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(status=503, content_type="text/plain",
                                            headers={"Retry-After": "999999999"})
    ctx = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}).context()
    pipeline.refresh_due(ctx, now=NOW)
    state = ctx.store.source_states(["policy"])[0]
    assert state.next_check is not None and state.next_check - NOW <= timedelta(days=1), \
        "a server cannot push its next check years away"
    assert "retry after 86400 s" in state.last_error
    ctx.close()


# ------------------------------------------------------------------ 3. bodies that are too big or too slow

def _write_quietly(handler: BaseHTTPRequestHandler, chunks: object, delay: float = 0.0) -> None:
    try:
        for chunk in chunks:  # type: ignore[attr-defined]
            handler.wfile.write(chunk)
            handler.wfile.flush()
            if delay:
                time.sleep(delay)
    except OSError:
        pass  # the client gave up, as it should


def _handled(handler: BaseHTTPRequestHandler) -> Route:
    handler.wfile = io.BytesIO()  # type: ignore[assignment]
    handler.close_connection = True
    return Route(status=204, conditional=False)


def _streamer(length_header: str | None, chunk: bytes, count: int, delay: float = 0.0):
    def handler(h: BaseHTTPRequestHandler) -> Route:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        if length_header is not None:
            h.send_header("Content-Length", length_header)
        h.send_header("Connection", "close")
        h.end_headers()
        _write_quietly(h, (chunk for _ in range(count)), delay)
        return _handled(h)
    return handler


def test_oversized_lying_bombing_and_dripping_feeds_fail_alone_with_bounded_memory(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>'
    big = head + b"x" * 20_000_000 + b"</title></item></channel></rss>"
    http_server.routes["/big.xml"] = Route(big)                                  # an honest 20 MB feed
    http_server.routes["/nolength.xml"] = _streamer(None, b"y" * 65536, 320)     # 20 MB, no length given
    http_server.routes["/lying.xml"] = _streamer("4000", head + b"z" * 65536, 320)   # says 4 kB, sends 20 MB
    http_server.routes["/short.xml"] = _streamer("900000", head, 1)              # says 0.9 MB, sends 80 bytes
    http_server.routes["/bomb.xml"] = Route(gzip.compress(b"\0" * 40_000_000, compresslevel=9),
                                            headers={"Content-Encoding": "gzip"})
    http_server.routes["/drip.xml"] = _streamer("500", b"<", 500, delay=0.25)    # a byte every 0.25 s
    http_server.routes["/good.xml"] = Route(rss([frail(1), frail(2)]))
    paths = ["big", "nolength", "lying", "short", "bomb", "drip", "good"]
    world = make_world(tmp_path, {p: http_server.url(f"/{p}.xml") for p in paths})
    ctx = world.context(fetch_max_bytes=1_000_000, fetch_timeout=1.5)

    tracemalloc.start()
    try:
        started = time.monotonic()
        report = pipeline.refresh_due(ctx, now=NOW)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.new_items == 2 and "good" not in report.errors, "other sources continue"
    assert set(report.errors) == {"big", "nolength", "lying", "short", "bomb", "drip"}
    for sid in ("big", "nolength", "bomb"):
        assert "larger than the 1 MB cap (fetch_max_bytes)" in report.errors[sid], sid
    assert "no complete answer within 1.5 s" in report.errors["drip"]
    assert "not a feed" in report.errors["lying"], "only the 4 kB it declared were read"
    assert "connection failed" in report.errors["short"]
    assert elapsed < 5, "the drip is cut off at the overall deadline"
    assert peak < 12_000_000, f"memory is bounded by the cap, not the body (peak {peak / 1e6:.1f} MB)"

    health = sources_json(world.config)
    for sid in report.errors:
        assert health[sid]["ok"] is False and health[sid]["last_error"] == report.errors[sid]
    assert health["good"]["ok"] is True and health["good"]["items"] == 2
    ctx.close()


def test_the_run_output_names_each_failed_source(tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/big.xml"] = Route(b"<rss>" + b"x" * 3000)
    http_server.routes["/good.xml"] = Route(rss([frail(1)]))
    world = make_world(tmp_path, {"oversized-feed": http_server.url("/big.xml"),
                                  "good": http_server.url("/good.xml")}, extra_config="fetch_max_bytes = 2000\n")
    out = CliRunner().invoke(main, ["--config", str(world.config), "gather"], env=ENV)
    assert "oversized-feed: the response is larger than the 0.002 MB cap" in out.output


# ------------------------------------------------------------------ 4. redirects

def test_redirect_loops_and_long_chains_are_reported_and_keep_earlier_items(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/loop.xml"] = Route(rss([frail(1)]))
    for n in range(8):
        http_server.routes[f"/hop{n}"] = Route(status=301, headers={"Location": f"/hop{n + 1}"})
    http_server.routes["/hop8"] = Route(rss([frail(2)]))
    world = make_world(tmp_path, {"loop": http_server.url("/loop.xml"), "chain": http_server.url("/hop0")})
    ctx = world.context()
    first = pipeline.refresh_due(ctx, now=NOW)
    assert first.new_items == 1 and "too many redirects (more than 5 hops" in first.errors["chain"]
    assert http_server.hits("/hop6") == 0, "the chain is cut at the limit, not followed to the end"

    http_server.routes["/loop.xml"] = Route(status=302, headers={"Location": "/loop-b"})
    http_server.routes["/loop-b"] = Route(status=302, headers={"Location": "/loop.xml"})
    second = pipeline.refresh_due(ctx, now=NOW + timedelta(hours=2))
    assert "too many redirects (a redirect loop" in second.errors["loop"]
    assert http_server.hits("/loop-b") == 1
    health = sources_json(world.config)
    assert "redirect loop" in health["loop"]["last_error"] and health["loop"]["items"] == 1
    ctx.close()


# ------------------------------------------------------------------ 5. not a feed, or a mislabelled one

def test_pages_empty_bodies_and_broken_xml_are_errors_that_keep_earlier_items(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(rss([frail(1), frail(2)]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")})
    ctx = world.context()
    assert pipeline.refresh_due(ctx, now=NOW).new_items == 2
    first_success = ctx.store.source_states(["policy"])[0].last_success

    bad = {
        "web page": (Route(b"<!doctype html><html><head><title>News</title></head><body>hi</body></html>",
                           content_type="text/html"), "web page"),
        "empty": (Route(b""), "the response was empty"),
        "malformed": (Route(b'<?xml version="1.0"?><rss><channel><item><title>cut off <b'), "not a feed"),
        "garbage": (Route(b"\x00\x01\x02 binary junk \xff\xfe"), "not a feed"),
    }
    when = NOW
    for name, (route, says) in bad.items():
        when += timedelta(days=1)
        http_server.routes["/feed.xml"] = route
        report = pipeline.refresh_due(ctx, now=when)
        assert says in report.errors["policy"], (name, report.errors)
        state = ctx.store.source_states(["policy"])[0]
        assert state.last_error == report.errors["policy"]
        assert state.items == 2 and state.last_success == first_success, f"{name}: earlier items are kept"
    assert len(ctx.store.items_since(NOW - timedelta(days=30))) == 2
    ctx.close()


def test_a_wrong_charset_alone_does_not_fail_a_feed_that_parses(
        tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    latin1 = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Café</title>'
              '<item><title>Frailty services in Ystradgynlais cost £2m: café-style clinics</title>'
              '<link>https://example.org/pub/1</link><guid>1</guid></item></channel></rss>').encode("latin-1")
    http_server.routes["/feed.xml"] = Route(latin1, content_type="application/rss+xml; charset=utf-8")
    http_server.routes["/labelled.xml"] = Route(rss([frail(7)]).replace(b'encoding="utf-8"', b'encoding="koi8-r"'),
                                                content_type="text/xml; charset=us-ascii")
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml"),
                                  "labelled": http_server.url("/labelled.xml")})
    ctx = world.context()
    report = pipeline.refresh_due(ctx, now=NOW)
    assert report.errors == {} and report.new_items == 2
    titles = {i.title for i in ctx.store.items_since(NOW - timedelta(days=30))}
    assert any("£2m" in t and "café" in t for t in titles), titles
    health = sources_json(world.config)
    assert health["policy"]["ok"] and health["labelled"]["ok"]
    ctx.close()
