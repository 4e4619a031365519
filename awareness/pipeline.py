"""The pipeline, top to bottom: read this module first.

    open_context()         the settings, the store, the sources and profiles in force (context.py)
    refresh_due()          which feeds are due (gather/due.py) -> refresh_sources()
    refresh_sources()      fetch (conditional GET) -> parse/normalise -> store (gather/feeds.py)
    crawl_due()            the spiders for sites without feeds (gather/crawl.py)
    match_recent()         score recent items against every profile's topics (match/)
    send_due_bulletins()   compose each subscriber's bulletin -> deliver -> ledger (deliver/sending.py)
    run()                  all of the above, as `awareness run` does

The stages (gather, match, deliver) never import each other: they meet here, through the
models.  The CLI, the scheduler and the web app call these functions (and the service's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .context import Context, open_context
from .core.errors import ProfileError, SourcesError, UnknownName
from .core.models import Source
from .core.stopping import STOP
from .deliver import sending
from .deliver.compose import bulletin_from, compose_for, links_for
from .deliver.sending import ProfileReport
from .gather import feeds
from .gather.crawl import crawl_into_store
from .gather.due import due_sources
from .gather.enrich import enrich_new_items, for_matching
from .gather.feeds import GatherReport
from .gather.progress import GatherProgress
from .match import matchpool
from .match.feedback import matcher_for
from .match.place import local_finders
from .store.schema import utcnow

# The run's shapes and rules, where a reader of the run meets them.
__all__ = ["STOP", "Context", "GatherReport", "ProfileReport", "RunReport", "bulletin_from", "compose_for",
           "crawl_due", "gather", "links_for", "match_recent", "open_context", "refresh_due", "refresh_sources",
           "run", "send_due_bulletins"]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- reports

@dataclass
class RunReport:
    gather: GatherReport
    matched: int
    profiles: list[ProfileReport]
    profile_errors: list[ProfileError] = field(default_factory=list)
    stopped: bool = False           # ended early by SIGTERM; the rest goes on the next run
    source_problems: list[SourcesError] = field(default_factory=list)   # entries skipped (issue 16)

    @property
    def ok(self) -> bool:
        return not self.profile_errors and not any(p.failed or p.crashed for p in self.profiles)


# ---------------------------------------------------------------- gather

def refresh_due(ctx: Context, *, now: datetime | None = None, force: bool = False,
                only: list[str] | None = None, progress: GatherProgress | None = None) -> GatherReport:
    """Refresh feed sources whose next check has come (all of them with force, bar Retry-After)."""
    now = now or utcnow()
    chosen = due_sources(ctx.sources, ctx.store.source_states(), now, kind="feed", force=force, only=only)
    return refresh_sources(ctx, chosen, now=now, progress=progress)


def refresh_sources(ctx: Context, chosen: list[Source], *, now: datetime | None = None,
                    progress: GatherProgress | None = None) -> GatherReport:
    """Fetch, parse and store each of these feeds; a failing source never stops the others."""
    return feeds.refresh_sources(ctx.store, ctx.settings, chosen, now=now, progress=progress)


def crawl_due(ctx: Context, *, now: datetime | None = None, force: bool = False, only: list[str] | None = None,
              report: GatherReport | None = None) -> GatherReport:
    """Crawl the spider sources that are due (all of them with force, bar Retry-After)."""
    now = now or utcnow()
    chosen = due_sources(ctx.sources, ctx.store.source_states(), now, kind="spider", force=force, only=only)
    return crawl_into_store(ctx.store, ctx.settings, chosen, now=now, report=report)


def gather(ctx: Context, chosen: list[Source], *, now: datetime | None = None,
           progress: GatherProgress | None = None) -> GatherReport:
    """Fetch these feeds, crawl these spiders, enrich what is new (the scheduler's gathering)."""
    now = now or utcnow()
    gathered = refresh_sources(ctx, [s for s in chosen if s.kind == "feed"], now=now, progress=progress)
    spiders = [s for s in chosen if s.kind == "spider"]
    if spiders and not STOP.is_set():
        crawl_into_store(ctx.store, ctx.settings, spiders, now=now, report=gathered)
    if chosen and not STOP.is_set():
        enrich_new_items(ctx.store, ctx.settings, now=now)
    return gathered


# ---------------------------------------------------------------- match

def match_recent(ctx: Context, *, now: datetime | None = None) -> int:
    """Score every item inside the longest lookback against every topic; returns matches stored.

    Re-scoring the whole window (not only new items) means a librarian's edit
    to a profile applies to everything still eligible for the next bulletin.
    """
    now = now or utcnow()
    if not ctx.profiles:
        return 0
    window = max(p.lookback_days for p in ctx.profiles)
    recent = for_matching(ctx.store, ctx.store.items_since(now - timedelta(days=window)))   # + full text
    if not recent:
        return 0
    matcher = matcher_for(ctx.store, ctx.profiles, recent,      # feedback moves topics (issue 4)
                          semantic=ctx.settings.semantic_matching)
    finders, found = local_finders(ctx.profiles), 0
    # In slices, so memory stays bounded at national scale: scores are items x topics;
    # many slices are scored in worker processes while this one stores (issue 7).
    size = matchpool.match_slice(sum(len(p.topics) for p in ctx.profiles))
    for chunk, matches in matchpool.score_in_slices(matcher, recent, finders, size, encoded=True):
        ctx.store.replace_matches([i.id for i in chunk], matches)
        found += len(matches)
    logger.info("matched %d items against %d profiles: %d matches", len(recent), len(ctx.profiles), found)
    return found


# ---------------------------------------------------------------- compose and deliver

def send_due_bulletins(ctx: Context, *, now: datetime | None = None, force: bool = False,
                       only_profile: str | None = None, dry_run: bool = False,
                       due_only: bool = False, readers_only: bool = False) -> list[ProfileReport]:
    """Send each due profile's bulletin to each subscriber; record each delivery once it is accepted
    (deliver/sending.py: compose, archive, personalise, send, ledger; readers' own frequencies,
    the profile's webhooks). ``readers_only``: only readers whose own frequency has come round."""
    return sending.send_due_bulletins(ctx, now=now, force=force, only_profile=only_profile, dry_run=dry_run,
                                      due_only=due_only, readers_only=readers_only)


# ---------------------------------------------------------------- run

def run(ctx: Context, *, now: datetime | None = None, force: bool = False, profile: str | None = None,
        source: str | None = None, progress: GatherProgress | None = None, dry_run: bool = False) -> RunReport:
    """Gather -> match -> send what is due (everything, with force: the admin's ad hoc run).

    ``dry_run`` gathers and matches for real but sends nothing and marks nothing
    sent: each ProfileReport's ``would_send`` says what would go to whom.
    """
    now = now or utcnow()
    if profile:
        ctx.profile(profile)  # fail early on a typo, before any fetching
    only = [source] if source else None
    if source and source not in {s.id for s in ctx.sources}:
        raise UnknownName(f"no source '{source}' in {ctx.settings.sources}")
    gathered = refresh_due(ctx, now=now, force=force, only=only, progress=progress)
    crawl_due(ctx, now=now, force=force, only=only, report=gathered)      # spider sources (issue 3)
    enrich_new_items(ctx.store, ctx.settings, now=now)                    # full text, type, organisation
    if STOP.is_set():
        return RunReport(gather=gathered, matched=0, profiles=[], profile_errors=ctx.profile_errors, stopped=True,
                         source_problems=ctx.source_problems)
    matched = match_recent(ctx, now=now)
    sent = send_due_bulletins(ctx, now=now, force=force, only_profile=profile, dry_run=dry_run, due_only=True)
    return RunReport(gather=gathered, matched=matched, profiles=sent, profile_errors=ctx.profile_errors,
                     stopped=STOP.is_set(), source_problems=ctx.source_problems)
