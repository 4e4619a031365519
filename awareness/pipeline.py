"""The pipeline, top to bottom: read this module first.

    refresh_due()          which sources are due -> refresh_sources()
    refresh_sources()      fetch (conditional GET) -> parse/normalise -> store
    match_recent()         score recent items against every profile's topics
    send_due_bulletins()   compose each subscriber's bulletin -> deliver -> ledger
    run()                  all of the above, as `awareness run` does

The CLI, the scheduler and the web app call these functions and nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .deliver import archive, refusals
from .core import diskfull, logs
from .store import lastgood, locks
from .match import matchpool
from .gather import parsepool
from .deliver.bulletin import Bulletin, Composer, Links, Rendered, build_bulletin
from .match.feedback import matcher_for
from .match.place import local_finders
from .config.settings import Settings
from .gather.crawl import crawl_due
from .gather.enrich import enrich_new_items, for_matching
from .deliver.transport import Transport, build_message, open_transport, send_with_retry
from .core.errors import DeliveryError, ProfileError, SourceError, SourcesError, UnknownName
from .gather.fetch import FetchRequest, fetch_all
from .core.models import FetchResult, Match, Profile, Source, StoredItem
from .gather.parse import ParsedFeed, parse_feed
from .deliver.personalise import LinkPersonaliser
from .config.profiles import check_profiles, cron_trigger, profile_sources
from .gather.progress import GatherProgress
from .config.sources import load_sources, usable_sources  # noqa: F401 - load_sources: kept for callers
from .store.store import Store
from .store.schema import utcnow
from .deliver.subscriptions import chosen_topics, subscriber_key, subscriber_keys
from .deliver.tokens import Signer

logger = logging.getLogger(__name__)

# Set on SIGTERM (issue 5): the message being sent finishes and is recorded, nothing further starts.
STOP = threading.Event()


# ---------------------------------------------------------------- reports

@dataclass
class GatherReport:
    sources: int = 0
    fetched: int = 0
    unchanged: int = 0
    failed: int = 0
    new_items: int = 0
    errors: dict[str, str] = field(default_factory=dict)   # source id -> what went wrong
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)   # source id -> outcome, new, error


@dataclass
class ProfileReport:
    profile_id: str
    name: str
    due: bool = True
    sent: int = 0
    failed: int = 0
    refused: int = 0                # of the failed: refused for good (5xx), never retried
    items: int = 0                  # distinct items sent across subscribers
    note: str = ""
    errors: list[str] = field(default_factory=list)
    outputs: list[Rendered] = field(default_factory=list)   # filled on dry runs only
    matched: int = 0                # items matched in the lookback window, before "already sent"
    crashed: bool = False           # this profile's run broke off with an unexpected error; the others went on
    would_send: list[tuple[str, Bulletin]] = field(default_factory=list)   # dry runs: (address, bulletin)


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


# ---------------------------------------------------------------- context

@dataclass
class Context:
    """What every stage needs, loaded once per command."""

    settings: Settings
    store: Store
    sources: list[Source]
    profiles: list[Profile]
    composer: Composer
    signer: Signer
    profile_errors: list[ProfileError] = field(default_factory=list)   # bad files, skipped this run
    source_problems: list[SourcesError] = field(default_factory=list)  # bad sources.yaml entries, skipped

    @property
    def source_names(self) -> dict[str, str]:
        return {s.id: s.label for s in self.sources}

    def profile(self, profile_id: str) -> Profile:
        for p in self.profiles:
            if p.id == profile_id:
                return p
        known = ", ".join(p.id for p in self.profiles) or "none"
        raise UnknownName(f"no profile '{profile_id}' in {self.settings.profiles} (profiles: {known})")

    def close(self) -> None:
        self.store.close()


def open_context(settings: Settings, *, template_dirs: list[Path] | None = None) -> Context:
    """Load sources and profiles and open the store.

    A profile with errors is reported and left out; the other teams' bulletins
    still go.  Likewise a bad entry in sources.yaml (malformed, or a private
    address the fetch guard refuses) is reported and the other sources are
    gathered; only a sources.yaml that cannot be read at all stops everything.
    """
    sources, source_problems = usable_sources(settings.sources, fetch_allow=settings.fetch_allow)
    for skipped in source_problems:
        logger.error("source skipped: %s", skipped)
    if not settings.profiles.is_dir():
        raise ProfileError(str(settings.profiles), None, "the profiles folder does not exist; "
                           "create it and add one YAML file per team (see README)")
    profiles, problems = check_profiles([settings.profiles], sources)
    profiles = [p if "timezone" in p.model_fields_set else p.model_copy(update={"timezone": settings.timezone})
                for p in profiles]   # the config's default time zone (issue 5)
    for problem in problems:
        logger.error("profile skipped: %s", problem)
    store = Store(settings.database_url)
    store.sync_sources(sources)
    profiles, problems = lastgood.keep_last_good(store, profiles, problems, sources,   # a broken edit keeps
                                                 default_timezone=settings.timezone)  # the last good version
    return Context(settings=settings, store=store, sources=sources, profiles=profiles,
                   composer=Composer(template_dirs), signer=Signer(settings.ensure_secret_key()),
                   profile_errors=problems, source_problems=source_problems)


# ---------------------------------------------------------------- gather

def refresh_due(ctx: Context, *, now: datetime | None = None, force: bool = False,
                only: list[str] | None = None, progress: GatherProgress | None = None) -> GatherReport:
    """Refresh feed sources whose next check has come (all of them with force, bar Retry-After)."""
    now = now or utcnow()
    states = {s.id: s for s in ctx.store.source_states()}
    due = []
    for source in ctx.sources:
        if only is not None and source.id not in only:
            continue
        if source.kind != "feed":
            logger.debug("%s is a %s source; spider sources are not gathered by the feed reader", source.id,
                         source.kind)
            continue
        state = states.get(source.id)
        if state and state.retry_until and state.retry_until > now:
            logger.info("%s asked us to wait until %s (Retry-After); skipped", source.id, state.retry_until)
            continue
        if force or state is None or state.next_check is None or state.next_check <= now:
            due.append(source)
    return refresh_sources(ctx, due, now=now, progress=progress)


def refresh_sources(ctx: Context, chosen: list[Source], *, now: datetime | None = None,
                    progress: GatherProgress | None = None) -> GatherReport:
    """Fetch, parse and store each source; a failing source never stops the others."""
    now = now or utcnow()
    report = GatherReport(sources=len(chosen))
    if not chosen:
        return report
    states = {s.id: s for s in ctx.store.source_states(s.id for s in chosen)}
    by_id = {s.id: s for s in chosen}
    requests = [FetchRequest(source_id=s.id, url=states[s.id].fetch_url, etag=states[s.id].etag,
                             last_modified=states[s.id].last_modified) for s in chosen]
    progress = progress or GatherProgress(len(requests))
    pool = parsepool.open_pool(len(requests))    # parse on the other cores while fetching (issue 7)
    parsing: dict[Future[Any], tuple[FetchRequest, FetchResult]] = {}
    disk_full: list[BaseException] = []        # the disk, not the source, is at fault: raised at the end

    def handle(request: FetchRequest, result: FetchResult | Exception) -> None:
        if pool is not None and isinstance(result, FetchResult) and not result.not_modified:
            parsing[pool.submit(parsepool.parse_job, request.source_id, result.final_url or result.url,
                                result.content or b"", result.content_type, now)] = (request, result)
            drain([f for f in parsing if f.done()])
            return
        finish(request, result, None)

    def drain(futures: Iterable[Future[Any]]) -> None:
        for future in futures:
            request, result = parsing.pop(future)
            finish(request, result, future.result())

    def finish(request: FetchRequest, result: FetchResult | Exception,
               parsed: ParsedFeed | parsepool.Failed | None) -> None:
        source = by_id[request.source_id]
        try:
            if isinstance(result, Exception):
                raise result
            new = _store_result(ctx, source, result, now=now, report=report, parsed=parsed)
        except SourceError as e:
            _note_failure(ctx, source, e.problem, now, report, e.retry_after, e.permanent)
            progress.source_done(source.id, error=e.problem)
            logs.source_fetched(source.id, outcome="failed", error=e.problem)
        except Exception as e:  # one bad source must never stop the others
            if diskfull.is_disk_full(e):
                disk_full.append(e)         # nothing stored, the source's state untouched: fetched again next run
                return
            logger.exception("unexpected error while storing %s", source.id)
            message = f"internal error: {type(e).__name__}: {e}"
            _note_failure(ctx, source, message, now, report)
            progress.source_done(source.id, error=message)
            logs.source_fetched(source.id, outcome="failed", error=message)
        else:
            report.outcomes[source.id] = {"outcome": "unchanged" if result.not_modified else "ok", "new": new}
            progress.source_done(source.id, new=new, unchanged=result.not_modified)
            logs.source_fetched(source.id, outcome="unchanged" if result.not_modified else "ok", new=new,
                                duration_s=result.elapsed_s)

    try:
        fetch_all(requests, ctx.settings, on_result=handle)
        drain(as_completed(list(parsing)))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        progress.close()
    if disk_full:
        raise disk_full[0]
    return report


def _note_failure(ctx: Context, source: Source, message: str, now: datetime, report: GatherReport,
                  retry_after: float | None = None, permanent: bool = False) -> None:
    """Record the error on the source; the next check backs off, earlier items stay."""
    report.failed += 1
    report.errors[source.id] = message
    report.outcomes[source.id] = {"outcome": "failed", "new": 0, "error": message}
    ctx.store.record_failure(source.id, now=now, every=source.every, error=message,
                             retry_after=retry_after, permanent=permanent)


def _store_result(ctx: Context, source: Source, result: FetchResult, *, now: datetime,
                  report: GatherReport, parsed: ParsedFeed | parsepool.Failed | None = None) -> int:
    moved = result.final_url if result.permanent_redirect and result.final_url else None
    if moved:
        logger.info("%s has moved permanently to %s; update sources.yaml when convenient", source.id, moved)
    if result.not_modified:
        report.unchanged += 1
        ctx.store.record_success(source.id, now=now, every=source.every, etag=None, last_modified=None,
                                 new_url=moved, unchanged=True)   # a 304 keeps the warning of the body it stands for
        return 0
    if isinstance(parsed, parsepool.Failed):   # parsed in a worker process
        raise parsed.error(source.id, result.final_url or result.url)
    if parsed is None:
        parsed = parse_feed(source.id, result.final_url or result.url, result.content or b"",
                            content_type=result.content_type, now=now)
    for warning in parsed.warnings:
        logger.info("%s: %s", source.id, warning)
    added = ctx.store.add_items(source.id, parsed.items, now=now)
    ctx.store.record_success(source.id, now=now, every=source.every, etag=result.etag,
                             last_modified=result.last_modified, new_url=moved,
                             warning="; ".join(parsed.warnings) or None)
    report.fetched += 1
    report.new_items += len(added.new)
    return len(added.new)


# ---------------------------------------------------------------- match

MATCH_SLICE = 1000   # items scored and stored at a time


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
    matcher = matcher_for(ctx.store, ctx.profiles, recent)      # feedback moves topics (issue 4)
    finders, found = local_finders(ctx.profiles), 0
    # In slices, so memory stays bounded at national scale: scores are items x topics;
    # many slices are scored in worker processes while this one stores (issue 7).
    for chunk, matches in matchpool.score_in_slices(matcher, recent, finders, MATCH_SLICE):
        ctx.store.replace_matches([i.id for i in chunk], matches)
        found += len(matches)
    logger.info("matched %d items against %d profiles: %d matches", len(recent), len(ctx.profiles), found)
    return found


# ---------------------------------------------------------------- compose and deliver

def is_due(ctx: Context, profile: Profile, now: datetime) -> bool:
    """Due when the profile's schedule has fired since its last complete send,
    or when an earlier attempt left a subscriber unserved (the mail server was down)."""
    if ctx.store.has_pending_retry(profile.id):
        return True
    last = ctx.store.last_complete(profile.id)
    if last is None:
        return True
    next_fire = cron_trigger(profile.schedule, profile.timezone).get_next_fire_time(None, last)
    return next_fire is not None and next_fire <= now


def compose_for(ctx: Context, profile: Profile, subscriber_id: int, *, now: datetime,
                cache: dict[Any, Any] | None = None) -> Bulletin | None:
    """The bulletin this subscriber should get now: matched, in the window, not sent before.

    ``cache`` (a fresh dict per profile and run) lets the profile's subscribers share
    its candidates and, when they would get the same items, the bulletin itself.
    """
    start = now - timedelta(days=profile.lookback_days)
    shared = None if cache is None else cache.get("matched")
    if shared is None:
        chosen = [s.id for s in profile_sources(profile, ctx.sources)]
        window = None if cache is None else cache.setdefault("items", {})   # shared by the run's profiles
        candidates = None if window is None else window.get((start, tuple(chosen)))
        if candidates is None:
            candidates = ctx.store.items_since(start, source_ids=chosen)
            if window is not None:
                window[(start, tuple(chosen))] = candidates
        verdicts = ctx.store.matches_for([i.id for i in candidates], profile.id)
        shared = [(i, verdicts[i.id]) for i in candidates if verdicts.get(i.id)]
        if cache is not None:
            cache["matched"], cache["ids"] = shared, {i.id for i, _ in shared}
    already = ctx.store.delivered_item_ids(profile.id, subscriber_id)
    already |= refusals.refused_item_ids(ctx.store, profile.id, subscriber_id)   # a 5xx is not retried
    wanted = chosen_topics(ctx.store, subscriber_id)   # a web subscriber's topic choice; empty: all
    key = None if cache is None else (frozenset(already & cache["ids"]), frozenset(wanted))
    if key is not None and key in cache:
        return cache[key]
    bulletin = bulletin_from(ctx, profile, shared, already=already, now=now, wanted=wanted)
    if key is not None:
        cache[key] = bulletin
    return bulletin


def bulletin_from(ctx: Context, profile: Profile, scored: list[tuple[StoredItem, list[Match]]], *,
                  already: set[int], now: datetime, wanted: Iterable[str] = ()) -> Bulletin | None:
    """The one rule for what a profile's next bulletin holds (issue 17): real runs, dry runs and previews.

    From items with their matches: only those inside ``lookback_days``, from the profile's
    ``sources:``, not ``already`` sent, under the ``wanted`` topics (empty: all); then each
    item once under its best topic and the best ``max_items`` (build_bulletin).
    """
    start = now - timedelta(days=profile.lookback_days)
    chosen = {s.id for s in profile_sources(profile, ctx.sources)}
    wanted = set(wanted)
    matched = [(i, [m for m in ms if m.topic_id in wanted] if wanted else ms) for i, ms in scored
               if i.id not in already and i.published >= start and chosen.intersection(i.sources)]
    matched = [(i, ms) for i, ms in matched if ms]
    return build_bulletin(profile, matched, ctx.source_names, start, now) if matched else None


def links_for(ctx: Context, profile: Profile, subscriber_id: int, page_id: int | None = None,
              key: str | None = None) -> Links:
    """Per-subscriber links to the web app, signed so that they carry no email address.

    ``page_id`` is the bulletin's archived web version ("view in browser"); ``key`` the
    subscriber's link key (read from the store when not given).
    """
    base = ctx.settings.base_url.rstrip("/")
    if key is None:
        key = subscriber_key(ctx.store, subscriber_id)
    token = ctx.signer.unsubscribe_token(profile.id, subscriber_id, key)

    def feedback(item_id: int, verdict: str) -> str:
        return f"{base}/feedback/{ctx.signer.feedback_token(profile.id, subscriber_id, item_id, verdict)}"

    return Links(unsubscribe=f"{base}/unsubscribe/{token}", feedback=feedback,
                 view_online=f"{base}/profiles/{profile.id}/bulletins/{page_id}" if page_id else None,
                 manage=f"{base}/manage/{token}")   # every subscription of this address (issue 17)


@dataclass
class _Sending:
    """What one call of send_due_bulletins shares across its profiles."""

    dry_run: bool
    transport: Transport | None = None
    unreachable: DeliveryError | None = None   # once the server cannot be reached, stop knocking
    window_items: dict[Any, Any] = field(default_factory=dict)   # items in a lookback window, loaded once


def send_due_bulletins(ctx: Context, *, now: datetime | None = None, force: bool = False,
                       only_profile: str | None = None, dry_run: bool = False,
                       due_only: bool = False) -> list[ProfileReport]:
    """Send each due profile's bulletin to each subscriber; record each delivery once it is accepted.

    A profile that breaks with an unexpected error is reported (``crashed``) and
    left for the next run; the other profiles' bulletins still go (issue 16).
    A dry run composes exactly what a real run would send and records nothing;
    with ``due_only`` it keeps to the profiles whose schedule has come round.
    """
    now = now or utcnow()
    profiles = [ctx.profile(only_profile)] if only_profile else ctx.profiles
    reports: list[ProfileReport] = []
    sending = _Sending(dry_run=dry_run)
    claims = ExitStack()   # one sender per profile at a time, across processes (issue 5)
    try:
        for profile in profiles:
            if STOP.is_set():
                break
            report = ProfileReport(profile.id, profile.name)
            reports.append(report)
            if not (force or (dry_run and not due_only) or is_due(ctx, profile, now)):
                report.due = False
                report.note = "not due"
                continue
            if not dry_run and not claims.enter_context(locks.profile_claim(ctx.store, profile.id)):
                report.note = "another run is sending this bulletin now; left to it"
                logger.warning("%s: another run is sending this bulletin now; left to it", profile.id)
                continue
            try:
                _send_profile(ctx, profile, report, sending, now)
            except Exception as e:  # one broken profile must never stop the others
                logger.exception("%s: its bulletin could not be made; the other profiles go on", profile.id)
                report.crashed = True
                report.errors.append(f"could not make this bulletin ({type(e).__name__}: {e}); nothing more was "
                                     "sent for it and the next run tries again")
                if not dry_run:
                    ctx.store.mark_pending_retry(profile.id)
    finally:
        claims.close()
        if sending.transport is not None:
            sending.transport.close()
    return reports


def _send_profile(ctx: Context, profile: Profile, report: ProfileReport, sending: _Sending, now: datetime) -> None:
    """One profile's bulletins: compose per subscriber, deliver, record (or, on a dry run, list)."""
    dry_run = sending.dry_run
    ids = ctx.store.sync_subscribers(profile.id, profile.subscribers, now=now)   # + web subscribers
    if not ids:
        report.note = "no subscribers"
        logger.info("%s has no subscribers; nothing to send", profile.id)
        if not dry_run:
            ctx.store.mark_complete(profile.id, now)
        return
    sent_items: set[int] = set()
    # Render each distinct bulletin once, personalise its links per subscriber (issue 7).
    composed: dict[Any, Any] = {"items": sending.window_items}
    pages: dict[int, int] = {}
    personaliser = LinkPersonaliser(ctx.composer)
    keys = subscriber_keys(ctx.store, profile.id)
    for address, subscriber_id in ids.items():
        if STOP.is_set() and not dry_run:
            report.note = "stopped before every subscriber was served; the next run sends the rest"
            break
        bulletin = compose_for(ctx, profile, subscriber_id, now=now, cache=composed)
        report.matched = len(composed.get("matched") or [])
        if bulletin is None:
            continue
        if not dry_run and id(bulletin) not in pages:   # same items, same page
            pages[id(bulletin)] = archive.save_page(ctx.store, bulletin, now=now)
        page_id = None if dry_run else pages[id(bulletin)]
        links = links_for(ctx, profile, subscriber_id, page_id, keys.get(subscriber_id, ""))
        rendered = personaliser.render(bulletin, links)
        if dry_run:
            report.outputs.append(rendered)
            report.would_send.append((address, bulletin))
            sent_items.update(bulletin.item_ids)
            continue
        if sending.transport is None:
            sending.transport = open_transport(ctx.settings)
            _warn_about_links(ctx.settings)
        try:
            if sending.unreachable is not None:
                raise sending.unreachable
            _deliver(ctx, sending.transport, profile, address, subscriber_id, bulletin, rendered, links, now)
        except DeliveryError as e:
            report.failed += 1
            report.errors.append(f"{address}: {e}")
            if e.fate == "refused":   # permanent: marked, reported, never sent again
                report.refused += 1
                refusals.record_refusal(ctx.store, profile_id=profile.id, subscriber_id=subscriber_id,
                                        item_ids=bulletin.item_ids, reason=str(e), now=now)
            if e is not sending.unreachable:
                logs.message_failed(profile_id=profile.id, subscriber_id=subscriber_id, error=str(e))
            if e.unreachable:
                sending.unreachable = e
            continue
        if page_id is not None:
            archive.mark_sent(ctx.store, page_id, now=now)
        report.sent += 1
        sent_items.update(bulletin.item_ids)
    report.items = len(sent_items)
    if not sent_items and not report.failed:
        report.note = "no new items; nothing sent"
        logger.info("%s: no new items since the last bulletin; nothing sent", profile.id)
    if dry_run:
        return
    if report.failed or STOP.is_set():
        ctx.store.mark_pending_retry(profile.id)
    else:
        ctx.store.mark_complete(profile.id, now)


def _warn_about_links(settings: Settings) -> None:
    if settings.smtp_url and not settings.base_url.startswith("https://"):
        logger.warning("base_url is %s: unsubscribe links in these emails will not work for readers; "
                       "set base_url to the public https address of the Awareness web app", settings.base_url)


def _deliver(ctx: Context, transport: Transport, profile: Profile, address: str, subscriber_id: int,
             bulletin: Bulletin, rendered: Rendered, links: Links, now: datetime) -> None:
    settings = ctx.settings
    sender_address = parseaddr(settings.sender)[1]
    domain = sender_address.rpartition("@")[2] or (urlsplit(settings.base_url).hostname or "localhost")
    message = build_message(
        rendered=rendered, sender=settings.sender, to=address, profile=profile, list_domain=domain,
        unsubscribe_url=links.unsubscribe,
        unsubscribe_mailto=f"mailto:{sender_address}?subject={quote('unsubscribe ' + profile.id)}",
        message_id_domain=domain)
    send_with_retry(transport, message, retry_for=settings.smtp_retry_for, wait=STOP.wait)   # 4xx, down: backoff
    ctx.store.record_delivery(profile_id=profile.id, subscriber_id=subscriber_id, item_ids=bulletin.item_ids,
                              message_id=str(message["Message-ID"]), subject=rendered.subject, now=now)
    logs.message_sent(profile_id=profile.id, subscriber_id=subscriber_id, items=len(bulletin.item_ids),
                      message_id=str(message["Message-ID"]))


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
