"""Prometheus text exposition (format 0.0.4) of what the store already knows.

Every figure is read from the database, not kept in memory, so it is right
whichever process did the work (the scheduler, a CLI run, the web app) and
survives restarts.
"""

from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa

from .runlog import last_successful_run
from .store import Store
from .schema import bulletins, item_sources, items, runs, sources

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        shown = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        number = repr(float(value)) if not float(value).is_integer() else str(int(value))
        lines.append(f"{name}{{{shown}}} {number}" if shown else f"{name} {number}")
    return lines


def render_metrics(store: Store) -> str:
    """The body of GET /metrics."""
    with store.engine.connect() as conn:
        item_total = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
        per_source = conn.execute(sa.select(item_sources.c.source_id, sa.func.count())
                                  .group_by(item_sources.c.source_id).order_by(item_sources.c.source_id)).all()
        source_rows = conn.execute(sa.select(sources.c.id, sources.c.consecutive_failures)
                                   .order_by(sources.c.id)).all()
        sent = conn.execute(sa.select(bulletins.c.profile_id, sa.func.count())
                            .group_by(bulletins.c.profile_id).order_by(bulletins.c.profile_id)).all()
        by_status = conn.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
                                 .order_by(runs.c.status)).all()
        fetch_errors: dict[str, int] = {}
        for (errors,) in conn.execute(sa.select(runs.c.fetch_errors)):
            for source_id in errors or {}:
                fetch_errors[source_id] = fetch_errors.get(source_id, 0) + 1
    last_ok = last_successful_run(store)

    out: list[str] = []
    out += _family("awareness_items", "gauge", "Items held in the store (one per story, across sources).",
                   [({}, item_total)])
    out += _family("awareness_source_items", "gauge", "Items gathered from each source.",
                   [({"source": sid}, n) for sid, n in per_source])
    known = {sid for sid, _ in source_rows}
    out += _family("awareness_fetch_errors_total", "counter", "Recorded runs in which fetching a source failed.",
                   [({"source": sid}, fetch_errors.get(sid, 0)) for sid in sorted(known | set(fetch_errors))])
    out += _family("awareness_source_consecutive_failures", "gauge",
                   "Failures in a row for each source (0 when its last fetch worked).",
                   [({"source": sid}, n) for sid, n in source_rows])
    out += _family("awareness_bulletins_sent_total", "counter", "Bulletins accepted by the mail server, per profile.",
                   [({"profile": pid}, n) for pid, n in sent])
    out += _family("awareness_runs_total", "counter", "Recorded runs by outcome.",
                   [({"status": status}, n) for status, n in by_status])
    out += _family("awareness_last_successful_run_timestamp_seconds", "gauge",
                   "When the last run without failures finished (Unix time; 0 if none yet).",
                   [({}, last_ok.timestamp() if last_ok else 0)])
    return "\n".join(out) + "\n"
