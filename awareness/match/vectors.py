"""Topic vectors: a topic's parts blended into one TF-IDF vector, and calibrated.

A topic's vector is a weighted blend of its parts (terms, title, description,
examples), each L2-normalised first so a long example cannot drown the terms.
Each topic's cosines are scaled by how well its own sentences score against it,
so broad and narrow topics meet one threshold on equal terms.
"""

from __future__ import annotations

from ..core.lazy import np, sparse  # numpy/scipy load when first used: they cost ~1 s at start
from ..core.models import Topic
from .textnorm import features, segments
from .tfidf import normalize

# How much each part of a topic shapes its vector (each part normalised first).
PART_WEIGHTS = {"terms": 1.0, "title": 0.6, "description": 0.8, "examples": 0.8}
# Per-topic calibration of cosines (see Matcher._calibration).
CALIBRATE = True
CALIBRATION_TARGET = 0.7
CALIBRATION_LIMIT = 2.0


class TopicVectors:
    """The vector half of the Matcher (mixed in)."""

    def _calibration(self, parts: list[dict[str, list[list[str]]]]) -> np.ndarray:
        """Per topic, a factor that puts its cosines on a common scale.

        A topic spread over many words gets lower cosines from every item than a narrow
        one, so one threshold would be strict for broad topics and lax for narrow ones.
        The reference is how well the topic's own sentences (title, description, each
        example, the terms), read as if they were items, score against its vector.
        """
        scale = np.ones(len(self._topics), dtype=np.float32)
        owners = [j for j, topic_parts in enumerate(parts) for docs in topic_parts.values() for _ in docs]
        if not owners:
            return scale
        vectors = self._vectorizer.transform([doc for topic_parts in parts
                                              for docs in topic_parts.values() for doc in docs])
        owners_array = np.array(owners)
        # Cosine of each part with its own topic: a row-wise dot product, all topics at once.
        cosines = np.asarray(vectors.multiply(self._topic_vectors[owners_array]).sum(axis=1)).ravel()
        totals = np.bincount(owners_array, weights=cosines, minlength=len(self._topics))
        counts = np.bincount(owners_array, minlength=len(self._topics))
        reference = np.divide(totals, counts, out=np.zeros_like(totals), where=counts > 0)
        known = reference > 0
        scale[known] = np.clip(CALIBRATION_TARGET / reference[known], 1 / CALIBRATION_LIMIT, CALIBRATION_LIMIT)
        return scale

    def _set_block(self) -> None:
        # Scoring multiplies items by a dense block of only the columns topics use.
        self._columns = np.unique(self._topic_vectors.indices)
        self._topic_block = self._topic_vectors[:, self._columns].toarray().T.copy()

    def _move_vectors(self, additions: sparse.csr_matrix) -> None:
        """Add weighted rows to the topic vectors, drop what goes negative, re-normalise."""
        moved = (self._topic_vectors.astype(np.float32) + additions.astype(np.float32)).tocsr()
        moved.data = np.clip(moved.data, 0.0, None)
        moved.eliminate_zeros()
        self._topic_vectors = normalize(moved).astype(np.float32).tocsr()
        self._set_block()

    def _rows(self, parts: dict[int, sparse.csr_matrix]) -> sparse.csr_matrix:
        """A k x vocabulary matrix with the given rows (one-row matrices) and zeros elsewhere."""
        empty = sparse.csr_matrix((1, self._width), dtype=np.float32)
        return sparse.vstack([parts.get(j, empty) for j in range(len(self._topics))]).tocsr()

    @property
    def _width(self) -> int:
        return len(self._vectorizer.vocabulary_) if self._fitted else 0

    def _part_rows(self, parts: list[dict[str, list[list[str]]]]) -> list[dict[str, sparse.csr_matrix]]:
        """Each topic part's documents as TF-IDF rows: one transform for every topic, not one
        per part (rows do not depend on each other, so they are the same either way)."""
        docs = [doc for topic_parts in parts for part_docs in topic_parts.values() for doc in part_docs]
        matrix = self._vectorizer.transform(docs) if docs else None
        out: list[dict[str, sparse.csr_matrix]] = []
        at = 0
        for topic_parts in parts:
            rows: dict[str, sparse.csr_matrix] = {}
            for name, part_docs in topic_parts.items():
                if part_docs and matrix is not None:
                    rows[name] = matrix[at:at + len(part_docs)]
                    at += len(part_docs)
            out.append(rows)
        return out

    def _topic_vector(self, parts: dict[str, list[list[str]]],
                      part_rows: dict[str, sparse.csr_matrix] | None = None) -> sparse.csr_matrix:
        total = np.zeros(self._width, dtype=np.float64)
        for name, docs in parts.items():
            if not docs:
                continue
            # rows are L2-normalised
            rows = part_rows[name] if part_rows is not None else self._vectorizer.transform(docs)
            part = np.asarray(rows.mean(axis=0)).ravel()
            norm = np.linalg.norm(part)
            if norm > 0:
                total += PART_WEIGHTS[name] * part / norm
        norm = np.linalg.norm(total)
        if norm > 0:
            total /= norm
        return sparse.csr_matrix(total.astype(np.float32)[np.newaxis, :])



def topic_parts(topic: Topic, terms: list[str] | None = None) -> dict[str, list[list[str]]]:
    """A topic's text, as feature lists per part (each part is one or more documents)."""
    term_features = [f for term in (topic.terms if terms is None else terms)
                     for f in features(segments(term))]
    parts = {
        "terms": [term_features] if term_features else [],
        "title": [features(segments(topic.title))],
        "description": [features(segments(topic.description))] if topic.description.strip() else [],
        "examples": [features(segments(e)) for e in topic.examples if e.strip()],
    }
    return {name: [d for d in docs if d] for name, docs in parts.items()}

