"""The store: one database (SQLite by default, PostgreSQL when configured) for
sources' state, items, matches, subscribers and the delivery ledger.

SQLAlchemy Core keeps the SQL visible.  Times are stored as naive UTC and come
back timezone-aware.  The ledger's unique key (profile, subscriber, item) is
the last line of defence against sending anything twice.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from . import dblock
from .dblock import retry_when_locked
from ..core.errors import ConfigError
from ..core.models import Item, Match, Source, StoredItem

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
    # Full text and what it told us (issue 3; awareness/enrich.py): all empty until enriched.
    sa.Column("fulltext", sa.Text),                 # the linked document's main text, capped
    sa.Column("pub_type", sa.String(40)),           # guidance, policy paper, consultation, statistics, ...
    sa.Column("organisation", sa.Text),             # the publisher, when it can be told
    sa.Column("closes", sa.Date),                   # a consultation's closing date
    sa.Column("enriched_at", UTCDateTime),          # when enrichment ran (the document is fetched once)
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
    sa.Column("local", sa.Boolean, nullable=False, default=False, server_default=sa.false()),  # issue 4
)

subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("origin", sa.String(10), nullable=False, default="yaml", server_default="yaml"),  # yaml | web (confirmed)
    # issue 15: a random key that the reader's links carry, so a link names this subscriber and no later one
    sa.Column("key", sa.String(32), nullable=False, default=lambda: secrets.token_urlsafe(16)),
    sa.UniqueConstraint("profile_id", "email", name="uq_subscribers_profile_email"),
    sqlite_autoincrement=True,   # issue 15: an id, once deleted, is never given to a newcomer (ledger, tokens)
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
# Queries for these live in awareness/feedback.py.

match_feedback = sa.Table(
    "match_feedback", metadata,          # a reader's "useful" / "not relevant" on a bulletin item
    sa.Column("profile_id", sa.String(100), primary_key=True),
    sa.Column("item_id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer, primary_key=True),
    sa.Column("topic_id", sa.String(100)),
    sa.Column("verdict", sa.String(20), nullable=False),       # useful | not_relevant
    sa.Column("at", UTCDateTime, nullable=False),
)

match_judgements = sa.Table(
    "match_judgements", metadata,        # a librarian's explicit include / exclude of an item for a topic
    sa.Column("profile_id", sa.String(100), primary_key=True),
    sa.Column("topic_id", sa.String(100), primary_key=True),
    sa.Column("item_id", sa.Integer, primary_key=True),
    sa.Column("include", sa.Boolean, nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# ---- tables of the service work (issue 5) go here

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trigger", sa.String(20), nullable=False),        # schedule / cli / web
    sa.Column("who", sa.Text),
    sa.Column("profile", sa.String(100)),
    sa.Column("source", sa.String(100)),
    sa.Column("started", UTCDateTime, nullable=False, index=True),
    sa.Column("finished", UTCDateTime),
    sa.Column("status", sa.String(20), nullable=False, default="running"),
    sa.Column("sources_fetched", sa.Integer, nullable=False, default=0),
    sa.Column("sources_failed", sa.Integer, nullable=False, default=0),
    sa.Column("items_new", sa.Integer, nullable=False, default=0),
    sa.Column("matches", sa.Integer, nullable=False, default=0),
    sa.Column("bulletins_sent", sa.Integer, nullable=False, default=0),
    sa.Column("bulletins_failed", sa.Integer, nullable=False, default=0),
    sa.Column("errors", sa.JSON, nullable=False, default=list),
    sa.Column("fetch_errors", sa.JSON, nullable=False, default=dict),   # source id -> error, for metrics
    sa.Column("holder", sa.String(200)),      # the run lock's holder while it runs: a killed run is told (issue 16)
    sa.Column("details", sa.JSON),            # per source and per profile: what the run did (issue 16)
)

scheduler_lock = sa.Table(
    "scheduler_lock", metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),              # host:pid of the `awareness serve` holding it
    sa.Column("acquired", UTCDateTime, nullable=False),
    sa.Column("heartbeat", UTCDateTime, nullable=False),
)

# ---- tables of the web app (issue 6) go here
# Queries for these live in awareness/users.py, subscriptions.py and web/archive.py.

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),          # librarian | admin
    sa.Column("password_hash", sa.Text, nullable=False),      # argon2id
    sa.Column("created", UTCDateTime, nullable=False),
)

user_profiles = sa.Table(
    "user_profiles", metadata,   # issue 15: the profiles a librarian may tune, besides those they own
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("profile_id", sa.String(100), primary_key=True),
)

web_sessions = sa.Table(
    "web_sessions", metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),   # sha256 of the cookie value, never the value
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("expires", UTCDateTime, nullable=False, index=True),
)

login_attempts = sa.Table(
    "login_attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, index=True),
    sa.Column("client", sa.Text, nullable=False, index=True),  # the client's IP address
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("ok", sa.Boolean, nullable=False),
)

pending_subscriptions = sa.Table(
    "pending_subscriptions", metadata,
    sa.Column("ref", sa.String(64), primary_key=True),       # opaque, the only thing the confirm link carries
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("topics", sa.JSON, nullable=False, default=list),  # [] = every topic
    sa.Column("created", UTCDateTime, nullable=False),
)

confirmation_sends = sa.Table(
    "confirmation_sends", metadata,   # issue 15: how many confirmation emails went to an address / for a client
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email_hash", sa.String(64), nullable=False, index=True),   # sha256 of the address, as suppressions
    sa.Column("client", sa.Text, nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
)

suppressions = sa.Table(
    "suppressions", metadata,
    sa.Column("profile_id", sa.String(100), primary_key=True),
    sa.Column("email_hash", sa.String(64), primary_key=True),  # sha256 of the address: no address kept
    sa.Column("created", UTCDateTime, nullable=False),
)

subscriber_topics = sa.Table(
    "subscriber_topics", metadata,
    sa.Column("subscriber_id", sa.Integer, primary_key=True),
    sa.Column("topic_id", sa.String(100), primary_key=True),
)

bulletin_pages = sa.Table(
    "bulletin_pages", metadata,    # the web version of each bulletin, a snapshot of what was sent
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("profile_id", sa.String(100), nullable=False, index=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),   # profile + items: one page per distinct bulletin
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("content", sa.JSON, nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("first_sent", UTCDateTime),                             # None until a copy was accepted for delivery
)


# ---- tables of the reliability work (issue 8) go here
# Queries for these live in awareness/refusals.py and lastgood.py.

delivery_refusals = sa.Table(
    "delivery_refusals", metadata,   # a mail server's permanent 5xx for an item to a subscriber: never resent
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("subscriber_id", sa.Integer, nullable=False),
    sa.Column("item_id", sa.Integer, nullable=False),
    sa.Column("refused_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.UniqueConstraint("profile_id", "subscriber_id", "item_id", name="uq_delivery_refusals_once"),
)

profile_versions = sa.Table(
    "profile_versions", metadata,    # the last version of each profile file that validated (awareness/lastgood.py)
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("saved", UTCDateTime, nullable=False),
)


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


def email_hash(address: str) -> str:
    """How a suppression names an address without keeping it."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def _insert_unless_present(conn: Connection, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(table).on_conflict_do_nothing()


def create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, future=True)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(dblock.BUSY_TIMEOUT_MS)}")
            cur.close()
    return engine



INCLUDED_SCORE = 1.0   # a librarian's include: above any score, so it survives max_items and wins its item


def _apply_judgements(conn: Connection, out: dict[int, list[Match]], item_ids: list[int],
                      profile_id: str | None) -> None:
    """A librarian's exclude takes the item out of that topic, an include puts it in, at once:
    every reader of the matches (run, dry run, preview, exports) sees the same decision."""
    for chunk in _chunks(item_ids, 500):
        q = sa.select(match_judgements).where(match_judgements.c.item_id.in_(chunk))
        if profile_id is not None:
            q = q.where(match_judgements.c.profile_id == profile_id)
        for j in conn.execute(q):
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


class Store:
    """Every read and write the pipeline needs, in one place."""

    def __init__(self, url: str, *, check_schema: bool = True) -> None:
        from .migrations import ensure_schema   # new database: create + stamp; old schema: refuse (issue 5)

        self.url = url
        try:
            self.engine = create_engine(url)
            if check_schema:
                ensure_schema(self.engine)
        except (sa.exc.SQLAlchemyError, ImportError) as e:
            shown = sa.engine.make_url(url).render_as_string(hide_password=True)
            reason = getattr(e, "orig", None) or e
            raise ConfigError("database_url", f"cannot open the database {shown}: {reason}".strip()) from None

    def close(self) -> None:
        self.engine.dispose()

    def begin(self) -> Any:
        return self.engine.begin()

    # ------------------------------------------------------------ sources

    @retry_when_locked
    def sync_sources(self, configured: Sequence[Source]) -> None:
        """Make the sources table agree with sources.yaml, keeping each source's history."""
        with self.engine.begin() as conn:
            existing = {r.id: r for r in conn.execute(sa.select(sources.c.id, sources.c.url))}
            for s in configured:
                row = existing.get(s.id)
                if row is None:   # another run starting at the same moment may add it too (issue 5)
                    conn.execute(_insert_unless_present(conn, sources).values(
                        id=s.id, url=s.url, name=s.name, kind=s.kind, consecutive_failures=0))
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

    @retry_when_locked
    def record_success(self, source_id: str, *, now: datetime, every: timedelta, etag: str | None,
                       last_modified: str | None, new_url: str | None = None, warning: str | None = None,
                       unchanged: bool = False) -> None:
        """``unchanged`` (a 304): the body is the one read last time, so its warning still stands."""
        values: dict[str, Any] = dict(last_checked=now, last_success=now, last_error=None, last_warning=warning,
                                      consecutive_failures=0, next_check=now + every, retry_until=None)
        if unchanged:
            del values["last_warning"]
        if etag is not None or last_modified is not None:
            values.update(etag=etag, last_modified=last_modified)
        if new_url:
            values["moved_to"] = new_url
        with self.engine.begin() as conn:
            conn.execute(sources.update().where(sources.c.id == source_id).values(**values))

    @retry_when_locked
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

    @retry_when_locked
    def add_items(self, source_id: str, new_items: Sequence[Item], *, now: datetime) -> AddResult:
        """Store what a source gave us; one item per story however many sources carry it.

        The feed's items are looked up together (one query per kind of key, issue 7)
        and inserted together; an item earlier in the same feed counts as stored.
        """
        result = AddResult(new=[], known=0)
        with self.engine.begin() as conn:
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
            stories = _SameStory(conn, fresh, source_id, now)
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
                named = by_item.setdefault(r.item_id, [])
                if r.source_id not in named:   # a source that re-issued a guid is still one source
                    named.append(r.source_id)
        return [StoredItem(id=r.id, guid=r.guid, link=r.link, title=r.title, summary=r.summary,
                           published=r.published, first_seen=r.first_seen, authors=list(r.authors or []),
                           tags=list(r.tags or []), sources=by_item.get(r.id, []), pub_type=r.pub_type,
                           organisation=r.organisation, closes=r.closes) for r in rows]

    # ------------------------------------------------------------ matches

    @retry_when_locked
    def replace_matches(self, item_ids: Sequence[int], found: Sequence[Match],
                        profile_ids: Sequence[str] | None = None) -> None:
        """Store the latest verdicts for these items (a profile edit re-scores them)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":   # two runs at once: one replaces after the other (issue 5)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727402)"))
            for chunk in _chunks(list(item_ids), 500):
                q = matches.delete().where(matches.c.item_id.in_(chunk))
                if profile_ids is not None:
                    q = q.where(matches.c.profile_id.in_(list(profile_ids)))
                conn.execute(q)
            if found:
                _insert_matches(conn, found)

    def matches_for(self, item_ids: Iterable[int], profile_id: str | None = None) -> dict[int, list[Match]]:
        """Each item's verdicts, strongest first.

        On SQLite the query goes straight to the driver and terms are decoded here:
        SQLAlchemy's work per query and per row was most of composing (issue 7)."""
        out: dict[int, list[Match]] = {}
        ids = list(item_ids)
        loads = json.loads
        columns = (matches.c.item_id, matches.c.profile_id, matches.c.topic_id, matches.c.score,
                   sa.type_coerce(matches.c.terms, sa.Text), matches.c.local)
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                if conn.dialect.name == "sqlite":
                    where = f"item_id IN ({', '.join('?' * len(chunk))})"
                    params: tuple[Any, ...] = tuple(chunk)
                    if profile_id is not None:
                        where, params = where + " AND profile_id = ?", params + (profile_id,)
                    rows: Any = conn.exec_driver_sql(
                        "SELECT item_id, profile_id, topic_id, score, terms, local FROM matches "
                        f"WHERE {where} ORDER BY score DESC", params)
                else:
                    q = sa.select(*columns).where(matches.c.item_id.in_(chunk))
                    if profile_id is not None:
                        q = q.where(matches.c.profile_id == profile_id)
                    rows = conn.execute(q.order_by(matches.c.score.desc()))
                for item_id, profile, topic_id, score, terms, local in rows:
                    if isinstance(terms, str):      # PostgreSQL's driver hands JSON over decoded
                        terms = loads(terms)
                    out.setdefault(item_id, []).append(
                        Match(item_id, profile, topic_id, score, tuple(terms or ()), bool(local)))
            _apply_judgements(conn, out, ids, profile_id)
        return out

    # ------------------------------------------------------------ subscribers and ledger

    @retry_when_locked
    def sync_subscribers(self, profile_id: str, emails: Sequence[str], *, now: datetime) -> dict[str, int]:
        """Make sure each listed address has a subscriber id; returns email -> id of everyone to send to.

        That is the profile file's addresses, less those who unsubscribed (a
        suppression entry), plus the readers who subscribed and confirmed on
        the web; nothing here ever deletes a web subscriber.
        """
        wanted = [e.strip().lower() for e in emails]
        with self.engine.begin() as conn:
            suppressed = set(conn.execute(sa.select(suppressions.c.email_hash)
                                          .where(suppressions.c.profile_id == profile_id)).scalars())
            wanted = [a for a in dict.fromkeys(wanted) if email_hash(a) not in suppressed]
            rows = conn.execute(sa.select(subscribers.c.email, subscribers.c.id, subscribers.c.origin)
                                .where(subscribers.c.profile_id == profile_id)).all()
            have = {r.email: r.id for r in rows}
            for address in wanted:
                if address not in have:
                    have[address] = int(conn.execute(subscribers.insert().values(
                        profile_id=profile_id, email=address, created=now)).inserted_primary_key[0])
        out = {a: have[a] for a in wanted}
        out.update({r.email: r.id for r in rows if r.origin == "web" and r.email not in out})
        return out

    def delivered_item_ids(self, profile_id: str, subscriber_id: int) -> set[int]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(deliveries.c.item_id).where(
                deliveries.c.profile_id == profile_id, deliveries.c.subscriber_id == subscriber_id)).scalars())

    @retry_when_locked
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

    @retry_when_locked
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


class _SameStory:
    """Which stored item a new one is the same document as (issue 15: only on positive evidence).

    Two items whose URLs differ are one document only when something shows it:
    the same canonical link; the same content hash of a real summary, published
    within days; or, from *another* source, the same title with a near-identical
    summary within days, or the same title from a feed and a spider (which often
    carries no summary) within a few days; from the *same* source, the same title
    only with the same publication date (a site that moved).  A title alone never merges: a source
    publishes "Statistical release" or "Board papers" every month under the same
    title, often with no summary, and each is its own document.
    """

    TITLE_CANDIDATES = 20
    NEAR = timedelta(days=14)            # same text from two places, published this close: one document
    PAIR = timedelta(days=3)             # a feed's item and a spider's listing entry of it
    SAME_DATE = timedelta(hours=24)      # one source listing a dated document again at another URL
    SUBSTANTIVE = 40                     # characters of summary before its hash says anything

    def __init__(self, conn: Connection, batch: Sequence[Item], source_id: str = "",
                 now: datetime | None = None) -> None:
        self.source_id = source_id
        self.now = now or utcnow()
        self.kind = conn.execute(sa.select(sources.c.kind).where(sources.c.id == source_id)).scalar() or "feed"
        self.by_link: dict[str, int] = {}
        self.by_hash: dict[str, tuple[int, datetime]] = {}
        self.by_title: dict[str, list[tuple[int, str, datetime]]] = {}
        self.origins: dict[int, dict[str, str]] = {}     # item id -> its sources and their kinds
        links = sorted({it.link for it in batch if it.link})
        hashes = sorted({it.content_hash for it in batch if self._substantive(it)})
        titles = sorted({it.title_key for it in batch if self._telling(it.title_key)})
        for chunk in _chunks(links, 500):
            for key, item_id in conn.execute(sa.select(items.c.link, items.c.id).where(items.c.link.in_(chunk))
                                             .order_by(items.c.id)):
                self.by_link.setdefault(key, int(item_id))
        for chunk in _chunks(hashes, 500):
            for key, item_id, published in conn.execute(
                    sa.select(items.c.content_hash, items.c.id, items.c.published)
                    .where(items.c.content_hash.in_(chunk)).order_by(items.c.id)):
                self.by_hash.setdefault(key, (int(item_id), published))
        for chunk in _chunks(titles, 500):
            for r in conn.execute(sa.select(items.c.id, items.c.title_key, items.c.summary, items.c.published)
                                  .where(items.c.title_key.in_(chunk)).order_by(items.c.id)):
                candidates = self.by_title.setdefault(r.title_key, [])
                if len(candidates) < self.TITLE_CANDIDATES:
                    candidates.append((int(r.id), r.summary, r.published))
        ids = sorted({i for cands in self.by_title.values() for i, _, _ in cands})
        for chunk in _chunks(ids, 500):
            q = (sa.select(item_sources.c.item_id, item_sources.c.source_id, sources.c.kind)
                 .select_from(item_sources.outerjoin(sources, sources.c.id == item_sources.c.source_id))
                 .where(item_sources.c.item_id.in_(chunk)))
            for item_id, sid, kind in conn.execute(q):
                self.origins.setdefault(int(item_id), {})[sid] = kind or "feed"

    @staticmethod
    def _telling(title_key: str) -> bool:
        return bool(title_key) and len(title_key) >= 12  # "Update", "News" say too little to merge on

    @classmethod
    def _substantive(cls, it: Item) -> bool:
        return len(" ".join(it.summary.split())) >= cls.SUBSTANTIVE

    def _close(self, published: datetime | None, it: Item, within: timedelta) -> bool:
        mine = it.published or self.now
        return published is not None and abs(published - mine) <= within

    def find(self, it: Item) -> int | None:
        # items whose link was unusable (javascript:, none) share "" and are not one story
        if it.link and it.link in self.by_link:
            return self.by_link[it.link]
        if self._substantive(it) and it.content_hash in self.by_hash:
            item_id, published = self.by_hash[it.content_hash]
            if self._close(published, it, self.NEAR):
                return item_id
        if not self._telling(it.title_key):
            return None
        b = it.summary[:400].lower()
        for item_id, summary, published in self.by_title.get(it.title_key, ()):
            origins = self.origins.get(item_id, {})
            a = summary[:400].lower()
            if self.source_id in origins:
                # The same source, another URL: another document of that title ("Board papers" each
                # month), unless it carries the very same date (a site that moved, listed again).
                if it.published is not None and self._close(published, it, self.SAME_DATE) \
                        and (not a or not b or _similar(a, b, 0.8)):
                    return item_id
                continue
            if a and b:
                if self._close(published, it, self.NEAR) and _similar(a, b, 0.8):
                    return item_id
            elif set(origins.values()) - {self.kind} and self._close(published, it, self.PAIR):
                return item_id  # a feed and a spider listing saw the same document
        return None

    def add(self, item_id: int, it: Item) -> None:
        if it.link:
            self.by_link.setdefault(it.link, item_id)
        if self._substantive(it):
            self.by_hash.setdefault(it.content_hash, (item_id, it.published or self.now))
        if self._telling(it.title_key):
            candidates = self.by_title.setdefault(it.title_key, [])
            if len(candidates) < self.TITLE_CANDIDATES:
                candidates.append((item_id, it.summary, it.published or self.now))
            self.origins.setdefault(item_id, {})[self.source_id] = self.kind


def _insert_matches(conn: Connection, found: Sequence[Match]) -> None:
    """Many match rows in one executemany.  On SQLite straight to the driver, as SQLAlchemy
    would write them (terms as json.dumps text): its per-row processing was most of the time
    of storing a national cycle's matches (issue 7)."""
    if conn.dialect.name != "sqlite":
        conn.execute(matches.insert(), [
            dict(item_id=m.item_id, profile_id=m.profile_id, topic_id=m.topic_id,
                 score=float(m.score), terms=list(m.terms), local=bool(m.local)) for m in found])
        return
    dumps = json.dumps
    conn.exec_driver_sql(
        "INSERT INTO matches (item_id, profile_id, topic_id, score, terms, local) VALUES (?, ?, ?, ?, ?, ?)",
        [(m.item_id, m.profile_id, m.topic_id, float(m.score), dumps(list(m.terms)), int(bool(m.local)))
         for m in found])


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _similar(a: str, b: str, at_least: float) -> bool:
    """SequenceMatcher's ratio() >= at_least, with its cheap upper bounds tried first (same answer)."""
    m = difflib.SequenceMatcher(None, a, b)
    return m.real_quick_ratio() >= at_least and m.quick_ratio() >= at_least and m.ratio() >= at_least
