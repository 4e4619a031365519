"""The delivery ledger written and read in bulk (issue 19): many accepted messages in one transaction,
and what every reader of a profile has had, in one query instead of one per reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .dblock import retry_when_locked
from .schema import bulletin_pages, bulletins, deliveries
from .store import Store


@retry_when_locked
def record_delivery(store: Store, sent: Sequence[dict[str, Any]], *, now: datetime) -> None:
    """Messages the mail server accepted, each as Store.record_delivery's keywords plus ``page_id``
    (its web version, whose first sending is marked): every row in one transaction, one commit."""
    rows = [dict(profile_id=m["profile_id"], subscriber_id=m["subscriber_id"], item_id=i, sent_at=now,
                 message_id=m["message_id"]) for m in sent for i in m["item_ids"]]
    with store.engine.begin() as conn:
        pages = sorted({m["page_id"] for m in sent if m.get("page_id") is not None})
        if pages:
            conn.execute(bulletin_pages.update().where(bulletin_pages.c.id.in_(pages),
                                                       bulletin_pages.c.first_sent.is_(None))
                         .values(first_sent=now))
        if rows:
            conn.execute(deliveries.insert(), rows)
        conn.execute(bulletins.insert(), [dict(
            profile_id=m["profile_id"], subscriber_id=m["subscriber_id"], message_id=m["message_id"],
            subject=m["subject"], item_count=len(m["item_ids"]), sent_at=now) for m in sent])


def delivered_by_subscriber(store: Store, profile_id: str, item_ids: Iterable[int]) -> dict[int, set[int]]:
    """Which of these items each subscriber of a profile has had."""
    return by_subscriber(store.engine, deliveries, profile_id, item_ids)


def by_subscriber(engine: Engine, table: sa.Table, profile_id: str, item_ids: Iterable[int]) -> dict[int, set[int]]:
    """(subscriber -> item ids) from a ledger-like table, for the given items of one profile."""
    ids = sorted(set(item_ids))
    found: dict[int, set[int]] = {}
    with engine.connect() as conn:
        for at in range(0, len(ids), 900):   # well under SQLite's limit on bound parameters
            for subscriber_id, item_id in conn.execute(sa.select(table.c.subscriber_id, table.c.item_id).where(
                    table.c.profile_id == profile_id, table.c.item_id.in_(ids[at:at + 900]))):
                found.setdefault(subscriber_id, set()).add(item_id)
    return found
