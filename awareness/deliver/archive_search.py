"""Search a profile's past bulletins: "what was that report on virtual wards we sent in spring?"

The archive's pages are snapshots (archive.py), so their words never change once
written.  On SQLite they go into an FTS5 index, ``archive_fts``, brought up to
date before each search (only pages not yet in it are added); it is derived data,
made on first use and safe to drop, so it is not part of the schema's metadata or
migrations (SQLAlchemy cannot describe a virtual table).  On PostgreSQL the
snapshots are searched in place with ``to_tsvector`` / ``to_tsquery`` (every word as a prefix, as on SQLite).
Only bulletins that were sent are found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..store.store import Store
from ..store.schema import bulletin_pages

LIMIT = 50

_FTS_TABLE = """CREATE VIRTUAL TABLE IF NOT EXISTS archive_fts USING fts5(
    title, summary, page_id UNINDEXED, item_id UNINDEXED, topic_title UNINDEXED, link UNINDEXED,
    tokenize = 'porter unicode61')"""

_PG_SEARCH = sa.text("""
    SELECT p.id AS page_id, p.subject, p.first_sent, e->>'title' AS title, e->>'link' AS link,
           s->>'topic_title' AS topic_title, (e->>'item_id')::int AS item_id
    FROM bulletin_pages p,
         jsonb_array_elements(p.content::jsonb -> 'sections') s,
         jsonb_array_elements(s -> 'entries') e
    WHERE p.profile_id = :profile AND p.first_sent IS NOT NULL
      AND to_tsvector('english', (e->>'title') || ' ' || (e->>'summary')) @@ to_tsquery('english', :q)
    ORDER BY ts_rank(to_tsvector('english', (e->>'title') || ' ' || (e->>'summary')),
                     to_tsquery('english', :q)) DESC, p.first_sent DESC
    LIMIT :limit""")


@dataclass
class Found:
    """One item of a past bulletin that matches the search."""

    page_id: int
    subject: str
    sent: datetime
    title: str
    link: str
    topic_title: str
    item_id: int


def words(query: str) -> list[str]:
    """The words of a reader's query; punctuation and search operators are not theirs to worry about."""
    return re.findall(r"\w+", query.lower())[:12]


def search(store: Store, profile_id: str, query: str, *, limit: int = LIMIT) -> list[Found]:
    """Items of this profile's sent bulletins that have every word of the query, best first."""
    if not words(query):
        return []
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            prefixes = " & ".join(f"{w}:*" for w in words(query))   # every word, as a prefix, as on SQLite
            rows: Any = conn.execute(_PG_SEARCH, {"profile": profile_id, "q": prefixes, "limit": limit})
        else:
            _bring_up_to_date(conn)
            match = " ".join(f'"{w}"*' for w in words(query))      # every word, as a prefix
            rows = conn.execute(sa.text(
                "SELECT f.page_id, p.subject, p.first_sent, f.title, f.link, f.topic_title, f.item_id "
                "FROM archive_fts f JOIN bulletin_pages p ON p.id = f.page_id "
                "WHERE archive_fts MATCH :match AND p.profile_id = :profile AND p.first_sent IS NOT NULL "
                "ORDER BY bm25(archive_fts), p.first_sent DESC LIMIT :limit"),
                {"match": match, "profile": profile_id, "limit": limit})
        found = [Found(int(r.page_id), r.subject, _when(r.first_sent), r.title, r.link or "", r.topic_title,
                       int(r.item_id)) for r in rows]
    return found


def _when(value: Any) -> datetime:
    """The raw SQLite text query hands the time back as text."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _bring_up_to_date(conn: Connection) -> None:
    """Add the pages the index has not seen (a page's words never change once saved)."""
    conn.exec_driver_sql(_FTS_TABLE)
    seen = {int(r[0]) for r in conn.exec_driver_sql("SELECT DISTINCT page_id FROM archive_fts")}
    unseen = sorted({int(i) for (i,) in conn.execute(sa.select(bulletin_pages.c.id))} - seen)
    if not unseen:
        return
    rows = []
    q = sa.select(bulletin_pages.c.id, bulletin_pages.c.content).where(bulletin_pages.c.id.in_(unseen[:2000]))
    for page_id, content in conn.execute(q):
        for s in content["sections"]:
            for e in s["entries"]:
                rows.append({"title": e["title"], "summary": e.get("summary", ""), "page_id": page_id,
                             "item_id": e["item_id"], "topic_title": s["topic_title"], "link": e.get("link", "")})
    if rows:
        conn.execute(sa.text("INSERT INTO archive_fts (title, summary, page_id, item_id, topic_title, link) "
                             "VALUES (:title, :summary, :page_id, :item_id, :topic_title, :link)"), rows)
