"""The scheduler behind `awareness serve`: APScheduler 3 with its jobs kept in our database.

Jobs, rebuilt from ``sources.yaml`` and ``profiles/`` at start and whenever
those files change (or `awareness reload` asks):

* ``gather`` every minute: fetch the feed sources whose own interval has come
  round (each source's ``next_check``, which also carries its back-off);
* ``send:<profile>`` on the profile's cron schedule in its time zone: gather
  that profile's due sources, match, send its bulletin;
* ``readers`` hourly: readers who chose their own frequency (as it comes, daily,
  weekly digest; issue 17) get what their own schedule owes them;
* ``health-summary`` weekly: each profile's owner hears which sources failed
  or went quiet.

A run missed while the process was down runs once when it comes back, within
``misfire_grace_time`` (APScheduler's default of one second would drop it);
``coalesce`` folds several missed runs into one.  A job whose schedule has not
changed is left alone on rebuild, so its missed run time survives a restart.
A profile file that stops validating keeps its last good version, and the
error is logged and recorded in the run history.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .. import pipeline
from ..config.profiles import profile_sources
from ..config.schedule import cron_trigger
from ..config.settings import Settings
from ..context import Context
from ..core.models import Profile, Source
from ..deliver.bulletin import Composer
from ..deliver.frequency import has_own_schedules
from ..deliver.health_summary import send_summaries
from ..deliver.tokens import Signer
from ..gather.due import due_sources
from ..gather.feeds import GatherReport
from ..store import lastgood, locks, runlock, runlog
from ..store.schema import utcnow
from ..store.store import Store

logger = logging.getLogger(__name__)

GATHER_EVERY = timedelta(minutes=1)
READERS_EVERY = timedelta(hours=1)
HEALTH_SCHEDULE = "0 7 * * MON"
_ACTIVE: "Scheduler | None" = None        # jobs are stored by name, so they find their scheduler here


# ---------------------------------------------------------------- job functions (stored by reference)

def _active() -> "Scheduler":
    if _ACTIVE is None:
        raise RuntimeError("no Awareness scheduler is running in this process")
    return _ACTIVE


def gather_job() -> None:
    _active().gather_due()


def send_job(profile_id: str) -> None:
    _active().send_profile(profile_id)


def readers_job() -> None:
    _active().send_to_own_schedules()


def health_job() -> None:
    _active().send_health_summaries()


def watch_job() -> None:
    _active().check_for_changes()


class _APScheduler(BackgroundScheduler):
    """Numbers its passes over the job list, so tests that move the clock know when one is done."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.started_passes = 0
        self.finished_passes = 0
        self.passed = threading.Condition()

    def _process_jobs(self) -> float | None:
        with self.passed:
            self.started_passes += 1
            number = self.started_passes
        try:
            return super()._process_jobs()
        finally:
            with self.passed:
                self.finished_passes = number
                self.passed.notify_all()


# ---------------------------------------------------------------- the scheduler

class Scheduler:
    """Owns the APScheduler instance and the last good sources and profiles."""

    def __init__(self, settings: Settings, store: Store, *, synchronous: bool = False) -> None:
        self.settings = settings
        self.store = store
        self.sources: list[Source] = []
        self.profiles: dict[str, Profile] = {}          # file path -> last good version
        self.problems: list[str] = []                   # what the last reload found wrong
        self.source_problems: list[Any] = []            # sources.yaml entries skipped (issue 16)
        self._reported: set[str] = set()
        self._files: tuple[Any, ...] | None = None
        self.composer = Composer()
        self.signer = Signer(settings.ensure_secret_key())
        run_in = DebugExecutor() if synchronous else ThreadPoolExecutor(max_workers=1)
        self.aps = _APScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=store.engine), "local": MemoryJobStore()},
            executors={"default": run_in, "watch": DebugExecutor() if synchronous else ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "misfire_grace_time": settings.misfire_grace_time,
                          "max_instances": 1},
            timezone=timezone.utc,
        )
        self.aps.add_listener(self._job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    # ------------------------------------------------------------ life

    def start(self) -> None:
        global _ACTIVE
        _ACTIVE = self
        pipeline.STOP.clear()
        self.aps.start(paused=True)
        self.reload()
        self.aps.add_job(watch_job, IntervalTrigger(seconds=self.settings.watch_interval), id="watch",
                         jobstore="local", executor="watch", replace_existing=True, misfire_grace_time=None)
        self.aps.resume()
        logger.info("scheduler started: %d sources, %d profiles (%s)", len(self.sources), len(self.profiles),
                    ", ".join(f"{p.id}: {p.schedule} {p.timezone}" for p in self.profiles.values()) or "none")

    def shutdown(self) -> None:
        """Let the job in progress finish (it sees pipeline.STOP and stops after its current message)."""
        global _ACTIVE
        if self.aps.running:
            self.aps.shutdown(wait=True)
        if _ACTIVE is self:
            _ACTIVE = None

    def tick(self, timeout: float = 30.0) -> None:
        """Make the scheduler look at its jobs now and wait until it has (tests move the clock, then tick)."""
        with self.aps.passed:
            wanted = self.aps.started_passes + 1     # a pass that starts after this call
            self.aps.wakeup()
            if not self.aps.passed.wait_for(lambda: self.aps.finished_passes >= wanted, timeout):
                raise TimeoutError("the scheduler did not process its jobs")

    def _job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            logger.warning("job %s missed its run at %s by more than the grace period (%ss); skipped",
                           event.job_id, event.scheduled_run_time, self.settings.misfire_grace_time)
        elif event.exception is not None:
            logger.error("job %s failed: %s", event.job_id, event.exception)

    # ------------------------------------------------------------ what the files say

    def _file_state(self) -> tuple[Any, ...]:
        def stat(p: Path) -> tuple[str, int, int]:
            try:
                st = p.stat()
                return (str(p), st.st_mtime_ns, st.st_size)
            except OSError:
                return (str(p), -1, -1)

        folder = self.settings.profiles
        files = sorted(folder.glob("*.y*ml")) if folder.is_dir() else []
        return (stat(self.settings.sources), *(stat(f) for f in files))

    def check_for_changes(self) -> None:
        """The watch job: reload when the files changed or `awareness reload` asked."""
        asked = locks.take_reload_request(self.store)
        if asked or self._file_state() != self._files:
            logger.info("reloading %s and %s (%s)", self.settings.sources, self.settings.profiles,
                        "asked by `awareness reload`" if asked else "files changed")
            self.reload()

    def reload(self) -> None:
        """Read the files again; keep the last good version of anything that no longer validates."""
        self._files = self._file_state()
        in_force = lastgood.load_in_force(self.settings, self.store, keep_sources=self.sources)
        problems: list[str] = []
        if in_force.sources_error is not None:
            e = in_force.sources_error
            problems.append(f"{e} (kept the previous sources.yaml)" if in_force.sources else str(e))
        else:
            problems.extend(str(e) for e in in_force.source_problems)   # one bad entry: the others are gathered
            self.source_problems = in_force.source_problems
            self.store.sync_sources(in_force.sources)
        self.sources = in_force.sources
        # The last good version lives in the database (store/lastgood.py), so it survives a restart too.
        profiles = {p.path: p for p in in_force.profiles}
        restored = {p.path: p for p in in_force.restored}
        for error in in_force.profile_errors:
            kept = restored.get(error.path)
            problems.append(f"{error} (kept the last good version of {kept.id})" if kept else str(error))
        self.profiles = profiles
        self.problems = problems
        self._report(problems)
        self._sync_jobs()

    def _report(self, problems: list[str]) -> None:
        """Every new problem is logged and put in the run history, once: never a silent stop."""
        new = [p for p in problems if p not in self._reported]
        self._reported = set(problems)
        for problem in new:
            logger.error("configuration problem: %s", problem)
        if new:
            run_id = runlog.start_run(self.store, trigger="schedule", who=None, profile=None, source=None)
            runlog.finish_run(self.store, run_id, "configuration problems: " + "; ".join(new))

    def _sync_jobs(self) -> None:
        wanted: dict[str, tuple[Any, Any, list[Any], str]] = {
            "gather": (gather_job, IntervalTrigger(seconds=int(GATHER_EVERY.total_seconds()), timezone=timezone.utc),
                       [], f"every {GATHER_EVERY}"),
            "readers": (readers_job, IntervalTrigger(seconds=int(READERS_EVERY.total_seconds()), timezone=timezone.utc),
                        [], f"every {READERS_EVERY}"),
            "health-summary": (health_job, cron_trigger(HEALTH_SCHEDULE, self.settings.timezone), [],
                               f"{HEALTH_SCHEDULE} {self.settings.timezone}"),
        }
        for profile in self.profiles.values():
            wanted[f"send:{profile.id}"] = (send_job, cron_trigger(profile.schedule, profile.timezone), [profile.id],
                                            f"{profile.schedule} {profile.timezone}")
        for job in self.aps.get_jobs(jobstore="default"):
            if job.id not in wanted:
                logger.info("removing job %s (no longer configured)", job.id)
                job.remove()
        for job_id, (func, trigger, args, fingerprint) in wanted.items():
            job = self.aps.get_job(job_id, jobstore="default")
            if job is None:
                first = {"next_run_time": utcnow()} if job_id == "gather" else {}   # a new service gathers at once
                self.aps.add_job(func, trigger, args=args, id=job_id, name=fingerprint, jobstore="default",
                                 executor="default", **first)
            elif job.name != fingerprint:
                # A changed schedule: the next run follows the new one. An unchanged job is left alone,
                # so a run time missed while the service was down is still caught up.
                logger.info("rescheduling %s: %s -> %s", job_id, job.name, fingerprint)
                job.modify(name=fingerprint, args=args)
                job.reschedule(trigger)

    def next_run(self, job_id: str) -> Any:
        job = self.aps.get_job(job_id)
        return None if job is None else job.next_run_time

    # ------------------------------------------------------------ the work

    def context(self) -> Context:
        return Context(settings=self.settings, store=self.store, sources=list(self.sources),
                                profiles=list(self.profiles.values()), composer=self.composer, signer=self.signer,
                                source_problems=list(self.source_problems))

    def profile(self, profile_id: str) -> Profile | None:
        return next((p for p in self.profiles.values() if p.id == profile_id), None)

    def _gather(self, ctx: Context, chosen: list[Source], now: Any) -> GatherReport:
        """Fetch these feeds, crawl these spiders, enrich what is new: the same stages as `awareness run`."""
        return pipeline.gather(ctx, chosen, now=now, progress=_Silent())  # type: ignore[arg-type]

    def _due_sources(self, only: list[str] | None = None) -> list[Source]:
        return due_sources(self.sources, self.store.source_states(), utcnow(), only=only)

    def gather_due(self) -> None:
        """Fetch the sources whose interval has come round; a run is recorded only if any was due."""
        if pipeline.STOP.is_set():
            return
        due = self._due_sources()
        if not due:
            return
        try:
            lock = runlock.acquire(self.store, wait=0)
        except runlock.RunInProgress:
            logger.info("another run is gathering now; the due sources are gathered on the next tick")
            return
        try:
            run_id = runlog.start_run(self.store, trigger="schedule", who=None, profile=None, source=None,
                                      holder=lock.holder)
            try:
                gathered = self._gather(self.context(), due, utcnow())
            except Exception as e:
                logger.exception("scheduled gathering failed")
                runlog.finish_run(self.store, run_id, e)
                return
            runlog.finish_run(self.store, run_id, pipeline.RunReport(gather=gathered, matched=0, profiles=[],
                                                                     stopped=pipeline.STOP.is_set(),
                                                                     source_problems=list(self.source_problems)))
        finally:
            lock.release()

    def send_profile(self, profile_id: str) -> None:
        """The profile's scheduled run: gather its due sources, match, send its bulletin."""
        profile = self.profile(profile_id)
        if profile is None or pipeline.STOP.is_set():
            return
        try:
            lock = runlock.acquire(self.store)   # waits for a run in progress to finish
        except runlock.RunInProgress as e:
            run_id = runlog.start_run(self.store, trigger="schedule", who=None, profile=profile_id, source=None)
            runlog.finish_run(self.store, run_id, str(e))
            return
        try:
            self._send_locked(profile, lock.holder)
        finally:
            lock.release()

    def _send_locked(self, profile: Profile, holder: str) -> None:
        profile_id = profile.id
        run_id = runlog.start_run(self.store, trigger="schedule", who=None, profile=profile_id, source=None,
                                  holder=holder)
        try:
            ctx = self.context()
            now = utcnow()
            due = self._due_sources([s.id for s in profile_sources(profile, ctx.sources)])
            gathered = self._gather(ctx, due, now)
            matched = pipeline.match_recent(ctx, now=now) if not pipeline.STOP.is_set() else 0
            sent = pipeline.send_due_bulletins(ctx, now=now, only_profile=profile_id)
        except Exception as e:
            logger.exception("scheduled run of %s failed", profile_id)
            runlog.finish_run(self.store, run_id, e)
            return
        runlog.finish_run(self.store, run_id, pipeline.RunReport(gather=gathered, matched=matched, profiles=sent,
                                                                 stopped=pipeline.STOP.is_set(),
                                                                 source_problems=ctx.source_problems))

    def send_to_own_schedules(self) -> None:
        """The hourly pass for readers with a frequency of their own; a run is recorded only if one has."""
        if pipeline.STOP.is_set() or not any(has_own_schedules(self.store, p.id) for p in self.profiles.values()):
            return
        try:
            lock = runlock.acquire(self.store)
        except runlock.RunInProgress:
            return                                   # the next hour's pass serves them
        run_id = runlog.start_run(self.store, trigger="schedule", who=None, profile=None, source=None,
                                  holder=lock.holder)
        try:
            ctx = self.context()
            now = utcnow()
            matched = pipeline.match_recent(ctx, now=now)
            sent = pipeline.send_due_bulletins(ctx, now=now, readers_only=True)
        except Exception as e:
            logger.exception("the readers' own-schedule pass failed")
            runlog.finish_run(self.store, run_id, e)
            return
        finally:
            lock.release()
        runlog.finish_run(self.store, run_id, pipeline.RunReport(gather=GatherReport(), matched=matched,
                                                                 profiles=sent, stopped=pipeline.STOP.is_set()))

    def send_health_summaries(self) -> None:
        """The weekly job: owners' source-health emails, and old run history pruned."""
        send_summaries(self.context())
        runlog.prune(self.store)


class _Silent:
    """Progress that draws nothing: the structured fetch lines say it all in the service's log."""

    def source_done(self, source_id: str, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass
