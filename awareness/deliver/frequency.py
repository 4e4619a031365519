"""How often each reader wants a bulletin, and whether they have paused it (issue 17, point 5).

A reader chooses, per subscription, on the "manage my subscriptions" page:

    (nothing)     the profile's own schedule (the default)
    as-it-comes   on every run that has something new for them
    daily         one digest a day, at the profile's time of day
    weekly        one digest a week, on Mondays at the profile's time of day
    paused        nothing at all until they resume

The digest's times are cron schedules in the profile's time zone, so "due" is
the same rule as a profile's: the schedule has fired since this reader's last
bulletin.  A digest looks back at least over its own period, and the delivery
ledger still keeps each item to one send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from .bulletin import schedule_words
from ..config.schedule import cron_trigger
from ..core.models import Profile
from ..store.schema import bulletins, reader_choices, subscribers, utcnow
from ..store.store import Store

AS_IT_COMES, DAILY, WEEKLY = "as-it-comes", "daily", "weekly"
FREQUENCIES = (AS_IT_COMES, DAILY, WEEKLY)
LABELS = {"": "As the bulletin's own schedule", AS_IT_COMES: "As it comes: whenever there is something new",
          DAILY: "Daily digest", WEEKLY: "Weekly digest"}
_LOOKBACK = {DAILY: 2, WEEKLY: 8}            # days a digest reaches back at least (a missed day or week is caught)


@dataclass(frozen=True)
class ReaderChoice:
    frequency: str | None = None   # None: the profile's schedule
    paused: bool = False


@dataclass(frozen=True)
class ReaderPlan:
    """What one reader gets on this run: the profile as seen through their choice, or nothing."""

    key: str                       # readers with the same key share a bulletin
    profile: Profile               # lookback and schedule adjusted for a digest
    every: str                     # the footer's "This bulletin comes ..."


# ------------------------------------------------------------------ stored choices

def choice_of(store: Store, subscriber_id: int) -> ReaderChoice:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(reader_choices).where(reader_choices.c.subscriber_id == subscriber_id)).first()
    return ReaderChoice(row.frequency, bool(row.paused)) if row else ReaderChoice()


def choices_for(store: Store, profile_id: str) -> dict[int, ReaderChoice]:
    """subscriber id -> choice, for the subscribers of one profile who made one."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(reader_choices).join(
            subscribers, subscribers.c.id == reader_choices.c.subscriber_id)
            .where(subscribers.c.profile_id == profile_id)).all()
    return {int(r.subscriber_id): ReaderChoice(r.frequency, bool(r.paused)) for r in rows}


def set_choice(store: Store, subscriber_id: int, *, frequency: str | None, paused: bool,
               now: datetime | None = None) -> None:
    if frequency not in (None, *FREQUENCIES):
        raise ValueError(f"unknown frequency {frequency!r}; choose one of {', '.join(FREQUENCIES)}")
    values = dict(frequency=frequency, paused=paused, changed=now or utcnow())
    with store.engine.begin() as conn:
        done = conn.execute(reader_choices.update().where(reader_choices.c.subscriber_id == subscriber_id)
                            .values(**values)).rowcount
        if not done:
            conn.execute(reader_choices.insert().values(subscriber_id=subscriber_id, **values))


def has_own_schedules(store: Store, profile_id: str) -> bool:
    """Whether some reader of this profile has a frequency of their own (so a run may owe them a bulletin)."""
    return any(c.frequency and not c.paused for c in choices_for(store, profile_id).values())


def last_bulletins(store: Store, profile_id: str) -> dict[int, datetime]:
    """subscriber id -> when their last bulletin of this profile was accepted for delivery."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(bulletins.c.subscriber_id, sa.func.max(bulletins.c.sent_at))
                            .where(bulletins.c.profile_id == profile_id).group_by(bulletins.c.subscriber_id)).all()
    return {int(sid): _aware(when) for sid, when in rows if when is not None}


def _aware(when: Any) -> datetime:
    """SQLite hands back max() of a date as a naive value (or text): UTC, aware."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# ------------------------------------------------------------------ what is due

def digest_schedule(profile: Profile, frequency: str) -> str:
    """The cron schedule of a digest: the profile's time of day, every day or on Mondays."""
    minute, hour = profile.schedule.split()[:2]
    if not (minute.isdigit() and hour.isdigit()):
        minute, hour = "0", "8"
    return f"{minute} {hour} * * {'*' if frequency == DAILY else 'MON'}"


def every_words(profile: Profile, frequency: str | None) -> str:
    """How often this reader's bulletin comes, in the words of the footer and the manage page."""
    if frequency == AS_IT_COMES:
        return "whenever there is something new"
    if frequency in (DAILY, WEEKLY):
        return schedule_words(digest_schedule(profile, frequency)) + ", as a digest"
    return schedule_words(profile.schedule)


def plan_for(profile: Profile, choice: ReaderChoice, *, profile_due: bool, last_sent: datetime | None,
             since: datetime, now: datetime) -> ReaderPlan | None:
    """This reader's bulletin on this run, or None: paused, or their own schedule has not come round.

    ``last_sent`` is their last bulletin of this profile; ``since`` when they joined
    (a digest's first issue waits for its schedule, like every later one).
    """
    if choice.paused:
        return None
    if choice.frequency is None:
        return ReaderPlan("", profile, schedule_words(profile.schedule)) if profile_due else None
    if choice.frequency == AS_IT_COMES:
        return ReaderPlan(AS_IT_COMES, profile, every_words(profile, AS_IT_COMES))
    schedule = digest_schedule(profile, choice.frequency)
    after = last_sent or since
    fire = cron_trigger(schedule, profile.timezone).get_next_fire_time(None, after)
    if fire is None or fire > now:
        return None
    lookback = max(profile.lookback_days, _LOOKBACK[choice.frequency])
    seen = profile.model_copy(update={"lookback_days": lookback, "schedule": schedule})
    return ReaderPlan(choice.frequency, seen, every_words(profile, choice.frequency))


def joined(store: Store, profile_id: str) -> dict[int, datetime]:
    """subscriber id -> when they joined this profile."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(subscribers.c.id, subscribers.c.created)
                            .where(subscribers.c.profile_id == profile_id)).all()
    return {int(r.id): _aware(r.created) for r in rows}


class Plans:
    """Every reader's plan for one profile and run, read from the store once."""

    def __init__(self, store: Store, profile: Profile, *, profile_due: bool, now: datetime) -> None:
        self.profile, self.profile_due, self.now = profile, profile_due, now
        self.choices = choices_for(store, profile.id)
        self.last = last_bulletins(store, profile.id) if self.choices else {}
        self.joined = joined(store, profile.id) if self.choices else {}

    def for_reader(self, subscriber_id: int) -> ReaderPlan | None:
        choice = self.choices.get(subscriber_id, ReaderChoice())
        return plan_for(self.profile, choice, profile_due=self.profile_due, last_sent=self.last.get(subscriber_id),
                        since=self.joined.get(subscriber_id, self.now), now=self.now)
