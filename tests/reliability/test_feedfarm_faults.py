"""All 18 of the shared feed farm's faults in one gather: each broken feed is reported with its own
fault, the healthy ones are read in full, and the run is not held up.  Skips without ../shared.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest

from awareness import pipeline
from conftest import SHARED
from relworld import make_world

FARM = SHARED / "tools" / "feedfarm.py"
FARM_ARGS = ["--feeds", "36", "--faults", "0.5", "--items", "10", "--seed", "5", "--epoch", "now"]
# What the source's health must say for each fault ("" = handled quietly: the feed is read)
EXPECTED = {
    "http-404": "HTTP 404", "http-410": "HTTP 410 Gone", "http-500": "HTTP 500", "http-503": "HTTP 503.*retry after 120 s",
    "slow": "no complete answer within 2 s", "slow-body": "no complete answer within 2 s",
    "disconnect": "connection failed", "redirect-loop": "redirect loop", "oversized": "larger than the 1 MB cap",
    "html-not-feed": r"web page, not a feed; its feed appears to be at http://127\.0\.0\.1:\d+/moved/",
    "xml-bomb": "entity attack", "malformed-xml": "not well-formed|not a feed",
}
QUIET = {"wrong-encoding", "redirect-chain", "xss", "dup-guids", "missing-fields", "future-dates"}


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[str]:
    if not FARM.exists():
        pytest.skip(f"{FARM} is not here (it lives in ../shared)")
    port_file = tmp_path / "farm.port"
    proc = subprocess.Popen([sys.executable, str(FARM), "serve", "--port", "0", "--port-file", str(port_file),
                             "--slow-s", "6", "--oversize-mb", "2", "--speed", "0", *FARM_ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None, "feedfarm did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_every_farm_fault_is_reported_with_its_own_fault_and_healthy_feeds_are_read(
        tmp_path: Path, farm: str) -> None:
    listed = subprocess.run([sys.executable, str(FARM), "faults", *FARM_ARGS], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    faults = {f["feed"]: f for f in map(json.loads, listed)}
    assert {f["fault"] for f in faults.values()} == set(EXPECTED) | QUIET, "all 18 kinds are in play"
    world = make_world(tmp_path, {f"feed-{n:02d}": f"{farm}/feeds/{n}.xml" for n in range(36)})
    ctx = world.context(fetch_timeout=2, fetch_max_bytes=1_000_000)
    started = time.monotonic()
    report = pipeline.refresh_due(ctx)
    assert time.monotonic() - started < 15, "slow feeds are cut off at the deadline, in parallel"
    states = {s.id: s for s in ctx.store.source_states()}
    for n in range(36):
        state, fault = states[f"feed-{n:02d}"], faults.get(n)
        kind = fault["fault"] if fault else None
        if kind == "malformed-xml":   # salvaged: read, with what was wrong kept as the source's warning
            said = state.last_error or state.last_warning or ""
            assert re.search(EXPECTED[kind], said), (kind, said)
        elif kind in EXPECTED:
            assert state.last_error and re.search(EXPECTED[kind], state.last_error), (kind, state.last_error)
            assert f"feed-{n:02d}" in report.errors
        else:
            assert state.last_error is None and state.items > 0, (kind, state.last_error)
    by_kind = {f["fault"]: f"feed-{n:02d}" for n, f in faults.items()}
    assert states[by_kind["wrong-encoding"]].last_warning is None or "character set" in \
        states[by_kind["wrong-encoding"]].last_warning
    items = ctx.store.items_since(ctx.store.source_states()[0].last_checked - timedelta(days=400))
    assert not any("<script" in i.title + i.summary or "javascript:" in i.link for i in items), "xss sanitised"
    dup = [i for i in items if by_kind["dup-guids"] in i.sources]
    assert any(len(i.sources) > 1 for i in dup), "copies of a donor's items are one item, credited to both"
    # the 503 asked for 120 s: an ad hoc run straight after does not knock again
    again = pipeline.refresh_due(ctx, force=True)
    assert by_kind["http-503"] not in again.errors and again.sources == 35
    assert again.unchanged >= 15, "the healthy feeds answered 304 to the conditional GET"
    # a 304 for the salvaged malformed feed must not wipe what was wrong with it (found by bench/soak.py)
    malformed = ctx.store.source_states([by_kind["malformed-xml"]])[0]
    assert malformed.last_error or re.search(EXPECTED["malformed-xml"], malformed.last_warning or ""), malformed
    ctx.close()
