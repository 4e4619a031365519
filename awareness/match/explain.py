"""Why an item matched a topic, in words a librarian recognises.

Reasons are the topic's terms found (as the librarian wrote them; an equivalent shows
its source, "emergency department (A&E)"), then at most a couple of the words item and
topic share most.  Generic news words, numbers and fragments never count as reasons.
"""

from __future__ import annotations

from functools import lru_cache

from ..core.lazy import np, sparse  # numpy/scipy load when first used: they cost ~1 s at start
from .textnorm import surface_forms, term_key
from .terms import Analysed

MAX_REASONS = 5
EXPLAIN_BLOCK = 2000      # (item, topic) pairs explained with one sparse product (bounds its memory)
# Words of any news item that explain nothing about why it fits a topic.
GENERIC_WORDS = ("new", "high", "low", "report", "reports", "says", "said", "year", "years", "week",
                 "month", "latest", "update", "updated", "published", "publishes", "rise", "rises",
                 "record", "data", "figures", "time", "people", "national", "review", "plan", "plans",
                 "news", "study", "finds", "england", "nhs", "uk", "government", "announced", "launch",
                 "launched", "local", "services", "service", "care", "health",
                 # everyday verbs and counters that turn up in any story
                 "told", "tell", "tells", "give", "gives", "given", "get", "gets", "make", "makes",
                 "made", "take", "takes", "taken", "way", "ways", "one", "two", "three", "first", "last")


@lru_cache(maxsize=1)
def generic_keys() -> frozenset[str]:
    """GENERIC_WORDS folded, on first use: folding at import would load the stemmer at start."""
    return frozenset(term_key(w)[0] for w in GENERIC_WORDS)


# Shared words shown after the terms found: a couple at most, each clearly topical:
# one of the profile's own words, or among the strongest of the topic's learned words.
MAX_SHARED = 2
TOPICAL_SHARE = 0.3        # of the topic's strongest weight, for a word the profile does not use
# A word in this share of the gathered items is common news language, not a reason
# (learned from the corpus, so it needs a corpus big enough to say).
COMMON_SHARE = 0.1
COMMON_MIN_DOCS = 50


class Explaining:
    """The explaining half of the Matcher (mixed in; uses its vectors and hit lists)."""

    def explain(self, title: str, summary: str, profile_id: str, topic_id: str,
                limit: int = MAX_REASONS) -> tuple[str, ...]:
        """Why this text scores for this topic: topic terms found, then shared words."""
        j = self._column[(profile_id, topic_id)]
        analysed = self._analyse([(title, summary)])
        return self._reasons_for(analysed, np.array([0]), np.array([j]), limit)[0]

    def _reasons_for(self, analysed: Analysed, rows: np.ndarray, cols: np.ndarray,
                     limit: int = MAX_REASONS) -> list[tuple[str, ...]]:
        """Reasons for many (item row, topic column) pairs of one analysed batch.

        Each item's words are read once (``analysed``) however many topics it matches,
        and the words item and topic share come from one sparse product per block of
        pairs (row r of it is item rows[r] times topic cols[r]), not one per match.
        """
        out: list[tuple[str, ...]] = []
        forms: dict[int, dict[str, str]] = {}               # per item, built when first needed
        for lo in range(0, len(rows), EXPLAIN_BLOCK):
            block_rows, block_cols = rows[lo:lo + EXPLAIN_BLOCK], cols[lo:lo + EXPLAIN_BLOCK]
            strongest: list[int] = []     # per row, its shared features strongest first (ties: as stored)
            bounds: list[int] = [0] * (len(block_rows) + 1)
            if self._fitted and len(block_rows):
                shared = analysed.vectors[block_rows].multiply(self._topic_vectors[block_cols]).tocsr()
                features = shared.indices[_strongest_first(shared)]
                # Only features that could be reasons go on to the word-by-word checks: one
                # vector lookup here instead of two Python calls per shared word and match.
                entry_rows = np.repeat(np.arange(len(block_rows)), np.diff(shared.indptr))
                keep = self._may_explain(block_cols[entry_rows], features)
                strongest = features[keep].tolist()
                bounds = [0, *np.cumsum(np.bincount(entry_rows[keep], minlength=len(block_rows))).tolist()]
            for r, (i, j) in enumerate(zip(block_rows.tolist(), block_cols.tolist())):
                reasons, covered = self._term_reasons(analysed.title_hits[i], analysed.body_hits[i], j, limit)
                a, b = bounds[r], bounds[r + 1]
                if len(reasons) >= limit or a == b:
                    out.append(tuple(reasons))
                    continue
                if i not in forms:
                    title_segs, body_segs = analysed.segs[i]
                    forms[i] = surface_forms(title_segs + body_segs)
                out.append(self._shared_reasons(reasons, covered, strongest[a:b], forms[i], limit, j))
        return out

    def _term_reasons(self, title_hits: set[tuple[str, ...]], body_hits: set[tuple[str, ...]], j: int,
                      limit: int) -> tuple[list[str], set[str]]:
        """The topic's terms found (title first, each in the profile's order), as the librarian
        wrote them, and their words.  Walks the item's few hits, not the topic's many term forms."""
        order = self._term_order(j)
        reasons: list[str] = []
        covered: set[str] = set()
        said: set[object] = set()                           # "fall" and "falls" are one reason
        for hits in (title_hits, body_hits):                # title hits first
            if not hits:
                continue
            for _, key, written in sorted(order[key] for key in hits if key in order):
                if key not in said and written not in said and len(reasons) < limit:
                    reasons.append(written)
                    said.update((key, written))
                    covered.update(k.removesuffix("~ing") for k in key)
        return reasons, covered

    def _term_order(self, j: int) -> dict[tuple[str, ...], tuple[int, tuple[str, ...], str]]:
        """Each term key of topic j -> (its first place among the topic's terms, key, as written)."""
        cache: dict[int, dict] = self.__dict__.setdefault("_term_orders", {})
        order = cache.get(j)
        if order is None:
            order = {}
            for place, (key, written) in enumerate(self._topic_terms[j]):
                order.setdefault(key, (place, key, written))
            cache[j] = order
        return order

    def _shared_reasons(self, reasons: list[str], covered: set[str], strongest: list[int],
                        forms: dict[str, str], limit: int, j: int) -> tuple[str, ...]:
        """After the terms found, the features item and topic share most, strongest first."""
        if self._names is None:
            self._names = self._vectorizer.get_feature_names_out()
        names, feature_words = self._names, self._feature_words
        covered = set(covered)
        found_terms = len(reasons)
        term_words = set(covered)
        chosen: list[tuple[frozenset[str], str]] = []       # shared features: (folded words, surface)
        for index in strongest:
            known = feature_words.get(index)
            if known is None:
                words = frozenset(names[index].split(" "))
                known = feature_words[index] = (words, self._generic(words, index))
            words, _ = known                                # generic and untopical ones never get here
            if covered.issuperset(words) or (len(words) > 1 and words & term_words):
                continue                                    # "falls older" adds nothing to "falls"
            # "talking therapies" replaces an earlier "talking" rather than sitting beside it.
            chosen = [c for c in chosen if not c[0] < words]
            feature = names[index]
            chosen.append((words, forms.get(feature, feature)))
            covered.update(words)
            if found_terms + len(chosen) >= limit or len(chosen) >= MAX_SHARED:
                break
        return tuple(reasons + [surface for _, surface in chosen])

    def _may_explain(self, topics: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Per (topic, feature) pair: whether the feature is no generic word and is topical for
        that topic (``_generic``, ``_topical_keys``), as one vector of booleans."""
        if "_explaining_masks" not in self.__dict__:
            if self._names is None:
                self._names = self._vectorizer.get_feature_names_out()
            generic = np.zeros(len(self._names), dtype=bool)
            for index in np.unique(self._topic_vectors.indices).tolist():     # only words topics have
                words = frozenset(self._names[index].split(" "))
                known = self._feature_words[index] = (words, self._generic(words, index))
                generic[index] = known[1]
            topical = np.unique(np.concatenate([self._topical_keys(j) for j in range(len(self._topics))]
                                               or [np.zeros(0, dtype=np.int64)]))
            self._explaining_masks = (generic, topical)
        generic, topical = self._explaining_masks
        keys = topics.astype(np.int64) * np.int64(len(generic)) + features.astype(np.int64)
        # ``topical`` is sorted and unique: a binary search per key, where np.isin sorted
        # every block's keys again (half the explaining time at national scale; issue 19).
        at = np.minimum(np.searchsorted(topical, keys), max(len(topical) - 1, 0))
        known = topical[at] == keys if len(topical) else np.zeros(len(keys), dtype=bool)
        return ~generic[features] & known

    def _topical_keys(self, j: int) -> np.ndarray:
        """topic * width + feature for each feature strongly topic j's: the profile's own word,
        or among the heaviest the topic has learned (from feedback or the gathered items)."""
        row = self._topic_vectors[j]
        strong = row.indices[row.data >= TOPICAL_SHARE * row.data.max()] if row.data.size else row.indices[:0]
        features = np.union1d(self.base_vectors[j].indices, strong).astype(np.int64)
        return np.int64(j) * np.int64(len(self._names)) + features

    def _generic(self, words: frozenset[str], index: int) -> bool:
        """A feature that explains nothing: a number or fragment ("19" of COVID-19, "000"),
        a generic news word, or a word common across the gathered items."""
        if any(len(word) < 3 or any(c.isdigit() for c in word) for word in words):
            return True
        if words <= generic_keys():
            return True
        if self._n_docs >= COMMON_MIN_DOCS:
            common_idf = np.log((1 + self._n_docs) / (1 + COMMON_SHARE * self._n_docs)) + 1
            return bool(self._vectorizer.idf_[index] <= common_idf)
        return False


def _strongest_first(matrix: sparse.csr_matrix) -> np.ndarray:
    """The order of a CSR matrix's entries row by row, largest first within a row, ties as stored.

    Positive float32 values order as their bit patterns do, so (row, ~bits) packed in one
    unsigned 64-bit key sorts in one stable pass, ten times quicker than np.lexsort.
    """
    data = matrix.data
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.uint64), np.diff(matrix.indptr))
    if data.dtype != np.float32 or not (data > 0).all():
        return np.lexsort((-data, rows))                    # lexsort is stable too
    descending = np.uint64(0xFFFFFFFF) - data.view(np.uint32).astype(np.uint64)
    return np.argsort((rows << np.uint64(32)) | descending, kind="stable")

