"""Recorded runs, whoever starts them (the CLI, the web's admin, the schedule).

Every run goes through ``run_recorded`` so that it leaves a row in the run
history whatever triggers it; SIGTERM lets the message being sent finish.
(`awareness serve`, which runs the scheduler beside the web app, is cli/serve.py:
the service never imports the web.)
"""

from __future__ import annotations

import getpass
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import pipeline
from ..gather.enrich import EnrichReport
from ..store import runlock, runlog
from ..store.locks import SchedulerLock
from ..store.schema import SourceState
from ..store.store import Store
from .scheduler import Scheduler
from ..config.settings import Settings
from ..core.errors import SourcesError, UnknownName

logger = logging.getLogger(__name__)


def _validate(ctx: pipeline.Context, profile: str | None, source: str | None) -> None:
    if profile:
        ctx.profile(profile)
    if source and source not in {s.id for s in ctx.sources}:
        raise UnknownName(f"no source '{source}' in {ctx.settings.sources}")


def _execute(ctx: pipeline.Context, run_id: int, *, force: bool, profile: str | None,
             source: str | None, progress: Any = None) -> pipeline.RunReport:
    try:
        report = pipeline.run(ctx, force=force, profile=profile, source=source, progress=progress)
    except BaseException as e:
        runlog.finish_run(ctx.store, run_id, e)
        raise
    runlog.finish_run(ctx.store, run_id, report)
    return report


def run_recorded(settings: Settings, *, trigger: str, who: str | None, profile: str | None = None,
                 source: str | None = None, force: bool = True, progress: Any = None,
                 wait: float = runlock.WAIT_FOR) -> tuple[int, pipeline.RunReport]:
    """One run, start to end, in the calling thread; returns (run id, report).

    It waits up to ``wait`` seconds for a run already in progress (RunInProgress after that).
    """
    ctx = pipeline.open_context(settings)
    try:
        _validate(ctx, profile, source)   # a typo is an error for the person, not a failed run
        lock = runlock.acquire(ctx.store, wait=wait)
        try:
            run_id = runlog.start_run(ctx.store, trigger=trigger, who=who, profile=profile, source=source,
                                      holder=lock.holder)
            return run_id, _execute(ctx, run_id, force=force, profile=profile, source=source, progress=progress)
        finally:
            lock.release()
    finally:
        ctx.close()


def dry_run(settings: Settings, *, force: bool, profile: str | None, source: str | None,
            wait: float = runlock.WAIT_FOR) -> pipeline.RunReport:
    """`awareness run --dry-run`: gather and match for real, compose, send nothing, mark nothing sent.

    Not in the run history (it delivers nothing), but it takes the run lock like any run.
    """
    ctx = pipeline.open_context(settings)
    try:
        _validate(ctx, profile, source)
        lock = runlock.acquire(ctx.store, wait=wait)
        try:
            return pipeline.run(ctx, force=force, profile=profile, source=source, dry_run=True)
        finally:
            lock.release()
    finally:
        ctx.close()


def run_from_cli(settings: Settings, *, force: bool, profile: str | None, source: str | None
                 ) -> tuple[int, pipeline.RunReport]:
    """`awareness run`: recorded with trigger "cli"; SIGTERM ends it after the message in flight."""
    previous = _on_sigterm(lambda: logger.warning("SIGTERM: finishing the message in flight, then stopping"))
    try:
        return run_recorded(settings, trigger="cli", who=_user(), profile=profile, source=source, force=force)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def gather_from_cli(settings: Settings, *, force: bool, source: str | None
                    ) -> tuple[pipeline.GatherReport, list[SourcesError]]:
    """`awareness gather`: fetch due feeds (or all, or one) and store new items, never beside another run."""
    ctx = pipeline.open_context(settings)
    try:
        lock = runlock.acquire(ctx.store)   # never two runs gathering at once (issue 16)
        try:
            return pipeline.refresh_due(ctx, force=force, only=[source] if source else None), ctx.source_problems
        finally:
            lock.release()
    finally:
        ctx.close()


def crawl_from_cli(settings: Settings, source_ids: list[str], *, force: bool
                   ) -> tuple[pipeline.GatherReport, EnrichReport, dict[str, SourceState]]:
    """`awareness crawl`: the named spider sources now (or those due), then thin items' full text;
    returns what was crawled, what was enriched, and each spider source's health."""
    ctx = pipeline.open_context(settings)
    try:
        spiders = {s.id for s in ctx.sources if s.kind == "spider"}
        for sid in source_ids:
            if sid not in spiders:
                known = ", ".join(sorted(spiders)) or "none"
                raise UnknownName(f"'{sid}' is not a spider source in {settings.sources} (spider sources: {known})")
        report = pipeline.crawl_due(ctx, force=force or bool(source_ids), only=source_ids or None)
        enriched = pipeline.enrich_new_items(ctx.store, ctx.settings)
        return report, enriched, {s.id: s for s in ctx.store.source_states(spiders)}
    finally:
        ctx.close()


@contextmanager
def scheduler_running(settings: Settings) -> Iterator[threading.Event]:
    """The scheduler, holding the one-scheduler-per-database lock, for the ``with`` block; yields the
    event SIGTERM or Ctrl-C sets (the message being sent finishes, nothing further starts)."""
    store = Store(settings.database_url)
    lock = SchedulerLock(store)
    try:
        lock.acquire()
    except BaseException:
        store.close()
        raise
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            return
        logger.info("%s: finishing the work in progress, then stopping", signal.Signals(signum).name)
        pipeline.STOP.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = Scheduler(settings, store)
    try:
        scheduler.start()
        yield stop
    finally:
        pipeline.STOP.set()
        scheduler.shutdown()
        lock.release()
        store.close()
        logger.info("stopped")


def trigger_run(settings: Settings, *, profile: str | None = None, source: str | None = None,
                trigger: str = "web", who: str | None = None) -> int:
    """Record an ad hoc run and start it in the background; returns its id at once.

    Unknown profile or source ids raise UnknownName here, before anything is recorded;
    a run already in progress raises RunInProgress (it names that run).
    """
    ctx = pipeline.open_context(settings)
    try:
        _validate(ctx, profile, source)
        lock = runlock.acquire(ctx.store, wait=0)   # a person is waiting: refuse at once, saying who runs
        try:
            run_id = runlog.start_run(ctx.store, trigger=trigger, who=who, profile=profile, source=source,
                                      holder=lock.holder)
        except BaseException:
            lock.release()
            raise
    except BaseException:
        ctx.close()
        raise

    def work() -> None:
        try:
            _execute(ctx, run_id, force=True, profile=profile, source=source)
        except Exception:
            logger.exception("run %d failed", run_id)
        finally:
            lock.release()
            ctx.close()

    threading.Thread(target=work, name=f"awareness-run-{run_id}", daemon=True).start()
    return run_id


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _on_sigterm(also: Any = None) -> Any:
    """Ask the pipeline to stop after the current message; returns the previous handler (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        pipeline.STOP.set()
        if also is not None:
            also()

    return signal.signal(signal.SIGTERM, handler)
