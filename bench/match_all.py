"""Every labelled set on one line, for choosing a default by leave-one-set-out.

    .venv/bin/python bench/match_all.py            # shared sets (zero- and 5-shot), own dev, own held-out
    .venv/bin/python bench/match_all.py --slow     # + own half-judged feedback, OHSUMED zero/few, feed farm

Each figure is micro-F1, computed exactly as the per-set scripts do (match_labelled.py,
match_ohsumed.py, match_feedfarm.py), so one run shows what a change does on every set;
the shared sets are read in place from ../shared/data/eval and skipped when absent.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import match_labelled as labelled  # noqa: E402


def main() -> None:
    from awareness.match.evaluate import evaluate, load_labelled
    from awareness.config.profiles import load_profile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="also the slower sets (several minutes)")
    args = parser.parse_args()
    started = time.perf_counter()
    out: dict[str, float] = {}
    if labelled.SHARED.is_dir():
        for folder in sorted(p for p in labelled.SHARED.iterdir() if (p / "items.jsonl").exists()):
            profile = load_profile(folder / "profile.yaml")
            records = load_labelled(folder / "items.jsonl")
            given, rest = labelled.first_judged(records, {t.id for t in profile.topics})
            few = evaluate(profile, rest, feedback=given)
            out[f"{folder.name} zero"] = evaluate(profile, records)["micro_f1"]
            out[f"{folder.name} 5-shot"] = few["micro_f1"]
            out[f"{folder.name} 5-shot rest, none"] = few["without_feedback"]["micro_f1"]
    profiles = [load_profile(p) for p in sorted((labelled.ROOT / "profiles").glob("*.yaml"))]
    for name, file in labelled.SETS.items():
        records = load_labelled(labelled.ROOT / "tests" / "data" / file)
        out[f"own {name}"] = sum(evaluate(p, records)["micro_f1"] for p in profiles) / len(profiles)
        if args.slow:
            halves = records[0::2], records[1::2]
            judged = [evaluate(p, scored, feedback=given)["micro_f1"]
                      for p in profiles for given, scored in (halves, halves[::-1])]
            out[f"own {name} half judged"] = sum(judged) / len(judged)
    if args.slow:
        import match_feedfarm as farm
        import match_ohsumed as ohsumed

        if ohsumed.DATA.exists():
            train, test = ohsumed.load()
            with contextlib.redirect_stderr(io.StringIO()):
                out["OHSUMED zero"] = ohsumed.run_matcher(train, test, 0)["micro_f1"]
                out["OHSUMED few"] = ohsumed.run_matcher(train, test, 5)["micro_f1"]
        if farm.FARM.exists():
            out["feed farm"] = evaluate(load_profile(farm.PROFILE), farm.farm_records(40, 50, 1))["micro_f1"]
    width = max(len(k) for k in out)
    for key, value in out.items():
        print(f"{key:{width}s}  {value:.3f}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
