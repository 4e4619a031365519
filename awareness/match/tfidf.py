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

from collections.abc import Sequence

from ..core.lazy import np, sparse  # numpy/scipy load when first used


class Tfidf:
    """Fitted on feature lists (documents already tokenised), transforms them to L2-normalised rows."""

    def __init__(self) -> None:
        self.vocabulary_: dict[str, int] = {}
        self.idf_: np.ndarray = np.zeros(0, dtype=np.float32)
        self._names: list[str] = []

    def fit(self, docs: Sequence[list[str]]) -> "Tfidf":
        """Learn the vocabulary and each feature's IDF from these documents."""
        self._names = sorted({feature for doc in docs for feature in doc})
        if not self._names:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        self.vocabulary_ = {feature: i for i, feature in enumerate(self._names)}
        _, indices, _ = self._counts(docs)
        df = np.bincount(indices, minlength=len(self._names)).astype(np.float32)
        df += 1.0                                                       # smooth_idf
        idf = np.full_like(df, fill_value=len(docs) + 1, dtype=np.float32)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        self.idf_ = idf
        return self

    def transform(self, docs: Sequence[list[str]]) -> sparse.csr_matrix:
        """One L2-normalised TF-IDF row per document (features not in the vocabulary are ignored)."""
        data, indices, indptr = self._counts(docs)
        np.log(data, out=data)                                          # sublinear_tf
        data += 1.0
        data *= self.idf_[indices]
        l2_normalise_rows(data, indptr)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(docs), len(self._names)))

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
        width = np.int64(max(len(self._names), 1))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        keys, counts = np.unique(rows * width + np.asarray(columns, dtype=np.int64), return_counts=True)
        indptr = np.zeros(len(docs) + 1, dtype=np.int32)
        np.cumsum(np.bincount(keys // width, minlength=len(docs)), out=indptr[1:])
        return counts.astype(np.float32), (keys % width).astype(np.int32), indptr


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
