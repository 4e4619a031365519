"""Learning a topic's words from judgements and from the gathered items themselves.

Judged examples (readers' verdicts, a librarian's include/exclude) move the topic's
vector (Rocchio); with enough of them a per-topic logistic regression replaces the
cosine.  Pseudo-relevance feedback takes the corpus items a topic matches most
confidently as relevant, so a topic learns the words real items use.
"""

from __future__ import annotations

from ..core.lazy import np, sparse  # numpy/scipy load when first used: they cost ~1 s at start
from .textnorm import segments, surface_forms
from .matchpool import match_slice
from .terms import Analysed

# (title, summary, relevant?) for one topic, from feedback and judgements.
Example = tuple[str, str, bool]

# Pseudo-relevance feedback: the corpus items a topic matches most strongly pull
# its vector towards the words real items use (Rocchio with no judgements).
PRF_DOCS = 5               # at least; or this share of the corpus, when larger:
PRF_SHARE = 0.02
# Only items this far above the threshold count as relevant.  One topic term in the
# title alone (0.5) is below 0.35 + 0.25, so the items that teach a topic its words
# have a second piece of evidence (another term, or shared vocabulary).
PRF_MARGIN = 0.25
PRF_WEIGHT = 0.5
PRF_KEEP = 200             # new words a topic may take from the corpus
# Judged examples (feedback, a librarian's include/exclude): Rocchio weights.
ROCCHIO_POSITIVE = 0.5    # 0.4-1.5 tried (bench/matching.md, ideas 8, 11, 13): 0.5 loses least
ROCCHIO_NEGATIVE = 0.25
# With this many judged items (and a few of each kind), a per-topic linear model on
# the same TF-IDF features replaces the cosine; term hits and exclusions still apply.
# A useful judged item that scored under its topic's threshold says the threshold is too
# high for this topic: it comes down to that item's score, never below this floor, never
# to a judged not-relevant item's score, and never where the profile sets the threshold
# itself (bench/matching.md, idea 17).
JUDGED_FLOOR = 0.25            # 0.2 and 0.3 tried: 0.25 loses least
MODEL_MIN_LABELS = 20
MODEL_MIN_EACH = 5


class Learning:
    """The learning half of the Matcher (mixed in; moves its topic vectors)."""

    def _rocchio(self, labelled: dict[tuple[str, str], list[Example]]) -> None:
        """Move each judged topic's vector towards its useful items and away from the rest."""
        additions: dict[int, sparse.csr_matrix] = {}
        for key, examples in labelled.items():
            j = self._column.get(key)
            if j is None or not examples:
                continue
            vectors = self._analyse([(t, s) for t, s, _ in examples]).vectors
            relevant = np.array([r for _, _, r in examples], dtype=bool)
            row = sparse.csr_matrix((1, self._width), dtype=np.float32)
            if relevant.any():
                row = row + ROCCHIO_POSITIVE * sparse.csr_matrix(vectors[relevant].mean(axis=0))
            if (~relevant).any():
                row = row - ROCCHIO_NEGATIVE * sparse.csr_matrix(vectors[~relevant].mean(axis=0))
            additions[j] = sparse.csr_matrix(row, dtype=np.float32)
        if additions:
            self._move_vectors(self._rows(additions))

    def _thresholds_from_judgements(self, labelled: dict[tuple[str, str], list[Example]]) -> None:
        """Lower a topic's default threshold to the useful items it was shown (see JUDGED_FLOOR)."""
        for key, examples in labelled.items():
            j = self._column.get(key)
            if j is None or not examples or j in self._models or self._topics[j].threshold is not None:
                continue
            scores = self._scores(self._analyse([(t, s) for t, s, _ in examples]))[:, j]
            relevant = np.array([r for _, _, r in examples], dtype=bool)
            useful = scores[relevant & (scores > 0)]
            if not useful.size:
                continue
            lowest = max(JUDGED_FLOOR, float(useful.min()))
            if (~relevant).any():
                lowest = max(lowest, float(scores[~relevant].max()) + 1e-4)
            self.thresholds[j] = min(float(self.thresholds[j]), lowest)

    def _train_models(self, labelled: dict[tuple[str, str], list[Example]],
                      parts: list[dict[str, list[list[str]]]]) -> None:
        """A logistic regression per topic with enough judged items (its own text as positives too)."""
        for key, examples in labelled.items():
            j = self._column.get(key)
            relevant = [r for _, _, r in examples]
            if (j is None or len(examples) < MODEL_MIN_LABELS
                    or min(sum(relevant), len(relevant) - sum(relevant)) < MODEL_MIN_EACH):
                continue
            own = [doc for docs in parts[j].values() for doc in docs]
            X = sparse.vstack([self._analyse([(t, s) for t, s, _ in examples]).vectors,
                               self._vectorizer.transform(own)]).tocsr()
            y = np.array(relevant + [True] * len(own))
            from sklearn.linear_model import LogisticRegression  # lazy: scikit-learn costs ~1 s at start

            self._models[j] = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(X, y)

    @property
    def learned_topics(self) -> list[tuple[str, str]]:
        """Topics now scored by their own model, trained on feedback."""
        return [self.topic_keys[j] for j in sorted(self._models)]

    def _pseudo_relevance(self, vectors: sparse.csr_matrix, hits: list[set[tuple[str, ...]]]) -> None:
        """Rocchio with the corpus items each topic matches most strongly taken as relevant.

        Only each topic's PRF_KEEP strongest new words are added, so the vectors (and the
        dense block scoring multiplies by) stay small with a thousand topics.
        """
        limit = max(PRF_DOCS, int(PRF_SHARE * len(hits)))
        # Scored a slice of the corpus at a time, keeping only the confident (item, topic)
        # pairs: all at once, 50,000 items x 2,000 topics made several dense 400 MB arrays,
        # the match phase's peak memory at national scale (issue 19).
        found_topics, found_items, found_scores = [], [], []
        step = match_slice(len(self._topics))      # the same bound on scores held as scoring's
        for start in range(0, len(hits), step):
            part = hits[start:start + step]
            scores = self._scores(Analysed(vectors[start:start + step], part, [set()] * len(part)))
            items_at, topics_at = np.nonzero(scores >= (self.thresholds + PRF_MARGIN)[np.newaxis, :])
            found_topics.append(topics_at)
            found_items.append(items_at + start)
            found_scores.append(scores[items_at, topics_at])
        topic_of = np.concatenate(found_topics) if found_topics else np.zeros(0, dtype=np.intp)
        item_of = np.concatenate(found_items) if found_items else np.zeros(0, dtype=np.intp)
        score_of = np.concatenate(found_scores) if found_scores else np.zeros(0, dtype=np.float32)
        order = np.lexsort((item_of, -score_of, topic_of))       # by topic, strongest first
        topic_of, item_of = topic_of[order], item_of[order]
        rows, cols, weights = [], [], []
        starts = np.searchsorted(topic_of, np.arange(len(self._topics) + 1))
        for j in range(len(self._topics)):
            best = item_of[starts[j]:starts[j + 1]][:limit]
            if not best.size:
                continue
            rows.extend([j] * len(best))
            cols.extend(best.tolist())
            weights.extend([1.0 / len(best)] * len(best))
        if not rows:
            return
        chooser = sparse.csr_matrix((weights, (rows, cols)), shape=(len(self._topics), len(hits)),
                                    dtype=np.float32)
        centroids = (chooser @ vectors).tocsr()
        self._move_vectors(PRF_WEIGHT * _top_per_row(centroids, PRF_KEEP))

    def topic_change(self, profile_id: str, topic_id: str, limit: int = 8,
                     include_corpus: bool = False) -> dict[str, list[str]]:
        """Words the topic gained and lost among its strongest through feedback.

        With ``include_corpus`` the pseudo-relevance step counts too (profile alone -> now).
        """
        if not self._fitted:
            return {"gained": [], "lost": []}
        j = self._column[(profile_id, topic_id)]
        if self._names is None:
            self._names = self._vectorizer.get_feature_names_out()
        before = np.asarray(self.base_vectors[j].toarray()).ravel()
        now = self._topic_vectors if include_corpus else self.feedback_vectors
        after = np.asarray(now[j].toarray()).ravel()
        top_before = set(np.argsort(-before)[:limit * 2][before[np.argsort(-before)[:limit * 2]] > 0])
        top_after = set(np.argsort(-after)[:limit * 2][after[np.argsort(-after)[:limit * 2]] > 0])
        gained = sorted(top_after - top_before, key=lambda i: -after[i])[:limit]
        lost = sorted(top_before - top_after, key=lambda i: -before[i])[:limit]
        forms = self._readable_forms()
        return {"gained": [forms.get(str(self._names[i]), str(self._names[i])) for i in gained],
                "lost": [forms.get(str(self._names[i]), str(self._names[i])) for i in lost]}

    def _readable_forms(self) -> dict[str, str]:
        """Folded feature -> words as written, from the topics' and the judged examples' text."""
        if self._forms is None:
            forms: dict[str, str] = {}
            for text in self._form_texts:
                for feature, surface in surface_forms(segments(text)).items():
                    forms.setdefault(feature, surface)
            self._forms = forms
        return self._forms


def _top_per_row(matrix: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Each row's ``keep`` largest entries, the rest dropped."""
    matrix = matrix.tocsr()
    data, indices, indptr = [], [], [0]
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        row_data, row_idx = matrix.data[lo:hi], matrix.indices[lo:hi]
        if hi - lo > keep:
            top = np.argpartition(-row_data, keep)[:keep]
            row_data, row_idx = row_data[top], row_idx[top]
        data.append(row_data)
        indices.append(row_idx)
        indptr.append(indptr[-1] + len(row_data))
    return sparse.csr_matrix((np.concatenate(data) if data else [], np.concatenate(indices) if indices else [],
                              indptr), shape=matrix.shape, dtype=np.float32)

