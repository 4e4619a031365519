"""Subscribing on the web: double opt-in, topic choices, unsubscribing.

    request_subscription()  a pending entry with an opaque ref; the confirm link carries only that
    confirm()               pending -> subscriber (origin "web"), its topic choices, no suppression
    unsubscribe()           the subscriber and everything naming the address go; a suppression stays

A suppression holds a SHA-256 of the address, never the address: it stops the
profile file's list from re-adding someone who left, and only a freshly
confirmed subscription lifts it.  Confirm links expire (tokens.CONFIRM_MAX_AGE);
pending entries older than that are purged.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import urlsplit

import sqlalchemy as sa

from .bulletin import Composer, Rendered
from ..config.settings import Settings
from .message import build_message
from ..core.models import Profile
from ..store.store import Store, email_hash
from ..store.schema import pending_subscriptions, subscriber_topics, subscribers, suppressions, utcnow
from .tokens import CONFIRM_MAX_AGE, Signer, SubscriberLink

logger = logging.getLogger(__name__)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Confirmed:
    profile_id: str
    subscriber_id: int


def valid_email(address: str) -> bool:
    return bool(EMAIL.match(address.strip())) and len(address) <= 254


def request_subscription(store: Store, *, profile_id: str, email: str, topics: list[str],
                         now: datetime | None = None) -> str:
    """Record the wish to subscribe; returns the opaque ref for the confirm link."""
    now = now or utcnow()
    ref = secrets.token_urlsafe(24)
    with store.engine.begin() as conn:
        conn.execute(pending_subscriptions.delete().where(pending_subscriptions.c.created < now - CONFIRM_MAX_AGE))
        conn.execute(pending_subscriptions.insert().values(ref=ref, profile_id=profile_id, email=email.strip().lower(),
                                                           topics=sorted(set(topics)), created=now))
    return ref


def forget_pending(store: Store, ref: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(pending_subscriptions.delete().where(pending_subscriptions.c.ref == ref))


def confirm(store: Store, ref: str, profile_id: str, *, now: datetime | None = None) -> Confirmed | None:
    """Turn a pending entry into a subscriber; None when the link was used already or is unknown."""
    now = now or utcnow()
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(pending_subscriptions).where(
            pending_subscriptions.c.ref == ref, pending_subscriptions.c.profile_id == profile_id,
            pending_subscriptions.c.created >= now - CONFIRM_MAX_AGE)).first()
        if row is None:
            return None
        existing = conn.execute(sa.select(subscribers.c.id).where(
            subscribers.c.profile_id == profile_id, subscribers.c.email == row.email)).scalar()
        if existing is None:
            existing = conn.execute(subscribers.insert().values(profile_id=profile_id, email=row.email, created=now,
                                                                origin="web")).inserted_primary_key[0]
        else:
            conn.execute(subscribers.update().where(subscribers.c.id == existing).values(origin="web"))
        subscriber_id = int(existing)
        conn.execute(suppressions.delete().where(suppressions.c.profile_id == profile_id,
                                                 suppressions.c.email_hash == email_hash(row.email)))
        _replace_topics(conn, subscriber_id, list(row.topics or []))
        conn.execute(pending_subscriptions.delete().where(pending_subscriptions.c.profile_id == profile_id,
                                                          pending_subscriptions.c.email == row.email))
    logger.info("subscriber %d confirmed for %s", subscriber_id, profile_id)
    return Confirmed(profile_id, subscriber_id)


def unsubscribe(store: Store, profile_id: str, subscriber_id: int, *, now: datetime | None = None) -> bool:
    """Delete the subscriber, leaving a suppression entry; False when already gone (harmless repeat)."""
    now = now or utcnow()
    with store.engine.begin() as conn:
        email = conn.execute(sa.select(subscribers.c.email).where(
            subscribers.c.id == subscriber_id, subscribers.c.profile_id == profile_id)).scalar()
        if email is None:
            return False
        digest = email_hash(email)
        if not conn.execute(sa.select(suppressions.c.email_hash).where(
                suppressions.c.profile_id == profile_id, suppressions.c.email_hash == digest)).first():
            conn.execute(suppressions.insert().values(profile_id=profile_id, email_hash=digest, created=now))
        conn.execute(subscriber_topics.delete().where(subscriber_topics.c.subscriber_id == subscriber_id))
        conn.execute(pending_subscriptions.delete().where(pending_subscriptions.c.profile_id == profile_id,
                                                          pending_subscriptions.c.email == email))
        conn.execute(subscribers.delete().where(subscribers.c.id == subscriber_id))
    logger.info("subscriber %d unsubscribed from %s", subscriber_id, profile_id)
    return True


def link_holder(store: Store, link: SubscriberLink) -> int | None:
    """The subscriber an unsubscribe/preferences link names, or None when they are gone.

    A link with a key must carry this subscriber's key; one made before keys existed
    is honoured only if it was signed after the subscriber was created, so a leaver's
    old link never acts on a newcomer who was given the same id (issue 15)."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(subscribers.c.key, subscribers.c.created).where(
            subscribers.c.id == link.subscriber_id, subscribers.c.profile_id == link.profile_id)).first()
    if row is None:
        return None
    if link.key:
        return link.subscriber_id if secrets.compare_digest(link.key, row.key) else None
    return link.subscriber_id if row.created <= link.issued + timedelta(seconds=1) else None


def subscriber_keys(store: Store, profile_id: str) -> dict[int, str]:
    """subscriber id -> the key their links carry, for one profile (read once per send)."""
    with store.engine.connect() as conn:
        return {int(r.id): r.key for r in conn.execute(sa.select(subscribers.c.id, subscribers.c.key)
                                                       .where(subscribers.c.profile_id == profile_id))}


def subscriber_key(store: Store, subscriber_id: int) -> str:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(subscribers.c.key).where(subscribers.c.id == subscriber_id)).scalar() or ""


def revoke_links(store: Store, subscriber_id: int) -> None:
    """A new key: every unsubscribe/preferences link made before stops working."""
    with store.engine.begin() as conn:
        conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id)
                     .values(key=secrets.token_urlsafe(16)))


def is_subscribed(store: Store, profile_id: str, subscriber_id: int) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(subscribers.c.id).where(
            subscribers.c.id == subscriber_id, subscribers.c.profile_id == profile_id)).first() is not None


# ------------------------------------------------------------------ topic choices

def chosen_topics(store: Store, subscriber_id: int) -> set[str]:
    """The topics this subscriber picked; empty means every topic."""
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(subscriber_topics.c.topic_id)
                                .where(subscriber_topics.c.subscriber_id == subscriber_id)).scalars())


def topics_by_subscriber(store: Store, profile_id: str) -> dict[int, set[str]]:
    """chosen_topics for every subscriber of a profile at once (a send reads it once per profile)."""
    found: dict[int, set[str]] = {}
    with store.engine.connect() as conn:
        for subscriber_id, topic_id in conn.execute(
                sa.select(subscriber_topics.c.subscriber_id, subscriber_topics.c.topic_id)
                .join(subscribers, subscribers.c.id == subscriber_topics.c.subscriber_id)
                .where(subscribers.c.profile_id == profile_id)):
            found.setdefault(int(subscriber_id), set()).add(topic_id)
    return found


def set_topics(store: Store, subscriber_id: int, topics: list[str]) -> None:
    with store.engine.begin() as conn:
        _replace_topics(conn, subscriber_id, topics)


def _replace_topics(conn: sa.Connection, subscriber_id: int, topics: list[str]) -> None:
    conn.execute(subscriber_topics.delete().where(subscriber_topics.c.subscriber_id == subscriber_id))
    if topics:
        conn.execute(subscriber_topics.insert(), [dict(subscriber_id=subscriber_id, topic_id=t)
                                                  for t in sorted(set(topics))])


def subscriber_count(store: Store, profile: Profile) -> int:
    """Who would get the next bulletin: the file's addresses not unsubscribed, plus web subscribers."""
    with store.engine.connect() as conn:
        suppressed = set(conn.execute(sa.select(suppressions.c.email_hash)
                                      .where(suppressions.c.profile_id == profile.id)).scalars())
        web = set(conn.execute(sa.select(subscribers.c.email).where(
            subscribers.c.profile_id == profile.id, subscribers.c.origin == "web")).scalars())
    listed = {a.strip().lower() for a in profile.subscribers} - web
    return len(web) + sum(1 for a in listed if email_hash(a) not in suppressed)


# ------------------------------------------------------------------ the confirmation email

def confirmation_message(settings: Settings, composer: Composer, profile: Profile, email: str,
                         confirm_url: str) -> EmailMessage:
    """The double opt-in email, built by the same message builder as bulletins (no list headers:
    the reader is not on the list yet)."""
    context = {"profile": profile, "confirm_url": confirm_url, "days": CONFIRM_MAX_AGE.days}
    subject = f"Confirm your subscription: {profile.name}"
    rendered = Rendered(subject=subject,
                        html=composer.env.get_template("web/confirm_email.html.j2").render(context),
                        text=composer.env.get_template("web/confirm_email.txt.j2").render(context))
    sender_address = parseaddr(settings.sender)[1]
    domain = sender_address.rpartition("@")[2] or (urlsplit(settings.base_url).hostname or "localhost")
    return build_message(rendered=rendered, sender=settings.sender, to=email, profile=profile, list_domain=domain,
                         unsubscribe_url=None, unsubscribe_mailto="", message_id_domain=domain)


def confirm_url(settings: Settings, signer: Signer, profile_id: str, ref: str) -> str:
    return f"{settings.base_url.rstrip('/')}/confirm/{signer.confirm_token(profile_id, ref)}"
