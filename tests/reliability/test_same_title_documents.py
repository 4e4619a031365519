"""Issue 15, case 7: a source's monthly "Statistical release" or "Board papers" (same title, other URL,
often no summary) is a new document each month and is sent; only positive evidence merges two URLs.

Reproduced with a feed that publishes the same title weeks apart, once with a summary and
once without, through `awareness run` to a real SMTP server; and, in the store, the cases
that are still one document: the same text from another source, and a feed/spider pair.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from awareness import pipeline
from awareness.core.models import Source
from awareness.gather.normalise import normalise
from awareness.store.store import Store
from relworld import NOW, Entry, make_world, rss, text_of
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route

RELEASE = "Frailty and falls in older people: monthly statistical release"


def test_a_monthly_release_with_the_same_title_is_sent_every_month(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    october = Entry(guid="stats-oct", title=RELEASE, link="https://example.org/stats/2026-10", days_ago=25,
                    summary="Monthly figures on falls and frailty among older people in England.")
    november = Entry(guid="stats-nov", title=RELEASE, link="https://example.org/stats/2026-11", days_ago=1,
                     summary="")
    http_server.routes["/feed.xml"] = Route(rss([october]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url,
                       subscribers=["alice@example.org"])
    ctx = world.context()
    try:
        assert pipeline.run(ctx, now=NOW - timedelta(days=24), force=True).profiles[0].sent == 1
        http_server.routes["/feed.xml"] = Route(rss([november, october]))
        assert pipeline.run(ctx, now=NOW, force=True).profiles[0].sent == 1, "November's release was lost"
        assert len(ctx.store.items_since(NOW - timedelta(days=60))) == 2
    finally:
        ctx.close()
    assert "https://example.org/stats/2026-11" in text_of(smtp_server.messages[-1])


def test_only_positive_evidence_merges_two_urls(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.sync_sources([Source(id="trust", url="https://trust.example/feed"),
                        Source(id="mirror", url="https://mirror.example/feed"),
                        Source(id="listing", url="https://trust.example/papers", kind="spider")])

    def add(source: str, guid: str, link: str, title: str, summary: str, days_ago: int) -> int:
        when = NOW - timedelta(days=days_ago)
        result = store.add_items(source, [normalise(source, guid=guid, link=link, title=title, summary=summary,
                                                    published=when, now=when)], now=when)
        return len(result.new)

    try:
        # the same source, the same title and no summary, a month apart: two documents
        assert add("trust", "b-10", "https://trust.example/board/2026-10", "Trust board papers", "", 40) == 1
        assert add("trust", "b-11", "https://trust.example/board/2026-11", "Trust board papers", "", 10) == 1
        # ...but the same document listed again at a new address with its very same date is one
        assert add("trust", "b-11m", "https://new.trust.example/board/2026-11", "Trust board papers", "", 10) == 0
        # the same boilerplate summary too (the same content hash), weeks apart: still two
        text = "Papers for the meeting of the trust board held in public, with the agenda and minutes."
        assert add("trust", "p-1", "https://trust.example/p/1", "Trust board papers in public", text, 35) == 1
        assert add("trust", "p-2", "https://trust.example/p/2", "Trust board papers in public", text, 5) == 1
        # the same text from another source within days: one document
        assert add("mirror", "m-2", "https://mirror.example/x/2", "Trust board papers in public", text, 4) == 0
        # a spider's listing entry (no summary) of the feed's newest board papers, a day apart: one document
        assert add("listing", "l-11", "https://trust.example/papers/november", "Trust board papers", "", 9) == 0
        # ...but not of a month-old one
        assert add("listing", "l-09", "https://trust.example/papers/september", "Trust board papers", "", 70) == 1
    finally:
        store.close()
