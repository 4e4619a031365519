"""match/tfidf.py gives exactly what scikit-learn's TfidfVectorizer and normalize give (issue 19).

The matcher stopped importing scikit-learn for TF-IDF (~0.65 s of every matching run), so
its scores must not move by a bit: vocabulary, IDF and every row's bytes are compared with
scikit-learn's own, and whole matchers' scores and reasons with both inside.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.preprocessing import normalize as sklearn_normalize

from awareness.config.profiles import load_profiles
from awareness.core.models import StoredItem
from awareness.match import scoring, textnorm, vectors
from awareness.match.textnorm import features, segments
from awareness.match.tfidf import Tfidf, normalize
from awareness.store.schema import utcnow

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _texts() -> list[tuple[str, str]]:
    rows = [json.loads(line) for f in sorted(DATA.glob("*.jsonl")) for line in f.read_text().splitlines() if line]
    return [(r["title"], r.get("summary", "")) for r in rows]


def _identity(doc: list[str]) -> list[str]:
    return doc


class _ScikitLearns(TfidfVectorizer):
    """What the matcher used before: scikit-learn's vectoriser in the same configuration."""

    def __init__(self) -> None:
        super().__init__(analyzer=_identity, sublinear_tf=True, dtype=np.float32)


def _same(a: sparse.csr_matrix, b: sparse.csr_matrix) -> None:
    assert type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
    for part in ("data", "indices", "indptr"):
        assert getattr(a, part).tobytes() == getattr(b, part).tobytes(), part


def _both(fit_docs: list[list[str]], docs: list[list[str]]) -> None:
    theirs, ours = _ScikitLearns().fit(fit_docs), Tfidf().fit(fit_docs)
    assert ours.vocabulary_ == theirs.vocabulary_
    assert ours.idf_.dtype == theirs.idf_.dtype and ours.idf_.tobytes() == theirs.idf_.tobytes()
    assert list(ours.get_feature_names_out()) == list(theirs.get_feature_names_out())
    _same(theirs.transform(docs), ours.transform(docs))


def test_news_items_are_weighted_bit_for_bit_as_by_scikit_learn() -> None:
    texts = _texts()
    corpus = [features(segments(f"{t}. {s}")) for t, s in texts]
    items = [features(segments(t)) * 2 + features(segments(s)) for t, s in texts]
    _both(corpus, items + [[], ["never seen"], corpus[0] * 5])


@pytest.mark.parametrize("fit_docs", [
    [["a"]],
    [["a", "a", "b"], [], ["b c", "b", "c"] * 40, ["ä", "z", "a"]],
    [[f"w{i % 97}" for i in range(k * 7)] for k in range(1, 60)],
])
def test_awkward_documents_are_weighted_as_by_scikit_learn(fit_docs: list[list[str]]) -> None:
    _both(fit_docs, fit_docs + [[], ["unknown"], fit_docs[0] * 3])


def test_an_empty_vocabulary_is_refused_as_by_scikit_learn() -> None:
    with pytest.raises(ValueError):
        _ScikitLearns().fit([[], []])
    with pytest.raises(ValueError):
        Tfidf().fit([[], []])


def test_normalize_is_scikit_learns() -> None:
    rng = np.random.default_rng(5)
    for k in range(25):
        m = sparse.random(40, 2000, density=rng.uniform(0.001, 0.4), format="csr", dtype=np.float32,
                          random_state=k)
        m.data = (m.data * rng.uniform(1e-5, 50, m.data.size)).astype(np.float32)
        m.data[m.indptr[3]:m.indptr[4]] = 0    # an empty row stays empty
        m.eliminate_zeros()
        before = m.data.copy()
        _same(sklearn_normalize(m), normalize(m))
        assert m.data.tobytes() == before.tobytes()     # a copy, as scikit-learn's


def test_the_stop_words_are_scikit_learns_less_the_kept_words() -> None:
    assert textnorm._sklearn_stop_words() == ENGLISH_STOP_WORDS     # read from its file, not imported
    assert textnorm.STOP_WORDS == frozenset(ENGLISH_STOP_WORDS) - textnorm._KEPT_WORDS


def test_reading_the_stop_words_does_not_import_scikit_learn() -> None:
    code = ("import sys; from awareness.match import textnorm; words = textnorm.stop_words(); "
            "print(len(words), 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 250 and out[1] == "False"


def test_fit_transform_reads_a_generator_once_and_gives_fit_then_transform() -> None:
    docs = [["care", "home", "care home"], ["falls", "care"], [], ["home", "home", "visits"]]
    once = Tfidf().fit_transform(doc for doc in docs)
    twice = Tfidf().fit(docs)
    _same(once, twice.transform(docs))
    with pytest.raises(ValueError):
        Tfidf().fit_transform(iter([[], []]))


def test_whole_matchers_score_and_explain_exactly_as_with_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = load_profiles(ROOT / "profiles")
    texts = _texts()
    now = utcnow()
    items = [StoredItem(id=n, guid=str(n), link=f"https://example.org/{n}", title=t, summary=s, published=now,
                        first_seen=now, authors=[], tags=[], sources=["s"]) for n, (t, s) in enumerate(texts)]
    corpus = [f"{t}. {s}" for t, s in texts]
    labelled = {(profiles[0].id, profiles[0].topics[0].id): [(t, s, n % 3 == 0) for n, (t, s) in
                                                              enumerate(texts[:12])]}
    results = []
    for kind in (Tfidf, _ScikitLearns):
        monkeypatch.setattr(scoring, "Tfidf", kind)
        if kind is _ScikitLearns:
            monkeypatch.setattr(vectors, "normalize", sklearn_normalize)
        for judged in ({}, labelled):
            matcher = scoring.Matcher(profiles, corpus=corpus, labelled=judged)
            results.append((matcher.score_texts(texts).tobytes(), matcher.score(items)))
    assert results[0] == results[2] and results[1] == results[3]
    assert len(results[0][1]) > 20 and any(m.terms for m in results[0][1])
    assert results[0] != results[1]     # the judgements did change something
