"""The archive: a web version of every bulletin sent.

When a bulletin is composed, ``save_page`` keeps a snapshot of what it holds
(titles, links, sources, dates, summaries, why each item matched) under a key
made from the profile and its items, so the subscribers who get the same
bulletin share one page.  The page's address goes into the email ("view in
browser") before sending; ``mark_sent`` makes it public once a copy was
accepted for delivery.  A snapshot, not a live query: a later profile edit or
re-scoring does not rewrite what readers were sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .bulletin import Bulletin, safe_url, shorten, subject_for
from ..store.store import Store
from ..store.schema import bulletin_pages


@dataclass
class ArchivedEntry:
    item_id: int
    title: str
    link: str
    sources: list[str]
    published: datetime
    summary: str
    terms: list[str]
    also: list[str]
    topic_id: str
    topic_title: str


@dataclass
class ArchivedBulletin:
    id: int
    profile_id: str
    profile_name: str
    subject: str
    period_start: datetime
    period_end: datetime
    timezone: str
    sections: list[tuple[str, str, list[ArchivedEntry]]]   # (topic id, topic title, entries)
    created: datetime
    first_sent: datetime | None

    @property
    def entries(self) -> list[ArchivedEntry]:
        return [e for _, _, entries in self.sections for e in entries]

    @property
    def count(self) -> int:
        return len(self.entries)


def snapshot(bulletin: Bulletin) -> dict[str, Any]:
    """What the web version, RIS and CSV need, as JSON (links already made safe)."""
    p = bulletin.profile
    return {
        "profile_id": p.id,
        "profile_name": p.name,
        "timezone": p.timezone,
        "period_start": bulletin.period_start.isoformat(),
        "period_end": bulletin.period_end.isoformat(),
        "sections": [{
            "topic_id": s.topic.id,
            "topic_title": s.topic.title,
            "entries": [{
                "item_id": e.item.id,
                "title": e.item.title,
                "link": safe_url(e.item.link),
                "sources": e.source_names,
                "published": e.item.published.isoformat(),
                "summary": shorten(e.item.summary),
                "terms": list(e.terms),
                "also": e.also,
            } for e in s.entries],
        } for s in bulletin.sections],
    }


def save_page(store: Store, bulletin: Bulletin, *, now: datetime) -> int:
    """The id of this bulletin's web page, made on first use (same items, same page)."""
    key = hashlib.sha256(json.dumps([bulletin.profile.id, sorted(bulletin.item_ids)]).encode()).hexdigest()
    with store.engine.begin() as conn:
        found = conn.execute(sa.select(bulletin_pages.c.id).where(bulletin_pages.c.key == key)).scalar()
        if found is not None:
            return int(found)
        return int(conn.execute(bulletin_pages.insert().values(
            profile_id=bulletin.profile.id, key=key, subject=subject_for(bulletin),
            content=snapshot(bulletin), created=now)).inserted_primary_key[0])


def mark_sent(store: Store, page_id: int, *, now: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(bulletin_pages.update().where(bulletin_pages.c.id == page_id,
                                                   bulletin_pages.c.first_sent.is_(None))
                     .values(first_sent=now))


def list_pages(store: Store, profile_id: str, *, limit: int = 100) -> list[ArchivedBulletin]:
    """Sent bulletins of a profile, newest first."""
    q = (sa.select(bulletin_pages).where(bulletin_pages.c.profile_id == profile_id,
                                         bulletin_pages.c.first_sent.is_not(None))
         .order_by(bulletin_pages.c.first_sent.desc(), bulletin_pages.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [_load(r) for r in conn.execute(q)]


def get_page(store: Store, page_id: int) -> ArchivedBulletin | None:
    """A sent bulletin (one composed but never delivered is not public)."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(bulletin_pages).where(bulletin_pages.c.id == page_id,
                                                           bulletin_pages.c.first_sent.is_not(None))).first()
    return _load(row) if row else None


def _load(row: Any) -> ArchivedBulletin:
    c = row.content
    sections = []
    for s in c["sections"]:
        entries = [ArchivedEntry(item_id=e["item_id"], title=e["title"], link=e["link"], sources=e["sources"],
                                 published=datetime.fromisoformat(e["published"]), summary=e["summary"],
                                 terms=e["terms"], also=e["also"], topic_id=s["topic_id"],
                                 topic_title=s["topic_title"]) for e in s["entries"]]
        sections.append((s["topic_id"], s["topic_title"], entries))
    return ArchivedBulletin(id=row.id, profile_id=row.profile_id, profile_name=c["profile_name"],
                            subject=row.subject, period_start=datetime.fromisoformat(c["period_start"]),
                            period_end=datetime.fromisoformat(c["period_end"]), timezone=c["timezone"],
                            sections=sections, created=row.created, first_sent=row.first_sent)
