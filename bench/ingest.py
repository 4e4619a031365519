"""Ingest at the parser's pace, and the peer job, measured (issue 19).  Prints figures; not a test.

    .venv/bin/python bench/ingest.py                  # ingest vs feedparser, then the peer job (3 runs)
    .venv/bin/python bench/ingest.py --only ingest    # or --only peer
    .venv/bin/python bench/ingest.py --profile        # also a cProfile of one peer run (top 25 by cumulative)

ingest: the farm's feeds fetched once into memory, then (a) feedparser alone on those
bytes, as bench/national.py measures it, (b) ``parse_feed`` + ``Store.add_items`` into a
fresh SQLite database in this process, (c) the same with the parse pool of 2 workers.
peer: ``awareness run --now`` from an empty database on 100 feeds x 50 items, 50 ms
latency, one profile, one subscriber, as bench/national.py's peer section runs it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import national   # bench/national.py, beside this file

ROOT = national.ROOT
# before/after switches: feedparser only (as before issue 19's fast path), and no parse pool
VARIANTS = {"as shipped": {}, "feedparser only": {"AWARENESS_FAST_PARSE": "0"}}


def fetch_bodies(farm: str, feeds: int) -> list[bytes]:
    def get(n: int) -> bytes:
        with urllib.request.urlopen(f"{farm}/feeds/{n}.xml", timeout=60) as r:
            return r.read()
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(get, range(feeds)))


def feedparser_alone(bodies: list[bytes]) -> tuple[float, int]:
    import feedparser
    started = time.perf_counter()
    entries = sum(len(feedparser.parse(b).entries) for b in bodies)
    return time.perf_counter() - started, entries


def ingest(bodies: list[bytes], farm: str, workers: int) -> tuple[float, int]:
    """parse_feed + add_items for every body, parsing in-process (1) or in the parse pool (2)."""
    from awareness.gather import parsepool
    from awareness.gather.parse import parse_feed
    from awareness.store.store import Store
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/ingest.db")
        started = time.perf_counter()
        stored = 0
        if workers == 1:
            for n, body in enumerate(bodies):
                parsed = parse_feed(f"feed-{n}", f"{farm}/feeds/{n}.xml", body, content_type="application/xml",
                                    now=now)
                stored += len(store.add_items(f"feed-{n}", parsed.items, now=now).new)
        else:
            pool = parsepool.open_pool(max(len(bodies), parsepool.POOL_FROM))
            assert pool is not None, "no pool on this machine (one core, or AWARENESS_PARSE_POOL=0)"
            with pool:
                futures = [pool.submit(parsepool.parse_job, f"feed-{n}", f"{farm}/feeds/{n}.xml", body,
                                       "application/xml", now) for n, body in enumerate(bodies)]
                for n, future in enumerate(futures):
                    parsed = future.result()
                    stored += len(store.add_items(f"feed-{n}", parsed.items, now=now).new)
        seconds = time.perf_counter() - started
        store.engine.dispose()
    return seconds, stored


def run_ingest(farm: str, feeds: int, rounds: int) -> None:
    bodies = fetch_bodies(farm, feeds)
    print(f"ingest: {feeds} feeds, {sum(map(len, bodies)) / 1e6:.1f} MB in memory, {rounds} rounds alternated")
    runs: dict[str, list[float]] = {"feedparser": [], "ingest-1": [], "ingest-2": []}
    entries = 0
    for _ in range(rounds):
        t, entries = feedparser_alone(bodies)
        runs["feedparser"].append(entries / t)
        for w in (1, 2):
            t, stored = ingest(bodies, farm, w)
            runs[f"ingest-{w}"].append(stored / t)
    fp = statistics.median(runs["feedparser"])
    for key, values in runs.items():
        med = statistics.median(values)
        print(f"  {key:11s} {med:8,.0f} items/s (median of {[round(v) for v in values]})  "
              f"ratio {med / fp:.2f}")


def _peer_config(work: Path, farm: str, smtp_port: int) -> Path:
    return national.make_deployment(work / "peer-awareness", farm=farm, smtp_port=smtp_port,
                                    feeds=national.PEER_FEEDS, subscribers=1, profiles=1)


def run_peer(work: Path, farm: str, smtp_port: int, count_file: Path, rounds: int, profile: bool,
             before: Path | None = None) -> None:
    """``awareness run --now`` from an empty database; with ``before`` (another checkout's
    ``awareness``), that one and this one in turn, round by round."""
    config = _peer_config(work, farm, smtp_port)
    env = {**os.environ, "AWARENESS_SECRET_KEY": "bench-secret-not-for-production"}
    binaries = {"this checkout": national.AWARENESS, **({"before": before} if before else {})}
    times: dict[str, list[float]] = {label: [] for label in binaries}
    for n in range(rounds):
        for label, binary in binaries.items():
            shutil.rmtree(config.parent / "var", ignore_errors=True)
            before_count = national.sink_counts(count_file)["messages"]
            started = time.perf_counter()
            proc = subprocess.run([str(binary), "--config", str(config), "-q", "run", "--now"],
                                  capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                raise SystemExit(f"awareness run failed with status {proc.returncode}")
            times[label].append(elapsed)
            sent = national.sink_counts(count_file)["messages"] - before_count
            print(f"  peer run {n + 1} ({label}): {elapsed:.2f} s, {sent} emails", flush=True)
    for label, values in times.items():
        print(f"peer ({label}): awareness run --now median {statistics.median(values):.2f} s over {rounds} "
              f"{[round(v, 2) for v in values]}")
    if profile:   # -m cProfile: the breakdown below is the honest wall clock
        shutil.rmtree(config.parent / "var", ignore_errors=True)
        out = work / "peer.prof"
        subprocess.run([str(national.PYTHON), "-m", "cProfile", "-o", str(out), str(national.AWARENESS),
                        "--config", str(config), "-q", "run", "--now"], check=True, env=env,
                       capture_output=True)
        text = io.StringIO()
        pstats.Stats(str(out), stream=text).sort_stats("cumulative").print_stats(25)
        print(text.getvalue())


def breakdown(config: str) -> None:
    """One ``run --now`` in this process, step by step (what ``pipeline.run`` does, timed)."""
    t0 = time.perf_counter()
    from awareness import pipeline
    from awareness.config.settings import load_settings
    spent = {"import": time.perf_counter() - t0}
    t = time.perf_counter()
    ctx = pipeline.open_context(load_settings(config))
    spent["open_context"] = time.perf_counter() - t
    now = pipeline.utcnow()
    steps = [("gather", lambda: pipeline.refresh_due(ctx, now=now, force=True)),
             ("crawl", lambda: pipeline.crawl_due(ctx, now=now, force=True, report=pipeline.GatherReport())),
             ("enrich", lambda: pipeline.enrich_new_items(ctx.store, ctx.settings, now=now)),
             ("match", lambda: pipeline.match_recent(ctx, now=now)),
             ("send", lambda: pipeline.send_due_bulletins(ctx, now=now, force=True, due_only=True))]
    for name, step in steps:
        t = time.perf_counter()
        step()
        spent[name] = time.perf_counter() - t
    ctx.close()
    print("  breakdown: " + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
          + f"; total {sum(spent.values()):.2f} s", flush=True)


def run_breakdown(work: Path, farm: str, smtp_port: int, variants: dict[str, dict[str, str]]) -> None:
    """The peer run step by step, each variant (extra environment) in turn."""
    config = _peer_config(work, farm, smtp_port)
    for label, extra in variants.items():
        shutil.rmtree(config.parent / "var", ignore_errors=True)
        env = {**os.environ, "AWARENESS_SECRET_KEY": "bench-secret-not-for-production", **extra}
        print(f"  {label}:", flush=True)
        subprocess.run([str(national.PYTHON), __file__, "--breakdown-of", str(config)], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("ingest", "peer"), help="one workload only")
    parser.add_argument("--feeds", type=int, default=200, help="feeds for the ingest workload")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one peer run")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-ingest")
    parser.add_argument("--before", type=Path, help="another checkout's .venv/bin/awareness, run in turn")
    parser.add_argument("--breakdown-of", help=argparse.SUPPRESS)   # the child that times one run
    args = parser.parse_args()
    if args.breakdown_of:
        os.chdir(Path(args.breakdown_of).parent)
        breakdown(args.breakdown_of)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    with national.feed_farm(args.work, max(args.feeds, national.PEER_FEEDS)) as farm, \
            national.smtp_sink(args.work) as (smtp_port, count_file):
        if args.only in (None, "ingest"):
            run_ingest(farm, args.feeds, args.rounds)
        if args.only in (None, "peer"):
            fetch_bodies(farm, national.PEER_FEEDS)    # warm the farm's cache, as national.py does
            run_peer(args.work, farm, smtp_port, count_file, args.rounds, args.profile, args.before)
            run_breakdown(args.work, farm, smtp_port, VARIANTS)


if __name__ == "__main__":
    main()
