"""What each reader's next bulletin holds, and the signed links in it (issue 17's one rule).

Sending (sending.py), dry runs, previews and webhooks all ask here, so a bulletin is chosen
the same way whichever of them asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import refusals
from .bulletin import Bulletin, Links, build_bulletin
from .subscriptions import chosen_topics, subscriber_key, topics_by_subscriber
from .tokens import FEEDBACK_PATH, Signer
from ..config.profiles import profile_sources
from ..config.settings import Settings
from ..core.models import Match, Profile, Source, StoredItem
from ..store import ledger
from ..store.store import Store


class Composing(Protocol):
    """What composing needs of a run's context (the pipeline's Context is one)."""

    store: Store
    settings: Settings
    signer: Signer
    sources: list[Source]

    @property
    def source_names(self) -> dict[str, str]: ...


def compose_for(ctx: Composing, profile: Profile, subscriber_id: int, *, now: datetime,
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
    if cache is None:
        already = ctx.store.delivered_item_ids(profile.id, subscriber_id)
        already |= refusals.refused_item_ids(ctx.store, profile.id, subscriber_id)   # a 5xx is not retried
        wanted = chosen_topics(ctx.store, subscriber_id)   # a web subscriber's topic choice; empty: all
    else:   # the profile's readers at once: only the shared candidates can be in a bulletin (issue 19)
        if "delivered" not in cache:
            cache["delivered"] = ledger.delivered_by_subscriber(ctx.store, profile.id, cache["ids"])
            cache["refused"] = refusals.refused_by_subscriber(ctx.store, profile.id, cache["ids"])
            cache["topics"] = topics_by_subscriber(ctx.store, profile.id)
        already = cache["delivered"].get(subscriber_id, set()) | cache["refused"].get(subscriber_id, set())
        wanted = cache["topics"].get(subscriber_id, set())
    key = None if cache is None else (frozenset(already & cache["ids"]), frozenset(wanted))
    if key is not None and key in cache:
        return cache[key]
    bulletin = bulletin_from(ctx, profile, shared, already=already, now=now, wanted=wanted)
    if key is not None:
        cache[key] = bulletin
    return bulletin


def bulletin_from(ctx: Composing, profile: Profile, scored: list[tuple[StoredItem, list[Match]]], *,
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
               if i.id not in already and i.published >= start and not chosen.isdisjoint(i.sources)]
    matched = [(i, ms) for i, ms in matched if ms]
    return build_bulletin(profile, matched, ctx.source_names, start, now) if matched else None


def links_for(ctx: Composing, profile: Profile, subscriber_id: int, page_id: int | None = None,
              key: str | None = None) -> Links:
    """Per-subscriber links to the web app, signed so that they carry no email address.

    ``page_id`` is the bulletin's archived web version ("view in browser"); ``key`` the
    subscriber's link key (read from the store when not given).
    """
    base = ctx.settings.base_url.rstrip("/")
    if key is None:
        key = subscriber_key(ctx.store, subscriber_id)
    token = ctx.signer.unsubscribe_token(profile.id, subscriber_id, key)
    feedback_token = ctx.signer.feedback_links(profile.id, subscriber_id)   # the reader part once per message

    def feedback(item_id: int, verdict: str) -> str:
        return f"{base}{FEEDBACK_PATH}{feedback_token(item_id, verdict)}"

    return Links(unsubscribe=f"{base}/unsubscribe/{token}", feedback=feedback,
                 view_online=f"{base}/profiles/{profile.id}/bulletins/{page_id}" if page_id else None,
                 manage=f"{base}/manage/{token}")   # every subscription of this address (issue 17)
