"""The linear models that take over a topic with labels at scale, on a small slice of OHSUMED.

Reads ../shared/data/ohsumed in place; skips on a clone without ../shared.
The full benchmark is bench/match_ohsumed.py.
"""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest

from awareness.match.learn import TextClassifier, choose_by_cross_validation
from conftest import SHARED

DATA = SHARED / "data" / "ohsumed" / "ohsumed_single23.tsv"
# Neoplasms, eye diseases, pregnancy complications: three clearly different areas.
LABELS = ("C04", "C11", "C13")


@pytest.fixture(scope="module")
def slice_() -> dict[str, list[tuple[tuple[str, str], str]]]:
    if not DATA.exists():
        pytest.skip("../shared/data/ohsumed is not beside this clone")
    csv.field_size_limit(10_000_000)
    out: dict[str, list[tuple[tuple[str, str], str]]] = defaultdict(list)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    with DATA.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            key = (row["split"], row["label"])
            if row["label"] in LABELS and counts[key] < 30:
                counts[key] += 1
                out[row["split"]].append(((row["title"], row["abstract"]), row["label"]))
    return out


def test_a_linear_model_on_tfidf_sorts_unseen_abstracts_into_their_disease_area(slice_: dict) -> None:
    texts, labels = zip(*slice_["training"])
    test_texts, truth = zip(*slice_["test"])
    model = TextClassifier(chars=True, C=1.0, balanced=True).fit(list(texts), list(labels))
    accuracy = float(np.mean(model.predict(list(test_texts)) == np.array(truth)))
    assert accuracy > 0.8          # chance is 1/3


def test_settings_are_chosen_by_cross_validation_on_the_labelled_texts_only(slice_: dict) -> None:
    texts, labels = zip(*slice_["training"])
    grid = {"chars": (False,), "models": (("svm",),), "C": (0.01, 1.0), "balanced": (True,)}
    chosen, table = choose_by_cross_validation(list(texts), list(labels), folds=3, grid=grid)
    assert len(table) == 2 and table[0]["accuracy"] >= table[1]["accuracy"]
    assert chosen == table[0]["setting"]
