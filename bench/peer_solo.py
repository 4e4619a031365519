"""The Awareness side of bench/national.py's peer row alone, for working on its speed.

    .venv/bin/python bench/peer_solo.py [--rounds 5] [--profile] [--keep]

Starts the farm (100 feeds, 50 ms latency) and the SMTP sink as national.py does, warms
the farm, then times ``awareness run --now`` from a clean var/ each round and prints each
time, the median, and the emails the sink got.  ``--profile`` adds one round under cProfile
(written to <work>/peer.prof); ``--hold S`` then keeps farm and sink up S seconds
for runs by hand against ``<work>/peer-awareness/awareness.toml``.
Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import national


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="one more round under cProfile")
    parser.add_argument("--hold", type=float, default=0, help="keep farm and sink up this long afterwards")
    parser.add_argument("--work", type=Path, default=national.ROOT / "var" / "bench-solo")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AWARENESS_SECRET_KEY": "bench-secret-not-for-production"}
    with national.feed_farm(work, national.PEER_FEEDS) as farm, \
            national.smtp_sink(work) as (smtp_port, count_file):
        national._warm(farm, national.PEER_FEEDS)
        config = national.make_deployment(work / "peer-awareness", farm=farm, smtp_port=smtp_port,
                                          feeds=national.PEER_FEEDS, subscribers=1, profiles=1)
        base = [str(national.AWARENESS), "--config", str(config), "-q", "run", "--now"]
        times, mails = [], []
        runs = [base] * args.rounds
        if args.profile:
            runs.append([str(national.PYTHON), "-m", "cProfile", "-o", str(work / "peer.prof"),
                         "-m", "awareness", *base[1:]])
        for n, cmd in enumerate(runs):
            shutil.rmtree(config.parent / "var", ignore_errors=True)
            before = national.sink_counts(count_file)["messages"]
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            got = national.sink_counts(count_file)["messages"] - before
            label = "profiled" if n >= args.rounds else f"round {n + 1}"
            print(f"{label}: {elapsed:.2f} s, {got} emails", flush=True)
            if n < args.rounds:
                times.append(elapsed)
                mails.append(got)
        if times:
            print(f"median {statistics.median(times):.2f} s over {len(times)} rounds; emails {mails}", flush=True)
        if args.hold:
            print(f"holding farm {farm} and sink port {smtp_port} for {args.hold:g} s", flush=True)
            time.sleep(args.hold)


if __name__ == "__main__":
    main()
