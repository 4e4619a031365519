"""Parse fetched feeds in worker processes while the main process fetches and stores (issue 7).

feedparser is pure Python and holds the GIL for about 35 ms a feed, so in one
process a large refresh alternates between parsing and everything else.  With
a pool, the workers parse on the server's other cores while the event loop
keeps fetching and the main process stores what is parsed.  A pool costs about
a second to start, so it is used only for large refreshes (``POOL_FROM``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ..core.errors import ParseError, SourceError
from .parse import ParsedFeed, parse_feed

logger = logging.getLogger(__name__)

POOL_FROM = 300         # sources in one refresh before a pool pays: with the lxml fast path, 100 feeds parse
                        # in well under the second a pool takes to start (bench/ingest.py, issue 19)
WORKERS = 2


@dataclass
class Failed:
    """A parse failure, carried back from a worker as plain data (exceptions do not always pickle)."""

    problem: str
    retry_after: float | None = None
    permanent: bool = False

    def error(self, source_id: str, url: str) -> ParseError:
        return ParseError(source_id, url, self.problem, retry_after=self.retry_after, permanent=self.permanent)


def parse_job(source_id: str, url: str, content: bytes, content_type: str, now: datetime) -> ParsedFeed | Failed:
    """What a worker runs: ``parse_feed``, with every failure returned, never raised."""
    try:
        return parse_feed(source_id, url, content, content_type=content_type, now=now)
    except SourceError as e:
        return Failed(e.problem, e.retry_after, e.permanent)
    except Exception as e:  # one bad feed must never take the pool down
        logger.exception("unexpected error while parsing %s", source_id)
        return Failed(f"internal error: {type(e).__name__}: {e}")


def open_pool(sources: int) -> ProcessPoolExecutor | None:
    """A pool for a refresh of this many sources, or None when parsing in-process is as quick."""
    workers = min(WORKERS, os.cpu_count() or 1)
    if sources < POOL_FROM or workers < 2 or os.environ.get("AWARENESS_PARSE_POOL", "") == "0":
        return None
    # spawn, not fork: the parent may have threads (the scheduler, the web app), and a
    # forked child of a threaded process can deadlock on a lock some thread held.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
