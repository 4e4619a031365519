"""Deliver: each due profile's bulletin for each subscriber (chosen by compose.py), archived,
personalised, sent, and written in the ledger once the mail server accepts it.

A profile that breaks is reported and left for the next run; the others still go.  What a
run needs of its context is the ``Run`` protocol below (the pipeline's Context is one), so this
stage knows nothing of the pipeline above it.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent import futures
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

from . import archive, frequency, refusals, webhook
from .bulletin import Bulletin, Composer, Rendered
from .personalise import LinkPersonaliser
from .compose import bulletin_from, compose_for, links_for
from .subscriptions import subscriber_keys
from .tokens import Signer
from .parallel import ParallelSender, open_sender
from .message import bulletin_message
from ..config.schedule import cron_trigger
from ..config.settings import Settings
from ..core import logs
from ..core.errors import DeliveryError
from ..core.models import Profile, Source
from ..core.stopping import STOP
from ..store import locks
from ..store.schema import utcnow
from ..store.store import Store

logger = logging.getLogger(__name__)

LEDGER_BATCH = 8   # accepted messages to a ledger commit (each commit waits for the disk)


class Run(Protocol):
    """What sending needs of a run's context."""

    settings: Settings
    store: Store
    sources: list[Source]
    profiles: list[Profile]
    composer: Composer
    signer: Signer

    @property
    def source_names(self) -> dict[str, str]: ...

    def profile(self, profile_id: str) -> Profile: ...


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
    posted: int = 0                 # summaries accepted by the profile's Teams/Slack webhooks (issue 17)


def is_due(ctx: Run, profile: Profile, now: datetime) -> bool:
    """Due when the profile's schedule has fired since its last complete send,
    or when an earlier attempt left a subscriber unserved (the mail server was down)."""
    if ctx.store.has_pending_retry(profile.id):
        return True
    last = ctx.store.last_complete(profile.id)
    if last is None:
        return True
    next_fire = cron_trigger(profile.schedule, profile.timezone).get_next_fire_time(None, last)
    return next_fire is not None and next_fire <= now


@dataclass
class _Sending:
    """What one call of send_due_bulletins shares across its profiles."""

    dry_run: bool
    transport: ParallelSender | None = None
    unreachable: DeliveryError | None = None   # once the server cannot be reached, stop knocking
    window_items: dict[Any, Any] = field(default_factory=dict)   # items in a lookback window, loaded once
    answered: bool = False   # the mail server has accepted a message of this run
    accepted: list["_Outgoing"] = field(default_factory=list)   # accepted, not yet in the ledger


def send_due_bulletins(ctx: Run, *, now: datetime | None = None, force: bool = False,
                       only_profile: str | None = None, dry_run: bool = False,
                       due_only: bool = False, readers_only: bool = False) -> list[ProfileReport]:
    """Send each due profile's bulletin to each subscriber; record each delivery once it is accepted.

    A profile that breaks with an unexpected error is reported (``crashed``) and
    left for the next run; the other profiles' bulletins still go (issue 16).
    A dry run composes exactly what a real run would send and records nothing;
    with ``due_only`` it keeps to the profiles whose schedule has come round.
    Readers who chose their own frequency or paused (frequency.py) are served by
    their own schedule; ``readers_only`` serves only them (the scheduler's hourly pass).
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
            profile_due = not readers_only and (force or (dry_run and not due_only) or is_due(ctx, profile, now))
            if not profile_due and not frequency.has_own_schedules(ctx.store, profile.id):
                report.due = False
                report.note = "not due"
                continue
            if not dry_run and not claims.enter_context(locks.profile_claim(ctx.store, profile.id)):
                report.note = "another run is sending this bulletin now; left to it"
                logger.warning("%s: another run is sending this bulletin now; left to it", profile.id)
                continue
            try:
                _send_profile(ctx, profile, report, sending, now, profile_due)
                if profile_due and profile.webhooks:
                    _post_webhooks(ctx, profile, report, now, dry_run)
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


def _send_profile(ctx: Run, profile: Profile, report: ProfileReport, sending: _Sending, now: datetime,
                  profile_due: bool = True) -> None:
    """One profile's bulletins: compose per subscriber, deliver, record (or, on a dry run, list).

    When the profile is not due, only readers with a frequency of their own that has
    come round are served, and the profile's own schedule is left as it was."""
    dry_run = sending.dry_run
    ids = ctx.store.sync_subscribers(profile.id, profile.subscribers, now=now)   # + web subscribers
    if not ids:
        report.note = "no subscribers"
        logger.info("%s has no subscribers; nothing to send", profile.id)
        if not dry_run and profile_due:
            ctx.store.mark_complete(profile.id, now)
        return
    sent_items: set[int] = set()
    plans = frequency.Plans(ctx.store, profile, profile_due=profile_due, now=now)   # paused, daily, weekly...
    # Render each distinct bulletin once, personalise its links per subscriber (issue 7).
    composed_by_plan: dict[str, dict[Any, Any]] = {}
    pages: dict[int, int] = {}
    personaliser = LinkPersonaliser(ctx.composer)
    keys = subscriber_keys(ctx.store, profile.id)
    in_flight: deque[_Outgoing] = deque()
    try:
        for address, subscriber_id in ids.items():
            if STOP.is_set() and not dry_run:
                report.note = "stopped before every subscriber was served; the next run sends the rest"
                break
            plan = plans.for_reader(subscriber_id)
            if plan is None:                  # paused, or their own schedule has not come round
                continue
            composed = composed_by_plan.setdefault(plan.key, {"items": sending.window_items})
            bulletin = compose_for(ctx, plan.profile, subscriber_id, now=now, cache=composed)
            report.matched = max(report.matched, len(composed.get("matched") or []))
            if bulletin is None:
                continue
            if plan.key:
                bulletin.every = plan.every
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
                sending.transport = open_sender(ctx.settings)
                _warn_about_links(ctx.settings)
            if sending.unreachable is not None:
                failed = _Outgoing(address, subscriber_id, bulletin, rendered, None, page_id,
                                   _failed(sending.unreachable))
                _settle(ctx, profile, report, sending, sent_items, now, [failed])
                continue
            message = bulletin_message(ctx.settings, profile, address, rendered, links.unsubscribe)
            in_flight.append(_Outgoing(address, subscriber_id, bulletin, rendered, message, page_id,
                                       sending.transport.submit(message)))
            # Until the server has taken one message, one goes at a time: a server that is down is retried
            # by one connection, not by all of them.  Then keep a few messages per connection in flight; once
            # that many are out, write the ledger for every one the server has accepted, together (SIGTERM
            # still ends with the last settle below).
            if not sending.answered or len(in_flight) >= 2 * sending.transport.connections:
                _settle(ctx, profile, report, sending, sent_items, now, in_flight, wait=True)
    finally:   # whatever broke off the loop, what the server accepted goes in the ledger
        _settle(ctx, profile, report, sending, sent_items, now, in_flight, wait=True, every=True)
    report.items = len(sent_items)
    if not sent_items and not report.failed:
        report.note = "no new items; nothing sent"
        logger.info("%s: no new items since the last bulletin; nothing sent", profile.id)
    if dry_run:
        return
    if report.failed or STOP.is_set():
        ctx.store.mark_pending_retry(profile.id)
    elif profile_due:
        ctx.store.mark_complete(profile.id, now)
    else:
        report.note = report.note or (f"not due; {report.sent} reader(s) with a frequency "
                                      "of their own served")


def _post_webhooks(ctx: Run, profile: Profile, report: ProfileReport, now: datetime, dry_run: bool) -> None:
    """The profile's Teams/Slack webhooks, through their own exactly-once ledger; a failure is retried next run."""
    done = webhook.post_for_profile(ctx, profile, now=now, dry_run=dry_run, compose=lambda scored, already:
                                    bulletin_from(ctx, profile, scored, already=already, now=now))
    report.would_send.extend(done.would_post)
    report.posted += done.posted
    if done.errors:
        report.failed += len(done.errors)
        report.errors.extend(done.errors)
        ctx.store.mark_pending_retry(profile.id)


def _warn_about_links(settings: Settings) -> None:
    if settings.smtp_url and not settings.base_url.startswith("https://"):
        logger.warning("base_url is %s: unsubscribe links in these emails will not work for readers; "
                       "set base_url to the public https address of the Awareness web app", settings.base_url)


@dataclass
class _Outgoing:
    """A message handed to the sender, until the ledger has it (or its failure is reported)."""

    address: str
    subscriber_id: int
    bulletin: Bulletin
    rendered: Rendered
    message: EmailMessage | None
    page_id: int | None
    done: Future[None]


def _failed(error: DeliveryError) -> Future[None]:
    done: Future[None] = Future()
    done.set_exception(error)
    return done


def _settle(ctx: Run, profile: Profile, report: ProfileReport, sending: _Sending, sent_items: set[int],
            now: datetime, in_flight: "deque[_Outgoing] | list[_Outgoing]", *, wait: bool = False,
            every: bool = False) -> None:
    """Take every finished message off ``in_flight``: each failure is reported and kept as before,
    the accepted ones go in the ledger together, LEDGER_BATCH to a commit.

    ``wait`` waits until at least one has finished; ``every`` until all have, and writes the
    ledger (the end of a profile).  It never waits while it holds an accepted message the
    ledger lacks: a run killed while the server sits on one message has recorded every other.
    """
    queue = in_flight if isinstance(in_flight, deque) else deque(in_flight)
    while True:
        finished = [out for out in queue if out.done.done()]
        for out in finished:
            queue.remove(out)
        _take(ctx, profile, report, sending, out_list=finished, now=now)
        if finished:
            wait = every
        waiting = bool(queue) and wait
        if len(sending.accepted) >= LEDGER_BATCH or (sending.accepted and (waiting or every)):
            _write_ledger(ctx, profile, report, sending, sent_items, now)
        if not waiting:
            return
        futures.wait([out.done for out in queue], return_when=futures.FIRST_COMPLETED)


def _take(ctx: Run, profile: Profile, report: ProfileReport, sending: _Sending, *, out_list: list[_Outgoing],
          now: datetime) -> None:
    """Finished messages, in the order they were handed over: failures reported, the accepted held."""
    for out in out_list:
        try:
            out.done.result()
        except DeliveryError as e:
            _record_failure(ctx, profile, report, sending, out, e, now)
            continue
        sending.accepted.append(out)
        sending.answered = True


def _write_ledger(ctx: Run, profile: Profile, report: ProfileReport, sending: _Sending, sent_items: set[int],
                  now: datetime) -> None:
    """The accepted messages held, in one commit with their web versions' first sending."""
    accepted, sending.accepted = sending.accepted, []
    ctx.store.record_deliveries([dict(
        profile_id=profile.id, subscriber_id=out.subscriber_id, item_ids=out.bulletin.item_ids,
        message_id=str(out.message["Message-ID"]) if out.message is not None else "", subject=out.rendered.subject,
        page_id=out.page_id) for out in accepted], now=now)
    for out in accepted:
        report.sent += 1
        sent_items.update(out.bulletin.item_ids)
        logs.message_sent(profile_id=profile.id, subscriber_id=out.subscriber_id, items=len(out.bulletin.item_ids),
                          message_id=str(out.message["Message-ID"]) if out.message is not None else "")


def _record_failure(ctx: Run, profile: Profile, report: ProfileReport, sending: _Sending, out: _Outgoing,
                    e: DeliveryError, now: datetime) -> None:
    report.failed += 1
    report.errors.append(f"{out.address}: {e}")
    if e.fate == "refused":   # permanent: marked, reported, never sent again
        report.refused += 1
        refusals.record_refusal(ctx.store, profile_id=profile.id, subscriber_id=out.subscriber_id,
                                item_ids=out.bulletin.item_ids, reason=str(e), now=now)
    if e is not sending.unreachable:
        logs.message_failed(profile_id=profile.id, subscriber_id=out.subscriber_id, error=str(e))
    if e.unreachable and sending.unreachable is None:
        sending.unreachable = e
