"""TF-IDF as scikit-learn computes it, without importing scikit-learn (issue 19).

Importing scikit-learn costs ~0.65 s (it pulls in scipy.stats), more than fitting and
scoring a small run's items; the matcher only ever used one configuration of it:
``TfidfVectorizer(analyzer=<features given>, sublinear_tf=True, dtype=float32)``.
``Tfidf`` computes that configuration with numpy and scipy.sparse, operation for
operation in the same dtypes, so every vector is bit-identical to scikit-learn's
(tests/test_tfidf.py checks it against scikit-learn itself):

* vocabulary: the features, sorted; ``idf = ln((1 + n) / (1 + df)) + 1`` in float32;
* a document's row: ``(1 + ln count) * idf`` in float32, its columns ascending, then
  L2-normalised as ``sklearn.preprocessing.normalize`` does (float32 squares summed in
  double, row by row in stored order; each value divided in double, rounded to float32).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

from ..core.lazy import np, sparse  # numpy/scipy load when first used


class Tfidf:
    """Fitted on feature lists (documents already tokenised), transforms them to L2-normalised rows."""

    def __init__(self) -> None:
        self.vocabulary_: dict[str, int] = {}
        self.idf_: np.ndarray = np.zeros(0, dtype=np.float32)
        self._names: list[str] = []

    def fit(self, docs: Sequence[list[str]]) -> "Tfidf":
        """Learn the vocabulary and each feature's IDF from these documents."""
        self._learn_vocabulary({feature for doc in docs for feature in doc})
        _, indices, _ = self._counts(docs)
        self._learn_idf(indices, len(docs))
        return self

    def fit_transform(self, docs: Iterable[list[str]]) -> sparse.csr_matrix:
        """``fit(docs).transform(docs)``, the same rows, reading the documents once: a generator
        will do, so a large corpus's feature lists need never be held all at once (issue 19)."""
        seen: dict[str, int] = {}                  # feature -> id in order of first sight
        columns, lengths = array("q"), array("q")
        for doc in docs:
            before = len(columns)
            columns.extend([seen.setdefault(f, len(seen)) for f in doc])
            lengths.append(len(columns) - before)
        self._learn_vocabulary(seen)
        to_sorted = np.fromiter((self.vocabulary_[f] for f in seen), dtype=np.int64, count=len(seen))
        data, indices, indptr = _csr_counts(to_sorted[np.frombuffer(columns, dtype=np.int64)],
                                            np.frombuffer(lengths, dtype=np.int64), len(self._names))
        self._learn_idf(indices, len(lengths))
        return self._weigh(data, indices, indptr)

    def transform(self, docs: Sequence[list[str]]) -> sparse.csr_matrix:
        """One L2-normalised TF-IDF row per document (features not in the vocabulary are ignored)."""
        return self._weigh(*self._counts(docs))

    def _learn_vocabulary(self, features: Iterable[str]) -> None:
        self._names = sorted(features)
        if not self._names:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        self.vocabulary_ = {feature: i for i, feature in enumerate(self._names)}

    def _learn_idf(self, indices: np.ndarray, n_docs: int) -> None:
        df = np.bincount(indices, minlength=len(self._names)).astype(np.float32)
        df += 1.0                                                       # smooth_idf
        idf = np.full_like(df, fill_value=n_docs + 1, dtype=np.float32)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        self.idf_ = idf

    def _weigh(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> sparse.csr_matrix:
        np.log(data, out=data)                                          # sublinear_tf
        data += 1.0
        data *= self.idf_[indices]
        l2_normalise_rows(data, indptr)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(self._names)))

    def get_feature_names_out(self) -> np.ndarray:
        """The features, in column order (an object array, as scikit-learn gives)."""
        return np.asarray(self._names, dtype=object)

    def _counts(self, docs: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR parts of the count matrix (float32 counts, int32 columns ascending within a row)."""
        vocabulary = self.vocabulary_
        columns: list[int] = []
        lengths = np.zeros(len(docs), dtype=np.int64)
        for n, doc in enumerate(docs):
            before = len(columns)
            columns.extend([vocabulary[f] for f in doc if f in vocabulary])
            lengths[n] = len(columns) - before
        return _csr_counts(np.asarray(columns, dtype=np.int64), lengths, len(self._names))


def _csr_counts(columns: np.ndarray, lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts of the count matrix of documents given as their features' columns, one
    document after another (``lengths`` each): counts as float32, columns ascending in a row."""
    wide = np.int64(max(width, 1))
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    keys, counts = np.unique(rows * wide + columns, return_counts=True)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(np.bincount(keys // wide, minlength=len(lengths)), out=indptr[1:])
    return counts.astype(np.float32), (keys % wide).astype(np.int32), indptr


def l2_normalise_rows(data: np.ndarray, indptr: np.ndarray) -> None:
    """Each CSR row divided by its L2 norm, in place, exactly as scikit-learn's normalize.

    Its loop squares each float32 value in float32, sums the squares in double in stored
    order, and divides each value in double; ``np.bincount`` adds its weights (as doubles)
    in array order, so each row's sum is the same sequence of additions.  Empty rows stay.
    """
    lengths = np.diff(indptr)
    if not data.size:
        return
    rows = np.repeat(np.arange(len(lengths)), lengths)
    sums = np.bincount(rows, weights=(data * data).astype(np.float64), minlength=len(lengths))
    norms = np.sqrt(sums)
    norms[sums == 0.0] = 1.0
    data[:] = (data.astype(np.float64) / norms[rows]).astype(data.dtype)


def normalize(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """A copy of a CSR matrix with each row L2-normalised (``sklearn.preprocessing.normalize``)."""
    out = sparse.csr_matrix(matrix, copy=True)
    l2_normalise_rows(out.data, out.indptr)
    return out
