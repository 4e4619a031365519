"""The store: one database (SQLite by default, PostgreSQL when configured) for
sources' state, items, matches, subscribers and the delivery ledger.

SQLAlchemy Core keeps the SQL visible; the tables are in ``schema``, the rule for
"the same document" in ``dedup``.  The ledger's unique key (profile, subscriber, item)
is the last line of defence against sending anything twice.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from . import dblock, durable, matchrows
from .matchrows import MatchRows
from .dblock import retry_when_locked
from .dedup import in_chunks
from .itemwrite import add_feed_items
from .judged import apply_judgements
from .matchread import read_matches
from .migrations import ensure_schema
from .schema import (AddResult, SourceState, bulletin_pages, bulletins, deliveries, item_sources, items,
                     matches, profile_runs, sources, subscribers, suppressions)
from ..core.errors import ConfigError
from ..core.models import Item, Match, Source, StoredItem

logger = logging.getLogger(__name__)

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


# SQLite's page cache per connection, in KiB (its default is 2 MiB): a national store's matches
# table is a few hundred MB, and a cycle's inserts touch pages all over it (issue 19).
CACHE_KB = 65536


def create_engine(url: str) -> Engine:
    engine = sa.create_engine(url, future=True)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(dblock.BUSY_TIMEOUT_MS)}")
            cur.execute(f"PRAGMA cache_size=-{CACHE_KB}")
            cur.close()
    return engine



class Store:
    """Every read and write the pipeline needs, in one place."""

    def __init__(self, url: str, *, check_schema: bool = True) -> None:
        self.url = url   # a new database is created and stamped; an old schema is refused (issue 5)
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
        with self.engine.begin() as conn:
            self._record_success(conn, source_id, now=now, every=every, etag=etag, last_modified=last_modified,
                                 new_url=new_url, warning=warning, unchanged=unchanged)

    @staticmethod
    def _record_success(conn: Connection, source_id: str, *, now: datetime, every: timedelta, etag: str | None,
                        last_modified: str | None, new_url: str | None = None, warning: str | None = None,
                        unchanged: bool = False) -> None:
        values: dict[str, Any] = dict(last_checked=now, last_success=now, last_error=None, last_warning=warning,
                                      consecutive_failures=0, next_check=now + every, retry_until=None)
        if unchanged:
            del values["last_warning"]
        if etag is not None or last_modified is not None:
            values.update(etag=etag, last_modified=last_modified)
        if new_url:
            values["moved_to"] = new_url
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
    def add_items(self, source_id: str, new_items: Sequence[Item], *, now: datetime,
                  success: dict[str, Any] | None = None, synced: bool = True) -> AddResult:
        """Store what a source gave us; one item per story however many sources carry it (``itemwrite``).

        ``success``: ``record_success``'s arguments, recorded in the same transaction
        (one commit per feed, not two: on SQLite each commit is a disk sync, issue 19).
        ``synced=False``: SQLite need not sync this commit to disk; the caller calls ``sync()``
        once its batch is written (a gathering's feeds: see ``unsynced``).
        """
        with self.unsynced() if not synced else self.engine.begin() as conn:
            if success is not None:
                self._record_success(conn, source_id, now=now, **success)
            return add_feed_items(conn, source_id, new_items, now=now)

    def unsynced(self) -> AbstractContextManager[Connection]:
        """A transaction whose commit SQLite need not sync to disk (``durable.unsynced``)."""
        return durable.unsynced(self.engine)

    def sync(self) -> None:
        """Make every commit so far durable (``durable.sync``)."""
        durable.sync(self.engine)

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

    def matched_items(self, since: datetime, *, source_ids: Iterable[str] | None = None
                      ) -> list[tuple[StoredItem, list[Match]]]:
        """Items published since then (newest first), each with its verdicts, strongest first."""
        found = self.items_since(since, source_ids=source_ids)
        verdicts = self.matches_for([i.id for i in found])
        return [(item, verdicts.get(item.id, [])) for item in found]

    def new_items_per_source(self, since: datetime) -> dict[str, int]:
        """How many items each source brought in first seen since then (the admin's week)."""
        q = (sa.select(item_sources.c.source_id, sa.func.count()).where(item_sources.c.first_seen >= since)
             .group_by(item_sources.c.source_id))
        with self.engine.connect() as conn:
            return {source_id: int(n) for source_id, n in conn.execute(q)}

    def get_items(self, ids: Iterable[int]) -> list[StoredItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(items).where(items.c.id.in_(list(ids)))).all()
            return self._with_sources(conn, rows)

    @staticmethod
    def _with_sources(conn: Connection, rows: Sequence[Any]) -> list[StoredItem]:
        ids = [r.id for r in rows]
        by_item: dict[int, list[str]] = {}
        for chunk in in_chunks(ids, 500):
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
    def replace_matches(self, item_ids: Sequence[int], found: Sequence[Match] | MatchRows,
                        profile_ids: Sequence[str] | None = None) -> None:
        """Store the latest verdicts for these items (a profile edit re-scores them).

        Unsynced (``durable.unsynced``): every run scores its whole window again, so a power
        cut that took these rows back costs nothing; a national cycle's 6 M rows spent 40 s
        waiting for the disk at commits (issue 19)."""
        with durable.unsynced(self.engine) as conn:
            if conn.dialect.name == "postgresql":   # two runs at once: one replaces after the other (issue 5)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727402)"))
            for chunk in in_chunks(list(item_ids), 500):
                q = matches.delete().where(matches.c.item_id.in_(chunk))
                if profile_ids is not None:
                    q = q.where(matches.c.profile_id.in_(list(profile_ids)))
                conn.execute(q)
            if found:
                _insert_matches(conn, found)

    def matches_for(self, item_ids: Iterable[int], profile_id: str | None = None) -> dict[int, list[Match]]:
        """Each item's verdicts, strongest first, with the librarian's judgements applied."""
        ids = list(item_ids)
        with self.engine.connect() as conn:
            out = read_matches(conn, ids, profile_id)
            apply_judgements(conn, out, ids, profile_id)
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

    def record_delivery(self, *, profile_id: str, subscriber_id: int, item_ids: Sequence[int],
                        message_id: str, subject: str, now: datetime) -> None:
        """Written only after the mail server accepted the message."""
        self.record_deliveries([dict(profile_id=profile_id, subscriber_id=subscriber_id, item_ids=item_ids,
                                     message_id=message_id, subject=subject)], now=now)

    @retry_when_locked
    def record_deliveries(self, sent: Sequence[dict[str, Any]], *, now: datetime) -> None:
        """Messages the mail server accepted, each as record_delivery's keywords plus an optional
        ``page_id`` (its web version, whose first sending is marked): one transaction, one commit,
        so a batch of messages is either all in the ledger or all still owed (issue 19)."""
        rows = [dict(profile_id=m["profile_id"], subscriber_id=m["subscriber_id"], item_id=i, sent_at=now,
                     message_id=m["message_id"]) for m in sent for i in m["item_ids"]]
        with self.engine.begin() as conn:
            pages = sorted({m["page_id"] for m in sent if m.get("page_id") is not None})
            if pages:
                conn.execute(bulletin_pages.update().where(bulletin_pages.c.id.in_(pages),
                                                           bulletin_pages.c.first_sent.is_(None))
                             .values(first_sent=now))
            if rows:
                conn.execute(deliveries.insert(), rows)
            if sent:
                conn.execute(bulletins.insert(), [dict(
                    profile_id=m["profile_id"], subscriber_id=m["subscriber_id"], message_id=m["message_id"],
                    subject=m["subject"], item_count=len(m["item_ids"]), sent_at=now) for m in sent])

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


def _insert_matches(conn: Connection, found: Sequence[Match] | MatchRows) -> None:
    """Many match rows in one executemany.  On SQLite straight to the driver, as SQLAlchemy
    would write them (terms as json.dumps text): its per-row processing was most of the time
    of storing a national cycle's matches (issue 7).  ``MatchRows`` come encoded already."""
    if conn.dialect.name != "sqlite":
        plain = found.matches() if isinstance(found, MatchRows) else found
        conn.execute(matches.insert(), [
            dict(item_id=m.item_id, profile_id=m.profile_id, topic_id=m.topic_id,
                 score=float(m.score), terms=list(m.terms), local=bool(m.local)) for m in plain])
        return
    rows = found if isinstance(found, MatchRows) else matchrows.encode(found)
    conn.exec_driver_sql(
        "INSERT INTO matches (item_id, profile_id, topic_id, score, terms, local) VALUES (?, ?, ?, ?, ?, ?)",
        rows.rows)
