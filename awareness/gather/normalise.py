"""Where feed items and spider items meet: one shape, cleaned the same way.

Every source, whatever its format, ends up as an ``Item`` made here, so the
store can deduplicate on the same keys (guid, canonical link, title key,
content hash) and the bulletin never shows markup it did not write itself.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

import nh3

from ..core.models import Item

logger = logging.getLogger(__name__)

TITLE_LIMIT = 300
SUMMARY_LIMIT = 2000
FALLBACK_TITLE_WORDS = 12
FUTURE_TOLERANCE = timedelta(days=1)

# Query parameters that only say who sent the reader, never which page it is.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
    "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
    "hsctatracking", "ref_src", "ref_url", "cmpid", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_id", "vero_conv", "wt.mc_id", "s_cid", "ncid", "sr_share", "at_medium", "at_campaign",
})
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": "80", "https": "443"}

# Tags after which a reader sees a break; without a space "Summary</p><p>Key" would read "SummaryKey".
_BLOCK_TAG = re.compile(
    r"<(?=/?(?:p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|blockquote|section|article|"
    r"header|footer|figure|figcaption|pre|img)\b)", re.IGNORECASE)
_TAG_LIKE = re.compile(r"<[a-zA-Z/!?]")
# Control characters, and (issue 15) the bidi embeddings, overrides and isolates that can make a title
# read backwards or hide what a link says ("\u202egpj.exe" shows as "exe.jpg").
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff\u202a-\u202e\u2066-\u2069]")
_NON_WORD = re.compile(r"[\W_]+")


# ------------------------------------------------------------------ links

def canonical_link(url: str) -> str:
    """The link as it should be compared and stored: same page, same string.

    Lowercases scheme and host, drops a default port and the fragment, and
    removes tracking parameters (utm_*, fbclid, ...) while keeping the rest in
    their order and original encoding; any user name and password are dropped.  Idempotent; a string that is not a URL
    comes back stripped.
    """
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(scheme, parts.netloc)
    path = parts.path or ("/" if netloc else "")
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, path, query, ""))


def _canonical_netloc(scheme: str, netloc: str) -> str:
    # A user name or password (https://user:pass@host/) never belongs in a bulletin: it may be a
    # secret, and "https://nhs.uk@evil.example/" makes a link look like it goes elsewhere (issue 15).
    _, _, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    if hostport.startswith("["):                      # [IPv6]:port
        end = hostport.find("]")
        if end != -1:
            host, port = hostport[:end + 1], hostport[end + 2:] if hostport[end + 1:end + 2] == ":" else ""
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    host = host.lower()
    if port == DEFAULT_PORTS.get(scheme) or port == "":
        return host
    return f"{host}:{port}"


def _is_tracking(param: str) -> bool:
    key = param.split("=", 1)[0].lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def is_web_link(url: str) -> bool:
    """True for an absolute http(s) link, the only kind a bulletin may carry."""
    return bool(re.match(r"^https?://[^/\s]", url or "", re.IGNORECASE))


# ------------------------------------------------------------------ text

def clean_text(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """HTML or text as safe plain text: no tags, no script, one space between words.

    nh3 drops every tag and the contents of script and style; a second pass
    catches markup that was escaped twice (``&lt;script&gt;``), which a
    template would otherwise show as text that looks like code.  Longer text
    is cut at a word boundary and ends with "…".
    """
    if not text:
        return ""
    out = str(text)
    # Text with no "<" and no "&" has nothing for nh3 or unescape to change (most titles): skip both.
    for _ in range(2 if ("<" in out or "&" in out) else 0):
        out = html.unescape(nh3.clean(_BLOCK_TAG.sub(" <", out), tags=set()))
        if not _TAG_LIKE.search(out):
            break
    out = " ".join(_CONTROL.sub("", out).split())
    return _truncate(out, limit)


def _truncate(text: str, limit: int) -> str:
    if limit <= 0 or len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def title_key(title: str) -> str:
    """A title reduced to its words, so the same story from two sources matches."""
    folded = title or ""
    if not folded.isascii():   # ASCII has no accents to fold away
        folded = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = folded.casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def content_hash(title: str, summary: str) -> str:
    """sha256 of what a reader sees, so a reworded item counts as changed and a re-served one does not."""
    normal_summary = " ".join((summary or "").split()).casefold()
    return hashlib.sha256(f"{title_key(title)}\n{normal_summary}".encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ items

def to_utc(value: datetime | None) -> datetime | None:
    """Aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def normalise(source_id: str, *, guid: str | None, link: str | None, title: str | None,
              summary: str | None, published: datetime | None,
              authors: Iterable[str] = (), tags: Iterable[str] = (), now: datetime) -> Item:
    """One cleaned ``Item`` from whatever a parser or spider found.

    Fallbacks keep every item identifiable: no title → the first words of the
    summary, then the link; no guid → the canonical link, then the content
    hash.  A date more than a day ahead of ``now`` (publishers do schedule
    "future" posts, and some feeds carry broken clocks) is clamped to ``now``
    so it cannot sit at the top of every bulletin.
    """
    link_c = canonical_link(link or "")
    if not is_web_link(link_c):
        link_c = ""  # javascript:, data:, mailto: and relative junk never reach a bulletin
    summary_c = clean_text(summary or "", SUMMARY_LIMIT)
    title_c = clean_text(title or "", TITLE_LIMIT)
    if not title_c:
        words = summary_c.split()
        title_c = " ".join(words[:FALLBACK_TITLE_WORDS])
        if len(words) > FALLBACK_TITLE_WORDS:
            title_c = title_c.rstrip(" ,;:.-–—") + "…"
    if not title_c:
        title_c = link_c or "Untitled item"
    digest = content_hash(title_c, summary_c)
    guid_c = " ".join((guid or "").split())[:1000] or link_c or digest

    now_utc = to_utc(now)
    assert now_utc is not None
    when = to_utc(published)
    if when is not None and when > now_utc + FUTURE_TOLERANCE:
        logger.debug("source %s item %s is dated %s, in the future; using %s", source_id, guid_c,
                     when.isoformat(), now_utc.isoformat())
        when = now_utc

    return Item(source_id=source_id, guid=guid_c, link=link_c, title=title_c, summary=summary_c,
                published=when, authors=_unique_clean(authors), tags=_unique_clean(tags),
                content_hash=digest, title_key=title_key(title_c))


def _unique_clean(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        cleaned = clean_text(value or "", 200)
        if cleaned and cleaned.casefold() not in seen:
            seen[cleaned.casefold()] = cleaned
    return list(seen.values())
