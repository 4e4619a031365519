"""The matcher with and without sentence-embedding evidence (awareness/match/semantic.py), every set.

    pip install -e '.[semantic]'
    .venv/bin/python bench/match_semantic.py             # every set, zero-shot and with judgements
    .venv/bin/python bench/match_semantic.py --speed     # also items/s of the embedding step

Sets as bench/match_labelled.py scores them: the shared sets (../shared/data/eval/*, read in
place; 5-shot: the first 5 labelled items of each topic as judgements, the rest scored) and
our dev and held-out sets against the six example profiles (mean micro-F1; with judgements:
half judged, the other half scored, both ways).  Prints micro-F1 without and with, and the
difference; "Embeddings (2)" in bench/matching.md has the figures and what else was tried.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import match_labelled as labelled  # noqa: E402
from awareness.config.profiles import load_profile  # noqa: E402
from awareness.match.evaluate import evaluate, load_labelled  # noqa: E402
from awareness.match.semantic import INSTALL_HINT, available  # noqa: E402


def cases() -> dict[str, tuple[list, list]]:
    """set name -> (zero-shot (profile, records, None) cases, judged (profile, scored, given) cases)."""
    out: dict[str, tuple[list, list]] = {}
    if labelled.SHARED.is_dir():
        for folder in sorted(p for p in labelled.SHARED.iterdir() if (p / "items.jsonl").exists()):
            profile = load_profile(folder / "profile.yaml")
            records = load_labelled(folder / "items.jsonl")
            given, rest = labelled.first_judged(records, {t.id for t in profile.topics})
            out[folder.name] = ([(profile, records, None)], [(profile, rest, given)])
    else:
        print(f"{labelled.SHARED} not found: skipping the shared sets")
    profiles = [load_profile(p) for p in sorted((ROOT / "profiles").glob("*.yaml"))]
    for name, file in labelled.SETS.items():
        records = load_labelled(ROOT / "tests" / "data" / file)
        halves = records[0::2], records[1::2]
        out[f"own {name}"] = ([(p, records, None) for p in profiles],
                              [(p, scored, given) for p in profiles for given, scored in (halves, halves[::-1])])
    return out


def mean_f1(group: list, semantic: bool) -> float:
    return sum(evaluate(p, r, feedback=g, semantic=semantic)["micro_f1"] for p, r, g in group) / len(group)


def speed(texts: list[str]) -> None:
    from awareness.match.semantic import Encoder

    started = time.perf_counter()
    encoder = Encoder()
    loaded = time.perf_counter() - started
    encoder.encode(texts[:32])                     # warm
    started = time.perf_counter()
    encoder.encode(texts)
    took = time.perf_counter() - started
    print(f"\nembedding: model loaded in {loaded:.2f} s; {len(texts)} items (title + summary) in {took:.2f} s "
          f"= {len(texts) / took:.0f} items/s (2 threads, batches of 32)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="also time the embedding of every item")
    args = parser.parse_args()
    if not available():
        sys.exit(f"the semantic extra is not installed: {INSTALL_HINT}")
    print(f"{'set':22s} {'zero-shot':>9s} {'+semantic':>9s} {'delta':>7s}   {'judged':>7s} {'+semantic':>9s} "
          f"{'delta':>7s}")
    texts: list[str] = []
    for name, (zero, judged) in cases().items():
        z0, z1 = mean_f1(zero, False), mean_f1(zero, True)
        j0, j1 = mean_f1(judged, False), mean_f1(judged, True)
        print(f"{name:22s} {z0:9.3f} {z1:9.3f} {z1 - z0:+7.3f}   {j0:7.3f} {j1:9.3f} {j1 - j0:+7.3f}")
        texts += [f"{r['title']}. {r.get('summary', '')}" for r in zero[0][1]]
    if args.speed:
        speed(texts)


if __name__ == "__main__":
    main()
