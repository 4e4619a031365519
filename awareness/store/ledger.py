"""The delivery ledger read in bulk (issue 19): what every reader of a profile has had, in one query
instead of one per reader.  Writes are Store.record_deliveries."""

from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .schema import deliveries
from .store import Store


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
