"""Learning topics from labelled examples: TF-IDF word and character n-grams, linear models.

For labels at scale: a training split of thousands of labelled items, as in
bench/match_ohsumed.py --mode full.  (A profile's topics learn from feedback inside
the matcher, ``classify.Matcher(labelled=...)``, on the matcher's own features.)  Linear models on sparse TF-IDF features are fast to train and to
apply, need no model download, and their weights can be read back as the terms
that drove a decision, which keeps matching explainable.

Features: folded word uni+bigrams (``textnorm``, title repeated) plus character
n-grams within words (they catch word forms and compounds the stemmer misses,
e.g. "cardiomyopathy"/"myocardial").  Both use sublinear tf.  IDF may be fitted
on unlabelled text too (``fit(..., unlabelled=...)``): the service always has the
stream of items it gathered, labelled or not.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from .textnorm import features, segments

logger = logging.getLogger(__name__)

TITLE_REPEAT = 2
Text = tuple[str, str]    # (title, summary)


def _identity(doc: list[str]) -> list[str]:
    return doc


def _words(text: Text) -> list[str]:
    title, summary = text
    return features(segments(title or "")) * TITLE_REPEAT + features(segments(summary or ""))


def _chars(text: Text) -> str:
    title, summary = text
    return f"{title}. {title}. {summary}"


class Featuriser:
    """Word and character TF-IDF, fitted once, applied to any (title, summary) pairs."""

    def __init__(self, chars: bool = True, min_df: int = 2) -> None:
        self.chars = chars
        self.words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df,
                                     dtype=np.float32)
        self.characters = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                          min_df=min_df, dtype=np.float32) if chars else None

    def fit(self, texts: Sequence[Text]) -> "Featuriser":
        self.words.fit([_words(t) for t in texts])
        if self.characters is not None:
            self.characters.fit([_chars(t) for t in texts])
        return self

    def transform(self, texts: Sequence[Text]) -> sparse.csr_matrix:
        blocks = [self.words.transform([_words(t) for t in texts])]
        if self.characters is not None:
            blocks.append(self.characters.transform([_chars(t) for t in texts]))
        return sparse.hstack(blocks).tocsr() if len(blocks) > 1 else blocks[0].tocsr()


def _model(kind: str, C: float, balanced: bool) -> Any:
    weight = "balanced" if balanced else None
    if kind == "svm":
        return LinearSVC(C=C, class_weight=weight)
    if kind == "logreg":
        return LogisticRegression(C=C * _LOGREG_C_SCALE, class_weight=weight, max_iter=3000)
    raise ValueError(f"unknown model kind {kind!r}")


def _standardised(decision: np.ndarray) -> np.ndarray:
    """Decision values put on one scale per model, so an ensemble can average them."""
    if decision.ndim == 1:
        decision = decision[:, np.newaxis]
    spread = decision.std() or 1.0
    return (decision - decision.mean()) / spread


@dataclass
class _Fitted:
    classes: np.ndarray
    models: list[Any]


class TextClassifier:
    """One label per text (or one yes/no), from TF-IDF features and linear models.

    ``models`` names one or more linear models ("svm", "logreg"); several are an
    ensemble whose standardised decision values are averaged.
    """

    def __init__(self, *, chars: bool = True, models: tuple[str, ...] = ("svm",), C: float = 1.0,
                 balanced: bool = False) -> None:
        self.settings = {"chars": chars, "models": tuple(models), "C": C, "balanced": balanced}
        self.featuriser = Featuriser(chars=chars)
        self._fitted: _Fitted | None = None

    def fit(self, texts: Sequence[Text], labels: Sequence[str],
            unlabelled: Sequence[Text] = ()) -> "TextClassifier":
        self.featuriser.fit([*texts, *unlabelled])
        return self.fit_features(self.featuriser.transform(texts), labels)

    def fit_features(self, X: sparse.csr_matrix, labels: Sequence[str]) -> "TextClassifier":
        y = np.asarray(labels)
        models = [_model(kind, self.settings["C"], self.settings["balanced"]).fit(X, y)
                  for kind in self.settings["models"]]
        self._fitted = _Fitted(models[0].classes_, models)
        return self

    def decision_features(self, X: sparse.csr_matrix) -> np.ndarray:
        assert self._fitted is not None, "fit first"
        return np.mean([_standardised(m.decision_function(X)) for m in self._fitted.models], axis=0)

    def predict_features(self, X: sparse.csr_matrix) -> np.ndarray:
        decision = self.decision_features(X)
        classes = self._fitted.classes  # type: ignore[union-attr]
        if decision.shape[1] == 1:      # binary: one column, positive means classes[1]
            return classes[(decision[:, 0] > 0).astype(int)]
        return classes[decision.argmax(axis=1)]

    def predict(self, texts: Sequence[Text]) -> np.ndarray:
        return self.predict_features(self.featuriser.transform(texts))


# An SVM + logistic regression ensemble ("models": ("svm", "logreg")) was tried and
# scored lower in cross-validation (0.684 at C=0.5) while taking ten times longer, so the
# default grid searches the SVM only.
GRID = {
    "chars": (False, True),
    "models": (("svm",),),
    "C": (0.5, 1.0, 2.0, 4.0),
    "balanced": (False, True),
}
# Used by the benchmark's --quick run and by per-topic models: no ensemble, fewer Cs.
SMALL_GRID = {"chars": (False, True), "models": (("svm",),), "C": (0.5, 1.0), "balanced": (False, True)}
_LOGREG_C_SCALE = 20.0   # logistic regression wants a weaker penalty than the SVM at the same C


def choose_by_cross_validation(texts: Sequence[Text], labels: Sequence[str], *, folds: int = 5,
                               unlabelled: Sequence[Text] = (), progress: bool = False,
                               grid: dict[str, tuple[Any, ...]] | None = None,
                               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The settings with the best mean accuracy over stratified folds of the labelled texts only.

    IDF is fitted on all the text once (labelled and unlabelled: no labels are used),
    so folds differ only in which labels the models see.
    """
    grid = grid or GRID
    y = np.asarray(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    splits = list(splitter.split(np.zeros(len(y)), y))
    matrices: dict[bool, sparse.csr_matrix] = {}
    for chars in grid["chars"]:
        featuriser = Featuriser(chars=chars).fit([*texts, *unlabelled])
        matrices[chars] = featuriser.transform(texts)
    table: list[dict[str, Any]] = []
    combos = list(itertools.product(*(grid[k] for k in ("chars", "models", "C", "balanced"))))
    for n, (chars, models, C, balanced) in enumerate(combos, start=1):
        setting = {"chars": chars, "models": models, "C": C, "balanced": balanced}
        X = matrices[chars]
        scores = []
        for train_rows, test_rows in splits:
            clf = TextClassifier(**setting)
            clf.fit_features(X[train_rows], y[train_rows])
            scores.append(float(np.mean(clf.predict_features(X[test_rows]) == y[test_rows])))
        table.append({"setting": setting, "accuracy": float(np.mean(scores))})
        if progress:
            print(f"  [{n}/{len(combos)}] cv accuracy {table[-1]['accuracy']:.4f}  {setting}",
                  file=sys.stderr, flush=True)
    table.sort(key=lambda row: -row["accuracy"])
    return dict(table[0]["setting"]), table
