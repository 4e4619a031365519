"""One phase of the national benchmark, alone in this process, its peak memory sampled with its workers'.

    bench_phase.py gather|match|send CONFIG
    bench_phase.py parse CONFIG FARM_URL FEEDS

Prints one JSON line: the phase's figures, ``seconds`` (the phase itself, after
imports and loading the profiles) and ``peak_mb``.  Called by bench/national.py.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import sqlalchemy as sa


class TreeMemory:
    """Peak resident memory of this process and all its descendants together, sampled.

    ru_maxrss cannot give it: a worker started by fork+exec inherits its parent's
    high-water mark at the fork, so every worker would look as large as the main
    process.  Summing VmRSS over the live process tree every few milliseconds can
    miss a spike shorter than the interval, but never double-counts.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_kb = 0
        self.peak_self_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        me = os.getpid()
        rss = _tree_rss_kb(me)
        self.peak_kb = max(self.peak_kb, sum(rss.values()))
        self.peak_self_kb = max(self.peak_self_kb, rss.get(me, 0))

    def figures(self) -> dict[str, float]:
        own = max(self.peak_self_kb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return {"peak_mb": round(max(self.peak_kb, own) / 1024, 1), "peak_self_mb": round(own / 1024, 1),
                "peak_workers_mb": round(max(self.peak_kb - self.peak_self_kb, 0) / 1024, 1)}


def _tree_rss_kb(root: int) -> dict[int, int]:
    """VmRSS in kB of ``root`` and every process descended from it (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue          # gone between listing and reading
        parents[int(entry)] = int(fields.get("PPid", "0").strip())
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return {pid: rss.get(pid, 0) for pid in tree}


def _count(store: Any, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def gather(config: str) -> dict[str, Any]:
    from awareness import pipeline
    from awareness.store import schema as store_module
    from awareness.config.settings import load_settings
    ctx = pipeline.open_context(load_settings(config))
    before = _count(ctx.store, store_module.item_sources)
    started = time.perf_counter()
    report = pipeline.refresh_due(ctx, force=True)
    seconds = time.perf_counter() - started
    entries = _count(ctx.store, store_module.item_sources) - before
    ctx.close()
    return {"seconds": round(seconds, 2), "entries": entries, "fetched": report.fetched,
            "unchanged": report.unchanged, "failed": report.failed, "new_items": report.new_items,
            "errors": dict(list(report.errors.items())[:5])}


def match(config: str) -> dict[str, Any]:
    from awareness import pipeline
    from awareness.config.settings import load_settings
    ctx = pipeline.open_context(load_settings(config))
    started = time.perf_counter()
    matches = pipeline.match_recent(ctx)
    seconds = time.perf_counter() - started
    items = len(ctx.store.items_since(pipeline.utcnow() - pipeline.timedelta(days=max(
        p.lookback_days for p in ctx.profiles))))
    topics = sum(len(p.topics) for p in ctx.profiles)
    ctx.close()
    return {"seconds": round(seconds, 2), "matches": matches, "items": items, "topics": topics}


def _timed(fn: Callable[..., Any], bucket: dict[str, float], key: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            bucket[key] += time.perf_counter() - t
            bucket[key + "_calls"] += 1
    return wrapper


class _RenderEachInFull:
    """``plain``: what sending cost before issue 7's shortcuts, for before/after figures."""

    def __init__(self, composer: Any) -> None:
        self.composer = composer

    def render(self, bulletin: Any, links: Any) -> Any:
        return self.composer.render(bulletin, links=links)


def send(config: str, profiles: int = 0, plain: bool = False) -> dict[str, Any]:
    """Compose and deliver in one go, as ``awareness run`` does; the time inside composing
    (choosing the items, grouping, rendering) is counted apart from the rest (deliver).

    ``profiles``: only the first N profiles; ``plain``: without the shared-candidates
    cache and the render-once personaliser (the code path before issue 7)."""
    from awareness.deliver import bulletin, sending
    from awareness import pipeline
    from awareness.store import schema as store_module
    from awareness.config.settings import load_settings
    ctx = pipeline.open_context(load_settings(config))
    if profiles:
        ctx.profiles = ctx.profiles[:profiles]
    if plain:
        original = sending.compose_for
        sending.compose_for = lambda *a, cache=None, **k: original(*a, **k)  # type: ignore[assignment]
        sending.LinkPersonaliser = _RenderEachInFull  # type: ignore[assignment,misc]
    spent: dict[str, float] = {"choose": 0.0, "choose_calls": 0, "render": 0.0, "render_calls": 0}
    for name in ("compose_for", "compose_profile"):
        if hasattr(sending, name):   # the module that composes (it calls compose_for by name)
            setattr(sending, name, _timed(getattr(sending, name), spent, "choose"))
    bulletin.Composer.render = _timed(bulletin.Composer.render, spent, "render")  # type: ignore[method-assign]
    started = time.perf_counter()
    reports = pipeline.send_due_bulletins(ctx, force=True)
    seconds = time.perf_counter() - started
    compose = spent["choose"] + spent["render"]
    out = {"seconds": round(seconds, 2), "compose_s": round(compose, 2), "deliver_s": round(seconds - compose, 2),
           "choose_s": round(spent["choose"], 2), "render_s": round(spent["render"], 2),
           "bulletins_rendered": int(spent["render_calls"]),
           "sent": sum(r.sent for r in reports), "failed": sum(r.failed for r in reports),
           "items_sent": sum(r.items for r in reports),
           "ledger_rows": _count(ctx.store, store_module.deliveries),
           "errors": [e for r in reports for e in r.errors][:5]}
    ctx.close()
    return out


def parse(farm: str, feeds: int) -> dict[str, Any]:
    """feedparser alone over the farm's feeds held in memory: the ceiling for ingest."""
    import feedparser

    def get(n: int) -> bytes:
        with urllib.request.urlopen(f"{farm}/feeds/{n}.xml", timeout=60) as r:
            return r.read()

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(get, range(feeds)))

    def timed(**options: Any) -> tuple[float, int]:
        started = time.perf_counter()
        entries = sum(len(feedparser.parse(b, **options).entries) for b in bodies)
        return time.perf_counter() - started, entries

    # Best of two, alternating: the ceiling is what feedparser can do when the shared machine lets it.
    default, unsanitised = [], []
    for _ in range(2):
        default.append(timed())
        unsanitised.append(timed(sanitize_html=False))
    seconds, entries = min(default)
    return {"seconds": round(seconds, 2), "feeds": feeds, "bytes": sum(map(len, bodies)), "entries": entries,
            "runs_s": [round(t, 2) for t, _ in default], "runs_unsanitised_s": [round(t, 2) for t, _ in unsanitised],
            "items_per_s": entries / seconds, "items_per_s_unsanitised": entries / min(unsanitised)[0],
            "feedparser_version": feedparser.__version__}


def main() -> None:
    phase, config, *rest = sys.argv[1:]
    with TreeMemory() as memory:
        if phase == "parse":
            record = parse(rest[0], int(rest[1]))
        elif phase == "send" and rest:
            record = send(config, int(rest[0]), plain="plain" in rest)
        else:
            record = {"gather": gather, "match": match, "send": send}[phase](config)
    record.update(memory.figures())
    print(json.dumps(record))


if __name__ == "__main__":
    main()
