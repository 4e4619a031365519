"""Soak: the whole pipeline polled again and again against a faulty feed farm (issue 8, item 16).

    .venv/bin/python bench/soak.py                      # 10 minutes, 500 feeds, 100 profiles, 2,000 subscribers
    .venv/bin/python bench/soak.py --minutes 2 --feeds 100 --subscribers 200   # a quick look

Not a test and not part of CI: it prints figures and writes bench/results/soak-<date>.md
and .json.  One long-lived process runs `pipeline.run(force=True)` once a minute (as the
service would), against ``../shared/tools/feedfarm.py serve --faults 0.1`` whose clock runs
six times faster than real time so that every feed publishes new items during the soak, and
an SMTP server in a child process that writes down every (recipient, item link) it receives.

At the end it checks, from what the mail server received (not from our own ledger):
- every item that matched a profile was delivered to each of that profile's subscribers,
  and exactly once (no pair twice; nothing matched and in the window left unsent);
- every faulted feed is reported in the source health with its fault;
- resident memory did not grow from cycle to cycle once warm.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FEEDFARM = ROOT.parent / "shared" / "tools" / "feedfarm.py"
RESULTS = HERE / "results"

# What the source health must say for each kind of fault the farm injects ("" = nothing to report:
# a good aggregator copes with it silently, e.g. by deduplicating or clamping dates).
EXPECTED = {
    "http-404": "HTTP 404", "http-410": "HTTP 410", "http-500": "HTTP 500", "http-503": "HTTP 503",
    "slow": "no complete answer within|stopped answering", "slow-body": "no complete answer within|stopped answering",
    "disconnect": "connection failed", "redirect-loop": "redirect loop", "oversized": "larger than the",
    "html-not-feed": "web page", "xml-bomb": "entity attack", "malformed-xml": "not well-formed|not a feed",
    "wrong-encoding": "", "redirect-chain": "", "xss": "", "dup-guids": "", "missing-fields": "", "future-dates": "",
}


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------ the recording SMTP server (child process)

def serve_sink(port_file: Path, out: Path) -> None:
    """aiosmtpd on 127.0.0.1 writing one JSON line per message: recipient and the farm links in it."""
    import socket

    from aiosmtpd.controller import Controller

    farm_link = re.compile(r"http://127\.0\.0\.1:\d+/docs/\S+?\.html")
    sink = out.open("a", encoding="utf-8")

    class Recorder:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
            text = msg.get_body(preferencelist=("plain",))
            links = sorted(set(farm_link.findall(text.get_content() if text is not None else "")))
            for to in envelope.rcpt_tos:
                sink.write(json.dumps({"to": to, "links": links}) + "\n")
            sink.flush()
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Recorder(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    port_file.write_text(str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(1)
    finally:
        controller.stop()
        sink.close()


# ------------------------------------------------------------------ the deployment

def make_deployment(work: Path, farm: str, smtp_port: int, *, feeds: int, profiles: int, subscribers: int,
                    topics_per_profile: int, lookback_days: int) -> Path:
    sys.path.insert(0, str(FEEDFARM.parent))
    import feedfarm  # type: ignore[import-not-found]
    sys.path.pop(0)
    rng = random.Random(8)
    (work / "profiles").mkdir(parents=True, exist_ok=True)
    per_profile = subscribers // profiles
    for n in range(profiles):
        chosen = rng.sample(sorted(feedfarm.TOPICS), topics_per_profile)
        lines = [f"id: team-{n:03d}", f"name: Team {n:03d}", 'schedule: "0 8 * * MON"',
                 f"lookback_days: {lookback_days}", "max_items: 1000", "subscribers:"]
        lines += [f"  - reader{k}.team{n:03d}@example.nhs.uk" for k in range(per_profile)]
        lines.append("topics:")
        for key in chosen:
            title, phrases = feedfarm.TOPICS[key]
            lines += [f"  - id: {key}", f"    title: {json.dumps(title)}",
                      f"    description: {json.dumps(title + ': ' + ', '.join(phrases[:4]))}",
                      f"    terms: [{', '.join(json.dumps(p) for p in rng.sample(phrases, 3))}]"]
        (work / "profiles" / f"team-{n:03d}.yaml").write_text("\n".join(lines) + "\n")
    (work / "sources.yaml").write_text("".join(f"- id: feed-{i:04d}\n  url: {farm}/feeds/{i}.xml\n"
                                               for i in range(feeds)))
    config = work / "awareness.toml"
    config.write_text("\n".join([
        f'database_url = "sqlite:///{work / "soak.db"}"', 'sources = "sources.yaml"', 'profiles = "profiles"',
        f'smtp_url = "smtp://127.0.0.1:{smtp_port}"', 'sender = "Awareness <awareness@soak.example.nhs.uk>"',
        'base_url = "https://awareness.soak.example.nhs.uk"', 'fetch_allow = ["127.0.0.1"]',
        "fetch_concurrency = 16", "fetch_per_host = 16", "fetch_timeout = 10", "smtp_retry_for = 30", ""]))
    return config


def _wait_for(path: Path, proc: subprocess.Popen[Any], what: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------ checks

def check_deliveries(ctx: Any, sink_file: Path, farm: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from awareness.store import schema as st

    received: Counter[tuple[str, str]] = Counter()
    messages = 0
    for line in sink_file.read_text().splitlines():
        row = json.loads(line)
        messages += 1
        for link in row["links"]:
            received[(row["to"], link)] += 1
    twice = {pair: n for pair, n in received.items() if n > 1}

    now = datetime.now(timezone.utc)
    owed: set[tuple[str, str]] = set()
    with ctx.store.engine.connect() as conn:
        subs: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for r in conn.execute(sa.select(st.subscribers.c.id, st.subscribers.c.profile_id, st.subscribers.c.email)):
            subs[r.profile_id].append((r.id, r.email))
        links = {r.id: r.link for r in conn.execute(sa.select(st.items.c.id, st.items.c.link))}
        published = {r.id: r.published for r in conn.execute(sa.select(st.items.c.id, st.items.c.published))}
        matched: dict[str, set[int]] = defaultdict(set)
        for r in conn.execute(sa.select(st.matches.c.profile_id, st.matches.c.item_id)):
            matched[r.profile_id].add(r.item_id)
        ledger = {(r.email, links[r.item_id]) for r in conn.execute(
            sa.select(st.subscribers.c.email, st.deliveries.c.item_id).select_from(
                st.deliveries.join(st.subscribers, st.subscribers.c.id == st.deliveries.c.subscriber_id)))}
    for profile in ctx.profiles:
        window = now - timedelta(days=profile.lookback_days)
        for item_id in matched[profile.id]:
            if published[item_id] < window:
                continue
            for _sid, address in subs[profile.id]:
                if (address, links[item_id]) not in received:
                    owed.add((address, links[item_id]))
    return {"messages": messages, "pairs_received": len(received), "pairs_in_ledger": len(ledger),
            "pairs_received_twice": len(twice), "matched_but_never_received": len(owed),
            "received_but_not_in_ledger": len(set(received) - ledger),
            "in_ledger_but_not_received": len(ledger - set(received)),
            "examples_twice": [list(p) for p in list(twice)[:3]], "examples_owed": [list(p) for p in list(owed)[:3]]}


def check_faults(ctx: Any, faults: list[dict[str, Any]]) -> dict[str, Any]:
    states = {s.id: s for s in ctx.store.source_states()}
    rows, missed = [], []
    for f in faults:
        state = states[f"feed-{f['feed']:04d}"]
        said = state.last_error or state.last_warning or (f"moved to {state.moved_to}" if state.moved_to else "")
        want = EXPECTED.get(f["fault"], "")
        ok = bool(re.search(want, said or "")) if want else True
        rows.append({"feed": f["feed"], "fault": f["fault"], "reported": (said or "ok")[:160], "as_expected": ok})
        if not ok:
            missed.append(rows[-1])
    healthy_failing = [s.id for s in states.values() if s.last_error and
                       int(s.id.split("-")[1]) not in {f["feed"] for f in faults}]
    return {"faulted": len(faults), "reported_as_expected": len(faults) - len(missed), "missed": missed,
            "healthy_sources_with_errors": healthy_failing, "table": rows}


# ------------------------------------------------------------------ main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--profiles", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--cycle-s", type=float, default=60, help="start a cycle this often (or at once when late)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/awareness-soak"))
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where soak-<date>.md and .json go (make bench's short soak: its scratch folder)")
    parser.add_argument("--sink", nargs=2, metavar=("PORT_FILE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        serve_sink(Path(args.sink[0]), Path(args.sink[1]))
        return
    if not FEEDFARM.exists():
        raise SystemExit(f"needs {FEEDFARM} (the shared feed farm)")

    import shutil
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    farm_args = ["--feeds", str(args.feeds), "--items", "20", "--seed", "3", "--faults", "0.1",
                 "--new-per-hour", "2", "--epoch", "now"]
    farm_proc = subprocess.Popen([sys.executable, str(FEEDFARM), "serve", "--port", "0", "--speed", "6",
                                  "--slow-s", "30", "--port-file", str(args.work / "farm.port"), *farm_args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sink_file = args.work / "received.jsonl"
    sink_proc = subprocess.Popen([sys.executable, __file__, "--sink", str(args.work / "sink.port"), str(sink_file)])
    try:
        farm = f"http://127.0.0.1:{_wait_for(args.work / 'farm.port', farm_proc, 'feedfarm')}"
        smtp_port = int(_wait_for(args.work / "sink.port", sink_proc, "the SMTP sink"))
        faults = [json.loads(line) for line in subprocess.run(
            [sys.executable, str(FEEDFARM), "faults", *farm_args], capture_output=True, text=True,
            check=True).stdout.splitlines()]
        config = make_deployment(args.work, farm, smtp_port, feeds=args.feeds, profiles=args.profiles,
                                 subscribers=args.subscribers, topics_per_profile=2, lookback_days=2)
        os.environ["AWARENESS_SECRET_KEY"] = "soak-secret-not-for-production"
        import logging

        from awareness import pipeline
        from awareness.config.settings import load_settings

        logging.basicConfig(level=logging.ERROR)
        ctx = pipeline.open_context(load_settings(config))
        cycles: list[dict[str, Any]] = []
        started = time.monotonic()
        end = started + args.minutes * 60
        log(f"soak: {args.feeds} feeds ({len(faults)} faulted), {args.profiles} profiles, "
            f"{args.subscribers} subscribers, {args.minutes:g} min")
        while time.monotonic() < end or not cycles:
            t0 = time.monotonic()
            report = pipeline.run(ctx, force=True)
            took = time.monotonic() - t0
            sent = sum(p.sent for p in report.profiles)
            failed = sum(p.failed for p in report.profiles)
            cycles.append({"cycle": len(cycles) + 1, "seconds": round(took, 1), "new_items": report.gather.new_items,
                           "failed_sources": report.gather.failed, "matches": report.matched,
                           "messages_sent": sent, "messages_failed": failed, "rss_mb": round(rss_mb(), 1)})
            log(" ".join(f"{k}={v}" for k, v in cycles[-1].items()))
            pause = args.cycle_s - took
            if time.monotonic() + max(pause, 0) >= end:
                break
            if pause > 0:
                time.sleep(pause)
        time.sleep(1.0)   # let the sink write its last lines
        delivery = check_deliveries(ctx, sink_file, farm)
        fault_report = check_faults(ctx, faults)
        ctx.close()
    finally:
        for proc in (farm_proc, sink_proc):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    warm = cycles[2:] if len(cycles) > 3 else cycles[1:]
    growth = round(warm[-1]["rss_mb"] - warm[0]["rss_mb"], 1) if len(warm) > 1 else 0.0
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "bench/soak.py " + " ".join(sys.argv[1:]),
              "settings": {"minutes": args.minutes, "feeds": args.feeds, "profiles": args.profiles,
                           "subscribers": args.subscribers, "faults": 0.1, "farm_speed": 6, "new_per_hour": 2},
              "cycles": cycles, "rss_growth_mb_after_warmup": growth, "delivery": delivery,
              "faults": {k: v for k, v in fault_report.items() if k != "table"}, "fault_table": fault_report["table"]}
    verdict = {
        "exactly_once": delivery["pairs_received_twice"] == 0 and delivery["received_but_not_in_ledger"] == 0,
        "nothing_owed": delivery["matched_but_never_received"] == 0,
        "every_fault_reported": not fault_report["missed"],
        "memory_flat": growth < 50,
    }
    result["verdict"] = verdict
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"soak-{datetime.now(timezone.utc):%Y-%m-%d}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict[str, Any]) -> str:
    d, f = r["delivery"], r["faults"]
    lines = [f"# Soak run, {r['date']}", "", f"Command: `{r['command']}`", "",
             f"{r['settings']['feeds']} feeds (10% faulted), {r['settings']['profiles']} profiles, "
             f"{r['settings']['subscribers']} subscribers, {r['settings']['minutes']:g} minutes; the farm's clock ran "
             f"{r['settings']['farm_speed']}x, each feed publishing {r['settings']['new_per_hour']} items a farm hour.", "",
             "| cycle | seconds | new items | failed sources | matches | sent | send failures | RSS MB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {c['cycle']} | {c['seconds']} | {c['new_items']} | {c['failed_sources']} | {c['matches']} | "
              f"{c['messages_sent']} | {c['messages_failed']} | {c['rss_mb']} |" for c in r["cycles"]]
    lines += ["", "## Verdict", "",
              f"- messages received by the SMTP server: {d['messages']}; (reader, item) pairs: {d['pairs_received']}",
              f"- pairs received twice: {d['pairs_received_twice']}; received but not in the ledger: "
              f"{d['received_but_not_in_ledger']}; in the ledger but not received: {d['in_ledger_but_not_received']}",
              f"- matched, in the window, and never received: {d['matched_but_never_received']}",
              f"- faulted feeds reported with their fault: {f['reported_as_expected']} of {f['faulted']}"
              + (f" (missed: {f['missed']})" if f["missed"] else ""),
              f"- healthy feeds showing an error at the end: {len(f['healthy_sources_with_errors'])}",
              f"- resident memory growth after warm-up: {r['rss_growth_mb_after_warmup']} MB",
              f"- verdict: {r['verdict']}", "", "## Faulted feeds", "", "| feed | fault | reported |", "| --- | --- | --- |"]
    lines += [f"| {t['feed']} | {t['fault']} | {t['reported'].replace('|', '/')} |" for t in r["fault_table"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
