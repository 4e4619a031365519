"""Awareness matching on OHSUMED (23 MeSH disease categories, the Text GCN split).

Reads ../shared/data/ohsumed/ohsumed_single23.tsv in place (never copied) and prints
top-topic accuracy and micro-F1 on the test split for one of three modes:

    .venv/bin/python bench/match_ohsumed.py --mode zero    # profile only: names + descriptions
    .venv/bin/python bench/match_ohsumed.py --mode few     # + 5 training examples per category
    .venv/bin/python bench/match_ohsumed.py --mode full    # linear models on the whole training split

zero/few run the product's Matcher (profile bench/ohsumed_profile.yaml); micro-F1 there is
the thresholded multi-label decision (what a bulletin would send), accuracy the top-scoring
topic.  full uses awareness.match.learn (supervised learning from labels at scale): TF-IDF word
and character n-grams with linear models only.  Every
choice in full mode is made by cross-validation on the training split; the test split is
read once, at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ohsumed" / "ohsumed_single23.tsv"
PROFILE = Path(__file__).with_name("ohsumed_profile.yaml")
PUBLISHED = [("TF-IDF + LR (Text GCN paper)", 0.5466), ("Text GCN", 0.684), ("BERT", 0.705),
             ("RoBERTa", 0.707), ("BertGCN / RoBERTaGCN", 0.728)]


def load() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    if not DATA.exists():
        sys.exit(f"{DATA} not found: this benchmark needs ../shared/data/ohsumed")
    csv.field_size_limit(10_000_000)
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    train = [r for r in rows if r["split"] == "training"]
    test = [r for r in rows if r["split"] == "test"]
    return train, test


def micro_f1(truth: list[set[str]], predicted: list[set[str]]) -> float:
    tp = sum(len(t & p) for t, p in zip(truth, predicted))
    fp = sum(len(p - t) for t, p in zip(truth, predicted))
    fn = sum(len(t - p) for t, p in zip(truth, predicted))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def run_matcher(train: list[dict[str, str]], test: list[dict[str, str]], shots: int) -> dict[str, float]:
    from awareness.match.classify import Matcher, keyword_baseline
    from awareness.match.learn import TextClassifier
    from awareness.config.profiles import load_profile

    profile = load_profile(PROFILE)
    if shots:
        rng = random.Random(13)
        by_label: dict[str, list[dict[str, str]]] = {}
        for row in train:
            by_label.setdefault(row["label"], []).append(row)
        topics = []
        shots_rows: list[dict[str, str]] = []
        for topic in profile.topics:
            chosen = rng.sample(by_label[topic.id.upper()], shots)
            shots_rows.extend(chosen)
            topics.append(topic.model_copy(update={
                "examples": [f"{r['title']}. {r['abstract']}" for r in chosen]}))
        profile = profile.model_copy(update={"topics": topics})
    texts = [(r["title"], r["abstract"]) for r in test]
    started = time.perf_counter()
    # IDF from the unlabelled test stream itself, as the service fits on the items it gathers.
    matcher = Matcher([profile], corpus=[f"{a}. {b}" for a, b in texts])
    scores = matcher.score_texts(texts)
    elapsed = time.perf_counter() - started
    ids = [topic_id.upper() for _, topic_id in matcher.topic_keys]
    top = [ids[j] for j in scores.argmax(axis=1)]
    accuracy = float(np.mean([t == r["label"] for t, r in zip(top, test)]))
    decided = matcher.predict_texts(texts)
    predicted = [{ids[j] for j in row.nonzero()[0]} for row in decided]
    truth = [{r["label"]} for r in test]
    keyword = [{t.upper() for t in keyword_baseline(profile, a, b)} for a, b in texts]
    result = {"accuracy": accuracy, "micro_f1": micro_f1(truth, predicted),
              "keyword_baseline_micro_f1": micro_f1(truth, keyword), "seconds": elapsed}
    if shots:   # the same examples given to a linear model alone, for comparison
        svm = TextClassifier(chars=True, C=1.0, balanced=True).fit(
            [(r["title"], r["abstract"]) for r in shots_rows], [r["label"] for r in shots_rows],
            unlabelled=texts)
        result["svm_on_the_examples_accuracy"] = float(np.mean(svm.predict(texts) == np.array(
            [r["label"] for r in test])))
    return result


def run_full(train: list[dict[str, str]], test: list[dict[str, str]], folds: int, quick: bool,
             test_idf: bool = True) -> dict[str, object]:
    from awareness.match.learn import SMALL_GRID, TextClassifier, choose_by_cross_validation

    texts = [(r["title"], r["abstract"]) for r in train]
    labels = [r["label"] for r in train]
    # The test texts, without labels, shape IDF only (the service fits IDF on the stream it
    # gathers; Text GCN likewise builds its graph over the test documents).
    test_texts = [(r["title"], r["abstract"]) for r in test]
    unlabelled = test_texts if test_idf else []
    started = time.perf_counter()
    chosen, cv_table = choose_by_cross_validation(texts, labels, folds=folds, unlabelled=unlabelled,
                                                  progress=True, grid=SMALL_GRID if quick else None)
    model = TextClassifier(**chosen).fit(texts, labels, unlabelled=unlabelled)
    predicted = model.predict(test_texts)
    elapsed = time.perf_counter() - started
    accuracy = float(np.mean([p == r["label"] for p, r in zip(predicted, test)]))
    # Single label, one prediction each: micro-F1 equals accuracy.
    return {"accuracy": accuracy, "micro_f1": accuracy, "chosen": chosen, "cv": cv_table,
            "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["zero", "few", "full"], required=True)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="full mode: a smaller grid (SVM only)")
    parser.add_argument("--no-test-idf", action="store_true",
                        help="full mode: fit IDF on the training split only (inductive)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    train, test = load()
    print(f"OHSUMED: {len(train)} training, {len(test)} test documents", file=sys.stderr)
    if args.mode == "full":
        result = run_full(train, test, args.folds, args.quick, test_idf=not args.no_test_idf)
    else:
        result = run_matcher(train, test, 0 if args.mode == "zero" else args.shots)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    if "cv" in result:
        print("cross-validation on the training split (mean accuracy):")
        for row in result["cv"]:  # type: ignore[union-attr]
            print(f"  {row['accuracy']:.4f}  {row['setting']}")
        print(f"chosen: {result['chosen']}")
    print(f"mode {args.mode}: test accuracy {result['accuracy']:.4f}  micro-F1 {result['micro_f1']:.4f}"
          f"  ({result['seconds']:.1f} s)")
    if "keyword_baseline_micro_f1" in result:
        print(f"keyword baseline (any topic term present) micro-F1 {result['keyword_baseline_micro_f1']:.4f}")
    if "svm_on_the_examples_accuracy" in result:
        print(f"a linear SVM trained on the same {args.shots} examples per category alone: accuracy "
              f"{result['svm_on_the_examples_accuracy']:.4f}")
    print("published (accuracy): " + ", ".join(f"{n} {v:.4f}" for n, v in PUBLISHED))


if __name__ == "__main__":
    main()
