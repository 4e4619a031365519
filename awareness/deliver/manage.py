"""A reader's own view of everything they get: every profile this address receives, its topics,
how often it comes (their own choice of frequency, or paused), and one button to leave them all.

The page is reached from any bulletin's footer with that bulletin's signed link; the
address itself never appears in a link.  Leaving all goes through
``subscriptions.unsubscribe`` for each, so each leaves the same suppression entry a
single unsubscribe does (the profile file's ``subscribers:`` cannot re-add it).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from . import frequency
from ..core.models import Profile
from ..store.store import Store
from ..store.schema import subscribers
from .subscriptions import chosen_topics, unsubscribe

@dataclass
class Subscription:
    profile_id: str
    name: str
    subscriber_id: int
    topics: list[str]          # titles of the topics chosen; empty: every topic
    every: str                 # "every Monday", "every weekday", ...: as this reader gets it
    frequency: str = ""        # "" (the profile's schedule), as-it-comes, daily, weekly
    paused: bool = False
    schedule_every: str = ""   # how often the profile itself comes


def _email_of(store: Store, subscriber_id: int) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(subscribers.c.email).where(subscribers.c.id == subscriber_id)).scalar()


def subscriptions_of(store: Store, subscriber_id: int, profiles: list[Profile]) -> list[Subscription]:
    """Every profile the address behind this subscriber receives (case-blind), in profile order."""
    email = _email_of(store, subscriber_id)
    if email is None:
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(subscribers.c.id, subscribers.c.profile_id)
                            .where(sa.func.lower(subscribers.c.email) == email.lower())).all()
    known = {p.id: p for p in profiles}
    out = []
    for sub_id, profile_id in rows:
        profile = known.get(profile_id)
        if profile is None:          # a profile taken away: nothing comes from it any more
            continue
        chosen = chosen_topics(store, sub_id)
        titles = [t.title for t in profile.topics if t.id in chosen] if chosen else []
        choice = frequency.choice_of(store, int(sub_id))
        out.append(Subscription(profile_id, profile.name, int(sub_id), titles,
                                frequency.every_words(profile, choice.frequency), choice.frequency or "",
                                choice.paused, frequency.every_words(profile, None)))
    order = {p.id: i for i, p in enumerate(profiles)}
    return sorted(out, key=lambda s: order[s.profile_id])


def leave_all(store: Store, subscriber_id: int, profiles: list[Profile]) -> int:
    """Unsubscribe this address from everything it receives; the number left."""
    return sum(unsubscribe(store, s.profile_id, s.subscriber_id)
               for s in subscriptions_of(store, subscriber_id, profiles))


def set_frequency(store: Store, subscriber_id: int, profiles: list[Profile], profile_id: str,
                  chosen: str, paused: bool) -> Subscription | None:
    """Save how often one of this address's subscriptions comes; None when it has none to that profile."""
    mine = {s.profile_id: s for s in subscriptions_of(store, subscriber_id, profiles)}
    if profile_id not in mine or chosen not in ("", *frequency.FREQUENCIES):
        return None
    frequency.set_choice(store, mine[profile_id].subscriber_id, frequency=chosen or None, paused=paused)
    return next(s for s in subscriptions_of(store, subscriber_id, profiles) if s.profile_id == profile_id)
