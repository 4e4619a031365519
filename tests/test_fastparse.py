"""The lxml fast path (issue 19) gives exactly what feedparser gives, or steps aside.

Every feed of the shared farm, healthy and broken in each of its 18 ways, is parsed
both ways: the items, warnings and errors must be the same, and the fast path must
have read the healthy feeds (or it would be no path at all).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import httpx
import pytest

from awareness.gather import fastparse, parse
from farmserver import FARM, serving_farm

ARGS = ["--feeds", "54", "--items", "10", "--seed", "5", "--faults", "1.0", "--epoch", "now"]
NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not FARM.exists():
        pytest.skip("../shared/tools/feedfarm.py is not beside this clone")
    with serving_farm(tmp_path_factory.mktemp("farm"), *ARGS, slow_s=1, oversize_mb=2) as url:
        yield url


def both_ways(url: str, body: bytes, content_type: str) -> tuple[object, object]:
    out, saved = [], parse.FAST_PATH
    for fast in (True, False):
        parse.FAST_PATH = fast
        try:
            out.append(parse.parse_feed("s", url, body, content_type=content_type, now=NOW))
        except Exception as e:   # the same refusal both ways
            out.append(repr(e))
        finally:
            parse.FAST_PATH = saved
    return out[0], out[1]


def test_the_fast_path_reads_every_farm_feed_as_feedparser_does(farm: str) -> None:
    taken = 0
    kinds = set()
    with httpx.Client(timeout=5, follow_redirects=True, max_redirects=5) as client:
        for path in [f"/moved/{n}.xml" for n in range(54)] + [f"/feeds/{n}.xml" for n in range(54)]:
            try:
                r = client.get(farm + path)
            except httpx.HTTPError:
                continue          # slow, disconnect, redirect-loop: nothing to parse
            body, content_type = r.content, r.headers.get("content-type", "")
            fast, slow = both_ways(str(r.url), body, content_type)
            assert fast == slow, path
            if fastparse.parse_fast(body, content_type) is not None:
                taken += 1
                kinds.add(int(path.rsplit("/", 1)[1].removesuffix(".xml")) % 3)
    assert taken >= 40, "the fast path should read most healthy feeds"
    assert kinds == {0, 1, 2}, "RSS 2.0, Atom and RSS 1.0 all take the fast path"


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link>%s</channel></rss>"""


@pytest.mark.parametrize("item", [
    b"<item><title>A</title><link>/relative</link><guid>g1</guid></item>",         # resolved by feedparser
    b"<item><title>A</title><guid>https://example.org/a</guid></item>",            # guid as the link
    b"<item><title>A</title><link>https://example.org/a</link><guid>g1</guid></item>",   # guid resolved
    b"<item><title>A</title><link>https://example.org/a</link><pubDate>Tuesday</pubDate></item>",
    b"<item><title>A</title><link>https://example.org/a</link><author>a@b.c (A B)</author></item>",
    b"<item><title>A <b>bold</b></title><link>https://example.org/a</link></item>",
    b"<item><title>A</title><link>https://example.org/a</link><media:x xmlns:media='m'/></item>",
])
def test_the_unusual_goes_to_feedparser(item: bytes) -> None:
    body = RSS % item
    assert fastparse.parse_fast(body, "application/rss+xml") is None
    fast, slow = both_ways("https://example.org/feed", body, "application/rss+xml")
    assert fast == slow


@pytest.mark.parametrize("body, content_type", [
    (RSS % b"<item><title>caf\xe9</title><link>https://example.org/a</link></item>", "application/xml"),
    ((RSS % b"").replace(b"utf-8", b"iso-8859-1"), "application/xml"),
    (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"><channel/></rss>', ""),
    (RSS % b"", "text/xml"),
    (RSS % b"", "application/xml; charset=iso-8859-1"),
    (RSS % b"<item><title>A", "application/xml"),
])
def test_encodings_doctypes_and_broken_xml_go_to_feedparser(body: bytes, content_type: str) -> None:
    assert fastparse.parse_fast(body, content_type) is None


def test_a_plain_item_is_read_the_same_both_ways() -> None:
    body = RSS % (b"<item><title>Frailty &amp; falls</title><link>https://example.org/a?utm_source=x</link>"
                  b"<guid isPermaLink='false'>tag:example.org,2026:g1</guid><pubDate>Tue, 01 Dec 2026 10:00:00 +0100</pubDate>"
                  b"<description>&lt;p&gt;Hi &lt;script&gt;alert(1)&lt;/script&gt;there&lt;/p&gt;</description>"
                  b"<category>Policy</category></item>")
    assert fastparse.parse_fast(body, "application/rss+xml") is not None
    fast, slow = both_ways("https://example.org/feed", body, "application/rss+xml")
    assert fast == slow
    assert fast.items[0].summary == "Hi there" and fast.items[0].link == "https://example.org/a"


def test_atom_text_with_markup_characters_is_read_the_same_both_ways() -> None:
    body = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>'
            b'<entry><title type="text">Health &amp; care &lt;script&gt;x&lt;/script&gt;</title>'
            b'<id>tag:example.org,2026:1</id><link href="https://example.org/1"/>'
            b'<updated>2026-12-01T10:00:00+01:00</updated>'
            b'<summary type="html">&lt;p onclick="x"&gt;Text&lt;/p&gt;</summary></entry></feed>')
    assert fastparse.parse_fast(body, "application/atom+xml") is not None
    fast, slow = both_ways("https://example.org/feed", body, "application/atom+xml")
    assert fast == slow
