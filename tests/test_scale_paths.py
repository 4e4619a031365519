"""The shortcuts taken at national scale (issue 7) give readers exactly what the plain path gives."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from awareness.gather import parsepool
from awareness import pipeline
from awareness.match import matchpool
from awareness.deliver.bulletin import Composer, Links, build_bulletin
from awareness.config.settings import load_settings
from awareness.core.models import Match, Profile, StoredItem
from awareness.deliver.personalise import LinkPersonaliser
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route

T0 = datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)


def _bulletin():
    profile = Profile(id="team", name="Falls & Frailty Team", owner="lib@trust.example.nhs.uk",
                      topics=[{"id": "falls", "title": "Falls", "terms": ["falls"]},
                              {"id": "frailty", "title": "Frailty", "terms": ["frailty"]}])
    matched = []
    for n in range(1, 6):
        when = T0 - timedelta(days=n)
        it = StoredItem(id=n, guid=f"g{n}", link=f"https://example.org/pub/{n}?a=1&b=2", title=f"Falls <study> {n}",
                        summary="Older people & falls prevention. " * 8, published=when, first_seen=when,
                        authors=[], tags=[], sources=["nice"])
        matched.append((it, [Match(n, "team", "falls" if n % 2 else "frailty", 0.5 + n / 100, ("falls",))]))
    return build_bulletin(profile, matched, {"nice": "NICE"}, T0 - timedelta(days=7), T0)


def _links(reader: int) -> Links:
    return Links(unsubscribe=f"https://aw.example/unsubscribe/tok-{reader}.x_y",
                 view_online="https://aw.example/profiles/team/bulletins/3",
                 feedback=lambda item, verdict: f"https://aw.example/feedback/{reader}-{item}-{verdict}?q=1&r=2")


def test_each_reader_gets_the_same_email_as_a_full_render_with_their_own_links() -> None:
    bulletin, composer = _bulletin(), Composer()
    personaliser = LinkPersonaliser(composer)
    for reader in (1, 2, 3):
        fast = personaliser.render(bulletin, _links(reader))
        assert fast == composer.render(bulletin, links=_links(reader))
        assert f"tok-{reader}.x_y" in fast.text and f"feedback/{reader}-1-useful?q=1&amp;r=2" in fast.html
    assert personaliser.full_renders == 2, "rendered once with markers and once to check, then only filled"


def test_a_link_with_other_than_ascii_is_filled_in_as_the_html_writes_it() -> None:
    """The HTML is ASCII (it goes as 7bit): a reader's link is filled in the same way, with no full render."""
    bulletin, composer = _bulletin(), Composer()
    personaliser = LinkPersonaliser(composer)
    for reader in ("é", "ü"):
        links = dataclasses.replace(_links(1), view_online=f"https://aw.example/bulletins/caf{reader}")
        fast = personaliser.render(bulletin, links)
        assert fast == composer.render(bulletin, links=links) and fast.html.isascii()
        assert f"caf{reader}" in fast.text
    assert personaliser.full_renders == 2


def _rss(tag: str, n: int) -> bytes:
    items = "".join(f"<item><title>{tag} story {i} about falls prevention in older people</title>"
                    f"<link>https://example.org/{tag}/{i}</link><guid>{tag}-{i}</guid>"
                    f"<description>Summary {i} of the {tag} feed.</description>"
                    f"<pubDate>Mon, {9 + i:02d} Nov 2026 08:00:00 GMT</pubDate></item>" for i in range(n))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{tag}</title>{items}</channel></rss>'.encode()


def _deployment(where: Path, http: LoopbackHTTPServer) -> Path:
    where.mkdir()
    (where / "profiles").mkdir()
    (where / "profiles" / "team.yaml").write_text(textwrap.dedent("""\
        name: Falls team
        subscribers: [a@example.org]
        topics:
          - id: falls
            title: Falls
            terms: [falls prevention]
        """))
    (where / "sources.yaml").write_text("".join(f"- id: {s}\n  url: {http.url(f'/{s}.xml')}\n"
                                                for s in ("one", "two", "broken")))
    config = where / "awareness.toml"
    config.write_text(f'database_url = "sqlite:///{where / "a.db"}"\nfetch_allow = ["127.0.0.1"]\n')
    return config


def _serve_two_feeds_and_a_broken_one(http_server: LoopbackHTTPServer) -> None:
    """Feeds "one" (5 items) and "two" (3), and "broken", a page that is not a feed."""
    http_server.routes["/one.xml"] = Route(_rss("one", 5))
    http_server.routes["/two.xml"] = Route(_rss("two", 3))
    http_server.routes["/broken.xml"] = Route(b"<html><body>Not a feed</body></html>", content_type="text/html")


def _gather(config: Path) -> tuple[pipeline.GatherReport, list[tuple[str, str]]]:
    ctx = pipeline.open_context(load_settings(config, environ={"AWARENESS_SECRET_KEY": "k"}))
    try:
        report = pipeline.refresh_due(ctx, now=T0, force=True)
        stored = sorted((i.guid, i.title) for i in ctx.store.items_since(T0 - timedelta(days=60)))
        return report, stored
    finally:
        ctx.close()


def test_parsing_in_worker_processes_stores_the_same_items_and_errors(
        tmp_path: Path, http_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _serve_two_feeds_and_a_broken_one(http_server)
    plain_report, plain_items = _gather(_deployment(tmp_path / "plain", http_server))
    monkeypatch.setattr(parsepool, "POOL_FROM", 1)
    monkeypatch.setattr(parsepool.os, "cpu_count", lambda: 2)
    pooled_report, pooled_items = _gather(_deployment(tmp_path / "pooled", http_server))
    assert len(plain_items) == 8 and pooled_items == plain_items
    assert pooled_report.new_items == plain_report.new_items == 8
    assert set(pooled_report.errors) == set(plain_report.errors) == {"broken"}
    assert pooled_report.errors["broken"] == plain_report.errors["broken"]


def test_a_new_subscriber_gets_everything_while_an_old_one_gets_only_what_is_new(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/one.xml"] = Route(_rss("one", 2))
    http_server.routes["/two.xml"] = Route(_rss("two", 1))
    http_server.routes["/broken.xml"] = Route(_rss("broken", 0))
    config = _deployment(tmp_path / "d", http_server)
    config.write_text(config.read_text() + f'smtp_url = "{smtp_server.url}"\n')
    settings = load_settings(config, environ={"AWARENESS_SECRET_KEY": "k"})

    def cycle() -> None:
        ctx = pipeline.open_context(settings)
        try:
            pipeline.run(ctx, now=T0, force=True)
        finally:
            ctx.close()

    cycle()
    assert [m["To"] for m in smtp_server.messages] == ["a@example.org"]
    profile = config.parent / "profiles" / "team.yaml"
    profile.write_text(profile.read_text().replace("[a@example.org]", "[a@example.org, b@example.org]"))
    http_server.routes["/two.xml"] = Route(_rss("two", 2))
    cycle()
    old, new = smtp_server.messages[1:]
    assert (old["To"], new["To"]) == ("a@example.org", "b@example.org")
    old_text = old.get_body(preferencelist=("plain",)).get_content()
    new_text = new.get_body(preferencelist=("plain",)).get_content()
    assert "two story 1" in old_text and "one story 0" not in old_text
    assert all(f"{t} story {i}" in new_text for t, i in (("one", 0), ("one", 1), ("two", 0), ("two", 1)))


def test_scoring_in_worker_processes_gives_the_same_matches_in_the_same_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from awareness.match import matchpool
    from awareness.match.classify import Matcher
    profiles = [Profile(id=f"p{n}", name="P", topics=[{"id": "falls", "title": "Falls", "terms": ["falls prevention"]},
                                                      {"id": "cancer", "title": "Cancer", "terms": ["screening"]}])
                for n in range(3)]
    texts = ["Falls prevention for older people", "Cancer screening uptake", "Car parking at NHS sites",
             "Screening and falls prevention together"] * 5
    items = [StoredItem(id=n, guid=f"g{n}", link=f"https://example.org/{n}", title=t, summary=t, published=T0,
                        first_seen=T0, authors=[], tags=[], sources=["s"]) for n, t in enumerate(texts)]
    matcher = Matcher(profiles, corpus=texts)
    here = [m for _, ms in matchpool.score_in_slices(matcher, items, None, 3) for m in ms]
    monkeypatch.setattr(matchpool, "POOL_FROM", 1)
    monkeypatch.setattr(matchpool.os, "cpu_count", lambda: 2)
    slices = list(matchpool.score_in_slices(matcher, items, None, 3))
    assert [len(chunk) for chunk, _ in slices] == [3, 3, 3, 3, 3, 3, 2]
    pooled = [m for _, ms in slices for m in ms]
    assert pooled == here and len(here) >= 15
    # Encoded for storing in the workers: the same matches, each slice's in the table's key order.
    encoded = [rows for _, rows in matchpool.score_in_slices(matcher, items, None, 3, encoded=True)]
    key = lambda m: (m.profile_id, m.item_id, m.topic_id)  # noqa: E731
    assert [m for rows in encoded for m in rows.matches()] == [
        m for _, ms in slices for m in sorted(ms, key=key)]


def test_match_slices_shrink_as_topics_grow_so_a_slice_holds_no_more_scores() -> None:
    """A deployment with ten times the topics scores smaller slices, not bigger arrays."""
    assert matchpool.match_slice(10) == matchpool.MATCH_SLICE
    assert matchpool.match_slice(2000) == 1000
    for topics in (4000, 20_000, 100_000):
        assert matchpool.match_slice(topics) * topics <= max(matchpool.MATCH_CELLS, 50 * topics)
    assert matchpool.match_slice(20_000) == 100


def test_a_long_list_goes_over_several_connections_and_each_reader_gets_one_email_once(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/one.xml"] = Route(_rss("one", 3))
    http_server.routes["/two.xml"] = Route(_rss("two", 1))
    http_server.routes["/broken.xml"] = Route(_rss("broken", 0))
    config = _deployment(tmp_path / "d", http_server)
    readers = [f"r{n}@example.org" for n in range(40)]
    profile = config.parent / "profiles" / "team.yaml"
    profile.write_text(profile.read_text().replace("[a@example.org]", "[" + ", ".join(readers) + "]"))
    config.write_text(config.read_text() + f'smtp_url = "{smtp_server.url}"\n')
    settings = load_settings(config, environ={"AWARENESS_SECRET_KEY": "k"})
    for _ in range(2):   # the second run finds everything already sent
        ctx = pipeline.open_context(settings)
        try:
            pipeline.run(ctx, now=T0, force=True)
        finally:
            ctx.close()
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(readers)
    for m in smtp_server.messages:
        text = m.get_body(preferencelist=("plain",)).get_content()
        assert all(f"one story {i}" in text for i in range(3)) and "two story 0" in text
    ctx = pipeline.open_context(settings)
    try:
        assert ctx.store.bulletin_count("team") == 40
    finally:
        ctx.close()


def test_a_gathering_syncs_its_feeds_to_disk_once_at_the_end(
        tmp_path: Path, http_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Feeds are committed unsynced (Store.unsynced, issue 19); refresh_sources makes them durable
    # once they are all stored, before the run goes on to match and send.
    from awareness.store.store import Store

    _serve_two_feeds_and_a_broken_one(http_server)
    events: list[str] = []
    real_add, real_sync = Store.add_items, Store.sync
    monkeypatch.setattr(Store, "add_items", lambda self, *a, **k: (events.append(f"add synced={k.get('synced')}"),
                                                                   real_add(self, *a, **k))[1])
    monkeypatch.setattr(Store, "sync", lambda self: (events.append("sync"), real_sync(self))[1])
    report, stored = _gather(_deployment(tmp_path / "d", http_server))
    assert len(stored) == 8 and set(report.errors) == {"broken"}
    assert events == ["add synced=False", "add synced=False", "sync"]
