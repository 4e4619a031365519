"""Run history: every run, scheduled or ad hoc, leaves one row saying what it did.

A row is written when the run starts (status "running"), so a run that dies
half-way still shows up, and completed by ``finish_run`` with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..core.localtime import DEFAULT_ZONE, local
from .store import Store
from .schema import runs, utcnow

TRIGGERS = ("schedule", "cli", "web")
# running: in progress; ok: everything worked; partial: some sources or profiles failed, the bulletins
# that could go went; failed: nothing that was due was delivered (or nothing could be gathered);
# interrupted: the process died mid-run (found by the next run, runlock.py); stopped: SIGTERM ended it
# early (what was sent is recorded); error: it could not run at all.
STATUSES = ("running", "ok", "partial", "failed", "interrupted", "stopped", "error")
SUCCESSFUL = ("ok", "partial")  # bulletins went: awareness_last_successful_run moves on
KEEP = timedelta(days=180)      # run history older than this is pruned weekly


@dataclass
class RunRecord:
    id: int
    trigger: str
    who: str | None
    profile: str | None
    source: str | None
    started: datetime
    finished: datetime | None
    status: str
    sources_fetched: int = 0
    sources_failed: int = 0
    items_new: int = 0
    matches: int = 0
    bulletins_sent: int = 0
    bulletins_failed: int = 0
    errors: list[str] = field(default_factory=list)
    fetch_errors: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)   # "sources", "profiles", "skipped" (issue 16)

    @property
    def profiles_failed(self) -> int:
        return sum(1 for p in self.details.get("profiles", {}).values() if p.get("failed") or p.get("crashed"))

    @property
    def sources_skipped(self) -> int:
        return len(self.details.get("skipped", []))

    @property
    def duration_s(self) -> float | None:
        return None if self.finished is None else (self.finished - self.started).total_seconds()

    def as_json(self) -> dict[str, Any]:
        """The keys of `awareness runs --json` (one object per run)."""
        return {
            "id": self.id, "trigger": self.trigger, "who": self.who, "profile": self.profile,
            "source": self.source, "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None, "status": self.status,
            "sources_fetched": self.sources_fetched, "sources_failed": self.sources_failed,
            "items_new": self.items_new, "matches": self.matches, "bulletins_sent": self.bulletins_sent,
            "bulletins_failed": self.bulletins_failed, "errors": list(self.errors),
        }


def start_run(store: Store, *, trigger: str, who: str | None, profile: str | None,
              source: str | None, holder: str | None = None) -> int:
    """Record a run as started; returns its id.  ``holder``: the run lock it holds (runlock.py)."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    with store.engine.begin() as conn:
        return int(conn.execute(runs.insert().values(
            trigger=trigger, who=who, profile=profile, source=source, started=utcnow(), status="running",
            errors=[], fetch_errors={}, holder=holder)).inserted_primary_key[0])


def finish_run(store: Store, run_id: int, report_or_error: Any) -> None:
    """Complete the row from a pipeline ``RunReport``, or from the exception (or text) that stopped the run."""
    values: dict[str, Any] = {"finished": utcnow()}
    if isinstance(report_or_error, (BaseException, str)):
        values.update(status="error", errors=[_describe(report_or_error)])
    else:
        values.update(_figures(report_or_error))
    with store.engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(**values))


def _describe(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    return str(error) or type(error).__name__


def status_of(report: Any) -> str:
    """ok / partial / failed / stopped, from what the run did (see STATUSES)."""
    gather = report.gather
    sent = sum(p.sent for p in report.profiles)
    undelivered = (sum(p.failed for p in report.profiles) + sum(1 for p in report.profiles if p.crashed)
                   + len(report.profile_errors))
    if getattr(report, "stopped", False):
        return "stopped"
    if not (undelivered or gather.failed or report.source_problems):
        return "ok"
    if sent == 0 and undelivered:
        return "failed"                      # something was due and none of it went
    if sent == 0 and gather.sources and gather.failed >= gather.sources:
        return "failed"                      # nothing at all could be gathered
    return "partial"


def _figures(report: Any) -> dict[str, Any]:
    gather = report.gather
    errors = [str(problem) for problem in report.source_problems]
    errors += [f"{sid}: {message}" for sid, message in gather.errors.items()]
    errors += [str(problem) for problem in report.profile_errors]
    errors += [f"{p.profile_id}: {e}" for p in report.profiles for e in p.errors]
    sent = sum(p.sent for p in report.profiles)
    failed = sum(p.failed for p in report.profiles)
    details = {
        "sources": {sid: dict(outcome) for sid, outcome in gather.outcomes.items()},
        "profiles": {p.profile_id: {"name": p.name, "due": p.due, "matched": p.matched, "items": p.items,
                                    "sent": p.sent, "failed": p.failed, "crashed": p.crashed, "note": p.note,
                                    "errors": list(p.errors)} for p in report.profiles},
        "skipped": [str(problem) for problem in report.source_problems],
        "broken_profiles": [str(problem) for problem in report.profile_errors],
    }
    return dict(status=status_of(report), sources_fetched=gather.fetched + gather.unchanged,
                sources_failed=gather.failed, items_new=gather.new_items, matches=report.matched,
                bulletins_sent=sent, bulletins_failed=failed, errors=errors, fetch_errors=dict(gather.errors),
                details=details)


def _record(row: Any) -> RunRecord:
    m = row._mapping
    return RunRecord(id=m["id"], trigger=m["trigger"], who=m["who"], profile=m["profile"], source=m["source"],
                     started=m["started"], finished=m["finished"], status=m["status"],
                     sources_fetched=m["sources_fetched"], sources_failed=m["sources_failed"],
                     items_new=m["items_new"], matches=m["matches"], bulletins_sent=m["bulletins_sent"],
                     bulletins_failed=m["bulletins_failed"], errors=list(m["errors"] or []),
                     fetch_errors=dict(m["fetch_errors"] or {}), details=dict(m["details"] or {}))


def list_runs(store: Store, last: int = 20) -> list[RunRecord]:
    """The most recent runs, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(last)).all()
    return [_record(r) for r in rows]


def get_run(store: Store, run_id: int) -> RunRecord | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    return None if row is None else _record(row)


def prune(store: Store, *, keep: timedelta = KEEP) -> int:
    """Forget runs that finished long ago (the scheduler does this weekly); returns how many."""
    with store.engine.begin() as conn:
        return int(conn.execute(runs.delete().where(runs.c.finished < utcnow() - keep)).rowcount or 0)


def last_successful_run(store: Store) -> datetime | None:
    """When the last run that delivered what it could (ok or partial) finished."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(runs.c.finished))
                            .where(runs.c.status.in_(SUCCESSFUL))).scalar_one()


def format_table(records: list[RunRecord], tz: str = DEFAULT_ZONE) -> str:
    """`awareness runs`: one line per run, newest first, times in the install's zone ``tz``."""
    if not records:
        return "No runs recorded yet."
    head = f"{'id':>5}  {'trigger':<8} {'started':<20}  {'took':>6}  {'status':<11} {'fetched':>7} " \
           f"{'failed':>6} {'new':>5} {'sent':>5} {'unsent':>6}  for"
    lines = [head]
    for r in records:
        took = "-" if r.duration_s is None else f"{r.duration_s:.0f}s"
        scope = ", ".join(x for x in (f"profile {r.profile}" if r.profile else "",
                                      f"source {r.source}" if r.source else "") if x) or "all"
        who = f" by {r.who}" if r.who else ""
        lines.append(f"{r.id:>5}  {r.trigger:<8} {local(r.started, tz):<20}  {took:>6}  {r.status:<11} "
                     f"{r.sources_fetched:>7} {r.sources_failed:>6} {r.items_new:>5} {r.bulletins_sent:>5} "
                     f"{r.bulletins_failed:>6}  {scope}{who}")
    return "\n".join(lines)


def format_details(r: RunRecord, tz: str = DEFAULT_ZONE) -> str:
    """`awareness runs show ID`, times in the install's zone ``tz``."""
    rows = [
        ("run", str(r.id)), ("trigger", r.trigger + (f" by {r.who}" if r.who else "")),
        ("profile", r.profile or "all"), ("source", r.source or "all"),
        ("started", local(r.started, tz, "%Y-%m-%d %H:%M:%S")),
        ("finished", local(r.finished, tz, "%Y-%m-%d %H:%M:%S") if r.finished else "not finished"),
        ("status", r.status),
        ("sources", f"{r.sources_fetched} fetched, {r.sources_failed} failed"
                    + (f", {r.sources_skipped} skipped (sources.yaml)" if r.sources_skipped else "")),
        ("profiles", f"{r.profiles_failed} failed"),
        ("items", f"{r.items_new} new, {r.matches} matches"),
        ("bulletins", f"{r.bulletins_sent} sent, {r.bulletins_failed} not sent"),
    ]
    out = [f"{k:<10} {v}" for k, v in rows]
    out += _detail_lines(r)
    if r.errors:
        out.append("errors:")
        out += [f"  ! {e}" for e in r.errors]
    return "\n".join(out)


def _detail_lines(r: RunRecord) -> list[str]:
    """Per source fetched / new / failed, per profile matched / sent / failures (issue 16)."""
    out: list[str] = []
    sources = r.details.get("sources") or {}
    if sources:
        out.append("per source:")
        for sid, o in sorted(sources.items()):
            line = f"  {sid:<30} {o.get('outcome', '?'):<10} {o.get('new', 0):>4} new"
            out.append(line + (f"  ! {o['error']}" if o.get("error") else ""))
    if r.details.get("skipped"):
        out.append("skipped (entries in sources.yaml that cannot be gathered):")
        out += [f"  ! {problem}" for problem in r.details["skipped"]]
    profiles = r.details.get("profiles") or {}
    if profiles:
        out.append("per profile:")
        for pid, p in profiles.items():
            if not p.get("due", True):
                out.append(f"  {pid:<30} not due")
                continue
            state = "FAILED: could not be made" if p.get("crashed") else p.get("note") or ""
            out.append(f"  {pid:<30} {p.get('matched', 0)} matched, {p.get('sent', 0)} sent "
                       f"({p.get('items', 0)} items), {p.get('failed', 0)} not sent" + (f"; {state}" if state else ""))
            out += [f"    ! {e}" for e in p.get("errors", [])]
    if r.details.get("broken_profiles"):
        out.append("profiles skipped (their files have errors):")
        out += [f"  ! {problem}" for problem in r.details["broken_profiles"]]
    return out
