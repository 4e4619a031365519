"""Which items belong under which topics of which profiles, and why.

A topic is matched two ways, and the two are combined:

1. **Similarity.**  One TF-IDF model (unigrams + bigrams of folded words, see
   ``textnorm``) is fitted on the stream of items plus the topics' own text, so
   IDF reflects what is common in the news.  A topic's vector is a weighted
   blend of its parts (terms, title, description, examples), each L2-normalised
   first so a long example cannot drown the terms.  An item's title counts
   twice.  The cosine of item and topic vectors is ``cos`` in [0, 1].
2. **Term hits.**  A topic term found in the item, as a phrase, on word
   boundaries, in any word form, is strong evidence: each distinct term found
   is a ``hit`` of TITLE_HIT (in the title) or BODY_HIT (only in the summary).

    score = 1 - (1 - cos)**2 * prod(1 - hit)      (a noisy-or: stays in [0, 1])

An item containing any of a topic's ``exclude`` terms scores 0 for it (a veto).
An item matches when ``score >= threshold`` (the topic's own, or DEFAULT_THRESHOLD).

Why these numbers.  A short item against a topic's blended vector rarely has
a cosine above 0.5, even when plainly on topic, so the cosine enters the
noisy-or twice: about doubled while small, yet never saturating, so strong
matches still rank by strength.  DEFAULT_THRESHOLD then means: a topic term
in the title matches on its own (0.5); a term only in the summary (0.25)
needs some shared vocabulary besides (cos >= ~0.07); with no term at all the
item must share a good deal of the topic's words (cos >= ~0.19).  These were
reasoned first, then checked against tests/data/labelled.jsonl (six profiles):
F1 moves by about 0.01 over a wide band of nearby values, so they are not
tuned to that file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from .models import Match, Profile, StoredItem, Topic
from .textnorm import Token, features, segments, surface_forms, term_key

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.35
TITLE_HIT = 0.5
BODY_HIT = 0.25
TITLE_REPEAT = 2
# How much each part of a topic shapes its vector (each part normalised first).
PART_WEIGHTS = {"terms": 1.0, "title": 0.6, "description": 0.8, "examples": 0.8}
MAX_REASONS = 5


def _identity(doc: list[str]) -> list[str]:
    """The analyzer: documents arrive already as feature lists (tokenised once)."""
    return doc


class _PhraseIndex:
    """Finds which of many folded phrases occur in a text, in one pass over its words."""

    def __init__(self, keys: Iterable[tuple[str, ...]]) -> None:
        self.keys = {k for k in keys if k}
        self.lengths: dict[str, set[int]] = {}
        for key in self.keys:
            self.lengths.setdefault(key[0], set()).add(len(key))

    def find(self, segs: list[list[Token]]) -> set[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        lengths = self.lengths
        for seg in segs:
            words = [key for _, key in seg]
            if lengths.keys().isdisjoint(words):       # the usual case: nothing to look at
                continue
            for i, word in enumerate(words):
                for n in lengths.get(word, ()):
                    candidate = tuple(words[i:i + n])
                    if candidate in self.keys:
                        found.add(candidate)
        return found


@dataclass
class _Analysed:
    """Items as the matcher sees them: vectors and the topic phrases they contain."""

    vectors: sparse.csr_matrix
    title_hits: list[set[tuple[str, ...]]]
    body_hits: list[set[tuple[str, ...]]]


class Matcher:
    """Scores items against every topic of a set of profiles at once."""

    def __init__(self, profiles: list[Profile], corpus: Iterable[str] = ()) -> None:
        self.topic_keys: list[tuple[str, str]] = []
        self._topics: list[Topic] = []
        for profile in profiles:
            for topic in profile.topics:
                self.topic_keys.append((profile.id, topic.id))
                self._topics.append(topic)
        self._column = {key: j for j, key in enumerate(self.topic_keys)}
        self.thresholds = np.array(
            [DEFAULT_THRESHOLD if t.threshold is None else t.threshold for t in self._topics],
            dtype=np.float32)

        # Folded term/exclude phrase -> topic columns, and the librarian's wording.
        self._term_columns: dict[tuple[str, ...], set[int]] = {}
        self._exclude_columns: dict[tuple[str, ...], set[int]] = {}
        self._topic_terms: list[list[tuple[tuple[str, ...], str]]] = []
        for j, topic in enumerate(self._topics):
            written: list[tuple[tuple[str, ...], str]] = []
            for term in topic.terms:
                key = term_key(term)
                if key:
                    self._term_columns.setdefault(key, set()).add(j)
                    written.append((key, term.strip()))
            self._topic_terms.append(written)
            for term in topic.exclude:
                key = term_key(term)
                if key:
                    self._exclude_columns.setdefault(key, set()).add(j)
        self._phrases = _PhraseIndex([*self._term_columns, *self._exclude_columns])

        parts = [_topic_parts(t) for t in self._topics]
        docs = [features(segments(text)) for text in corpus]
        docs.extend(doc for topic_parts in parts for docs_ in topic_parts.values() for doc in docs_)
        self._names: np.ndarray | None = None      # feature names, built when first explaining
        self._vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32)
        self._fitted = any(docs)
        if self._fitted:
            self._vectorizer.fit(docs)
            self._topic_vectors = sparse.vstack(
                [self._topic_vector(p) for p in parts] or [sparse.csr_matrix((0, self._width))]
            ).tocsr()
        else:   # nothing to learn words from: only term hits can match
            self._topic_vectors = sparse.csr_matrix((len(self._topics), 0), dtype=np.float32)
        # Scoring multiplies items by a dense block of only the columns topics use.
        self._columns = np.unique(self._topic_vectors.indices)
        self._topic_block = self._topic_vectors[:, self._columns].toarray().T.copy()
        logger.debug("matcher: %d topics, %d features, %d used by topics",
                     len(self._topics), self._width, len(self._columns))

    @property
    def _width(self) -> int:
        return len(self._vectorizer.vocabulary_) if self._fitted else 0

    def _topic_vector(self, parts: dict[str, list[list[str]]]) -> sparse.csr_matrix:
        total = np.zeros(self._width, dtype=np.float64)
        for name, docs in parts.items():
            if not docs:
                continue
            rows = self._vectorizer.transform(docs)              # rows are L2-normalised
            part = np.asarray(rows.mean(axis=0)).ravel()
            norm = np.linalg.norm(part)
            if norm > 0:
                total += PART_WEIGHTS[name] * part / norm
        norm = np.linalg.norm(total)
        if norm > 0:
            total /= norm
        return sparse.csr_matrix(total.astype(np.float32)[np.newaxis, :])

    # ------------------------------------------------------------ scoring

    def _analyse(self, texts: Sequence[tuple[str, str]]) -> _Analysed:
        docs: list[list[str]] = []
        title_hits: list[set[tuple[str, ...]]] = []
        body_hits: list[set[tuple[str, ...]]] = []
        for title, summary in texts:
            title_segs, body_segs = segments(title or ""), segments(summary or "")
            title_features = features(title_segs)
            docs.append(title_features * TITLE_REPEAT + features(body_segs))
            title_hits.append(self._phrases.find(title_segs))
            body_hits.append(self._phrases.find(body_segs))
        if self._fitted:
            vectors = self._vectorizer.transform(docs)
        else:
            vectors = sparse.csr_matrix((len(docs), 0), dtype=np.float32)
        return _Analysed(vectors, title_hits, body_hits)

    def _scores(self, analysed: _Analysed) -> np.ndarray:
        n, k = analysed.vectors.shape[0], len(self._topics)
        if self._columns.size:
            cosine = np.asarray(analysed.vectors[:, self._columns] @ self._topic_block)
        else:
            cosine = np.zeros((n, k), dtype=np.float32)
        miss = np.ones((n, k), dtype=np.float32)      # prod(1 - hit), per item and topic
        veto = np.zeros((n, k), dtype=bool)
        for i in range(n):
            title, body = analysed.title_hits[i], analysed.body_hits[i]
            if not (title or body):
                continue
            title_columns: set[int] = set()
            for key in title:
                title_columns.update(j for j in self._term_columns.get(key, ()))
            for key in title | body:
                for j in self._exclude_columns.get(key, ()):
                    veto[i, j] = True
            # A term counts once per topic: in the title if there, else in the body.
            counted: dict[int, set[tuple[str, ...]]] = {}
            for key in title:
                for j in self._term_columns.get(key, ()):
                    counted.setdefault(j, set()).add(key)
                    miss[i, j] *= 1.0 - TITLE_HIT
            for key in body - title:
                for j in self._term_columns.get(key, ()):
                    if key not in counted.get(j, ()):
                        miss[i, j] *= 1.0 - BODY_HIT
        scores = 1.0 - np.square(1.0 - np.clip(cosine, 0.0, 1.0)) * miss
        scores[veto] = 0.0
        return scores.astype(np.float32)

    def score_texts(self, texts: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores in [0, 1] for (title, summary) pairs: shape [len(texts), len(topic_keys)]."""
        return self._scores(self._analyse(texts))

    def predict_texts(self, texts: Sequence[tuple[str, str]]) -> np.ndarray:
        """Which topics each text matches: a boolean matrix shaped like score_texts."""
        return self._decide(self.score_texts(texts))

    def _decide(self, scores: np.ndarray) -> np.ndarray:
        # A vetoed item scores exactly 0 and never matches, even under threshold 0.
        return (scores > 0.0) & (scores >= self.thresholds[np.newaxis, :])

    def score(self, items: Sequence[StoredItem]) -> list[Match]:
        """Matches at or above each topic's threshold, strongest first within each item."""
        analysed = self._analyse([(item.title, item.summary) for item in items])
        scores = self._scores(analysed)
        matches: list[Match] = []
        for i, j in zip(*np.nonzero(self._decide(scores))):
            item = items[i]
            profile_id, topic_id = self.topic_keys[j]
            reasons = self._reasons(item.title, item.summary, analysed.vectors[i], int(j))
            matches.append(Match(item.id, profile_id, topic_id, float(scores[i, j]), reasons))
        order = {item.id: n for n, item in enumerate(items)}
        matches.sort(key=lambda m: (order[m.item_id], -m.score))
        return matches

    # ------------------------------------------------------------ explaining

    def explain(self, title: str, summary: str, profile_id: str, topic_id: str,
                limit: int = MAX_REASONS) -> tuple[str, ...]:
        """Why this text scores for this topic: topic terms found, then shared words."""
        j = self._column[(profile_id, topic_id)]
        vector = self._analyse([(title, summary)]).vectors[0]
        return self._reasons(title, summary, vector, j, limit)

    def _reasons(self, title: str, summary: str, vector: sparse.csr_matrix, j: int,
                 limit: int = MAX_REASONS) -> tuple[str, ...]:
        title_segs, body_segs = segments(title or ""), segments(summary or "")
        found = self._phrases.find(title_segs), self._phrases.find(body_segs)
        reasons: list[str] = []
        covered: set[str] = set()
        said: set[object] = set()                           # "fall" and "falls" are one reason
        for hits in found:                                  # title hits first
            for key, written in self._topic_terms[j]:
                if key in hits and key not in said and len(reasons) < limit:
                    reasons.append(written)
                    said.add(key)
                    covered.update(key)
        if len(reasons) >= limit or not self._fitted:
            return tuple(reasons)
        shared = vector.multiply(self._topic_vectors[j]).tocsr()
        if not shared.nnz:
            return tuple(reasons)
        forms = surface_forms(title_segs + body_segs)
        if self._names is None:
            self._names = self._vectorizer.get_feature_names_out()
        names = self._names
        found_terms = len(reasons)
        term_words = set(covered)
        chosen: list[tuple[set[str], str]] = []        # shared features: (folded words, surface)
        for index in shared.indices[np.argsort(-shared.data, kind="stable")]:
            feature = names[index]
            words = set(feature.split(" "))
            if covered.issuperset(words) or (len(words) > 1 and words & term_words):
                continue                                    # "falls older" adds nothing to "falls"
            # "talking therapies" replaces an earlier "talking" rather than sitting beside it.
            chosen = [c for c in chosen if not c[0] < words]
            chosen.append((words, forms.get(feature, feature)))
            covered.update(words)
            if found_terms + len(chosen) >= limit:
                break
        return tuple(reasons + [surface for _, surface in chosen])


def _topic_parts(topic: Topic) -> dict[str, list[list[str]]]:
    """A topic's text, as feature lists per part (each part is one or more documents)."""
    term_features = [f for term in topic.terms for f in features(segments(term))]
    parts = {
        "terms": [term_features] if term_features else [],
        "title": [features(segments(topic.title))],
        "description": [features(segments(topic.description))] if topic.description.strip() else [],
        "examples": [features(segments(e)) for e in topic.examples if e.strip()],
    }
    return {name: [d for d in docs if d] for name, docs in parts.items()}


# ------------------------------------------------------------ baseline

@lru_cache(maxsize=64)
def _term_pattern(term: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def keyword_baseline(profile: Profile, title: str, summary: str) -> set[str]:
    """Topic ids with any term in the text, as written (case-insensitive, whole words).

    The simplest thing a librarian could do with a search box: what the
    matcher has to beat in ``awareness evaluate``.
    """
    text = f"{title}\n{summary}"
    return {t.id for t in profile.topics
            if any(term.strip() and _term_pattern(term.strip()).search(text) for term in t.terms)}
