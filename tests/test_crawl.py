"""`awareness crawl` and `awareness run` with spider sources: a child process per crawl, health kept."""

from __future__ import annotations

import email
import email.policy
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from awareness.cli import main
from awareness.config.settings import load_settings
from awareness.gather.crawl import crawl_sources, override_settings
from awareness.pipeline import open_context, run
from servers import LoopbackHTTPServer, Route
from site_server import FAST, listing_source, serve_site

SPIDER = """\
- id: {id}
  name: {name}
  kind: spider
  spider: listing
  url: {url}
  item: article.card
  title: "h3 a::text"
  link: "h3 a::attr(href)"
  date: "time::attr(datetime)"
  summary: "p.summary::text"
  next: "a[rel=next]::attr(href)"
  max_pages: 3
  every: 1d
"""


@pytest.fixture
def world(tmp_path: Path, http_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    serve_site(http_server)
    (tmp_path / "awareness.toml").write_text(textwrap.dedent(f"""\
        database_url = "sqlite:///{tmp_path / 'a.db'}"
        fetch_allow = ["127.0.0.1"]
        outbox = "{tmp_path / 'outbox'}"
        """))
    (tmp_path / "sources.yaml").write_text(
        SPIDER.format(id="thinktank", name="Example Think Tank", url=http_server.url("/publications/page-1.html"))
        + SPIDER.format(id="redesigned", name="A redesigned site", url=http_server.url("/redesigned/page-1.html")))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "team.yaml").write_text(textwrap.dedent("""\
        id: team
        name: Frailty team
        subscribers: [team@example.org]
        lookback_days: 60
        topics:
          - id: frailty
            title: Frailty and falls
            terms: [frailty, falls, virtual wards, hospital at home]
        """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWARENESS_SECRET_KEY", "test")
    with override_settings(**FAST):
        yield tmp_path


def test_crawl_named_sources_then_the_due_ones_and_show_their_health(world: Path,
                                                                   http_server: LoopbackHTTPServer) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["crawl", "thinktank"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "1 spider sources: 50 new items, 0 failed" in first.output
    assert http_server.hits("/redesigned/page-1.html") == 0

    due = runner.invoke(main, ["crawl"], catch_exceptions=False)
    assert due.exit_code == 0, due.output
    assert "1 spider sources: 0 new items" in due.output, "thinktank is not due again for a day"
    assert "~ redesigned: selector for title matched 0 of 20 entries" in due.output
    assert http_server.hits("/publications/page-1.html") == 1

    listed = runner.invoke(main, ["sources", "list"], catch_exceptions=False)
    assert "selector for title matched 0 of 20 entries" in listed.output


def test_crawl_names_an_unknown_source(world: Path) -> None:
    result = CliRunner().invoke(main, ["crawl", "nosuch"])
    assert result.exit_code != 0
    assert "'nosuch' is not a spider source" in result.output and "thinktank" in result.output


def test_run_gathers_due_spider_sources_and_sends_their_items(world: Path, http_server: LoopbackHTTPServer) -> None:
    settings = load_settings(world / "awareness.toml")
    ctx = open_context(settings)
    try:
        report = run(ctx)
        assert report.gather.new_items == 50 and report.gather.failed == 0
        assert http_server.hits("/publications/page-1.html") == 1
        again = run(ctx)
        assert again.gather.new_items == 0 and http_server.hits("/publications/page-1.html") == 1, "not due yet"
    finally:
        ctx.close()
    [eml] = sorted((world / "outbox").glob("*.eml"))
    body = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
    assert "Virtual wards: early evidence" in body and "Example Think Tank" in body


def test_a_crawl_that_overruns_is_stopped_and_every_source_says_so(world: Path,
                                                                   http_server: LoopbackHTTPServer) -> None:
    settings = load_settings(world / "awareness.toml")

    def slow(handler: object) -> Route:
        time.sleep(3)
        return Route(b"<html></html>", content_type="text/html")

    http_server.routes["/slow"] = slow
    sources = [listing_source(http_server.url("/slow"), source_id="slow-a"),
               listing_source(http_server.url("/slow?b"), source_id="slow-b")]
    results = crawl_sources(settings, sources, timeout=1.5)
    assert set(results) == {"slow-a", "slow-b"}
    for result in results.values():
        assert result.error == "the crawl did not finish within 1.5 s and was stopped"
