"""The tables, the row shapes read from them, and the store's one clock (aware UTC).

Times are stored as naive UTC and come back timezone-aware (``UTCDateTime``).  The
migrations compare themselves against ``metadata`` here, so this module imports nothing
of the store: the Store, the migrations and the dedup all stand on it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa


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
    # Full text and what it told us (issue 3; awareness/gather/enrich.py): all empty until enriched.
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

# Keyed by profile first: composing reads one profile's matches (tens of thousands at national
# scale), and on SQLite (WITHOUT ROWID) they then lie together on disk instead of scattered over
# millions of rows (issue 19).  Re-scoring an item and deleting one find its rows by the index.
matches = sa.Table(
    "matches", metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("topic_id", sa.String(100), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("terms", sa.JSON, nullable=False, default=list),
    sa.Column("local", sa.Boolean, nullable=False, default=False, server_default=sa.false()),  # issue 4
    sa.PrimaryKeyConstraint("profile_id", "item_id", "topic_id", name="matches_pkey"),
    sqlite_with_rowid=False,
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
# Queries for these live in awareness/match/feedback.py.

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
# Queries for these live in awareness/store/users.py, deliver/subscriptions.py and deliver/archive.py.

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),          # librarian | admin
    sa.Column("password_hash", sa.Text, nullable=False),      # argon2id
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False, server_default=sa.false()),  # issue 17
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
# Queries for these live in awareness/deliver/refusals.py and store/lastgood.py.

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
    "profile_versions", metadata,    # the last version of each profile file that validated (awareness/store/lastgood.py)
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("saved", UTCDateTime, nullable=False),
)


reader_choices = sa.Table(
    "reader_choices", metadata,      # a reader's own frequency and pause for one subscription (issue 17)
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("frequency", sa.String(20)),      # None: the profile's schedule | as-it-comes | daily | weekly
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("changed", UTCDateTime, nullable=False),
)


webhook_posts = sa.Table(
    "webhook_posts", metadata,       # each item posted to each profile webhook: the exactly-once ledger of webhook.py
    sa.Column("profile_id", sa.String(100), nullable=False),
    sa.Column("hook", sa.String(64), nullable=False),          # sha256 of the webhook URL (a secret: never stored)
    sa.Column("item_id", sa.Integer, nullable=False),
    sa.Column("posted_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("profile_id", "hook", "item_id", name="uq_webhook_posts_once"),
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
