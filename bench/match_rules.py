"""Decision rules tried on the matcher's scores, every labelled set at once (issue 14).

    .venv/bin/python bench/match_rules.py

Scores each set once (shared sets from ../shared/data/eval when present, our dev and
held-out sets against the six example profiles, mean micro-F1), then applies each rule to
the same scores: what the kept threshold, one threshold for all, or giving an unmatched item
its best topic would do. Prints figures; the kept rule is ``base``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import match_labelled as labelled  # noqa: E402
from awareness.config.profiles import load_profile  # noqa: E402
from awareness.match.evaluate import _own_labels, load_labelled  # noqa: E402
from awareness.match.scoring import Matcher  # noqa: E402

Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]
Scored = tuple[np.ndarray, np.ndarray, np.ndarray]    # scores, truth, thresholds


def scored_sets() -> dict[str, list[Scored]]:
    sets: dict[str, list] = {}
    if labelled.SHARED.is_dir():
        for folder in sorted(p for p in labelled.SHARED.iterdir() if (p / "items.jsonl").exists()):
            sets[folder.name] = [(load_profile(folder / "profile.yaml"), load_labelled(folder / "items.jsonl"))]
    profiles = [load_profile(p) for p in sorted((ROOT / "profiles").glob("*.yaml"))]
    for name, file in labelled.SETS.items():
        sets[f"own {name}"] = [(p, load_labelled(ROOT / "tests" / "data" / file)) for p in profiles]
    out: dict[str, list[Scored]] = {}
    for name, pairs in sets.items():
        out[name] = []
        for profile, records in pairs:
            texts = [(r["title"], r.get("summary", "")) for r in records]
            matcher = Matcher([profile], corpus=[f"{a}. {b}" for a, b in texts])
            ids = [t for _, t in matcher.topic_keys]
            truth = np.array([[t in _own_labels(profile, list(r.get("labels", [])), set()) for t in ids]
                              for r in records])
            out[name].append((matcher.score_texts(texts), truth, matcher.thresholds))
    return out


def micro_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = int((predicted & truth).sum())
    wrong = int((predicted ^ truth).sum())
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def base(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return (scores > 0) & (scores >= thresholds)


def one_threshold(value: float) -> Rule:
    return lambda scores, _: (scores > 0) & (scores >= value)


def best_topic_rescue(floor: float) -> Rule:
    """An item no topic takes goes to its best topic if that scores ``floor`` or more."""
    def rule(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        decided = base(scores, thresholds).copy()
        best = scores.argmax(axis=1)
        rescued = ~decided.any(axis=1) & (scores[np.arange(len(scores)), best] >= floor)
        decided[np.nonzero(rescued)[0], best[rescued]] = True
        return decided
    return rule


def main() -> None:
    data = scored_sets()
    rules: dict[str, Rule] = {"base": base}
    rules |= {f"one threshold {t}": one_threshold(t) for t in (0.25, 0.3, 0.4)}
    rules |= {f"best topic from {f}": best_topic_rescue(f) for f in (0.1, 0.15, 0.2, 0.3)}
    print(f"{'rule':24s}" + "".join(f"{name:>22s}" for name in data))
    for label, rule in rules.items():
        figures = [np.mean([micro_f1(rule(s, th), t) for s, t, th in scored]) for scored in data.values()]
        print(f"{label:24s}" + "".join(f"{f:22.3f}" for f in figures))


if __name__ == "__main__":
    main()
