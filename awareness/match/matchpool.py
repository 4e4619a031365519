"""Score items against every topic in slices, on both cores when there are many (issue 7).

At national scale (tens of thousands of items against a couple of thousand
topics) scoring is the longest step of a cycle and is pure Python and NumPy
under one GIL.  Above ``POOL_FROM`` items the fitted matcher is sent once to
each worker process and the slices are scored there, while this process
stores the verdicts of the slices already done.  Slices come back in order,
and at most a few are in flight, so memory stays bounded.  A matcher that
cannot be pickled is simply scored here, slice by slice.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from ..core.models import Match, StoredItem
from ..store import matchrows
from ..store.matchrows import MatchRows

logger = logging.getLogger(__name__)

POOL_FROM = 6000        # items to score before worker processes pay for their start-up
WORKERS = 2

MATCH_SLICE = 1000   # items scored and stored at a time, at most
# Scores are dense items x topics arrays (several float32 ones while scoring): the slice
# shrinks as topics grow, so a slice's memory stays flat (2,000 topics: 1,000 items).
MATCH_CELLS = 2_000_000


def match_slice(topics: int) -> int:
    """Items per slice for this many topics: at most MATCH_CELLS scores at a time."""
    return max(50, min(MATCH_SLICE, MATCH_CELLS // max(topics, 1)))


_worker_state: tuple[Any, Any] | None = None


def _load(state: bytes) -> None:
    global _worker_state
    _worker_state = pickle.loads(state)


def _score(chunk: Sequence[StoredItem]) -> list[Match]:
    assert _worker_state is not None
    matcher, finders = _worker_state
    return matcher.score(chunk, local=finders)


def _score_rows(chunk: Sequence[StoredItem]) -> MatchRows:
    return matchrows.encode(_score(chunk))


def score_in_slices(matcher: Any, items: Sequence[StoredItem], finders: Any, size: int,
                    encoded: bool = False) -> Iterator[tuple[Sequence[StoredItem], Any]]:
    """(slice, its matches) for consecutive slices of ``items``, in order.

    ``encoded``: the matches as ``MatchRows``, made where the slice was scored, for storing.
    """
    slices = [items[i:i + size] for i in range(0, len(items), size)]
    pool = _open_pool(len(items), matcher, finders)
    if pool is None:
        for chunk in slices:
            found = matcher.score(chunk, local=finders)
            yield chunk, matchrows.encode(found) if encoded else found
        return
    with pool:
        pending: deque[tuple[Sequence[StoredItem], Future[Any]]] = deque()
        for chunk in slices:
            pending.append((chunk, pool.submit(_score_rows if encoded else _score, chunk)))
            if len(pending) > 2 * WORKERS:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _open_pool(items: int, matcher: Any, finders: Any) -> ProcessPoolExecutor | None:
    workers = min(WORKERS, os.cpu_count() or 1)
    if items < POOL_FROM or workers < 2 or os.environ.get("AWARENESS_MATCH_POOL", "") == "0":
        return None
    try:
        state = pickle.dumps((matcher, finders), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # a matcher holding something unpicklable is scored here instead
        logger.info("scoring in one process: the matcher cannot be sent to workers (%s)", e)
        return None
    # spawn, not fork: the parent may have threads (the scheduler, the web app).
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_load, initargs=(state,))
