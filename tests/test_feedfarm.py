"""A bigger gather: the shared feed farm's 54 synthetic feeds, a third of them broken in
each of its 18 ways, imported from its OPML file. Every healthy feed's items arrive, every
broken feed is reported with a reason, and none holds up or spoils the others.

Reads ../shared/tools/feedfarm.py in place; skips on a clone without ../shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from click.testing import CliRunner

from awareness.cli import main
from awareness.store.store import Store
from farmserver import FARM, serving_farm

ARGS = ["--feeds", "54", "--items", "10", "--seed", "3", "--faults", "0.34", "--epoch", "now"]

pytestmark = pytest.mark.skipif(not FARM.exists(), reason="../shared/tools/feedfarm.py is not beside this clone")


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving_farm(tmp_path_factory.mktemp("farm"), *ARGS, slow_s=4, oversize_mb=12) as url:
        yield url


def farm_json(command: str, base: str) -> list[dict]:
    extra = ["--base-url", base] if command == "truth" else []
    out = subprocess.run([sys.executable, str(FARM), command, *ARGS, *extra], capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_a_farm_of_feeds_with_every_kind_of_fault(farm: str, tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "awareness.toml").write_text(textwrap.dedent(f"""\
        database_url = "sqlite:///{tmp_path / 'a.db'}"
        fetch_allow = ["127.0.0.1"]
        fetch_timeout = 2.0
        """))
    opml = tmp_path / "farm.opml"
    opml.write_bytes(httpx.get(f"{farm}/index.opml").content)
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["--config", str(tmp_path / "awareness.toml"), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "Added 54 sources" in cli("sources", "import-opml", str(opml))
    cli("gather")

    faults = {f["feed"]: f["fault"] for f in farm_json("faults", farm)}
    truth = farm_json("truth", farm)
    health = [json.loads(line) for line in cli("sources", "list", "--json").splitlines()]
    by_feed = {int(h["url"].rsplit("/", 1)[1].removesuffix(".xml")): h for h in health}
    assert len(by_feed) == 54

    must_fail = {"http-404", "http-410", "http-500", "http-503", "slow", "slow-body", "disconnect",
                 "redirect-loop", "html-not-feed", "oversized", "xml-bomb"}
    for feed, state in by_feed.items():
        fault = faults.get(feed)
        if fault in must_fail:
            assert not state["ok"] and state["last_error"], (fault, state)
        elif fault not in ("malformed-xml",):
            assert state["ok"], (fault, state)
    errors = {faults[f]: by_feed[f]["last_error"] for f in faults if by_feed[f]["last_error"]}
    assert "410" in errors["http-410"] and "503" in errors["http-503"]
    assert "redirect" in errors["redirect-loop"] and "MB" in errors["oversized"]

    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        stored = store.items_since(datetime(2000, 1, 1, tzinfo=timezone.utc))
    finally:
        store.close()
    links = {i.link for i in stored}
    healthy = [t for t in truth if t.get("fault") in (None, "redirect-chain", "wrong-encoding", "xss",
                                                      "missing-fields", "future-dates")]
    missing = [t["link"] for t in healthy if t["link"] not in links]
    assert not missing, f"{len(missing)} items of healthy feeds were not stored, e.g. {missing[:3]}"

    # dup-guids: the copies of a donor feed's items are the same stories, stored once with both sources.
    dup_feed = next(f for f, kind in faults.items() if kind == "dup-guids")
    copies = [t for t in truth if t["feed"] == dup_feed and t.get("origin_feed") is not None]
    assert copies
    shared = [i for i in stored if i.link in {c["link"] for c in copies}]
    assert len(shared) == len({c["link"] for c in copies})
    assert all(len(i.sources) == 2 for i in shared)

    # xss: nothing executable survives; missing fields fall back; future dates are clamped.
    for item in stored:
        text = (item.title + item.summary).lower()
        assert "<script" not in text and "javascript:" not in text and "onerror" not in text
        assert item.title.strip()
        assert item.link.startswith("http")
        assert item.published <= datetime.now(timezone.utc) + timedelta(days=1)
