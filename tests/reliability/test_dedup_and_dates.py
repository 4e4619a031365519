"""Items 7 and 8: the same story in new clothes is still sent once; odd dates never crash a run.

Every check looks at what the readers received (the messages on a real SMTP
server), not only at the database.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from awareness import pipeline
from relworld import NOW, Entry, frail, make_world, rss, text_of
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route

PEOPLE = ("alice@example.org", "bob@example.org")


def titles_received(smtp: LoopbackSMTPServer, address: str, titles: list[str]) -> Counter[str]:
    """How many times each title reached this reader, over all their messages."""
    seen: Counter[str] = Counter()
    for message in smtp.to(address):
        body = " ".join(text_of(message).split())   # long titles wrap in the plain text
        for title in titles:
            seen[title] += body.count(title)
    return seen


def test_changed_guids_removed_and_readded_items_and_one_story_in_three_sources_are_sent_once(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    one, two = frail(1), frail(2)
    http_server.routes["/a.xml"] = Route(rss([one, two]))
    http_server.routes["/b.xml"] = Route(rss([]))
    http_server.routes["/c.xml"] = Route(rss([]))
    world = make_world(tmp_path, {s: http_server.url(f"/{s}.xml") for s in ("a", "b", "c")},
                       smtp_url=smtp_server.url)
    ctx = world.context()
    when = NOW
    assert pipeline.run(ctx, now=when, force=True).profiles[0].sent == 2

    def step(routes: dict[str, list[Entry]]) -> int:
        nonlocal when
        when += timedelta(hours=2)
        for name, entries in routes.items():
            http_server.routes[f"/{name}.xml"] = Route(rss(entries))
        return pipeline.run(ctx, now=when, force=True).profiles[0].sent

    # 1. the publisher's CMS re-issues every guid; one link also gains tracking parameters and a default port
    regid_one = Entry(guid="cms-v2-0001", title=one.title, link="https://example.org/pub/item-1")
    regid_two = Entry(guid="cms-v2-0002", title=two.title,
                      link="https://EXAMPLE.org:443/pub/item-2?utm_source=rss&utm_medium=feed#top")
    assert step({"a": [regid_one, regid_two]}) == 0
    # 2. an item disappears, then comes back
    assert step({"a": [regid_one]}) == 0
    assert step({"a": [regid_one, regid_two]}) == 0
    # 3. a new story in three sources: own guids, a tracking-tagged link, and a different page with the same text
    story = dict(title="Frailty: national falls prevention framework for integrated care systems",
                 summary="A new framework sets out how integrated care systems should prevent falls in older people.")
    assert step({
        "a": [Entry(guid="a-77", link="https://example.org/news/falls-framework", **story), regid_one, regid_two],
        "b": [Entry(guid="urn:b:1", link="https://example.org/news/falls-framework?utm_campaign=weekly", **story)],
        "c": [Entry(guid="c-press-1", link="https://press.example.net/releases/2026/falls", **story)],
    }) == 2
    # 4. everything again, shuffled, with the story's guid changed in one source
    assert step({
        "a": [regid_two, regid_one, Entry(guid="a-77-bis", link="https://example.org/news/falls-framework", **story)],
        "b": [Entry(guid="urn:b:1", link="https://example.org/news/falls-framework", **story)],
        "c": [Entry(guid="c-press-1", link="https://press.example.net/releases/2026/falls", **story)],
    }) == 0

    titles = [one.title, two.title, story["title"]]
    for address in PEOPLE:
        assert titles_received(smtp_server, address, titles) == Counter({t: 1 for t in titles}), address
        assert len(smtp_server.to(address)) == 2
    stored = ctx.store.items_since(NOW - timedelta(days=30))
    assert len(stored) == 3
    (merged,) = [i for i in stored if i.title == story["title"]]
    assert sorted(merged.sources) == ["a", "b", "c"], "one item, credited to all three sources"
    ctx.close()


def test_missing_unparseable_and_future_dates_are_handled_and_never_crash_a_run(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    odd = {
        "missing": "",
        "unparseable": "sometime next spring",
        "zeroes": "0000-00-00 00:00:00",
        "far-future": "Mon, 01 Jan 2091 09:00:00 GMT",
        "year-9999": "Fri, 31 Dec 9999 23:59:59 +0000",
        "bad-zone": "Mon, 05 Jan 2026 09:00:00 +9900",
        "next-month": (NOW + timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }
    entries = [Entry(guid=k, title=f"Frailty and falls: the {k} dated item", published=v) for k, v in odd.items()]
    soon = NOW + timedelta(hours=6)
    entries.append(Entry(guid="later-today", title="Frailty and falls: the later-today item",
                         published=soon.strftime("%a, %d %b %Y %H:%M:%S +0000")))
    http_server.routes["/feed.xml"] = Route(rss(entries))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url)
    ctx = world.context()
    report = pipeline.run(ctx, now=NOW)
    assert report.ok and report.gather.errors == {} and report.gather.new_items == len(entries)
    published = {i.guid.rsplit("/", 1)[-1]: i.published for i in ctx.store.items_since(NOW - timedelta(days=3650))}
    for guid in ("missing", "unparseable", "zeroes", "far-future", "year-9999", "next-month"):
        assert published[guid] == NOW, f"{guid}: first-seen time (or clamped to it), got {published[guid]}"
    assert published["later-today"] == soon, "a few hours ahead is a time zone slip, kept as written"
    assert published["bad-zone"] <= NOW
    body = " ".join(text_of(smtp_server.to("alice@example.org")[0]).split())
    for entry in entries:
        if entry.guid != "bad-zone":   # read as a January date: outside the window, rightly not sent
            assert entry.title in body, f"{entry.guid} is in the bulletin"
    assert not re.search(r"\b(?:Jan|Dec|January|December)\w* (?:2091|9999)\b", body), "no impossible date is shown"

    # The next run, a day later: nothing is resent, and future-dated items do not stay "newest" for ever
    again = pipeline.run(ctx, now=NOW + timedelta(days=1), force=True)
    assert again.ok and again.profiles[0].sent == 0
    ctx.close()
