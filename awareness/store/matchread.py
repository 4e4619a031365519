"""Reading match rows back for composing: the hot path of a national cycle (issue 7, 19).

On SQLite the queries go straight to the driver and terms are decoded here: SQLAlchemy's
work per query and per row was most of composing.  Many items of one profile are read as
one range of the profile's rows, which lie together (matches is keyed by profile first),
instead of item by item.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .dedup import in_chunks
from .schema import matches
from ..core.models import Match

PROFILE_RANGE_FROM = 2000   # items asked for at once, from which one profile's range is read whole

_SQL_COLUMNS = "item_id, profile_id, topic_id, score, terms, local"
_COLUMNS = (matches.c.item_id, matches.c.profile_id, matches.c.topic_id, matches.c.score,
            sa.type_coerce(matches.c.terms, sa.Text), matches.c.local)


def read_matches(conn: Connection, ids: list[int], profile_id: str | None) -> dict[int, list[Match]]:
    """Each item's verdicts (of this profile, or of all), strongest first."""
    out: dict[int, list[Match]] = {}
    decoded: dict[str, tuple[str, ...]] = {}   # the same reasons recur across items: decode each once
    for rows in _match_rows(conn, ids, profile_id):
        for item_id, profile, topic_id, score, terms, local in rows:
            if isinstance(terms, str):      # PostgreSQL's driver hands JSON over decoded
                reasons = decoded.get(terms)
                if reasons is None:
                    reasons = decoded[terms] = tuple(json.loads(terms) or ())
            else:
                reasons = tuple(terms or ())
            out.setdefault(item_id, []).append(Match(item_id, profile, topic_id, score, reasons, bool(local)))
    return out


def _match_rows(conn: Connection, ids: list[int], profile_id: str | None) -> Iterator[Iterable[Any]]:
    """Batches of match rows, strongest first within each batch."""
    sqlite = conn.dialect.name == "sqlite"
    if profile_id is not None and len(ids) >= PROFILE_RANGE_FROM:
        wanted = set(ids)
        low, high = min(wanted), max(wanted)
        if sqlite:
            rows: Any = conn.exec_driver_sql(
                f"SELECT {_SQL_COLUMNS} FROM matches WHERE profile_id = ? AND item_id BETWEEN ? AND ?"
                " ORDER BY score DESC", (profile_id, low, high))
        else:
            rows = conn.execute(sa.select(*_COLUMNS).where(
                matches.c.profile_id == profile_id, matches.c.item_id.between(low, high))
                .order_by(matches.c.score.desc()))
        yield (row for row in rows if row[0] in wanted)
        return
    for chunk in in_chunks(ids, 500):
        if sqlite:
            where = f"item_id IN ({', '.join('?' * len(chunk))})"
            params: tuple[Any, ...] = tuple(chunk)
            if profile_id is not None:
                where, params = where + " AND profile_id = ?", params + (profile_id,)
            yield conn.exec_driver_sql(f"SELECT {_SQL_COLUMNS} FROM matches WHERE {where} ORDER BY score DESC",
                                       params)
        else:
            q = sa.select(*_COLUMNS).where(matches.c.item_id.in_(chunk))
            if profile_id is not None:
                q = q.where(matches.c.profile_id == profile_id)
            yield conn.execute(q.order_by(matches.c.score.desc()))
