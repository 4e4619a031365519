"""Bulletins and profiles in formats other tools read.

    profile_atom()   a profile's matched items as an Atom feed (any feed reader)
    bulletin_ris()   a sent bulletin as RIS (EndNote, Zotero, Mendeley, RefWorks)
    bulletin_csv()   the same as CSV (title, organisation, date, URL, type, topic)

The organisation that published an item (its source's name) is given as a
corporate author.  Only http(s) links are written; titles and summaries are
plain text (sanitised at ingest) and feedgen escapes them.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from ..deliver.archive import ArchivedBulletin
from ..deliver.bulletin import build_bulletin, safe_url, shorten
from ..core.models import Profile
from ..context import Context
from ..config.profiles import profile_sources

ATOM_DAYS = 30
ATOM_MAX = 200
CSV_FIELDS = ("title", "organisation", "date", "url", "type", "topic")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    """Plain, single-line, XML-safe text."""
    return " ".join(_CONTROL.sub("", text or "").split())


def profile_atom(ctx: Context, profile: Profile, *, base_url: str, now: datetime) -> bytes:
    """The items matched for a profile in the last ``ATOM_DAYS`` days, newest first."""
    start = now - timedelta(days=ATOM_DAYS)
    chosen = profile_sources(profile, ctx.sources) if ctx.sources else []
    candidates = ctx.store.items_since(start, source_ids=[s.id for s in chosen] if chosen else None)
    verdicts = ctx.store.matches_for([i.id for i in candidates], profile.id)
    matched = [(i, verdicts[i.id]) for i in candidates if i.id in verdicts][:ATOM_MAX]
    bulletin = build_bulletin(profile.model_copy(update={"max_items": ATOM_MAX}), matched, ctx.source_names,
                              start, now)
    page = f"{base_url}/profiles/{profile.id}"
    fg = FeedGenerator()
    fg.id(f"{page}/feed.atom")
    fg.title(_clean(f"{profile.name} — current awareness"))
    fg.subtitle(_clean(f"Items matched for {profile.name} by Awareness"))
    fg.link(href=page, rel="alternate")
    fg.link(href=f"{page}/feed.atom", rel="self")
    fg.language("en-GB")
    fg.generator("Awareness")
    entries = sorted((e for s in bulletin.sections for e in s.entries),
                     key=lambda e: (e.item.published, e.item.id))
    fg.updated(max((e.item.published for e in entries), default=now))
    for e in entries:   # feedgen puts the last added first
        fe = fg.add_entry()
        fe.id(f"{page}/items/{e.item.id}")
        fe.title(_clean(e.item.title) or "(untitled)")
        link = safe_url(e.item.link)
        if link:
            fe.link(href=link, rel="alternate")
        fe.published(e.item.published)
        fe.updated(e.item.published)
        topic = profile.topic(e.topic_id).title
        fe.category(term=e.topic_id, label=_clean(topic))
        for name in e.source_names:
            fe.author(name=_clean(name))
        why = f" (Matched: {', '.join(e.terms)})" if e.terms else ""
        fe.summary(_clean(shorten(e.item.summary) + why), type="text")
        if not link:   # Atom needs a link or a content element; a javascript:/data: link is dropped
            fe.content(_clean(e.item.summary) or _clean(e.item.title), type="text")
    return fg.atom_str(pretty=True)


def file_stem(page: ArchivedBulletin) -> str:
    return f"{page.profile_id}-{page.period_end.date().isoformat()}-{page.id}"


def bulletin_ris(page: ArchivedBulletin) -> str:
    lines: list[str] = []
    for e in page.entries:
        lines.append("TY  - ELEC")
        lines.append(f"TI  - {_clean(e.title)}")
        for name in e.sources:
            lines.append(f"AU  - {_clean(name)},")   # a trailing comma marks a corporate author (EndNote)
            lines.append(f"PB  - {_clean(name)}")
        lines.append(f"DA  - {e.published:%Y/%m/%d}")
        lines.append(f"PY  - {e.published:%Y}")
        if e.link:
            lines.append(f"UR  - {e.link}")
        lines.append(f"KW  - {_clean(e.topic_title)}")
        if e.summary:
            lines.append(f"AB  - {_clean(e.summary)}")
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


def bulletin_csv(page: ArchivedBulletin) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for e in page.entries:
        title = _clean(e.title)
        if title[:1] in ("=", "+", "-", "@"):
            title = "'" + title    # keep spreadsheets from running it as a formula
        writer.writerow([title, "; ".join(_clean(s) for s in e.sources), e.published.date().isoformat(),
                         e.link, "Web page", _clean(e.topic_title)])
    return out.getvalue()
