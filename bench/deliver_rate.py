"""Compose and send rates on a national-like workload, without the whole national bench (issue 19).

    .venv/bin/python bench/deliver_rate.py                                # 600 profiles, 20,000 subscribers
    .venv/bin/python bench/deliver_rate.py --profiles 60 --subscribers 2000   # a quick look

Builds a deployment in a temporary folder (one SQLite database, ``--profiles`` teams sharing
``--subscribers`` readers, ``--items`` matched items per team), then times one real
``send_due_bulletins`` into bench/smtp_sink.py (its own process) and prints: messages per
second, what the sink received and the average email size.
A second run with nothing new shows what checking costs.  Figures only; no thresholds.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from awareness import pipeline  # noqa: E402
from awareness.config.settings import load_settings  # noqa: E402
from awareness.core.models import Item, Match  # noqa: E402
from awareness.deliver import sending  # noqa: E402

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
WORDS = ("integrated care frailty falls workforce maternity inequalities digital prevention "
         "screening vaccination dementia stroke diabetes obesity smoking alcohol housing").split()


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        if proc.poll() is not None:
            raise SystemExit("the SMTP sink stopped before it started")
        time.sleep(0.05)
    raise SystemExit("the SMTP sink did not start")


def deployment(where: Path, *, profiles: int, subscribers: int, port: int) -> Path:
    """Profiles with their readers (each reader on one team, a few on two), one source each."""
    (where / "profiles").mkdir(parents=True)
    rng = random.Random(19)
    readers = [f"reader{n}@trust{n % 97}.example.nhs.uk" for n in range(subscribers)]
    per_team: list[list[str]] = [[] for _ in range(profiles)]
    for n, address in enumerate(readers):
        per_team[n % profiles].append(address)
        if rng.random() < 0.05:
            per_team[rng.randrange(profiles)].append(address)
    for p in range(profiles):
        topics = "".join(f"  - id: t{t}\n    title: Topic {t} of team {p}\n    terms: [{WORDS[t]}]\n"
                         for t in range(5))
        subs = "".join(f"  - {a}\n" for a in sorted(set(per_team[p])))
        (where / "profiles" / f"team-{p:03d}.yaml").write_text(
            f"id: team-{p:03d}\nname: Team {p:03d} — library and knowledge service\n"
            f"owner: librarian{p}@example.nhs.uk\nlookback_days: 7\nsources: [src-{p % 50}]\n"
            f"subscribers:\n{subs}topics:\n{topics}")
    (where / "sources.yaml").write_text("".join(f"- id: src-{s}\n  url: https://feeds{s}.example.org/rss\n"
                                                for s in range(50)))
    config = where / "awareness.toml"
    config.write_text(f'database_url = "sqlite:///{where / "a.db"}"\nsmtp_url = "smtp://127.0.0.1:{port}"\n'
                      'base_url = "https://awareness.example.nhs.uk"\nsender = "Library <library@example.nhs.uk>"\n')
    return config


def fill(ctx: pipeline.Context, *, profiles: int, items: int) -> None:
    """``items`` new items per source, each matched by the profiles that read that source."""
    rng = random.Random(7)
    for s in range(50):
        new = [Item(source_id=f"src-{s}", guid=f"src-{s}-{i}", link=f"https://feeds{s}.example.org/pub/{i}",
                    title=f"{' '.join(rng.sample(WORDS, 6)).capitalize()}: report {s}-{i} for England",
                    summary=" ".join(rng.choices(WORDS, k=60)) + ".", published=NOW - timedelta(hours=i + 1),
                    content_hash=f"h-{s}-{i}", title_key=f"k-{s}-{i}")
               for i in range(items)]
        stored = ctx.store.add_items(f"src-{s}", new, now=NOW).new
        found = [Match(it, f"team-{p:03d}", f"t{(it + p) % 5}", 0.5 + rng.random() / 2,
                       (WORDS[(it + p) % 5],)) for p in range(s, profiles, 50) for it in stored]
        ctx.store.replace_matches(list(stored), found)


def one_run(config: Path, count_file: Path, profile: bool) -> dict[str, float]:
    ctx = pipeline.open_context(load_settings(config, environ={"AWARENESS_SECRET_KEY": "bench"}))
    try:
        before = _counts(count_file)
        start = time.perf_counter()
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        reports = sending.send_due_bulletins(ctx, now=NOW, force=True)
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        took = time.perf_counter() - start
        after = _counts(count_file)
    finally:
        ctx.close()
    sent = sum(r.sent for r in reports)
    got = after["messages"] - before["messages"]
    size = after["bytes"] - before["bytes"]
    return {"seconds": took, "sent": sent, "failed": sum(r.failed for r in reports), "received": got,
            "per_second": sent / took if took else 0.0, "avg_kb": size / got / 1000 if got else 0.0}


def _counts(count_file: Path) -> dict[str, int]:
    time.sleep(0.6)   # the sink rewrites its count file twice a second
    return json.loads(count_file.read_text()) if count_file.exists() else {"messages": 0, "bytes": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=600)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=50, help="new items per source (50 sources)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the sending run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deliver-rate-") as tmp:
        work = Path(tmp)
        port_file, count_file = work / "sink.port", work / "sink.counts"
        sink = subprocess.Popen([sys.executable, str(HERE / "smtp_sink.py"), "--port-file", str(port_file),
                                 "--count-file", str(count_file)])
        try:
            port = json.loads(_wait_for(port_file, sink))["port"]
            config = deployment(work / "d", profiles=args.profiles, subscribers=args.subscribers, port=port)
            ctx = pipeline.open_context(load_settings(config, environ={"AWARENESS_SECRET_KEY": "bench"}))
            try:
                fill(ctx, profiles=args.profiles, items=args.items)
            finally:
                ctx.close()
            first = one_run(config, count_file, args.profile)
            again = one_run(config, count_file, False)
        finally:
            sink.terminate()
            sink.wait(10)
    print(f"workload              {args.profiles} profiles, {args.subscribers} subscribers, "
          f"{args.items} new items per source")
    print(f"compose + send        {first['seconds']:7.1f} s for {first['sent']:.0f} messages "
          f"({first['per_second']:.0f}/s), {first['failed']:.0f} failed, sink got {first['received']:.0f}")
    print(f"average email         {first['avg_kb']:7.1f} KB")
    print(f"again, nothing new    {again['seconds']:7.1f} s, {again['sent']:.0f} sent")


if __name__ == "__main__":
    main()
