"""Messages a mail server refused for good (a 5xx reply), so that they are not sent again and again.

A permanent refusal is marked per item and subscriber, like a delivery, and
reported; the items are then left out of that subscriber's later bulletins
(the next bulletin carries only what is new).  Temporary failures are never
recorded here: they are retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa

from ..store.ledger import by_subscriber
from ..store.store import Store
from ..store.schema import delivery_refusals


def record_refusal(store: Store, *, profile_id: str, subscriber_id: int, item_ids: Sequence[int],
                   reason: str, now: datetime) -> None:
    known = refused_item_ids(store, profile_id, subscriber_id)
    rows = [dict(profile_id=profile_id, subscriber_id=subscriber_id, item_id=i, refused_at=now, reason=reason[:2000])
            for i in item_ids if i not in known]
    if rows:
        with store.engine.begin() as conn:
            conn.execute(delivery_refusals.insert(), rows)


def refused_item_ids(store: Store, profile_id: str, subscriber_id: int) -> set[int]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(delivery_refusals.c.item_id).where(
            delivery_refusals.c.profile_id == profile_id,
            delivery_refusals.c.subscriber_id == subscriber_id)).scalars())


def refused_by_subscriber(store: Store, profile_id: str, item_ids: Iterable[int]) -> dict[int, set[int]]:
    """refused_item_ids for every subscriber of a profile at once, for these items."""
    return by_subscriber(store.engine, delivery_refusals, profile_id, item_ids)


def refusals_for(store: Store, profile_id: str) -> list[tuple[int, int, str]]:
    """(subscriber id, item id, reason) of every refusal for a profile, for reports."""
    with store.engine.connect() as conn:
        return [(r.subscriber_id, r.item_id, r.reason) for r in conn.execute(
            sa.select(delivery_refusals).where(delivery_refusals.c.profile_id == profile_id)
            .order_by(delivery_refusals.c.subscriber_id, delivery_refusals.c.item_id))]
