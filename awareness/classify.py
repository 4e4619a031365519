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

What sharpens the two (issue 4; figures in bench/matching.md):

* **Vocabulary.**  Each term also matches its equivalents (``vocabulary``: the
  built-in health and NHS list plus the profile's own groups), in hits and in
  the topic's vector; a reason found through one says so ("emergency
  department (A&E)").
* **Everyday words.**  A term that is one ordinary word with a common other
  sense ("falls" in "vacancies fall", "parks", "digital"; listed under
  ``everyday`` in the vocabulary) is weak evidence alone: it counts in full only
  when the item's other words agree with the topic, otherwise it only nudges.
* **Pseudo-relevance feedback.**  The corpus items a topic matches most
  confidently (more than one title term's worth) pull its vector towards the
  words real items use.
* **Calibration.**  Each topic's cosines are scaled by how well its own
  sentences score against it, so broad and narrow topics meet one threshold
  on equal terms.
* **Feedback.**  Judged examples (``labelled``: readers' verdicts, a
  librarian's include/exclude) move the vector (Rocchio); with enough of them a
  per-topic logistic regression replaces the cosine.  Hits and vetoes apply
  throughout, so the librarian's terms and exclusions always count.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from .models import Match, Profile, StoredItem, Topic
from .place import PlaceFinder
from .textnorm import Token, features, hit_key, segments, surface_forms, term_key
from .vocabulary import Vocabulary, everyday_keys

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.35
TITLE_HIT = 0.5
BODY_HIT = 0.25
TITLE_REPEAT = 2
# A term that is one everyday word (vocabulary.yaml "everyday": fall, parks, digital...)
# is weak evidence alone: its hit counts this share of a full one...
EVERYDAY_HIT = 0.4
# ...unless the item's other words (the cosine without the everyday words' own share)
# agree with the topic at all: this is about one ordinary shared word besides.
EVERYDAY_SUPPORT = 0.02
# A topic needs this much of its (unit) vector outside its everyday words to back them.
EVERYDAY_OTHER_WORDS = 0.5
# How much each part of a topic shapes its vector (each part normalised first).
PART_WEIGHTS = {"terms": 1.0, "title": 0.6, "description": 0.8, "examples": 0.8}
MAX_REASONS = 5
EXPLAIN_BLOCK = 2000      # (item, topic) pairs explained with one sparse product (bounds its memory)
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
# Per-topic calibration of cosines (see Matcher._calibration).
CALIBRATE = True
CALIBRATION_TARGET = 0.7
CALIBRATION_LIMIT = 2.0
# Judged examples (feedback, a librarian's include/exclude): Rocchio weights.
ROCCHIO_POSITIVE = 0.75
ROCCHIO_NEGATIVE = 0.25
# With this many judged items (and a few of each kind), a per-topic linear model on
# the same TF-IDF features replaces the cosine; term hits and exclusions still apply.
MODEL_MIN_LABELS = 20
MODEL_MIN_EACH = 5

# Words of any news item that explain nothing about why it fits a topic.
GENERIC_WORDS = ("new", "high", "low", "report", "reports", "says", "said", "year", "years", "week",
                 "month", "latest", "update", "updated", "published", "publishes", "rise", "rises",
                 "record", "data", "figures", "time", "people", "national", "review", "plan", "plans",
                 "news", "study", "finds", "england", "nhs", "uk", "government", "announced", "launch",
                 "launched", "local", "services", "service", "care", "health",
                 # everyday verbs and counters that turn up in any story
                 "told", "tell", "tells", "give", "gives", "given", "get", "gets", "make", "makes",
                 "made", "take", "takes", "taken", "way", "ways", "one", "two", "three", "first", "last")
GENERIC_KEYS = frozenset(term_key(w)[0] for w in GENERIC_WORDS)

# (title, summary, relevant?) for one topic, from feedback and judgements.
Example = tuple[str, str, bool]


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
            words = [hit_key(word, key) for word, key in seg]
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
    # Each item's words (title, summary), kept so explaining a match never re-reads the text.
    segs: list[tuple[list[list[Token]], list[list[Token]]]] = field(default_factory=list)


class Matcher:
    """Scores items against every topic of a set of profiles at once."""

    def __init__(self, profiles: list[Profile], corpus: Iterable[str] = (),
                 labelled: dict[tuple[str, str], list[Example]] | None = None,
                 feedback_from_corpus: bool = True) -> None:
        self.topic_keys: list[tuple[str, str]] = []
        self._topics: list[Topic] = []
        expanded_terms: list[list[str]] = []
        shown: list[dict[str, str]] = []       # equivalent -> how reasons show it: "emergency department (A&E)"
        for profile in profiles:
            vocabulary = Vocabulary.for_profile(profile.vocabulary)
            for topic in profile.topics:
                self.topic_keys.append((profile.id, topic.id))
                self._topics.append(topic)
                terms = [t for t in topic.terms if t.strip()]
                seen = {term_key(t) for t in terms}
                via: dict[str, str] = {}
                for term in list(terms):
                    for other in vocabulary.equivalents(term):
                        if term_key(other) not in seen:
                            seen.add(term_key(other))
                            terms.append(other)
                            via[other] = f"{other.strip()} ({term.strip()})"
                expanded_terms.append(terms)
                shown.append(via)
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
            for term in expanded_terms[j]:
                for key in _forms_found(term_key(term)):
                    self._term_columns.setdefault(key, set()).add(j)
                    written.append((key, shown[j].get(term, term.strip())))
            self._topic_terms.append(written)
            for term in topic.exclude:
                for key in _forms_found(term_key(term)):
                    self._exclude_columns.setdefault(key, set()).add(j)
        self._phrases = _PhraseIndex([*self._term_columns, *self._exclude_columns])
        # Phrase -> topic incidence, so hits become two sparse products when scoring.
        phrases = sorted(set(self._term_columns) | set(self._exclude_columns))
        self._phrase_row = {key: r for r, key in enumerate(phrases)}
        self._term_incidence = _incidence(phrases, self._term_columns, len(self._topics))
        # log(1 - hit) per phrase and topic, in the title and in the body only; everyday
        # words also at their weak strength, used where the item's words do not back them.
        strength = np.array([EVERYDAY_HIT if _everyday(key) else 1.0 for key in phrases], dtype=np.float32)
        self._title_log_miss = _scaled_rows(self._term_incidence, np.full(len(phrases), np.log(1.0 - TITLE_HIT)))
        self._body_log_miss = _scaled_rows(self._term_incidence, np.full(len(phrases), np.log(1.0 - BODY_HIT)))
        self._title_log_miss_weak = _scaled_rows(self._term_incidence, np.log(1.0 - TITLE_HIT * strength))
        self._body_log_miss_weak = _scaled_rows(self._term_incidence, np.log(1.0 - BODY_HIT * strength))
        self._any_everyday = bool((strength < 1.0).any())
        self._exclude_incidence = _incidence(phrases, self._exclude_columns, len(self._topics))

        parts = [_topic_parts(t, terms) for t, terms in zip(self._topics, expanded_terms)]
        corpus_segs = [segments(text) for text in corpus]
        corpus_docs = [features(segs) for segs in corpus_segs]
        docs = corpus_docs + [doc for topic_parts in parts for docs_ in topic_parts.values()
                              for doc in docs_]
        self._names: np.ndarray | None = None      # feature names, built when first explaining
        self._feature_words: dict[int, tuple[frozenset[str], bool]] = {}   # index -> (words, generic?)
        self._vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32)
        self._fitted = any(docs)
        # What the profile alone says (before any feedback), for "terms gained and lost".
        self.base_vectors: sparse.csr_matrix
        if self._fitted:
            self._vectorizer.fit(docs)
            self._topic_vectors = sparse.vstack(
                [self._topic_vector(p, rows) for p, rows in zip(parts, self._part_rows(parts))]
                or [sparse.csr_matrix((0, self._width))]
            ).tocsr()
        else:   # nothing to learn words from: only term hits can match
            self._topic_vectors = sparse.csr_matrix((len(self._topics), 0), dtype=np.float32)
        self.base_vectors = self._topic_vectors
        self._set_block()
        self._models: dict[int, LogisticRegression] = {}
        self._forms: dict[str, str] | None = None
        self._form_texts = [text for t in self._topics
                            for text in (t.title, t.description, *t.terms, *t.examples)]
        self._form_texts += [f"{a}. {b}" for examples in (labelled or {}).values() for a, b, _ in examples]
        if self._fitted and labelled:
            self._rocchio(labelled)
            self._train_models(labelled, parts)
        self.feedback_vectors = self._topic_vectors      # after judged examples, before the corpus
        self._scale = np.ones(len(self._topics), dtype=np.float32)
        if self._fitted and CALIBRATE:
            self._scale = self._calibration(parts)
        if self._fitted and feedback_from_corpus and corpus_docs:
            self._pseudo_relevance(corpus_segs, corpus_docs)
            if CALIBRATE:
                self._scale = self._calibration(parts)
        logger.debug("matcher: %d topics, %d features, %d used by topics",
                     len(self._topics), self._width, len(self._columns))

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
            self._models[j] = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(X, y)

    @property
    def learned_topics(self) -> list[tuple[str, str]]:
        """Topics now scored by their own model, trained on feedback."""
        return [self.topic_keys[j] for j in sorted(self._models)]

    def _pseudo_relevance(self, corpus_segs: list[list[list[Token]]], corpus_docs: list[list[str]]) -> None:
        """Rocchio with the corpus items each topic matches most strongly taken as relevant.

        Only each topic's PRF_KEEP strongest new words are added, so the vectors (and the
        dense block scoring multiplies by) stay small with a thousand topics.
        """
        vectors = self._vectorizer.transform(corpus_docs)
        hits = [self._phrases.find(segs) for segs in corpus_segs]
        scores = self._scores(_Analysed(vectors, hits, [set()] * len(hits)))
        limit = max(PRF_DOCS, int(PRF_SHARE * len(corpus_docs)))
        rows, cols, weights = [], [], []
        for j in range(len(self._topics)):
            column = scores[:, j]
            confident = np.nonzero(column >= self.thresholds[j] + PRF_MARGIN)[0]
            if not confident.size:
                continue
            best = confident[np.argsort(-column[confident])[:limit]]
            rows.extend([j] * len(best))
            cols.extend(best.tolist())
            weights.extend([1.0 / len(best)] * len(best))
        if not rows:
            return
        chooser = sparse.csr_matrix((weights, (rows, cols)), shape=(len(self._topics), len(corpus_docs)),
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

    # ------------------------------------------------------------ scoring

    def _analyse(self, texts: Sequence[tuple[str, str]]) -> _Analysed:
        docs: list[list[str]] = []
        title_hits: list[set[tuple[str, ...]]] = []
        body_hits: list[set[tuple[str, ...]]] = []
        segs: list[tuple[list[list[Token]], list[list[Token]]]] = []
        for title, summary in texts:
            title_segs, body_segs = segments(title or ""), segments(summary or "")
            title_features = features(title_segs)
            docs.append(title_features * TITLE_REPEAT + features(body_segs))
            title_hits.append(self._phrases.find(title_segs))
            body_hits.append(self._phrases.find(body_segs))
            segs.append((title_segs, body_segs))
        if self._fitted:
            vectors = self._vectorizer.transform(docs)
        else:
            vectors = sparse.csr_matrix((len(docs), 0), dtype=np.float32)
        return _Analysed(vectors, title_hits, body_hits, segs)

    def excluded_by(self, title: str, summary: str, profile_id: str, topic_id: str) -> list[str]:
        """The topic's exclude terms this text contains (why it scored 0)."""
        j = self._column[(profile_id, topic_id)]
        found = self._phrases.find(segments(title or "")) | self._phrases.find(segments(summary or ""))
        topic = self._topics[j]
        return [term for term in topic.exclude if term_key(term) in found]

    def _scores(self, analysed: _Analysed, veto_excluded: bool = True) -> np.ndarray:
        n, k = analysed.vectors.shape[0], len(self._topics)
        if self._columns.size:
            cosine = np.asarray(analysed.vectors[:, self._columns] @ self._topic_block) * self._scale
        else:
            cosine = np.zeros((n, k), dtype=np.float32)
        # A term counts once per topic: in the title if there, else in the body.
        title_hits = self._hit_matrix([hits for hits in analysed.title_hits])
        body_hits = self._hit_matrix([body - title for title, body
                                      in zip(analysed.title_hits, analysed.body_hits)])
        miss = _miss(title_hits @ self._title_log_miss + body_hits @ self._body_log_miss, n, k)
        if self._any_everyday:
            # An everyday word ("falls", "digital") counts in full only where the item also
            # shares the topic's vocabulary; alone it may be the word's other sense.
            # Backing is the cosine without the everyday words' own share (what the item's
            # other words say); unbacked, that share goes too: alone the word only nudges.
            weak = _miss(title_hits @ self._title_log_miss_weak + body_hits @ self._body_log_miss_weak, n, k)
            support, can_back = self._support(analysed.vectors, cosine)
            backed = (support >= EVERYDAY_SUPPORT) | ~can_back[np.newaxis, :]
            miss = np.where(backed, miss, weak)
            cosine = np.where(backed, cosine, support)
        vetoed = sparse.coo_matrix((title_hits + body_hits) @ self._exclude_incidence)
        veto = np.zeros((n, k), dtype=bool)
        veto[vetoed.row[vetoed.data > 0], vetoed.col[vetoed.data > 0]] = True
        scores = 1.0 - np.square(1.0 - np.clip(cosine, 0.0, 1.0)) * miss
        for j, model in self._models.items():     # a learned topic: its probability, plus term hits
            probability = model.predict_proba(analysed.vectors)[:, list(model.classes_).index(True)]
            scores[:, j] = 1.0 - (1.0 - probability) * miss[:, j]
        if veto_excluded:
            scores[veto] = 0.0
        return scores.astype(np.float32)

    def _support(self, vectors: sparse.csr_matrix, cosine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cosine without the everyday words' own share (what the item's other words say),
        and which topics have other words to say it with: a topic that is little more than
        its everyday word ("falls" and nothing else) cannot back it, so keeps it at full strength."""
        can_back = np.ones(len(self._topics), dtype=bool)
        if not self._columns.size:
            return cosine, can_back
        vocabulary = self._vectorizer.vocabulary_
        everyday = [vocabulary[key] for key in everyday_keys() if key in vocabulary]
        mask = np.isin(self._columns, everyday)
        if not mask.any():
            return cosine, can_back
        can_back = np.sqrt(np.square(self._topic_block[~mask]).sum(axis=0)) >= EVERYDAY_OTHER_WORDS
        own = np.asarray(vectors[:, self._columns[mask]] @ self._topic_block[mask]) * self._scale
        return np.maximum(cosine - own, 0.0), can_back

    def _hit_matrix(self, found: list[set[tuple[str, ...]]]) -> sparse.csr_matrix:
        """Items x phrases, 1 where the item contains the phrase."""
        rows, cols = [], []
        for i, keys in enumerate(found):
            for key in keys:
                rows.append(i)
                cols.append(self._phrase_row[key])
        return sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                 shape=(len(found), len(self._phrase_row)))

    def score_texts(self, texts: Sequence[tuple[str, str]], veto_excluded: bool = True) -> np.ndarray:
        """Scores in [0, 1] for (title, summary) pairs: shape [len(texts), len(topic_keys)].

        ``veto_excluded=False`` gives what excluded items would have scored (for previews).
        """
        return self._scores(self._analyse(texts), veto_excluded)

    def predict_texts(self, texts: Sequence[tuple[str, str]]) -> np.ndarray:
        """Which topics each text matches: a boolean matrix shaped like score_texts."""
        return self._decide(self.score_texts(texts))

    def _decide(self, scores: np.ndarray) -> np.ndarray:
        # A vetoed item scores exactly 0 and never matches, even under threshold 0.
        return (scores > 0.0) & (scores >= self.thresholds[np.newaxis, :])

    def score(self, items: Sequence[StoredItem], local: dict[str, PlaceFinder] | None = None) -> list[Match]:
        """Matches at or above each topic's threshold, strongest first within each item.

        ``local`` (profile id -> its place finder) marks matches of items naming the footprint.
        """
        analysed = self._analyse([(item.title, item.summary) for item in items])
        scores = self._scores(analysed)
        matches: list[Match] = []
        places: dict[tuple[int, str], bool] = {}
        rows, cols = np.nonzero(self._decide(scores))
        explained = self._reasons_for(analysed, rows, cols)
        for i, j, reasons in zip(rows.tolist(), cols.tolist(), explained):
            item = items[i]
            profile_id, topic_id = self.topic_keys[j]
            finder = (local or {}).get(profile_id)
            if finder and (i, profile_id) not in places:
                places[(i, profile_id)] = bool(finder.mentions(item.title, item.summary))
            matches.append(Match(item.id, profile_id, topic_id, float(scores[i, j]), reasons,
                                 places.get((i, profile_id), False)))
        order = {item.id: n for n, item in enumerate(items)}
        matches.sort(key=lambda m: (order[m.item_id], -m.score))
        return matches

    # ------------------------------------------------------------ explaining

    def explain(self, title: str, summary: str, profile_id: str, topic_id: str,
                limit: int = MAX_REASONS) -> tuple[str, ...]:
        """Why this text scores for this topic: topic terms found, then shared words."""
        j = self._column[(profile_id, topic_id)]
        analysed = self._analyse([(title, summary)])
        return self._reasons_for(analysed, np.array([0]), np.array([j]), limit)[0]

    def _reasons_for(self, analysed: _Analysed, rows: np.ndarray, cols: np.ndarray,
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
                strongest = shared.indices[_strongest_first(shared)].tolist()
                bounds = shared.indptr.tolist()
            for r, (i, j) in enumerate(zip(block_rows.tolist(), block_cols.tolist())):
                reasons, covered = self._term_reasons(analysed.title_hits[i], analysed.body_hits[i], j, limit)
                a, b = bounds[r], bounds[r + 1]
                if len(reasons) >= limit or a == b:
                    out.append(tuple(reasons))
                    continue
                if i not in forms:
                    title_segs, body_segs = analysed.segs[i]
                    forms[i] = surface_forms(title_segs + body_segs)
                out.append(self._shared_reasons(reasons, covered, strongest[a:b], forms[i], limit))
        return out

    def _term_reasons(self, title_hits: set[tuple[str, ...]], body_hits: set[tuple[str, ...]], j: int,
                      limit: int) -> tuple[list[str], set[str]]:
        """The topic's terms found (title first), as the librarian wrote them, and their words."""
        reasons: list[str] = []
        covered: set[str] = set()
        said: set[object] = set()                           # "fall" and "falls" are one reason
        for hits in (title_hits, body_hits):                # title hits first
            if not hits:
                continue
            for key, written in self._topic_terms[j]:
                if key in hits and key not in said and written not in said and len(reasons) < limit:
                    reasons.append(written)
                    said.update((key, written))
                    covered.update(k.removesuffix("~ing") for k in key)
        return reasons, covered

    def _shared_reasons(self, reasons: list[str], covered: set[str], strongest: list[int],
                        forms: dict[str, str], limit: int) -> tuple[str, ...]:
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
                known = feature_words[index] = (words, words <= GENERIC_KEYS)
            words, generic = known
            if generic:
                continue                                    # "new", "report": true but no reason
            if covered.issuperset(words) or (len(words) > 1 and words & term_words):
                continue                                    # "falls older" adds nothing to "falls"
            # "talking therapies" replaces an earlier "talking" rather than sitting beside it.
            chosen = [c for c in chosen if not c[0] < words]
            feature = names[index]
            chosen.append((words, forms.get(feature, feature)))
            covered.update(words)
            if found_terms + len(chosen) >= limit:
                break
        return tuple(reasons + [surface for _, surface in chosen])


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


def _forms_found(key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The phrase keys a term is found as: a term written with -ing ("walking") also
    finds the plain form ("walk"), but a plain term ("falls") never finds "falling"."""
    if not key:
        return []
    options = [(word, word.removesuffix("~ing")) if word.endswith("~ing") else (word,) for word in key]
    return list(dict.fromkeys(itertools.product(*options)))


def _incidence(phrases: list[tuple[str, ...]], columns: dict[tuple[str, ...], set[int]],
               topics: int) -> sparse.csr_matrix:
    """Phrases x topics, 1 where the topic lists the phrase."""
    rows = [r for r, key in enumerate(phrases) for _ in columns.get(key, ())]
    cols = [j for key in phrases for j in sorted(columns.get(key, ()))]
    return sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                             shape=(len(phrases), topics))


def _everyday(key: tuple[str, ...]) -> bool:
    """A one-word phrase whose word is an everyday word (weak evidence alone)."""
    return len(key) == 1 and key[0].removesuffix("~ing") in everyday_keys()


def _miss(log_miss: sparse.spmatrix, n: int, k: int) -> np.ndarray:
    """prod(1 - hit) per item and topic, from the summed logs (1 where nothing hit)."""
    miss = np.ones((n, k), dtype=np.float32)
    log_miss = sparse.coo_matrix(log_miss)
    miss[log_miss.row, log_miss.col] = np.exp(log_miss.data)
    return miss


def _scaled_rows(matrix: sparse.csr_matrix, factors: np.ndarray) -> sparse.csr_matrix:
    """Each row of ``matrix`` multiplied by its factor."""
    return (sparse.diags(factors.astype(np.float32)) @ matrix).tocsr().astype(np.float32)


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


def _topic_parts(topic: Topic, terms: list[str] | None = None) -> dict[str, list[list[str]]]:
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
