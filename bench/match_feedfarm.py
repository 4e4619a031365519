"""Awareness matching against the feed farm's ground truth (the topics each item was written from).

    .venv/bin/python bench/match_feedfarm.py [--feeds 40 --items 50 --seed 1]

Labels come from ``../shared/tools/feedfarm.py truth``; the summaries (which truth does
not print) from the same farm module, so matching sees what a feed would serve.  The
profile is bench/feedfarm_profile.yaml.  Prints micro/macro-F1 of the matcher and of
the keyword baseline (any of a topic's terms, as written).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FARM = ROOT.parent / "shared" / "tools" / "feedfarm.py"
PROFILE = Path(__file__).with_name("feedfarm_profile.yaml")


def farm_records(feeds: int, items: int, seed: int) -> list[dict[str, object]]:
    if not FARM.exists():
        sys.exit(f"{FARM} not found: this benchmark needs ../shared/tools/feedfarm.py")
    truth = subprocess.run([sys.executable, str(FARM), "truth", "--feeds", str(feeds), "--items", str(items),
                            "--seed", str(seed)], check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_file_location("feedfarm", FARM)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["feedfarm"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    farm = module.Farm(module.FarmConfig(feeds=feeds, items=items, seed=seed))
    records = []
    for line in truth.splitlines():
        row = json.loads(line)
        item = farm.item(row["feed"], row["index"])
        summary = unescape(re.sub(r"<[^>]+>", " ", item.summary_html))
        records.append({"id": row["guid"], "title": row["title"], "summary": " ".join(summary.split()),
                        "labels": list(row["topics"])})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from awareness.match.evaluate import evaluate, format_report
    from awareness.config.profiles import load_profile

    records = farm_records(args.feeds, args.items, args.seed)
    result = evaluate(load_profile(PROFILE), records)
    print(format_report(result))
    gain = result["micro_f1"] - result["baseline"]["micro_f1"]
    print(f"\nfeed farm truth ({len(records)} items, seed {args.seed}): matcher micro-F1 "
          f"{result['micro_f1']:.3f} vs keyword {result['baseline']['micro_f1']:.3f} ({gain:+.3f})")


if __name__ == "__main__":
    main()
