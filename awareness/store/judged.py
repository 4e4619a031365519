"""A librarian's include and exclude decisions, laid over the matcher's verdicts as they are read."""

from __future__ import annotations

from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .dedup import in_chunks
from .schema import match_judgements
from ..core.models import Match

INCLUDED_SCORE = 1.0   # a librarian's include: above any score, so it survives max_items and wins its item


def apply_judgements(conn: Connection, out: dict[int, list[Match]], item_ids: list[int],
                      profile_id: str | None) -> None:
    """A librarian's exclude takes the item out of that topic, an include puts it in, at once:
    every reader of the matches (run, dry run, preview, exports) sees the same decision."""
    for j in _judgements_of(conn, item_ids, profile_id):
            kept = [m for m in out.get(j.item_id, [])
                    if not (m.profile_id == j.profile_id and m.topic_id == j.topic_id)]
            if j.include:
                old = [m for m in out.get(j.item_id, [])
                       if m.profile_id == j.profile_id and m.topic_id == j.topic_id]
                terms, local = (old[0].terms, old[0].local) if old else ((), False)
                kept.append(Match(j.item_id, j.profile_id, j.topic_id, max(INCLUDED_SCORE, *(m.score for m in old)),
                                  terms, local))
                kept.sort(key=lambda m: -m.score)
            if kept:
                out[j.item_id] = kept
            else:
                out.pop(j.item_id, None)


def _judgements_of(conn: Connection, item_ids: list[int], profile_id: str | None) -> Iterator[Any]:
    """The librarian's judgements of these items: for one profile, its few judgements in one
    query (its key leads the primary key) kept to these items; a profile's bulletin reads
    tens of thousands of items, and an IN list per 500 of them cost more than the rest (issue 19)."""
    if profile_id is not None:
        wanted = set(item_ids)
        q = sa.select(match_judgements).where(match_judgements.c.profile_id == profile_id)
        yield from (j for j in conn.execute(q) if j.item_id in wanted)
        return
    for chunk in in_chunks(item_ids, 500):
        yield from conn.execute(sa.select(match_judgements).where(match_judgements.c.item_id.in_(chunk)))
