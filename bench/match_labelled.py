"""Awareness matching on labelled sets, against the keyword baseline and the stemmed-keyword
reference; then what feedback adds on unseen items.

    .venv/bin/python bench/match_labelled.py                 # tests/data/labelled.jsonl (dev)
    .venv/bin/python bench/match_labelled.py --set holdout   # tests/data/labelled_holdout.jsonl
    .venv/bin/python bench/match_labelled.py --set shared    # ../shared/data/eval/* (skips when absent)

Shared sets (../shared/data/eval/NAME/profile.yaml + items.jsonl, written independently of
this project) are read in place, never copied.  Their 5-shot figure: the first 5 labelled
items of each topic are given as judgements (``evaluate --feedback``) and the remaining
items are scored, beside the same remaining items scored without judgements.

The dev set was looked at while building the matcher; the held-out set was written
afterwards, from the topics' descriptions, and is only ever measured, never tuned on.

Feedback figure: the items are split into two halves (odd and even lines); one half is
given as judgements (include for its labelled topics, exclude where the matcher sent it
wrongly), the other is scored, and the other way round; the mean is printed beside the
same halves scored without feedback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {"dev": "labelled.jsonl", "holdout": "labelled_holdout.jsonl"}


SHARED = ROOT.parent / "shared" / "data" / "eval"


def first_judged(records: list[dict], topic_ids: set[str], shots: int = 5) -> tuple[list[dict], list[dict]]:
    """The first ``shots`` labelled items of each topic (as judgements), and the rest."""
    counts: dict[str, int] = {}
    given, rest = [], []
    for record in records:
        own = [label.rpartition("/")[2] for label in record["labels"]]
        if any(counts.get(t, 0) < shots for t in own if t in topic_ids):
            for t in own:
                counts[t] = counts.get(t, 0) + 1
            given.append(record)
        else:
            rest.append(record)
    return given, rest


def shared_sets() -> None:
    from awareness.match.evaluate import evaluate, load_labelled
    from awareness.config.profiles import load_profile

    if not SHARED.is_dir():
        print(f"{SHARED} not found: skipping the shared sets")
        return
    print(f"{'set':22s} {'zero-shot':>9s} {'5-shot':>7s} {'(rest, none)':>12s} {'keyword':>8s} {'stemmed':>8s}"
          f" {'P':>5s} {'R':>5s}")
    for folder in sorted(p for p in SHARED.iterdir() if (p / "items.jsonl").exists()):
        profile = load_profile(folder / "profile.yaml")
        records = load_labelled(folder / "items.jsonl")
        r = evaluate(profile, records)
        given, rest = first_judged(records, {t.id for t in profile.topics})
        few = evaluate(profile, rest, feedback=given)
        print(f"{folder.name:22s} {r['micro_f1']:9.3f} {few['micro_f1']:7.3f} "
              f"{few['without_feedback']['micro_f1']:12.3f} {r['baseline']['micro_f1']:8.3f} "
              f"{r['stemmed_baseline']['micro_f1']:8.3f} {r['micro_precision']:5.2f} {r['micro_recall']:5.2f}")


def main() -> None:
    from awareness.match.evaluate import evaluate, load_labelled
    from awareness.config.profiles import load_profile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted([*SETS, "shared"]), default="dev",
                        help="which labelled set to score")
    parser.add_argument("--no-feedback", action="store_true", help="skip the (slower) feedback figure")
    args = parser.parse_args()
    if args.set == "shared":
        shared_sets()
        return
    path = ROOT / "tests" / "data" / SETS[args.set]
    records = load_labelled(path)
    print(f"{path.relative_to(ROOT)}: ", end="")
    profiles = [load_profile(p) for p in sorted((ROOT / "profiles").glob("*.yaml"))]
    print(f"{len(records)} labelled items; {sum(not r['labels'] for r in records)} belong to no topic, "
          f"{sum(len(r['labels']) > 1 for r in records)} to two or more\n")
    print(f"{'profile':22s} {'matcher':>8s} {'keyword':>8s} {'gain':>6s}   {'macro':>6s} {'keyword':>8s}"
          f" {'stemmed':>8s}")
    gains, ours, theirs, stems = [], [], [], []
    for profile in profiles:
        r = evaluate(profile, records)
        b = r["baseline"]
        gains.append(r["micro_f1"] - b["micro_f1"])
        ours.append(r["micro_f1"])
        theirs.append(b["micro_f1"])
        stems.append(r["stemmed_baseline"]["micro_f1"])
        print(f"{profile.id:22s} {r['micro_f1']:8.3f} {b['micro_f1']:8.3f} {gains[-1]:+6.3f}   "
              f"{r['macro_f1']:6.3f} {b['macro_f1']:8.3f} {stems[-1]:8.3f}")
    n = len(profiles)
    print(f"{'mean':22s} {sum(ours) / n:8.3f} {sum(theirs) / n:8.3f} {sum(gains) / n:+6.3f}   "
          f"{'':6s} {'':8s} {sum(stems) / n:8.3f}")

    if args.no_feedback:
        return
    halves = records[0::2], records[1::2]
    with_fb, without = [], []
    for profile in profiles:
        for given, scored in (halves, halves[::-1]):
            r = evaluate(profile, scored, feedback=given)
            with_fb.append(r["micro_f1"])
            without.append(r["without_feedback"]["micro_f1"])
    print(f"\nfeedback (half judged, other half scored, both ways, all profiles): micro-F1 "
          f"{sum(with_fb) / len(with_fb):.3f} with, {sum(without) / len(without):.3f} without")


if __name__ == "__main__":
    main()
