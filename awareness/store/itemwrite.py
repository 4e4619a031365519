"""A feed's items into the store in one go: looked up together, inserted together (issues 7, 19).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.models import Item
from .dedup import SameStory
from .schema import AddResult, item_sources, items


def add_feed_items(conn: Connection, source_id: str, new_items: Sequence[Item], *, now: datetime) -> AddResult:
    """Store what a source gave us, in the caller's transaction; one item per story however many sources
    carry it.  One query per kind of dedup key, one insert per table; an item earlier in the
    same feed counts as stored.
    """
    result = AddResult(new=[], known=0)
    if conn.dialect.name == "postgresql":   # runs in two processes: one story stays one item (issue 5)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(727403)"))
    seen_guids = set(conn.execute(sa.select(item_sources.c.guid)
                                  .where(item_sources.c.source_id == source_id)).scalars())
    fresh: list[Item] = []
    for it in new_items:
        if it.guid in seen_guids:
            result.known += 1
            continue
        seen_guids.add(it.guid)
        fresh.append(it)
    if not fresh:
        return result
    stories = SameStory(conn, fresh, source_id, now)
    rows: list[dict[str, Any]] = []
    owners: list[int] = []      # per fresh item: a stored id, or -(n + 1) for the n-th new row
    for it in fresh:
        existing = stories.find(it)
        if existing is None:
            existing = -(len(rows) + 1)
            rows.append(dict(guid=it.guid, link=it.link, title=it.title, summary=it.summary,
                             published=it.published or now, first_seen=now, authors=list(it.authors),
                             tags=list(it.tags), content_hash=it.content_hash, title_key=it.title_key))
            stories.add(existing, it)
        else:
            result.known += 1
        owners.append(existing)
    if rows:
        inserted = conn.execute(items.insert().returning(items.c.id, sort_by_parameter_order=True), rows)
        result.new.extend(int(i) for i in inserted.scalars())
    conn.execute(item_sources.insert(), [
        dict(item_id=owner if owner > 0 else result.new[-owner - 1], source_id=source_id, guid=it.guid,
             first_seen=now) for it, owner in zip(fresh, owners)])
    return result
