"""The store: one database (SQLite by default, PostgreSQL when configured) for
sources' state, items, matches, subscribers and the delivery ledger.

SQLAlchemy Core keeps the SQL visible.  Times are stored as naive UTC and come
back timezone-aware.  The ledger's unique key (profile, subscriber, item) is
the last line of defence against sending anything twice.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from .errors import ConfigError
from .models import Item, Match, Source, StoredItem

logger = logging.getLogger(__name__)

UTC = timezone.utc


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC on disk."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

sources = sa.Table(
    "sources", metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("kind", sa.String(20), nullable=False, default="feed"),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_checked", UTCDateTime),
    sa.Column("last_success", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("last_warning", sa.Text),        # read, but something was odd (malformed XML salvaged, ...)
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("next_check", UTCDateTime),
    sa.Column("retry_until", UTCDateTime),     # a server's Retry-After: not even --now fetches before it
    sa.Column("moved_to", sa.Text),            # where a permanent redirect said the feed now lives
)

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("guid", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("published", UTCDateTime, nullable=False, index=True),
    sa.Column("first_seen", UTCDateTime, nullable=False, index=True),
    sa.Column("authors", sa.JSON, nullable=False, default=list),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),
    sa.Column("title_key", sa.Text, nullable=False, index=True),
)

item_sources = sa.Table(
    "item_sources", metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("source_id", sa.String(100), nullable=False),
    sa.Column("guid", sa.Text, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.UniqueConstraint("source_id", "guid", name="uq_item_sources_source_guid"),
)

matches = sa.Table(
    "matches", metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("profile_id", sa.String(100), primary_key=True),
    sa.Column("topic_id", sa.String(100), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("terms", sa.JSON, nullable=False, default=list),
)

subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.UniqueConstraint("profile_id", "email", name="uq_subscribers_profile_email"),
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("subscriber_id", sa.Integer, nullable=False),
    sa.Column("item_id", sa.Integer, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.UniqueConstraint("profile_id", "subscriber_id", "item_id", name="uq_deliveries_once"),
)

bulletins = sa.Table(
    "bulletins", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("profile_id", sa.String(100), nullable=False, index=True),
    sa.Column("subscriber_id", sa.Integer, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
)

profile_runs = sa.Table(
    "profile_runs", metadata,
    sa.Column("profile_id", sa.String(100), primary_key=True),
    sa.Column("last_complete", UTCDateTime),   # last send run in which every subscriber was served
    sa.Column("pending_retry", sa.Boolean, nullable=False, default=False),   # a send failed: due until served
)

# ---- tables of the spiders and full-text work (issue 3) go here

# ---- tables of the matching work (issue 4) go here

# ---- tables of the service work (issue 5) go here

# ---- tables of the web app (issue 6) go here


@dataclass
class SourceState:
    id: str
    url: str
    name: str
    kind: str
    etag: str | None
    last_modified: str | None
    last_checked: datetime | None
    last_success: datetime | None
    last_error: str | None
    last_warning: str | None
    consecutive_failures: int
    next_check: datetime | None
    retry_until: datetime | None
    moved_to: str | None = None
    items: int = 0

    @property
    def fetch_url(self) -> str:
        return self.moved_to or self.url

    @property
    def ok(self) -> bool:
        return self.consecutive_failures == 0 and self.last_success is not None


@dataclass
class AddResult:
    new: list[int]          # ids of items never seen before
    known: int              # already held (same source, or found first elsewhere)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, future=True)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
    return engine


class Store:
    """Every read and write the pipeline needs, in one place."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = create_engine(url)
            metadata.create_all(self.engine)
        except (sa.exc.SQLAlchemyError, ImportError) as e:
            shown = sa.engine.make_url(url).render_as_string(hide_password=True)
            reason = getattr(e, "orig", None) or e
            raise ConfigError("database_url", f"cannot open the database {shown}: {reason}".strip()) from None

    def close(self) -> None:
        self.engine.dispose()

    def begin(self) -> Any:
        return self.engine.begin()

    # ------------------------------------------------------------ sources

    def sync_sources(self, configured: Sequence[Source]) -> None:
        """Make the sources table agree with sources.yaml, keeping each source's history."""
        with self.engine.begin() as conn:
            existing = {r.id: r for r in conn.execute(sa.select(sources.c.id, sources.c.url))}
            for s in configured:
                row = existing.get(s.id)
                if row is None:
                    conn.execute(sources.insert().values(id=s.id, url=s.url, name=s.name, kind=s.kind,
                                                         consecutive_failures=0))
                elif row.url != s.url:
                    # A new address: forget validators that belonged to the old one.
                    conn.execute(sources.update().where(sources.c.id == s.id).values(
                        url=s.url, name=s.name, kind=s.kind, etag=None, last_modified=None,
                        next_check=None, retry_until=None, moved_to=None))
                else:
                    conn.execute(sources.update().where(sources.c.id == s.id).values(name=s.name, kind=s.kind))

    def source_states(self, ids: Iterable[str] | None = None) -> list[SourceState]:
        counts = (sa.select(item_sources.c.source_id, sa.func.count().label("n"))
                  .group_by(item_sources.c.source_id).subquery())
        q = (sa.select(sources, sa.func.coalesce(counts.c.n, 0).label("items"))
             .select_from(sources.outerjoin(counts, counts.c.source_id == sources.c.id))
             .order_by(sources.c.id))
        if ids is not None:
            q = q.where(sources.c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            return [SourceState(**row._mapping) for row in conn.execute(q)]

    def record_success(self, source_id: str, *, now: datetime, every: timedelta, etag: str | None,
                       last_modified: str | None, new_url: str | None = None, warning: str | None = None) -> None:
        values: dict[str, Any] = dict(last_checked=now, last_success=now, last_error=None, last_warning=warning,
                                      consecutive_failures=0, next_check=now + every, retry_until=None)
        if etag is not None or last_modified is not None:
            values.update(etag=etag, last_modified=last_modified)
        if new_url:
            values["moved_to"] = new_url
        with self.engine.begin() as conn:
            conn.execute(sources.update().where(sources.c.id == source_id).values(**values))

    def record_failure(self, source_id: str, *, now: datetime, every: timedelta, error: str,
                       retry_after: float | None = None, permanent: bool = False) -> int:
        """Note the error and push the next check back (exponential, capped); returns the failure count."""
        with self.engine.begin() as conn:
            failures = conn.execute(sa.select(sources.c.consecutive_failures)
                                    .where(sources.c.id == source_id)).scalar_one() + 1
            backoff = every * (2 ** min(failures - 1, 6))
            backoff = min(backoff, timedelta(days=7) if permanent else timedelta(hours=24))
            retry_until = now + timedelta(seconds=retry_after) if retry_after else None
            next_check = max(now + backoff, retry_until or now)
            conn.execute(sources.update().where(sources.c.id == source_id).values(
                last_checked=now, last_error=error, consecutive_failures=failures,
                next_check=next_check, retry_until=retry_until))
        return failures

    # ------------------------------------------------------------ items

    def add_items(self, source_id: str, new_items: Sequence[Item], *, now: datetime) -> AddResult:
        """Store what a source gave us; one item per story however many sources carry it."""
        result = AddResult(new=[], known=0)
        with self.engine.begin() as conn:
            seen_guids = set(conn.execute(sa.select(item_sources.c.guid)
                                          .where(item_sources.c.source_id == source_id)).scalars())
            for it in new_items:
                if it.guid in seen_guids:
                    result.known += 1
                    continue
                seen_guids.add(it.guid)
                existing = self._find_same_story(conn, it)
                if existing is None:
                    existing = conn.execute(items.insert().values(
                        guid=it.guid, link=it.link, title=it.title, summary=it.summary,
                        published=it.published or now, first_seen=now, authors=list(it.authors),
                        tags=list(it.tags), content_hash=it.content_hash, title_key=it.title_key,
                    )).inserted_primary_key[0]
                    result.new.append(int(existing))
                else:
                    result.known += 1
                conn.execute(item_sources.insert().values(item_id=existing, source_id=source_id,
                                                          guid=it.guid, first_seen=now))
        return result

    @staticmethod
    def _find_same_story(conn: Connection, it: Item) -> int | None:
        """Same canonical link, same content, or the same title with a near-identical summary.

        A title alone is not enough: feeds reuse titles ("Adult social care:
        what the latest data tell us") for different publications.
        """
        row = conn.execute(sa.select(items.c.id).where(
            sa.or_(items.c.link == it.link, items.c.content_hash == it.content_hash)).limit(1)).first()
        if row:
            return int(row.id)
        if not it.title_key or len(it.title_key) < 12:
            return None  # short titles ("Update", "News") say too little to merge on
        for cand in conn.execute(sa.select(items.c.id, items.c.summary)
                                 .where(items.c.title_key == it.title_key).limit(20)):
            a, b = cand.summary[:400].lower(), it.summary[:400].lower()
            if not a or not b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8:
                return int(cand.id)
        return None

    def items_since(self, since: datetime, *, source_ids: Iterable[str] | None = None,
                    item_ids: Iterable[int] | None = None) -> list[StoredItem]:
        q = sa.select(items).where(items.c.published >= since).order_by(items.c.published.desc(), items.c.id)
        if source_ids is not None:
            sub = sa.select(item_sources.c.item_id).where(item_sources.c.source_id.in_(list(source_ids)))
            q = q.where(items.c.id.in_(sub))
        if item_ids is not None:
            q = q.where(items.c.id.in_(list(item_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            return self._with_sources(conn, rows)

    def get_items(self, ids: Iterable[int]) -> list[StoredItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(items).where(items.c.id.in_(list(ids)))).all()
            return self._with_sources(conn, rows)

    @staticmethod
    def _with_sources(conn: Connection, rows: Sequence[Any]) -> list[StoredItem]:
        ids = [r.id for r in rows]
        by_item: dict[int, list[str]] = {}
        for chunk in _chunks(ids, 500):
            q = (sa.select(item_sources.c.item_id, item_sources.c.source_id)
                 .where(item_sources.c.item_id.in_(chunk))
                 .order_by(item_sources.c.first_seen, item_sources.c.source_id))
            for r in conn.execute(q):
                by_item.setdefault(r.item_id, []).append(r.source_id)
        return [StoredItem(id=r.id, guid=r.guid, link=r.link, title=r.title, summary=r.summary,
                           published=r.published, first_seen=r.first_seen, authors=list(r.authors or []),
                           tags=list(r.tags or []), sources=by_item.get(r.id, [])) for r in rows]

    # ------------------------------------------------------------ matches

    def replace_matches(self, item_ids: Sequence[int], found: Sequence[Match],
                        profile_ids: Sequence[str] | None = None) -> None:
        """Store the latest verdicts for these items (a profile edit re-scores them)."""
        with self.engine.begin() as conn:
            for chunk in _chunks(list(item_ids), 500):
                q = matches.delete().where(matches.c.item_id.in_(chunk))
                if profile_ids is not None:
                    q = q.where(matches.c.profile_id.in_(list(profile_ids)))
                conn.execute(q)
            if found:
                conn.execute(matches.insert(), [
                    dict(item_id=m.item_id, profile_id=m.profile_id, topic_id=m.topic_id,
                         score=float(m.score), terms=list(m.terms)) for m in found])

    def matches_for(self, item_ids: Iterable[int], profile_id: str | None = None) -> dict[int, list[Match]]:
        out: dict[int, list[Match]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(item_ids), 500):
                q = sa.select(matches).where(matches.c.item_id.in_(chunk))
                if profile_id is not None:
                    q = q.where(matches.c.profile_id == profile_id)
                for r in conn.execute(q.order_by(matches.c.score.desc())):
                    out.setdefault(r.item_id, []).append(
                        Match(r.item_id, r.profile_id, r.topic_id, r.score, tuple(r.terms or ())))
        return out

    # ------------------------------------------------------------ subscribers and ledger

    def sync_subscribers(self, profile_id: str, emails: Sequence[str], *, now: datetime) -> dict[str, int]:
        """Make sure each listed address has a subscriber id; returns email -> id."""
        wanted = [e.strip().lower() for e in emails]
        with self.engine.begin() as conn:
            have = {r.email: r.id for r in conn.execute(
                sa.select(subscribers.c.email, subscribers.c.id).where(subscribers.c.profile_id == profile_id))}
            for address in wanted:
                if address not in have:
                    have[address] = int(conn.execute(subscribers.insert().values(
                        profile_id=profile_id, email=address, created=now)).inserted_primary_key[0])
        return {a: have[a] for a in wanted}

    def delivered_item_ids(self, profile_id: str, subscriber_id: int) -> set[int]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(deliveries.c.item_id).where(
                deliveries.c.profile_id == profile_id, deliveries.c.subscriber_id == subscriber_id)).scalars())

    def record_delivery(self, *, profile_id: str, subscriber_id: int, item_ids: Sequence[int],
                        message_id: str, subject: str, now: datetime) -> None:
        """Written only after the mail server accepted the message."""
        with self.engine.begin() as conn:
            conn.execute(deliveries.insert(), [
                dict(profile_id=profile_id, subscriber_id=subscriber_id, item_id=i, sent_at=now,
                     message_id=message_id) for i in item_ids])
            conn.execute(bulletins.insert().values(profile_id=profile_id, subscriber_id=subscriber_id,
                                                   message_id=message_id, subject=subject,
                                                   item_count=len(item_ids), sent_at=now))

    def last_complete(self, profile_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(profile_runs.c.last_complete)
                                .where(profile_runs.c.profile_id == profile_id)).scalar_one_or_none()

    def mark_complete(self, profile_id: str, when: datetime) -> None:
        self._set_profile_run(profile_id, last_complete=when, pending_retry=False)

    def mark_pending_retry(self, profile_id: str) -> None:
        self._set_profile_run(profile_id, pending_retry=True)

    def has_pending_retry(self, profile_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(profile_runs.c.pending_retry)
                                     .where(profile_runs.c.profile_id == profile_id)).scalar_one_or_none())

    def _set_profile_run(self, profile_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(profile_runs.update().where(profile_runs.c.profile_id == profile_id)
                                   .values(**values)).rowcount
            if not updated:
                conn.execute(profile_runs.insert().values(profile_id=profile_id, **{"pending_retry": False, **values}))

    def bulletin_count(self, profile_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(bulletins)
                                    .where(bulletins.c.profile_id == profile_id)).scalar_one())


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
