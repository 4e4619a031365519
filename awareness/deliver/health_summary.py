"""The weekly source-health summary each profile's owner (its librarian) receives.

It answers "can I trust this week's bulletin?": which of the profile's
sources failed, which went quiet compared with their usual rate, and which
spiders' selectors stopped matching.  Plain text: it is read, not admired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import sqlalchemy as sa

from ..core import logs
from .transport import open_transport
from ..core.errors import DeliveryError
from ..core.models import Profile
from ..config.profiles import profile_sources
from ..store.store import Store
from ..store.schema import item_sources, utcnow

logger = logging.getLogger(__name__)

WEEK = timedelta(days=7)
HISTORY_WEEKS = 8           # the "usual rate" is the weekly average over these weeks before the last one
QUIET_BELOW = 0.25          # quiet: fewer than a quarter of the usual items ...
QUIET_MIN_USUAL = 2.0       # ... for a source that usually brings at least this many a week


@dataclass
class SourceHealth:
    id: str
    name: str
    last_week: int
    usual: float                     # items a week, on average, before last week
    error: str | None = None         # failing now
    failures: int = 0
    selector_warning: str | None = None

    @property
    def quiet(self) -> bool:
        return self.error is None and self.usual >= QUIET_MIN_USUAL and self.last_week < self.usual * QUIET_BELOW


@dataclass
class Summary:
    profile: Profile
    since: datetime
    sources: list[SourceHealth] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)    # sources.yaml entries that cannot be gathered (issue 16)

    @property
    def failing(self) -> list[SourceHealth]:
        return [s for s in self.sources if s.error]

    @property
    def quiet(self) -> list[SourceHealth]:
        return [s for s in self.sources if s.quiet]

    @property
    def selectors(self) -> list[SourceHealth]:
        return [s for s in self.sources if s.selector_warning]

    def text(self) -> str:
        p = self.profile
        lines = [f"Source health for {p.name}, the week to {self.since + WEEK:%A %d %B %Y}", ""]
        ok = len(self.sources) - len({s.id for s in (*self.failing, *self.quiet, *self.selectors)})
        lines.append(f"{ok} of {len(self.sources)} sources behind this bulletin are healthy.")
        if self.skipped:
            lines += ["", "Skipped: entries in sources.yaml that cannot be gathered until they are fixed:"]
            lines += [f"  - {problem}" for problem in self.skipped]
        if self.failing:
            lines += ["", "Failing (nothing new can arrive from these until fixed):"]
            lines += [f"  - {s.name} ({s.id}): {s.error} ({s.failures} failed attempt{'s' * (s.failures != 1)} "
                      "in a row)" for s in self.failing]
        if self.quiet:
            lines += ["", "Gone quiet (far fewer items than usual; has the feed moved?):"]
            lines += [f"  - {s.name} ({s.id}): {s.last_week} this week, usually about {s.usual:.0f} a week"
                      for s in self.quiet]
        if self.selectors:
            lines += ["", "Spiders whose selectors stopped matching (the site's layout may have changed):"]
            lines += [f"  - {s.name} ({s.id}): {s.selector_warning}" for s in self.selectors]
        lines += ["", "Sources are listed in sources.yaml; `awareness sources list` shows each one's health."]
        return "\n".join(lines) + "\n"


def summarise(store: Store, profile: Profile, sources: list, *, now: datetime | None = None) -> Summary:
    """The health of the sources this profile draws on, over the last week."""
    now = now or utcnow()
    since = now - WEEK
    chosen = profile_sources(profile, sources)
    states = {s.id: s for s in store.source_states([s.id for s in chosen])}
    history_start = since - HISTORY_WEEKS * WEEK
    with store.engine.connect() as conn:
        counts = conn.execute(
            sa.select(item_sources.c.source_id,
                      sa.func.sum(sa.case((item_sources.c.first_seen >= since, 1), else_=0)),
                      sa.func.sum(sa.case((item_sources.c.first_seen < since, 1), else_=0)),
                      sa.func.min(item_sources.c.first_seen))
            .where(item_sources.c.source_id.in_([s.id for s in chosen]),
                   item_sources.c.first_seen >= history_start)
            .group_by(item_sources.c.source_id)).all()
    by_source = {sid: (int(last or 0), int(before or 0), first) for sid, last, before, first in counts}
    summary = Summary(profile=profile, since=since)
    for source in chosen:
        state = states.get(source.id)
        last, before, first = by_source.get(source.id, (0, 0, None))
        weeks = 0.0
        if first is not None and first < since:
            weeks = max(1.0, min(float(HISTORY_WEEKS), (since - first) / WEEK))
        failing = state is not None and state.consecutive_failures > 0
        warning = state.last_warning if state is not None and source.kind == "spider" else None
        summary.sources.append(SourceHealth(
            id=source.id, name=source.label, last_week=last, usual=before / weeks if weeks else 0.0,
            error=state.last_error if failing and state else None,
            failures=state.consecutive_failures if state else 0, selector_warning=warning))
    return summary


def build_email(summary: Summary, sender: str) -> EmailMessage:
    message = EmailMessage()
    problems = len(summary.failing) + len(summary.quiet) + len(summary.selectors) + len(summary.skipped)
    verdict = "all healthy" if not problems else f"{problems} to look at"
    message["Subject"] = f"Awareness source health: {summary.profile.name} ({verdict})"
    message["From"] = sender
    message["To"] = summary.profile.owner
    message["Date"] = format_datetime(utcnow())
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(summary.text())
    return message


def send_summaries(ctx: object, *, now: datetime | None = None) -> int:
    """Email each profile's owner their summary; returns how many went. A failure is logged, never raised."""
    store: Store = ctx.store  # type: ignore[attr-defined]
    settings = ctx.settings  # type: ignore[attr-defined]
    sent = 0
    transport = None
    try:
        for profile in ctx.profiles:  # type: ignore[attr-defined]
            if "@" not in (profile.owner or ""):
                continue
            summary = summarise(store, profile, ctx.sources, now=now)  # type: ignore[attr-defined]
            summary.skipped = [str(e) for e in getattr(ctx, "source_problems", [])]
            message = build_email(summary, settings.sender)
            try:
                transport = transport or open_transport(settings)
                transport.send(message)
            except DeliveryError as e:
                logs.event("health_summary", logging.ERROR, profile=profile.id, outcome="failed", error=str(e))
                continue
            logs.event("health_summary", profile=profile.id, outcome="sent")
            sent += 1
    finally:
        if transport is not None:
            transport.close()
    return sent
