"""Post each profile's bulletin summary to its Teams or Slack webhooks, each item exactly once.

A profile file lists them::

    webhooks:
      - url: https://example.webhook.office.com/...
        format: teams          # or slack

Like email, a webhook has a ledger (``webhook_posts``): an item is recorded for a
webhook only after the channel answered 2xx, so a webhook that fails posts the
same items on the next run, and one that worked never gets them again.  The
fetch guard's rules apply (netguard): a private or loopback address is refused
unless ``fetch_allow`` names it, and the connection goes to the checked address.
The URL is a secret, so only its host appears in logs and errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa

from . import archive
from .bulletin import Bulletin
from .webhook_formats import payload
from ..config.profiles import profile_sources
from ..config.settings import Settings
from ..core import netguard
from ..core.lazy import httpx  # loaded when the first webhook is posted (issue 19)
from ..core.errors import DeliveryError
from ..core.models import Profile, Source, Webhook
from ..core.pinned import Pins, pinned_transport
from ..store.schema import webhook_posts
from ..store.store import Store

logger = logging.getLogger(__name__)

TIMEOUT = 20.0
RETRY_HINT = "nothing was marked posted; the next run posts it again"


@dataclass
class WebhookReport:
    posted: int = 0                                  # webhook messages accepted
    errors: list[str] = field(default_factory=list)
    would_post: list[tuple[str, Bulletin]] = field(default_factory=list)   # dry runs: (which webhook, bulletin)


def shown(url: str) -> str:
    """The webhook as logs and errors may show it: scheme and host, never the secret path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def hook_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ the ledger

def posted_ids(store: Store, profile_id: str, url: str) -> set[int]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(webhook_posts.c.item_id).where(
            webhook_posts.c.profile_id == profile_id, webhook_posts.c.hook == hook_key(url))).scalars())


def record_posted(store: Store, profile_id: str, url: str, item_ids: list[int], now: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(webhook_posts.insert(), [dict(profile_id=profile_id, hook=hook_key(url), item_id=i,
                                                   posted_at=now) for i in item_ids])


# ------------------------------------------------------------------ posting

def post(settings: Settings, url: str, body: bytes) -> None:
    """POST the JSON body; DeliveryError (with ``fate``) unless the channel answered 2xx."""
    try:
        addresses = netguard.check_url(url, allow_networks=settings.allowed_networks(),
                                       allow_hosts=settings.allowed_hosts())
    except netguard.BlockedAddress as e:
        raise DeliveryError(f"the webhook {shown(url)} was refused: {e}") from None
    except netguard.HostNotFound as e:
        raise DeliveryError(f"the webhook {shown(url)} could not be reached: {e} — {RETRY_HINT}") from None
    host = httpx.URL(url).raw_host.decode("ascii").lower()
    asyncio.run(_post(settings, url, body, {host: addresses}))


async def _post(settings: Settings, url: str, body: bytes, pins: Pins) -> None:
    transport = pinned_transport(httpx.Limits(max_connections=1), pins)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": settings.user_agent}
    async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT, follow_redirects=False) as client:
        try:
            response = await client.post(url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise DeliveryError(f"could not connect to the webhook {shown(url)} ({type(e).__name__}) "
                                f"— {RETRY_HINT}", temporary=True) from e
        except httpx.HTTPError as e:
            # The request may have gone out: posting again could show the summary twice.
            raise DeliveryError(f"the webhook {shown(url)} did not answer ({type(e).__name__}); the summary "
                                "may or may not have been posted, and it is not posted again", fate="unknown") from e
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"the webhook {shown(url)} answered {response.status_code} "
                            f"{response.text[:200].strip()!r} — {RETRY_HINT}", temporary=True)


class RunParts(Protocol):
    """What posting needs of a run's context (the pipeline's Context is one)."""

    settings: Settings
    store: Store
    sources: list[Source]


def post_for_profile(ctx: RunParts, profile: Profile, *, now: datetime,
                     compose: Callable[[list[Any], set[int]], Bulletin | None],
                     dry_run: bool = False) -> WebhookReport:
    """The run's step for one due profile: its matched items in the lookback window, each webhook's
    next bulletin (``compose(scored, already)``: sending.bulletin_from, the one rule), posted."""
    start = now - timedelta(days=profile.lookback_days)
    candidates = ctx.store.items_since(start, source_ids=[s.id for s in profile_sources(profile, ctx.sources)])
    verdicts = ctx.store.matches_for([i.id for i in candidates], profile.id)
    scored = [(i, verdicts[i.id]) for i in candidates if verdicts.get(i.id)]
    base = ctx.settings.base_url.rstrip("/")
    pages: dict[int, int] = {}

    def page_url(bulletin: Bulletin) -> str:
        pages[id(bulletin)] = archive.save_page(ctx.store, bulletin, now=now)
        return f"{base}/profiles/{profile.id}/bulletins/{pages[id(bulletin)]}"

    def posted(bulletin: Bulletin) -> None:     # the web version counts as sent: it is in the archive
        archive.mark_sent(ctx.store, pages[id(bulletin)], now=now)

    if dry_run:                                 # what would be posted: nothing saved, nothing posted
        report = WebhookReport()
        for hook in profile.webhooks:
            bulletin = compose(scored, posted_ids(ctx.store, profile.id, hook.url))
            if bulletin is not None:
                report.would_post.append((f"the {hook.format} webhook {shown(hook.url)}", bulletin))
        return report
    return post_due(ctx.store, ctx.settings, profile, now=now, page_url=page_url, on_posted=posted,
                    compose=lambda already: compose(scored, already))


def post_due(store: Store, settings: Settings, profile: Profile, *, now: datetime,
             compose: Callable[[set[int]], Bulletin | None],
             page_url: Callable[[Bulletin], str | None],
             on_posted: Callable[[Bulletin], None] | None = None) -> WebhookReport:
    """Post what each of the profile's webhooks has not had yet; never raises for one webhook's failure.

    ``compose(already)`` is the profile's next bulletin without the ``already`` posted
    items (pipeline.bulletin_from); ``page_url`` gives its web version."""
    report = WebhookReport()
    for hook in profile.webhooks:
        bulletin = compose(posted_ids(store, profile.id, hook.url))
        if bulletin is None:
            continue
        try:
            _post_one(store, settings, profile, hook, bulletin, page_url(bulletin), now)
            if on_posted is not None:
                on_posted(bulletin)
        except DeliveryError as e:
            if e.fate == "unknown":        # never twice: counted as posted
                record_posted(store, profile.id, hook.url, bulletin.item_ids, now)
            logger.error("%s: %s", profile.id, e)
            report.errors.append(f"{hook.format} webhook: {e}")
            continue
        report.posted += 1
    return report


def _post_one(store: Store, settings: Settings, profile: Profile, hook: Webhook, bulletin: Bulletin,
              view_url: str | None, now: datetime) -> None:
    post(settings, hook.url, payload(bulletin, hook.format, view_url))
    record_posted(store, profile.id, hook.url, bulletin.item_ids, now)
    logger.info("%s: posted %d items to the %s webhook %s", profile.id, len(bulletin.item_ids), hook.format,
                shown(hook.url))
