"""Bytes from a source into items, or an error a librarian can act on.

feedparser does the reading (RSS 0.9x/1.0/2.0, Atom, broken XML, odd
encodings); this module decides what counts as a failure and hands every
entry to ``normalise``, which strips all markup with nh3.  feedparser's own
sanitiser is switched off: it is slower and its maintainer does not promise
to keep up with HTML attacks, and nh3 runs on everything anyway.
"""

from __future__ import annotations

import calendar
import io
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from ..core.errors import ParseError
from ..core.lazy import feedparser  # loaded when the first feed is parsed (issue 19)
from ..core.models import Item
from .fastparse import parse_fast
from .normalise import clean_text, normalise

logger = logging.getLogger(__name__)

FAST_PATH = os.environ.get("AWARENESS_FAST_PARSE", "") != "0"   # "0": feedparser only, for before/after figures
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json")


@lru_cache(maxsize=1)
def _charset_trouble() -> tuple[type[Exception], ...]:
    """A bozo exception of these kinds means "the charset label was wrong", not "this is not a feed"."""
    return (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown,
            feedparser.NonXMLContentType)


_HTML_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>])",
                         re.IGNORECASE | re.DOTALL)
# Entity declarations in a DOCTYPE: feeds have no use for ones that nest, point outside
# the document or are large, and those are exactly the shapes of entity attacks.
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+%?\s*([\w.-]+)\s+(SYSTEM|PUBLIC|\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_ENTITY_REF = re.compile(rb"&[\w.-]+;|%[\w.-]+;")
MAX_ENTITY_VALUE = 1024
MAX_ENTITY_EXPANSION = 1_000_000   # characters all references to declared entities may add up to
_FEED_ROOT = re.compile(rb"<(?:[\w-]+:)?(?:rss|feed|RDF|channel)[\s>]", re.IGNORECASE)


@dataclass
class ParsedFeed:
    """A feed's own title and link, its items, and what was odd about it."""

    title: str
    link: str
    items: list[Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_feed(source_id: str, url: str, content: bytes, *, content_type: str = "",
               now: datetime) -> ParsedFeed:
    """Parse a fetched body; raise ParseError when it is not a feed at all.

    A feed with zero entries is fine (an empty list).  A feed that is not
    well-formed but still yielded entries is fine too, with a warning.
    """
    if not content or not content.strip():
        raise ParseError(source_id, url, "the response was empty; the server sent no feed")
    if _looks_like_html(content, content_type):
        raise ParseError(source_id, url, _html_problem(content, url))

    hostile = _hostile_entities(content)
    if hostile:
        raise ParseError(source_id, url, f"refused: the document declares {hostile}, the shape of an "
                                         "XML entity attack; a real feed never needs this")

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # A stream, never str or bytes: feedparser tries open() on both, so a body that reads
    # "/etc/passwd" would be parsed from local disk.  Only objects with .read() are taken as data.
    started = time.perf_counter()
    fast = parse_fast(content, content_type) if FAST_PATH else None
    if fast is not None:   # well-formed plain RSS/Atom (issue 19): the same entries, without feedparser
        head, entries = fast
        parsed = feedparser.FeedParserDict(entries=entries, feed=head, bozo=False)
    else:
        parsed = feedparser.parse(io.BytesIO(content), response_headers=headers, sanitize_html=False,
                                  resolve_relative_uris=True)
    logger.debug("parsed %s: %d entries in %.3f s", url, len(parsed.entries), time.perf_counter() - started)

    warnings: list[str] = []
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        charset_only = isinstance(exc, _charset_trouble())
        if not parsed.entries and not (charset_only and parsed.get("version")):
            raise ParseError(source_id, url, f"not a feed: {_describe(exc)}; check that the URL is the "
                                             "feed itself (RSS or Atom), not a page about it")
        if isinstance(exc, feedparser.NonXMLContentType):
            if content_type:  # with no header at all there is nothing to tell anyone
                warnings.append(f"the server labels the feed as '{content_type}', not as XML; "
                                "it was read anyway")
        elif charset_only and not ("us-ascii" in str(exc) and "charset" not in content_type.lower()):
            # (text/xml without a charset is us-ascii by the letter of RFC 3023; nobody means that)
            warnings.append(f"the character set was mislabelled ({exc}); read as {parsed.get('encoding')}")
        else:
            warnings.append(f"the feed is not well-formed ({_describe(exc)}); "
                            f"{len(parsed.entries)} items were recovered")

    items = []
    for entry in parsed.entries:
        try:
            items.append(_item(source_id, entry, now))
        except Exception as e:  # one odd entry must not cost the others
            warnings.append(f"skipped an entry that could not be read ({e!r})")
            logger.debug("skipped entry in %s", url, exc_info=True)

    malformed = parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), _charset_trouble())
    if malformed and not all(i.link for i in items):
        # In a broken document an entry with no link is most often the stump where it was cut off.
        kept = [i for i in items if i.link]
        warnings.append(f"skipped {len(items) - len(kept)} incomplete entries with no link")
        items = kept
        if not items:
            raise ParseError(source_id, url, f"not a feed: {_describe(parsed.get('bozo_exception'))}, and no "
                                             "complete item could be recovered")

    feed = parsed.get("feed", {})
    link = feed.get("link") or ""
    return ParsedFeed(title=clean_text(feed.get("title") or "", 300),
                      link=link if re.match(r"^https?://", link, re.I) else "",
                      items=items, warnings=warnings)


def _hostile_entities(content: bytes) -> str | None:
    """What is dangerous about the document's entity declarations, if anything.

    expat already refuses billion-laughs expansion, but feedparser then falls
    back to its loose parser and would keep "&lol9;" as a title; refusing the
    document outright is clearer and costs a real feed nothing.  The whole
    document is scanned (a long comment can push the DOCTYPE past any fixed
    window), in UTF-8 even when it came as UTF-16 or UTF-32, and the total an
    entity would expand to is bounded as well as each entity's length.
    """
    text = _as_utf8(content)
    if b"<!ENTITY" not in text.upper():
        return None
    expansion = 0
    for m in _ENTITY_DECL.finditer(text):
        value = m.group(2)
        if value.upper() in (b"SYSTEM", b"PUBLIC"):
            return "an external entity (SYSTEM or PUBLIC)"
        if _ENTITY_REF.search(value):
            return "entities that expand other entities (a billion-laughs pattern)"
        if len(value) > MAX_ENTITY_VALUE:
            return f"an entity longer than {MAX_ENTITY_VALUE} characters (a quadratic blow-up pattern)"
        expansion += len(value) * text.count(b"&" + m.group(1) + b";")
        if expansion > MAX_ENTITY_EXPANSION:
            return (f"entities that would expand to more than {MAX_ENTITY_EXPANSION // 1_000_000} MB "
                    "(a quadratic blow-up pattern)")
    return None


def _as_utf8(content: bytes) -> bytes:
    """The document re-encoded as UTF-8 when it is UTF-16 or UTF-32 (by BOM or by its zero bytes)."""
    head = content[:4]
    for bom, codec in ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                       (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
                       (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
                       (b"\x00<\x00", "utf-16-be"), (b"<\x00", "utf-16-le")):
        if head.startswith(bom):
            return content.decode(codec, errors="replace").encode("utf-8")
    return content


def _item(source_id: str, entry: Any, now: datetime) -> Item:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value") or ""
    published = _datetime(entry.get("published_parsed")) or _datetime(entry.get("updated_parsed"))
    authors = [a.get("name") or a.get("email") or "" for a in entry.get("authors") or []]
    if not any(authors) and entry.get("author"):
        authors = [entry["author"]]
    tags = [t.get("label") or t.get("term") or "" for t in entry.get("tags") or []]
    return normalise(source_id, guid=entry.get("id"), link=entry.get("link"), title=entry.get("title"),
                     summary=summary, published=published, authors=authors, tags=tags, now=now)


def _datetime(value: time.struct_time | None) -> datetime | None:
    """feedparser's struct_time is already UTC."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def _describe(exc: object) -> str:
    text = str(exc) if exc is not None else ""
    return text or type(exc).__name__


# ------------------------------------------------------------------ web pages

def _looks_like_html(content: bytes, content_type: str) -> bool:
    head = content[:4096].lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        return True
    return "html" in content_type.lower() and "xhtml+xml" not in content_type.lower() \
        and not _FEED_ROOT.search(head)


class _AlternateLinks(HTMLParser):
    """Collects <link rel="alternate" type="application/rss+xml" href="..."> (feed autodiscovery)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        rels = a.get("rel", "").lower().split()
        if "alternate" in rels and a.get("type", "").lower().split(";")[0].strip() in FEED_TYPES and a.get("href"):
            self.hrefs.append(a["href"].strip())


def discover_feeds(content: bytes, base_url: str) -> list[str]:
    """The feed URLs a web page advertises, made absolute."""
    finder = _AlternateLinks()
    try:
        finder.feed(content[:500_000].decode("utf-8", errors="replace"))
        finder.close()
    except Exception:  # HTMLParser is lenient; never let a page break the error message
        pass
    found = [urljoin(base_url, h) for h in finder.hrefs]
    return [u for i, u in enumerate(found) if u not in found[:i] and re.match(r"^https?://", u, re.I)]


def _html_problem(content: bytes, url: str) -> str:
    feeds = discover_feeds(content, url)
    if feeds:
        also = f" (also: {', '.join(feeds[1:3])})" if len(feeds) > 1 else ""
        return (f"this is a web page, not a feed; its feed appears to be at {feeds[0]}{also}: "
                "change the source's url to that")
    return ("this is a web page (HTML), not a feed, and it names no feed; look on the page for an "
            "RSS or Atom link and use that URL instead")
