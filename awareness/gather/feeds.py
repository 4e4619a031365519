"""Gathering feeds: fetch (conditional GET) -> parse/normalise -> store, one source's failure never
stopping the others; and ``GatherReport``, what a gathering found, filled by the spiders too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import parsepool
from .fetch import FetchRequest, fetch_all
from .parse import ParsedFeed, parse_feed
from .progress import GatherProgress
from ..config.settings import Settings
from ..core import diskfull, logs
from ..core.errors import SourceError
from ..core.models import FetchResult, Source
from ..store.schema import utcnow
from ..store.store import Store

logger = logging.getLogger(__name__)


@dataclass
class GatherReport:
    sources: int = 0
    fetched: int = 0
    unchanged: int = 0
    failed: int = 0
    new_items: int = 0
    errors: dict[str, str] = field(default_factory=dict)   # source id -> what went wrong
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)   # source id -> outcome, new, error


def refresh_sources(store: Store, settings: Settings, chosen: list[Source], *, now: datetime | None = None,
                    progress: GatherProgress | None = None) -> GatherReport:
    """Fetch, parse and store each source; a failing source never stops the others."""
    now = now or utcnow()
    report = GatherReport(sources=len(chosen))
    if not chosen:
        return report
    states = {s.id: s for s in store.source_states(s.id for s in chosen)}
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
            new = _store_result(store, source, result, now=now, report=report, parsed=parsed)
        except SourceError as e:
            _note_failure(store, source, e.problem, now, report, e.retry_after, e.permanent)
            progress.source_done(source.id, error=e.problem)
            logs.source_fetched(source.id, outcome="failed", error=e.problem)
        except Exception as e:  # one bad source must never stop the others
            if diskfull.is_disk_full(e):
                disk_full.append(e)         # nothing stored, the source's state untouched: fetched again next run
                return
            logger.exception("unexpected error while storing %s", source.id)
            message = f"internal error: {type(e).__name__}: {e}"
            _note_failure(store, source, message, now, report)
            progress.source_done(source.id, error=message)
            logs.source_fetched(source.id, outcome="failed", error=message)
        else:
            report.outcomes[source.id] = {"outcome": "unchanged" if result.not_modified else "ok", "new": new}
            progress.source_done(source.id, new=new, unchanged=result.not_modified)
            logs.source_fetched(source.id, outcome="unchanged" if result.not_modified else "ok", new=new,
                                duration_s=result.elapsed_s)

    try:
        fetch_all(requests, settings, on_result=handle)
        drain(as_completed(list(parsing)))
        store.sync()      # the feeds' commits, written unsynced (Store.unsynced), durable from here
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        progress.close()
    if disk_full:
        raise disk_full[0]
    return report


def _note_failure(store: Store, source: Source, message: str, now: datetime, report: GatherReport,
                  retry_after: float | None = None, permanent: bool = False) -> None:
    """Record the error on the source; the next check backs off, earlier items stay."""
    report.failed += 1
    report.errors[source.id] = message
    report.outcomes[source.id] = {"outcome": "failed", "new": 0, "error": message}
    store.record_failure(source.id, now=now, every=source.every, error=message,
                             retry_after=retry_after, permanent=permanent)


def _store_result(store: Store, source: Source, result: FetchResult, *, now: datetime,
                  report: GatherReport, parsed: ParsedFeed | parsepool.Failed | None = None) -> int:
    moved = result.final_url if result.permanent_redirect and result.final_url else None
    if moved:
        logger.info("%s has moved permanently to %s; update sources.yaml when convenient", source.id, moved)
    if result.not_modified:
        report.unchanged += 1
        store.record_success(source.id, now=now, every=source.every, etag=None, last_modified=None,
                                 new_url=moved, unchanged=True)   # a 304 keeps the warning of the body it stands for
        return 0
    if isinstance(parsed, parsepool.Failed):   # parsed in a worker process
        raise parsed.error(source.id, result.final_url or result.url)
    if parsed is None:
        parsed = parse_feed(source.id, result.final_url or result.url, result.content or b"",
                            content_type=result.content_type, now=now)
    for warning in parsed.warnings:
        logger.info("%s: %s", source.id, warning)
    added = store.add_items(source.id, parsed.items, now=now, success=dict(   # one transaction (issue 19)
        every=source.every, etag=result.etag, last_modified=result.last_modified, new_url=moved,
        warning="; ".join(parsed.warnings) or None), synced=False)     # refresh_sources syncs once at the end
    report.fetched += 1
    report.new_items += len(added.new)
    return len(added.new)
