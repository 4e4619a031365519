"""Awareness at national scale, measured side by side (issue 7).  Prints figures; not a test.

    make bench                                  # all six workloads, full size (30 minutes or more on 2 cores)
    .venv/bin/python bench/national.py --quick  # the same at a tenth of the size, for development

Workloads, all against ../shared/tools/feedfarm.py on 127.0.0.1 (--latency-ms 50)
and an SMTP sink (bench/smtp_sink.py, its own process):

1. national cycle: 1,000 feeds x 50 items, 200 profiles x 10 topics made from the
   farm's topics, 20,000 subscribers; gather, match, compose, deliver
2. re-poll with nothing new: time and bytes (the farm's /stats) against the first poll
3. parser limit: feedparser alone over the same bytes in memory
4. peer: rss2email (digest mode, from PyPI in a scratch venv) against Awareness on 100
   feeds for one profile and one subscriber, alternated
5. growth: the national cycle at 1/16, 1/4 and 1 of the feeds and the subscribers
6. start-up: ``import awareness.pipeline`` in fresh processes (bench/startup.py, issue 19)
7. ingest in one process: the first poll again, parsing in this process only (AWARENESS_PARSE_POOL=0)
8. soak, short: bench/soak.py for a few minutes, for its exactly-once verdict line

Every row of issue 19's table is printed at the end, with its bar and met / not met.

Each phase runs in a child process of its own (``bench/bench_phase.py``), so its
peak memory is that child's ``ru_maxrss``, nothing else's.  Results go to
bench/results/<date>.md and .json (``<date>-quick`` with --quick).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import startup   # bench/startup.py, beside this file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
FEEDFARM = SHARED / "tools" / "feedfarm.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
AWARENESS = ROOT / ".venv" / "bin" / "awareness"
PEER_VENV = Path(os.environ.get("AWARENESS_BENCH_PEER_VENV", "/tmp/awareness-bench-r2e"))
RESULTS = HERE / "results"

FEEDS, ITEMS, PROFILES, TOPICS_PER_PROFILE, SUBSCRIBERS = 1000, 50, 200, 10, 20_000
PEER_FEEDS = 100
LATENCY_MS = 50
GROWTH = (1 / 16, 1 / 4, 1)
# Items go back up to ~150 days (the farm spaces each feed's 50 items 6-72 h apart):
# a lookback this long puts every gathered item in front of every profile, the worst case.
LOOKBACK_DAYS = 160


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------ servers

def _wait_for_file(path: Path, proc: subprocess.Popen[Any], what: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode} before it was ready")
        time.sleep(0.05)
    raise SystemExit(f"{what} was not ready within {timeout:g} s")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def feed_farm(work: Path, feeds: int) -> Iterator[str]:
    """The farm, dated so its newest items are from today (the pipeline runs on the real clock)."""
    port_file = work / "farm.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(FEEDFARM), "serve", "--port", "0", "--feeds", str(feeds),
                             "--items", str(ITEMS), "--seed", "1", "--latency-ms", str(LATENCY_MS),
                             "--epoch", "now", "--speed", "0", "--port-file", str(port_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _wait_for_file(port_file, proc, "feedfarm")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


SINKS: dict[Path, subprocess.Popen[Any]] = {}   # count file -> its sink, for reset_max


@contextmanager
def smtp_sink(work: Path) -> Iterator[tuple[int, Path]]:
    port_file, count_file = work / "sink.port", work / "sink.counts"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([str(PYTHON), str(HERE / "smtp_sink.py"), "--port-file", str(port_file),
                             "--count-file", str(count_file)])
    SINKS[count_file] = proc
    try:
        port = json.loads(_wait_for_file(port_file, proc, "the SMTP sink"))["port"]
        yield port, count_file
    finally:
        _stop(proc)


def reset_max(count_file: Path) -> None:
    """Start the sink's largest-message figure afresh (so it is one phase's)."""
    SINKS[count_file].send_signal(signal.SIGUSR1)
    time.sleep(0.6)   # and let the count file show it


def sink_counts(count_file: Path) -> dict[str, int]:
    time.sleep(0.6)  # the sink rewrites its count file twice a second
    return json.loads(count_file.read_text()) if count_file.exists() else {"messages": 0, "bytes": 0}


def farm_stats(base: str, reset: bool = False) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/stats" + ("?reset=1" if reset else ""), timeout=30) as r:
        return json.loads(r.read())


# ------------------------------------------------------------------ a deployment to measure

def _farm_topics() -> dict[str, tuple[str, list[str]]]:
    sys.path.insert(0, str(FEEDFARM.parent))
    try:
        import feedfarm  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return feedfarm.TOPICS


def _yaml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML scalar


def profile_yaml(n: int, rng: random.Random, topics: dict[str, tuple[str, list[str]]],
                 subscribers: list[str]) -> str:
    """One team: 10 of the farm's 16 topics, each with its own pick of terms and wording."""
    chosen = rng.sample(sorted(topics), TOPICS_PER_PROFILE)
    lines = [f"id: team-{n:03d}", f"name: {_yaml_str(f'Team {n:03d} — library and knowledge service')}",
             f"owner: librarian{n}@example.nhs.uk", 'schedule: "0 8 * * MON"', f"lookback_days: {LOOKBACK_DAYS}",
             "subscribers:"]
    lines += [f"  - {a}" for a in subscribers] if subscribers else []
    if not subscribers:
        lines[-1] = "subscribers: []"
    lines.append("topics:")
    for key in chosen:
        title, phrases = topics[key]
        terms = rng.sample(phrases, rng.randint(2, 5))
        described = rng.sample([p for p in phrases if p not in terms], 3)
        lines += [f"  - id: {key}",
                  f"    title: {_yaml_str(rng.choice([title, f'{title} and policy', f'{title}: evidence and news']))}",
                  f"    description: {_yaml_str(f'{title} for our population: ' + ', '.join(described) + '.')}",
                  f"    terms: [{', '.join(_yaml_str(t) for t in terms)}]"]
        if rng.random() < 0.3:
            lines.append(f"    threshold: {rng.choice([0.3, 0.4, 0.45])}")
    return "\n".join(lines) + "\n"


def make_deployment(where: Path, *, farm: str, smtp_port: int, feeds: int, subscribers: int,
                    profiles: int = PROFILES, seed: int = 7) -> Path:
    """awareness.toml, sources.yaml and profiles/ for one run; returns the config path."""
    if where.exists():
        shutil.rmtree(where)
    (where / "profiles").mkdir(parents=True)
    rng = random.Random(seed)
    topics = _farm_topics()
    # Subscribers spread unevenly, as teams are: weights from 1 to 10, at least one each.
    weights = [rng.randint(1, 10) for _ in range(profiles)]
    if subscribers >= profiles:
        spare = subscribers - profiles
        shares = [1 + spare * w // sum(weights) for w in weights]
        for i in range(subscribers - sum(shares)):   # what rounding down left over
            shares[i % profiles] += 1
    else:
        shares = [1 if i < subscribers else 0 for i in range(profiles)]
    assert sum(shares) == subscribers
    for n in range(profiles):
        addresses = [f"reader{k}.team{n:03d}@example.nhs.uk" for k in range(shares[n])]
        (where / "profiles" / f"team-{n:03d}.yaml").write_text(profile_yaml(n, rng, topics, addresses))
    (where / "sources.yaml").write_text("".join(
        f"- id: feed-{i:04d}\n  url: {farm}/feeds/{i}.xml\n" for i in range(feeds)))
    config = where / "awareness.toml"
    # One farm stands in for a thousand publishers: "per host" is set to the overall
    # limit, as a thousand real sources would spread over hundreds of hosts.
    config.write_text("\n".join([
        'database_url = "sqlite:///var/awareness.db"',
        'sources = "sources.yaml"', 'profiles = "profiles"',
        f'smtp_url = "smtp://127.0.0.1:{smtp_port}"',
        'sender = "Awareness <awareness@bench.example.nhs.uk>"',
        'base_url = "https://awareness.bench.example.nhs.uk"',
        'fetch_allow = ["127.0.0.1"]',
        "fetch_concurrency = 16", "fetch_per_host = 16", ""]))
    return config


def run_phase(config: Path, phase: str, *extra: str, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """One phase in a fresh child process; its last stdout line is its JSON record."""
    started = time.perf_counter()
    env = {**os.environ, "AWARENESS_SECRET_KEY": "bench-secret-not-for-production", **(env_extra or {})}
    cmd = [str(PYTHON), str(HERE / "bench_phase.py"), phase, str(config), *extra]
    if phase in os.environ.get("AWARENESS_BENCH_PROFILE", "").split(","):
        # py-spy's collapsed stacks, for finding where a phase spends its time
        out = config.parent / f"{phase}.pyspy.txt"
        cmd = [str(PYTHON.parent / "py-spy"), "record", "-r", "50", "-f", "raw", "-o", str(out), "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"phase {phase} failed with status {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"phase {phase} printed no figures:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    record = json.loads(lines[-1])
    record["process_s"] = round(time.perf_counter() - started, 2)
    return record


# ------------------------------------------------------------------ workloads

def national_cycle(work: Path, farm: str, smtp_port: int, count_file: Path, *, feeds: int,
                   subscribers: int, label: str, repoll: bool = False) -> dict[str, Any]:
    config = make_deployment(work / label, farm=farm, smtp_port=smtp_port, feeds=feeds, subscribers=subscribers)
    log(f"{label}: {feeds} feeds x {ITEMS} items, {PROFILES} profiles, {subscribers} subscribers")
    out: dict[str, Any] = {"feeds": feeds, "items_per_feed": ITEMS, "profiles": PROFILES,
                           "subscribers": subscribers}
    farm_stats(farm, reset=True)
    out["gather"] = run_phase(config, "gather")
    out["gather"]["farm"] = _poll_stats(farm_stats(farm, reset=True))
    log(f"  gather {out['gather']['seconds']} s, {out['gather']['entries']} entries, "
        f"{out['gather']['peak_mb']} MB")
    if os.environ.get("AWARENESS_BENCH_STOP") == "gather":
        raise SystemExit("stopped after gather (AWARENESS_BENCH_STOP)")
    if repoll:
        out["repoll"] = run_phase(config, "gather")
        out["repoll"]["farm"] = _poll_stats(farm_stats(farm, reset=True))
        log(f"  re-poll {out['repoll']['seconds']} s, {out['repoll']['farm']['bytes_sent']} bytes")
    out["match"] = run_phase(config, "match")
    log(f"  match {out['match']['seconds']} s, {out['match']['matches']} matches, {out['match']['peak_mb']} MB")
    reset_max(count_file)
    before = sink_counts(count_file)
    out["send"] = run_phase(config, "send")
    after = sink_counts(count_file)
    out["send"]["sink_messages"] = after["messages"] - before["messages"]
    out["send"]["sink_bytes"] = after["bytes"] - before["bytes"]
    out["send"]["sink_max_bytes"] = after.get("max_bytes", 0)
    log(f"  send {out['send']['seconds']} s (compose {out['send']['compose_s']} s, deliver "
        f"{out['send']['deliver_s']} s), {out['send']['sent']} sent, sink got {out['send']['sink_messages']}, "
        f"{out['send']['peak_mb']} MB")
    out["total_s"] = round(sum(out[p]["seconds"] for p in ("gather", "match", "send")), 2)
    out["peak_mb"] = max(out[p]["peak_mb"] for p in ("gather", "match", "send"))
    return out


def ingest_one_process(work: Path, farm: str, smtp_port: int, feeds: int) -> dict[str, Any]:
    """The first poll again into a fresh store, parsing in this process only (no parse pool)."""
    config = make_deployment(work / "ingest-1proc", farm=farm, smtp_port=smtp_port, feeds=feeds, subscribers=1,
                             profiles=1)
    return run_phase(config, "gather", env_extra={"AWARENESS_PARSE_POOL": "0"})


def short_soak(work: Path, minutes: float, feeds: int, subscribers: int) -> dict[str, Any]:
    """bench/soak.py, briefly, in its own process: only its verdict is wanted here."""
    cmd = [str(PYTHON), str(HERE / "soak.py"), "--minutes", f"{minutes:g}", "--feeds", str(feeds),
           "--profiles", "20", "--subscribers", str(subscribers), "--cycle-s", "20", "--work", str(work / "soak"),
           "--results", str(work / "soak-results")]   # not bench/results: that is for the full soak
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"the soak failed with status {proc.returncode}")
    written = sorted((work / "soak-results").glob("soak-*.json"), key=lambda f: f.stat().st_mtime)[-1]
    result = json.loads(written.read_text())
    return {"command": result["command"], "verdict": result["verdict"], "cycles": len(result["cycles"]),
            "delivery": result["delivery"], "file": written.name}


def _poll_stats(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("requests", "not_modified_304", "bytes_sent", "body_bytes_sent", "body_bytes_uncompressed",
            "gzip_responses", "max_concurrent_connections")
    return {k: stats.get(k) for k in keys}


def peer_comparison(work: Path, farm: str, smtp_port: int, count_file: Path, rounds: int) -> dict[str, Any]:
    """rss2email and Awareness on the same feeds, in turn, each from a clean slate."""
    r2e = ensure_peer_venv()
    ours = make_deployment(work / "peer-awareness", farm=farm, smtp_port=smtp_port, feeds=PEER_FEEDS,
                           subscribers=1, profiles=1)
    theirs = work / "peer-rss2email"
    times: dict[str, list[float]] = {"rss2email": [], "awareness": []}
    mails: dict[str, list[int]] = {"rss2email": [], "awareness": []}
    env = {**os.environ, "AWARENESS_SECRET_KEY": "bench-secret-not-for-production"}
    for n in range(rounds):
        for who in ("rss2email", "awareness"):
            before = sink_counts(count_file)["messages"]
            if who == "rss2email":
                data = _rss2email_setup(theirs, farm, smtp_port)
                cmd = [str(r2e), "-c", str(theirs / "r2e.cfg"), "-d", str(data), "run"]
            else:
                shutil.rmtree(ours.parent / "var", ignore_errors=True)
                cmd = [str(AWARENESS), "--config", str(ours), "-q", "run", "--now"]
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                raise SystemExit(f"the peer run of {who} failed with status {proc.returncode}")
            times[who].append(round(elapsed, 2))
            mails[who].append(sink_counts(count_file)["messages"] - before)
            log(f"  peer round {n + 1}: {who} {elapsed:.2f} s, {mails[who][-1]} emails")
    median = {k: statistics.median(v) for k, v in times.items()}
    return {"feeds": PEER_FEEDS, "rounds": rounds, "seconds": times, "emails": mails,
            "median_s": median, "ratio": round(median["rss2email"] / median["awareness"], 1)}


def ensure_peer_venv() -> Path:
    r2e = PEER_VENV / "bin" / "r2e"
    if not r2e.exists():
        log(f"making a scratch venv for rss2email in {PEER_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", "rss2email"], check=True)
    return r2e


def _rss2email_setup(where: Path, farm: str, smtp_port: int) -> Path:
    """A fresh rss2email config (digest mode, our SMTP sink) with the same 100 feeds."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    lines = ["[DEFAULT]", "from = awareness-bench@bench.example.nhs.uk", "to = reader@example.nhs.uk",
             "email-protocol = smtp", f"smtp-server = 127.0.0.1:{smtp_port}", "smtp-auth = False",
             "smtp-ssl = False", "digest = True", ""]
    for i in range(PEER_FEEDS):
        lines += [f"[feed.feed-{i:04d}]", f"url = {farm}/feeds/{i}.xml", ""]
    (where / "r2e.cfg").write_text("\n".join(lines))
    return where / "r2e.json"


# ------------------------------------------------------------------ report

def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row of issue 19's table (and the older targets) beside what was measured."""
    nat, rows = results["national"], []
    if "peer" in results:
        p = results["peer"]
        rows.append({"target": f"peer job vs rss2email >= 10x (aim 20x), median of {p['rounds']}",
                     "measured": f"{p['ratio']:.1f}x ({p['median_s']['awareness']} s vs "
                                 f"{p['median_s']['rss2email']} s)", "met": p["ratio"] >= 10})
    ingest = results["ingest"]
    one = results.get("ingest_1proc")
    if one:
        rows.append({"target": "ingest >= 0.7 of feedparser, 1 process (aim 1.5)",
                     "measured": f"{one['ratio']:.2f} ({one['items_per_s']:,.0f} vs "
                                 f"{ingest['feedparser_items_per_s']:,.0f} items/s)", "met": one["ratio"] >= 0.7})
    pooled = nat["feeds"] >= _parse_pool_from()   # below it the cycle parses in one process too
    rows.append({"target": ("ingest >= 1.0 of feedparser, 2 processes" if pooled else
                            f"ingest >= 1.0 of feedparser (1 process: the pool starts at {_parse_pool_from()} feeds)")
                 if one else "ingest >= 0.7 of feedparser's speed",
                 "measured": f"{ingest['ratio']:.2f} ({ingest['items_per_s']:,.0f} vs "
                             f"{ingest['feedparser_items_per_s']:,.0f} items/s)",
                 "met": ingest["ratio"] >= (1.0 if one else 0.7)})
    rows.append({"target": "national cycle < 300 s (aim < 120 s)", "measured": f"{nat['total_s']:.1f} s",
                 "met": nat["total_s"] < 300})
    rows.append({"target": "national cycle peak memory < 1.5 GB (aim < 1 GB)", "measured": f"{nat['peak_mb']:.0f} MB",
                 "met": nat["peak_mb"] < 1536})
    if "startup" in results:   # the import row of issue 19; bench/startup.py prints the commands' rows too
        rows.append(startup.rows(results["startup"])[0])
    s_ = nat["send"]
    if s_.get("sink_messages"):
        average = s_["sink_bytes"] / s_["sink_messages"] / 1000
        largest = s_.get("sink_max_bytes", 0) / 1000
        rows.append({"target": "one subscriber's email < 100 KB (aim < 60 KB), national cycle",
                     "measured": f"{average:.0f} KB average, {largest:.0f} KB largest",
                     "met": average < 100 and largest < 100})
    rp = results["repoll"]
    rows.append({"target": "re-poll < 10% of bytes", "measured": f"{rp['bytes_ratio']:.1%}",
                 "met": rp["bytes_ratio"] < 0.10})
    rows.append({"target": "re-poll < 25% of time", "measured": f"{rp['time_ratio']:.1%}",
                 "met": rp["time_ratio"] < 0.25})
    g = results.get("growth", {})
    if g.get("points"):
        worst = max(g["time_exponent"], g["memory_exponent"])
        rows.append({"target": "time and memory grow no worse than linearly",
                     "measured": f"time ~ n^{g['time_exponent']:.2f}, memory ~ n^{g['memory_exponent']:.2f}",
                     "met": worst <= 1.1})
    if "soak" in results:
        v = results["soak"]["verdict"]
        rows.append({"target": "soak: exactly once, nothing owed",
                     "measured": f"{results['soak']['cycles']} cycles: "
                                 + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in v.items()),
                     "met": bool(v["exactly_once"] and v["nothing_owed"])})
    return rows


def _parse_pool_from() -> int:
    from awareness.gather import parsepool   # the bench's own venv; only this constant is wanted
    return parsepool.POOL_FROM


def targets_table(rows: list[dict[str, Any]]) -> list[str]:
    """The targets as a markdown table: printed last by the bench and at the top of its .md."""
    out = ["| target | measured | met |", "| --- | --- | --- |"]
    return out + [f"| {r['target']} | {r['measured']} | {'met' if r['met'] else '**not met**'} |" for r in rows]


def _exponent(xs: list[float], ys: list[float]) -> float:
    """Slope of log y against log x, least squares: 1.0 is linear."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def markdown(results: dict[str, Any]) -> str:
    nat = results["national"]
    m = results["machine"]
    out = [f"# Benchmark results, {results['date']}", "",
           f"`{results['command']}` on {m['cpus']} CPUs, Python {m['python']}; load average "
           f"{m['load_1_5_15']} at the start, {results['machine_after']['load_1_5_15']} at the end. "
           + results["note"], ""]
    out += [f"- {c}" for c in results.get("caveats", [])] + ([""] if results.get("caveats") else [])
    out += ["## Targets", ""] + targets_table(results["targets"])
    out += ["", f"## 1. National cycle: {nat['feeds']:,} feeds x {nat['items_per_feed']} items, "
                f"{nat['profiles']} profiles x {TOPICS_PER_PROFILE} topics, {nat['subscribers']:,} subscribers", "",
            "Each phase ran in a child process of its own; peak memory is the largest resident set of that process and its workers together, sampled every 50 ms.", "",
            "| phase | seconds | peak MB | what |", "| --- | ---: | ---: | --- |"]
    g, mt, s = nat["gather"], nat["match"], nat["send"]
    out += [f"| gather | {g['seconds']} | {g['peak_mb']} | {g['entries']:,} entries from {g['fetched']} feeds, "
            f"{g['new_items']:,} new items ({g['failed']} failed) |",
            f"| match | {mt['seconds']} | {mt['peak_mb']} | {mt['items']:,} items x {mt['topics']} topics: "
            f"{mt['matches']:,} matches |",
            f"| compose | {s['compose_s']} | {s['peak_mb']} (with deliver) | {s['bulletins_rendered']:,} bulletins "
            f"rendered for {s['sent']:,} subscribers |",
            f"| deliver | {s['deliver_s']} | {s['peak_mb']} (with compose) | {s['sent']:,} emails "
            f"({s['sink_bytes'] / 1e6:,.0f} MB) accepted by the sink, {s['ledger_rows']:,} ledger rows |",
            f"| **whole** | **{nat['total_s']}** | **{nat['peak_mb']}** | the sum of the phases; the largest peak |",
            ""]
    rp = results["repoll"]
    out += ["## 2. Re-poll with nothing new", "", "| poll | seconds | requests | 304s | bytes sent |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| first | {g['seconds']} | {g['farm']['requests']} | {g['farm']['not_modified_304']} | "
            f"{g['farm']['bytes_sent']:,} |",
            f"| again | {nat['repoll']['seconds']} | {nat['repoll']['farm']['requests']} | "
            f"{nat['repoll']['farm']['not_modified_304']} | {nat['repoll']['farm']['bytes_sent']:,} |", "",
            f"The re-poll took {rp['time_ratio']:.1%} of the first poll's time and moved "
            f"{rp['bytes_ratio']:.1%} of its bytes.", ""]
    ing, parse = results["ingest"], results["parser"]
    out += ["## 3. Parser limit", "",
            f"feedparser {parse['feedparser_version']} alone over the same {parse['feeds']:,} feeds held in memory "
            f"({parse['bytes'] / 1e6:.1f} MB, {parse['entries']:,} entries), one process, no network, no store: "
            f"{parse['items_per_s']:,.0f} items/s with its defaults, "
            f"{parse['items_per_s_unsanitised']:,.0f} items/s with its HTML sanitiser off (as Awareness calls it).",
            "",
            f"Awareness's gather phase (fetch, parse, normalise, sanitise with nh3, deduplicate, store): "
            f"{ing['items_per_s']:,.0f} items/s, **{ing['ratio']:.0%}** of feedparser's speed "
            f"({ing['ratio_unsanitised']:.0%} of the sanitiser-off figure). With matching added: "
            f"{ing['with_match_items_per_s']:,.0f} items/s ({ing['with_match_ratio']:.0%}).", ""]
    if "peer" in results:
        p = results["peer"]
        out += ["## 4. Peer: rss2email", "",
                f"rss2email {p.get('version', '')} in digest mode and Awareness (one profile, one subscriber, "
                f"`awareness run --now` from an empty database), each on the same {p['feeds']} feeds with "
                f"{LATENCY_MS} ms latency, delivering to the same SMTP sink, alternated {p['rounds']} times; "
                "wall time of the whole command.", "",
                "| | seconds (each round) | median | emails |", "| --- | --- | ---: | --- |",
                f"| rss2email | {p['seconds']['rss2email']} | {p['median_s']['rss2email']} | {p['emails']['rss2email']} |",
                f"| Awareness | {p['seconds']['awareness']} | {p['median_s']['awareness']} | {p['emails']['awareness']} |",
                "", f"Awareness was **{p['ratio']:.1f}x** faster.", ""]
    gr = results.get("growth", {})
    if gr.get("points"):
        out += ["## 5. Growth", "", "The cycle at 1/16, 1/4 and all of this run's feeds (items) and subscribers.", "",
                "| fraction | feeds | subscribers | gather s | match s | send s | whole s | peak MB |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for pt in gr["points"]:
            out.append(f"| {pt['scale']} | {pt['feeds']:,} | {pt['subscribers']:,} | {pt['gather_s']} | "
                       f"{pt['match_s']} | {pt['send_s']} | {pt['total_s']} | {pt['peak_mb']} |")
        out += ["", f"Fitted growth: time ~ n^{gr['time_exponent']:.2f}, peak memory ~ n^{gr['memory_exponent']:.2f} "
                    "(1.0 is linear; memory has a fixed floor of the interpreter and libraries, so it grows "
                    "more slowly than n).", ""]
    return "\n".join(out)


# ------------------------------------------------------------------ main

def main() -> None:
    parser = argparse.ArgumentParser(description="Awareness at national scale (issue 7)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the size and one peer round")
    parser.add_argument("--scale", type=float, default=None, help="fraction of the full size (default 1)")
    parser.add_argument("--peer-rounds", type=int, default=None, help="alternations with rss2email (default 3)")
    parser.add_argument("--skip", default="",
                        help="comma-separated workloads to skip: peer,growth,startup,ingest1,soak")
    parser.add_argument("--only", choices=("peer",), help="only this workload (figures printed, no results file)")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench", help="scratch folder")
    parser.add_argument("--render", type=Path, help="only rewrite the .md next to this results .json")
    args = parser.parse_args()
    if args.render:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return
    if not FEEDFARM.exists():
        raise SystemExit(f"{FEEDFARM} is missing: the benchmark needs ../shared/tools/feedfarm.py")
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)
    rounds = args.peer_rounds or (1 if args.quick else 3)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    feeds, subscribers = max(16, round(FEEDS * scale)), max(16, round(SUBSCRIBERS * scale))
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench" if scale == 1 and not args.quick else f"bench/national.py --scale {scale:g}",
        "scale": scale, "machine": machine(),
        "note": "The machine was shared with other work while this ran, so absolute times are noisy; "
                "compare the ratios, which were measured in the same run.",
    }
    if args.only == "peer":
        with feed_farm(work, PEER_FEEDS) as farm, smtp_sink(work) as (smtp_port, count_file):
            _warm(farm, PEER_FEEDS)
            peer = peer_comparison(work, farm, smtp_port, count_file, rounds)
        print(json.dumps(peer, indent=2))
        log(f"peer: rss2email {peer['median_s']['rss2email']} s, Awareness {peer['median_s']['awareness']} s, "
            f"{peer['ratio']}x")
        return
    t0 = time.perf_counter()
    if "startup" not in skip:   # first, while nothing else of the bench is running
        results["startup"] = startup.measure()
        log(f"start-up: import awareness.pipeline {results['startup']['import_pipeline_s']:.3f} s")
    with feed_farm(work, max(feeds, PEER_FEEDS)) as farm, smtp_sink(work) as (smtp_port, count_file):
        log(f"farm {farm}, SMTP sink on port {smtp_port}")
        # The parser workload fetches every feed once, which also warms the farm's cache
        # so that the first poll below does not pay for the farm rendering its feeds.
        parse = run_phase(work / "unused.toml", "parse", farm, str(feeds))
        results["parser"] = parse
        log(f"parser limit: {parse['items_per_s']:,.0f} items/s ({parse['items_per_s_unsanitised']:,.0f} "
            "without feedparser's sanitiser)")
        nat = national_cycle(work, farm, smtp_port, count_file, feeds=feeds, subscribers=subscribers,
                             label="national", repoll=True)
        results["national"] = nat
        first, again = nat["gather"], nat["repoll"]
        results["repoll"] = {"time_ratio": again["seconds"] / first["seconds"],
                             "bytes_ratio": again["farm"]["bytes_sent"] / first["farm"]["bytes_sent"]}
        items_per_s = first["entries"] / first["seconds"]
        with_match = first["entries"] / (first["seconds"] + nat["match"]["seconds"])
        results["ingest"] = {"items_per_s": items_per_s, "feedparser_items_per_s": parse["items_per_s"],
                             "ratio": items_per_s / parse["items_per_s"],
                             "ratio_unsanitised": items_per_s / parse["items_per_s_unsanitised"],
                             "with_match_items_per_s": with_match,
                             "with_match_ratio": with_match / parse["items_per_s"]}
        if "ingest1" not in skip:
            one = ingest_one_process(work, farm, smtp_port, feeds)
            rate = one["entries"] / one["seconds"]
            results["ingest_1proc"] = {"items_per_s": rate, "ratio": rate / parse["items_per_s"],
                                       "seconds": one["seconds"], "entries": one["entries"]}
            log(f"ingest in one process: {rate:,.0f} items/s ({results['ingest_1proc']['ratio']:.2f} of feedparser)")
        if "peer" not in skip:
            log(f"peer: rss2email against Awareness on {PEER_FEEDS} feeds, {rounds} round(s)")
            try:
                results["peer"] = peer_comparison(work, farm, smtp_port, count_file, rounds)
                results["peer"]["version"] = _peer_version()
            except SystemExit as e:   # keep the other workloads' figures
                results["peer_error"] = str(e)
                log(f"peer comparison failed: {e}")
        if "growth" not in skip:
            points = []
            for fraction in GROWTH:
                if fraction == 1:
                    run = nat
                else:
                    run = national_cycle(work, farm, smtp_port, count_file, feeds=max(4, round(feeds * fraction)),
                                         subscribers=max(4, round(subscribers * fraction)),
                                         label=f"growth-{fraction:g}")
                points.append({"scale": f"{fraction:g}", "feeds": run["feeds"], "subscribers": run["subscribers"],
                               "gather_s": run["gather"]["seconds"], "match_s": run["match"]["seconds"],
                               "send_s": run["send"]["seconds"], "total_s": run["total_s"],
                               "peak_mb": run["peak_mb"]})
            xs = [float(p["feeds"]) for p in points]
            results["growth"] = {"points": points,
                                 "time_exponent": _exponent(xs, [p["total_s"] for p in points]),
                                 "memory_exponent": _exponent(xs, [p["peak_mb"] for p in points])}
    if "soak" not in skip:   # its own farm and sink; a few minutes
        minutes = 1.0 if args.quick else 3.0
        log(f"soak: {minutes:g} min for its exactly-once verdict")
        try:
            results["soak"] = short_soak(work, minutes, feeds=50 if args.quick else 100,
                                         subscribers=100 if args.quick else 400)
            log(f"  soak verdict {results['soak']['verdict']}")
        except SystemExit as e:
            results["soak_error"] = str(e)
            log(f"soak failed: {e}")
    results["machine_after"] = machine()
    results["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    results["targets"] = judge(results)
    RESULTS.mkdir(exist_ok=True)
    stem = results["date"] + ("" if results["command"] == "make bench" else f"-scale{scale:g}")
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(results))
    print()
    print(markdown(results))
    print()
    print("## Issue 19's targets, from this run")   # last, so they are what the terminal shows
    print()
    print("\n".join(targets_table(results["targets"])))
    print()
    log(f"wrote {RESULTS / stem}.md and .json in {results['bench_wall_s']} s")


def _warm(farm: str, feeds: int) -> None:
    """Fetch every feed once, so neither peer run pays for the farm rendering its feeds."""
    for n in range(feeds):
        with urllib.request.urlopen(f"{farm}/feeds/{n}.xml", timeout=60) as r:
            r.read()


def _peer_version() -> str:
    proc = subprocess.run([str(PEER_VENV / "bin" / "r2e"), "--version"], capture_output=True, text=True)
    return (proc.stdout or proc.stderr).strip().split()[-1] if proc.returncode == 0 else ""


if __name__ == "__main__":
    main()
