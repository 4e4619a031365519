"""The rules of Embeddings (2), applied to the cases bench/semantic_probe.py builds.

A case: one matcher's scores on one set (``scores``, ``raw`` without vetoes, ``thr``), the
truth, and unit vectors of the items (``items``), of each topic as one text (``topics``:
"full" = title, description and terms; "desc" = title and description), of each topic's
parts (``parts``: "title. description" and each term) and, with judgements, of the useful
judged items per topic (``judged``).  Every rule returns the decided matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Rule = Callable[[dict], np.ndarray]
SETS = ["ics", "lph", "dev", "held-out"]


# ------------------------------------------------------------------ pieces

def micro_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = int((pred & truth).sum())
    wrong = int((pred ^ truth).sum())
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def base(c: dict) -> np.ndarray:
    return (c["scores"] > 0) & (c["scores"] >= c["thr"])


def veto(c: dict) -> np.ndarray:
    return (c["scores"] == 0) & (c["raw"] > 0)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def cosines(c: dict, style: str = "full", centroid: float = 0.0, judged_parts: float = 0.0) -> np.ndarray:
    """Items x topics: cosine with the topic as one text, or with its closest part."""
    if style in ("parts", "partsmean"):
        pool = np.max if style == "parts" else np.mean
        out = []
        for j, part in enumerate(c["parts"]):
            v = pool(c["items"] @ part.T, axis=1)
            if judged_parts and c.get("judged") is not None and len(c["judged"][j]):
                v = np.maximum(v, judged_parts * (c["items"] @ c["judged"][j].T).max(1))
            out.append(v)
        return np.stack(out, 1)
    topics = _unit(c["topics"][style])
    if centroid and c.get("judged") is not None:
        topics = topics.copy()
        for j, ex in enumerate(c["judged"]):
            if len(ex):
                topics[j] = topics[j] + centroid * _unit(ex.mean(0)[None])[0]
        topics = _unit(topics)
    return c["items"] @ topics.T


def zscore(C: np.ndarray) -> np.ndarray:
    """Per topic, over the batch of items scored."""
    return (C - C.mean(0, keepdims=True)) / (C.std(0, keepdims=True) + 1e-9)


def percentile(C: np.ndarray) -> np.ndarray:
    return C.argsort(0).argsort(0) / max(len(C) - 1, 1)


def best(C: np.ndarray) -> np.ndarray:
    return C == C.max(1, keepdims=True)


def margin(C: np.ndarray) -> np.ndarray:
    """Each topic's cosine minus the item's best other topic of the profile (one profile a case)."""
    if C.shape[1] < 2:
        return np.ones_like(C)
    top2 = np.sort(C, axis=1)[:, -2:]
    return C - np.where(C >= top2[:, 1:2], top2[:, 0:1], top2[:, 1:2])


def with_evidence(c: dict, E: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Evidence as one more noisy-or term of this weight (1.0: a match); vetoes kept."""
    s = 1 - (1 - c["scores"]) * (1 - weight * E.astype(np.float32))
    s[veto(c)] = 0
    return (s > 0) & (s >= c["thr"])


# ------------------------------------------------------------------ rules

def promote(test: Callable[[np.ndarray], np.ndarray], weight: float = 1.0, **how) -> Rule:
    return lambda c: base(c) | with_evidence(c, test(cosines(c, **how)), weight)


def weak_boost(lo: float, test: Callable[[np.ndarray], np.ndarray], **how) -> Rule:
    """(c): an item with some lexical evidence (lo x threshold <= score < threshold) matches when
    the embedding test holds; never a match from nothing."""
    def rule(c: dict) -> np.ndarray:
        s, t = c["scores"], c["thr"]
        return base(c) | ((s > 0) & (s >= lo * t) & test(cosines(c, **how)))
    return rule


def demote(hi: float, test: Callable[[np.ndarray], np.ndarray], **how) -> Rule:
    """A lexical match close to its threshold (score < hi x threshold) is dropped when the test holds."""
    def rule(c: dict) -> np.ndarray:
        b = base(c)
        return b & ~(b & (c["scores"] < hi * c["thr"]) & test(cosines(c, **how)))
    return rule


def families() -> dict[str, dict[str, Rule]]:
    fam: dict[str, dict[str, Rule]] = {"a": {}, "b": {}, "c": {}, "d": {}, "e": {}}
    styles = [("full", 0.0), ("full", 0.5), ("full", 1.0), ("desc", 0.0), ("desc", 0.5), ("desc", 1.0),
              ("parts", 0.0), ("partsmean", 0.0)]
    for style, cen in styles:
        how = {"style": style, "centroid": cen}
        tag = style + (f"+judged centroid {cen}" if cen else "")
        for z0 in (1.5, 2.0, 2.5, 3.0):
            for need, extra in (("best", best), ("margin 0.05", lambda C: margin(C) >= 0.05),
                                ("any", lambda C: np.ones_like(C, dtype=bool))):
                for w in (1.0, 0.3, 0.2):
                    fam["a"][f"{tag}: z >= {z0}, {need}, weight {w}"] = promote(
                        lambda C, z0=z0, extra=extra: (zscore(C) >= z0) & extra(C), w, **how)
        for p0 in (0.9, 0.95, 0.98):
            fam["a"][f"{tag}: percentile >= {p0}, best"] = promote(
                lambda C, p0=p0: (percentile(C) >= p0) & best(C), **how)
        for m0 in (0.05, 0.1, 0.15, 0.2):
            for floor in (None, 0.3, 0.4, 0.5):
                for w in (1.0, 0.3):
                    fam["b"][f"{tag}: margin >= {m0}, cos >= {floor}, weight {w}"] = promote(
                        lambda C, m0=m0, f=floor: (margin(C) >= m0) & ((C >= f) if f else True), w, **how)
        tests: dict[str, Callable[[np.ndarray], np.ndarray]] = {"best": best}
        tests |= {f"z >= {z}": (lambda C, z=z: zscore(C) >= z) for z in (0.5, 1.0, 1.5, 2.0)}
        tests |= {f"z >= {z} & best": (lambda C, z=z: (zscore(C) >= z) & best(C)) for z in (0.5, 1.0, 1.5)}
        tests |= {f"margin >= {m}": (lambda C, m=m: margin(C) >= m) for m in (0.03, 0.05, 0.1)}
        tests |= {f"cos >= {f}": (lambda C, f=f: C >= f) for f in (0.3, 0.4, 0.5)}
        for lo in (0.3, 0.5, 0.7):
            for name, test in tests.items():
                fam["c"][f"{tag}: {lo}x threshold, {name}"] = weak_boost(lo, test, **how)
        if cen:
            continue
        for hi in (1.2, 1.5, 2.0, 2.5, 9.0):
            for z1 in (-1.5, -1.0, -0.5, 0.0, 0.5):
                fam["d"][f"{tag}: under {hi}x threshold, z < {z1}"] = demote(hi, lambda C, z1=z1: zscore(C) < z1, **how)
            for p1 in (0.1, 0.25, 0.5):
                fam["d"][f"{tag}: under {hi}x threshold, percentile < {p1}"] = demote(
                    hi, lambda C, p1=p1: percentile(C) < p1, **how)
            for m1 in (-0.15, -0.1, -0.05):
                fam["d"][f"{tag}: under {hi}x threshold, margin < {m1}"] = demote(
                    hi, lambda C, m1=m1: margin(C) < m1, **how)
    for jw in (0.8, 0.9, 1.0):
        for floor, m0 in ((0.5, 0.05), (0.5, 0.1), (0.55, 0.05), (0.6, 0.05)):
            fam["e"][f"parts + judged items x {jw}: margin >= {m0}, cos >= {floor}"] = promote(
                lambda C, m0=m0, f=floor: (margin(C) >= m0) & (C >= f), style="parts", judged_parts=jw)
    return fam


NAMED = {   # the rows of bench/matching.md's table
    "2a z >= 2, best topic (one text: title, description, terms)": promote(lambda C: (zscore(C) >= 2) & best(C)),
    "2a z >= 1.5, best topic": promote(lambda C: (zscore(C) >= 1.5) & best(C)),
    "2a z >= 2.5, best topic": promote(lambda C: (zscore(C) >= 2.5) & best(C)),
    "2a z >= 3, best topic": promote(lambda C: (zscore(C) >= 3) & best(C)),
    "2a top 10% of the batch, best topic": promote(lambda C: (percentile(C) >= 0.9) & best(C)),
    "2b margin >= 0.1": promote(lambda C: margin(C) >= 0.1),
    "2b margin >= 0.2": promote(lambda C: margin(C) >= 0.2),
    "2b margin >= 0.05, cos >= 0.3": promote(lambda C: (margin(C) >= 0.05) & (C >= 0.3)),
    "2b closest part: margin >= 0.05, cos >= 0.5 (KEPT, semantic.py)":
        promote(lambda C: (margin(C) >= 0.05) & (C >= 0.5), style="parts"),
    "2b closest part: margin >= 0.05, cos >= 0.45":
        promote(lambda C: (margin(C) >= 0.05) & (C >= 0.45), style="parts"),
    "2b closest part: margin >= 0.05, cos >= 0.55":
        promote(lambda C: (margin(C) >= 0.05) & (C >= 0.55), style="parts"),
    "2b closest part: margin >= 0.1, cos >= 0.5":
        promote(lambda C: (margin(C) >= 0.1) & (C >= 0.5), style="parts"),
    "2b closest part: best topic, cos >= 0.5": promote(lambda C: best(C) & (C >= 0.5), style="parts"),
    "2c 0.5x threshold, best topic": weak_boost(0.5, best),
    "2c 0.5x threshold, z >= 1.5 and best topic": weak_boost(0.5, lambda C: (zscore(C) >= 1.5) & best(C)),
    "2c 0.7x threshold, margin >= 0.1": weak_boost(0.7, lambda C: margin(C) >= 0.1),
    "2c 0.5x threshold, cos >= 0.5": weak_boost(0.5, lambda C: C >= 0.5),
    "2d drop matches under 1.5x threshold with z < -0.5 (title, description)":
        demote(1.5, lambda C: zscore(C) < -0.5, style="desc"),
    "2d drop matches under 2x threshold with z < 0 (mean over parts)":
        demote(2.0, lambda C: zscore(C) < 0, style="partsmean"),
    "2e kept rule, judged useful items as parts too": promote(
        lambda C: (margin(C) >= 0.05) & (C >= 0.5), style="parts", judged_parts=1.0),
}


# ------------------------------------------------------------------ measuring

def deltas(data: dict, rule: Rule) -> np.ndarray:
    """Micro-F1 of the rule minus the matcher's: zero-shot on the four sets, then with judgements."""
    out = []
    for mode in ("zero", "shot"):
        for cases in data[mode].values():
            out.append(np.mean([micro_f1(rule(c), c["truth"]) - micro_f1(base(c), c["truth"]) for c in cases]))
    return np.array(out)


def leave_one_set_out(table: dict[str, np.ndarray]) -> list[tuple[str, str, float, float]]:
    """For each set: the rule of the family with the best worst delta on the other three sets
    (zero-shot and with judgements; ties: the largest sum), and what it does on the set left out."""
    names = list(table)
    m = np.array([table[n] for n in names])
    out = []
    for s in range(4):
        cols = [c for c in range(8) if c % 4 != s]
        sub = m[:, cols]
        i = int(np.lexsort((-sub.sum(1), -sub.min(1)))[0])
        out.append((SETS[s], names[i], float(m[i, s]), float(m[i, s + 4])))
    return out


def report(data: dict) -> None:
    ref = [np.mean([micro_f1(base(c), c["truth"]) for c in cases]) for mode in ("zero", "shot")
           for cases in data[mode].values()]
    head = "  ".join(f"{s:>8s}" for s in SETS)
    print(f"{'':72s}  zero-shot: {head}   with judgements: {head}")
    print(f"{'the matcher as it is':72s}             " + "  ".join(f"{x:8.3f}" for x in ref[:4])
          + "                    " + "  ".join(f"{x:8.3f}" for x in ref[4:]))
    for name, rule in NAMED.items():
        d = deltas(data, rule)
        print(f"{name:72s}             " + "  ".join(f"{x:+8.3f}" for x in d[:4])
              + "                    " + "  ".join(f"{x:+8.3f}" for x in d[4:]))
    print("\nleave-one-set-out within each family (the rule chosen on the other three sets; its deltas on "
          "the set left out, zero-shot / with judgements):")
    labels = {"a": "(a) per-topic z-score / percentile over the batch", "b": "(b) margin over the profile's "
              "other topics", "c": "(c) boost of weak lexical evidence only", "d": "(d) drop weak lexical "
              "matches the embeddings disown", "e": "(e) judged items as topic parts"}
    for key, rules in families().items():
        table = {name: deltas(data, rule) for name, rule in rules.items()}
        everywhere = sum(bool((v > 0).all()) for v in table.values())
        print(f"  {labels[key]}: {len(rules)} settings, {everywhere} above the matcher on all eight figures")
        for held, name, zero, shot in leave_one_set_out(table):
            print(f"    {held:8s} {zero:+.3f} / {shot:+.3f}   chosen: {name}")
