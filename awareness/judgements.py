"""A librarian's include / exclude decisions: listed per profile, undone, and shown in the preview.

The decisions themselves are stored by ``feedback.record_judgement`` and take effect
where matches are read (``Store.matches_for``), so the next run, a dry run and the
exports all honour them at once.  This module gives the librarian page its list
with undo, and makes the page's preview agree with what will be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .core.models import Profile
from .preview import Preview, PreviewItem
from .store.store import Store
from .store.schema import match_judgements

INCLUDED_WHY = "included by {who}"
EXCLUDED_WHY = "excluded by {who}"


@dataclass
class Judgement:
    """One decision as the librarian page lists it."""

    topic_id: str
    topic_title: str
    item_id: int
    title: str
    link: str
    include: bool
    who: str
    at: datetime


def list_judgements(store: Store, profile: Profile) -> list[Judgement]:
    """This profile's decisions, newest first, with the item's title (decisions on forgotten items are left out)."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(match_judgements).where(match_judgements.c.profile_id == profile.id)
                            .order_by(match_judgements.c.at.desc())).all()
    items = {i.id: i for i in store.get_items({r.item_id for r in rows})} if rows else {}
    titles = {t.id: t.title for t in profile.topics}
    return [Judgement(r.topic_id, titles.get(r.topic_id, r.topic_id), r.item_id, items[r.item_id].title,
                      items[r.item_id].link, bool(r.include), r.who, r.at)
            for r in rows if r.item_id in items]


def undo_judgement(store: Store, *, profile_id: str, topic_id: str, item_id: int) -> bool:
    """Forget a decision: the item goes back to what the matcher says.  False if there was none."""
    with store.engine.begin() as conn:
        gone = conn.execute(match_judgements.delete().where(
            match_judgements.c.profile_id == profile_id, match_judgements.c.topic_id == topic_id,
            match_judgements.c.item_id == item_id)).rowcount
    return bool(gone)


def apply_to_preview(preview: Preview, judged: list[Judgement]) -> Preview:
    """Move excluded items out of "would send" and included ones into it, saying who decided.

    Safe to apply to a preview that already honours the decisions: nothing is moved twice.
    """
    by_topic = {t.topic_id: t for t in preview.topics}
    for j in judged:
        topic = by_topic.get(j.topic_id)
        if topic is None:
            continue
        found = [it for it in topic.would_send + topic.near_misses if it.item_id == j.item_id]
        topic.would_send = [it for it in topic.would_send if it.item_id != j.item_id]
        topic.near_misses = [it for it in topic.near_misses if it.item_id != j.item_id]
        item = found[0] if found else PreviewItem(j.item_id, j.title, j.link, "", 0.0, [], [], "")
        item.why = (INCLUDED_WHY if j.include else EXCLUDED_WHY).format(who=j.who)
        if j.include:
            topic.would_send.insert(0, item)
        else:
            topic.near_misses.insert(0, item)
    return preview
