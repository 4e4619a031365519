"""Is this source due? The one rule, for the feed reader, the spiders and the scheduler alike.

A source asked to wait (Retry-After) is left alone until then, even when forced; otherwise it
is due when forced, when it was never checked, or when its next check (which carries its
back-off after failures) has come.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from ..core.models import Source
from ..store.schema import SourceState

logger = logging.getLogger(__name__)


def due(state: SourceState | None, now: datetime, *, force: bool = False) -> bool:
    """Whether a source with this state is to be gathered at ``now``."""
    if state is None:
        return True
    if state.retry_until and state.retry_until > now:
        return False
    return force or state.next_check is None or state.next_check <= now


def due_sources(sources: Sequence[Source], states: Iterable[SourceState], now: datetime, *,
                kind: str | None = None, force: bool = False, only: Sequence[str] | None = None) -> list[Source]:
    """The sources (of this kind, among ``only``) that are due, in the order sources.yaml lists them."""
    by_id = {s.id: s for s in states}
    chosen = []
    for source in sources:
        if (kind is not None and source.kind != kind) or (only is not None and source.id not in only):
            continue
        state = by_id.get(source.id)
        if due(state, now, force=force):
            chosen.append(source)
        elif state is not None and state.retry_until and state.retry_until > now:
            logger.info("%s asked us to wait until %s (Retry-After); skipped", source.id, state.retry_until)
    return chosen
