"""Embeddings (2): every rule tried, on every set, from one scoring of each (issue 14).

    pip install -e '.[semantic]'
    .venv/bin/python bench/semantic_probe.py [--rebuild]

Scores every set once with the matcher as it is (zero-shot, and with judgements as
bench/match_labelled.py gives them), embeds every item, topic and topic part once
(vectors cached in /tmp/semantic_probe_cache), then applies each rule of
bench/semantic_rules.py to the same scores: micro-F1 deltas against the matcher, per set,
and the leave-one-set-out choice within each family of rules.  The kept rule is the one
awareness/match/semantic.py implements; bench/match_semantic.py measures it end to end.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import match_labelled as labelled  # noqa: E402
from awareness.config.profiles import load_profile  # noqa: E402
from awareness.match.evaluate import _own_labels, _without, feedback_examples, load_labelled  # noqa: E402
from awareness.match.scoring import Matcher  # noqa: E402
from awareness.match.semantic import encoder  # noqa: E402

CACHE = Path("/tmp/semantic_probe_cache")


_MEMO: dict[str, np.ndarray] = {}


def embed(texts: list[str]) -> np.ndarray:
    CACHE.mkdir(exist_ok=True)
    missing = [t for t in dict.fromkeys(texts) if t not in _MEMO]
    todo = []
    for t in missing:
        f = CACHE / (hashlib.sha1(t.encode()).hexdigest() + ".npy")
        if f.exists():
            _MEMO[t] = np.load(f)
        else:
            todo.append(t)
    if todo:
        vecs = encoder().encode(todo)
        for t, v in zip(todo, vecs):
            _MEMO[t] = v
            np.save(CACHE / (hashlib.sha1(t.encode()).hexdigest() + ".npy"), v)
    return np.vstack([_MEMO[t] for t in texts])


def topic_text(topic, style: str) -> list[str]:
    if style == "full":
        return [f"{topic.title}. {topic.description} {', '.join(topic.terms)}."]
    if style == "desc":
        return [f"{topic.title}. {topic.description}"]
    raise ValueError(style)


def item_text(r: dict) -> str:
    return f"{r['title']}. {r.get('summary', '')}".strip()


def case(profile, records, feedback=None):
    """One scored case: matcher scores, thresholds, truth, item and topic embeddings."""
    if feedback:
        records = _without(records, feedback)
    texts = [(r["title"], r.get("summary", "")) for r in records]
    lab = feedback_examples(profile, feedback) if feedback else None
    matcher = Matcher([profile], corpus=[f"{a}. {b}" for a, b in texts], labelled=lab)
    ids = [t for _, t in matcher.topic_keys]
    truth = np.array([[t in _own_labels(profile, list(r.get("labels", [])), set()) for t in ids]
                      for r in records])
    items = embed([item_text(r) for r in records])
    topics = {s: np.vstack([embed(topic_text(t, s)).mean(0) for t in profile.topics])
              for s in ("full", "desc")}
    # one vector per part (title + description, each term), for a best-part cosine
    parts = [embed([f"{t.title}. {t.description}", *[x for x in t.terms if x.strip()]]) for t in profile.topics]
    titles = embed([r["title"] for r in records])
    judged = None
    if lab:
        # useful judged items' embeddings per topic (for a centroid variant)
        judged = []
        for t in profile.topics:
            ex = [f"{a}. {b}" for a, b, useful in lab.get((profile.id, t.id), []) if useful]
            judged.append(embed(ex) if ex else np.zeros((0, 384), dtype=np.float32))
    return {"scores": matcher.score_texts(texts), "raw": matcher.score_texts(texts, veto_excluded=False),
            "thr": matcher.thresholds.copy(), "truth": truth,
            "items": items, "titles": titles, "parts": parts, "topics": topics, "judged": judged}


def build() -> dict[str, dict[str, list[dict]]]:
    out: dict[str, dict[str, list[dict]]] = {"zero": {}, "shot": {}}
    for folder in sorted(p for p in labelled.SHARED.iterdir() if (p / "items.jsonl").exists()):
        profile = load_profile(folder / "profile.yaml")
        records = load_labelled(folder / "items.jsonl")
        out["zero"][folder.name] = [case(profile, records)]
        given, rest = labelled.first_judged(records, {t.id for t in profile.topics})
        out["shot"][folder.name] = [case(profile, rest, feedback=given)]
    profiles = [load_profile(p) for p in sorted((ROOT / "profiles").glob("*.yaml"))]
    for name, file in labelled.SETS.items():
        records = load_labelled(ROOT / "tests" / "data" / file)
        out["zero"][f"own {name}"] = [case(p, records) for p in profiles]
        halves = records[0::2], records[1::2]
        out["shot"][f"own {name}"] = [case(p, scored, feedback=given)
                                      for p in profiles for given, scored in (halves, halves[::-1])]
    return out


def main() -> None:
    pkl = CACHE / "cases.pkl"
    if pkl.exists() and "--rebuild" not in sys.argv:
        data = pickle.loads(pkl.read_bytes())
    else:
        t = time.time()
        data = build()
        CACHE.mkdir(exist_ok=True)
        pkl.write_bytes(pickle.dumps(data))
        print(f"built in {time.time() - t:.1f} s")
    import semantic_rules
    semantic_rules.report(data)


if __name__ == "__main__":
    main()
