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
in the title (0.5) matches on its own; a term only in the summary (0.3) needs a
little shared vocabulary besides (cos >= ~0.04, about the term's own share in a
short item); with no term at all the item must share a good deal of the topic's
words (cos >= ~0.19).  BODY_HIT was 0.25; 0.3 was chosen by leave-one-set-out over
four labelled sets (bench/matching.md): of the values tried (0.25, 0.3, 0.35, 0.4)
it has the smallest worst loss against each set's own best value (0.023; 0.25
loses 0.048 on an independent set, 0.4 loses 0.040 on our held-out set).

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
  on equal terms.  The scale comes from the profile as written, before any
  judgement: recalibrating a vector moved by judgements inflated its cosines
  and cost 0.02 micro-F1 on our half-judged sets (bench/matching.md).
* **Feedback.**  Judged examples (``labelled``: readers' verdicts, a
  librarian's include/exclude) move the vector (Rocchio); with enough of them a
  per-topic logistic regression replaces the cosine.  Hits and vetoes apply
  throughout, so the librarian's terms and exclusions always count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from ..core.lazy import np, sparse  # numpy/scipy load when first used: they cost ~1 s at start
from ..core.models import Match, Profile, StoredItem, Topic
from .place import PlaceFinder
from .textnorm import Token, segments, term_key
from .vocabulary import Vocabulary, everyday_keys
from .explain import Explaining
from .learning import Example, Learning
from .reading import Prepared, Reading
from .semantic import SemanticEvidence   # light: its model and libraries load only when used
from .terms import Analysed, PhraseIndex, forms_found, incidence
from .tfidf import Tfidf
from .vectors import CALIBRATE, TopicVectors, topic_parts

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.35
SEMANTIC_REASON = "similar in meaning to the topic"   # shown after "Matched:"
TITLE_HIT = 0.5
BODY_HIT = 0.3
TITLE_REPEAT = 2
# How strongly the cosine enters the noisy-or (see the module docstring).
COSINE_POWER = 2
# A term that is one everyday word (vocabulary.yaml "everyday": fall, parks, digital...)
# is weak evidence alone: its hit counts this share of a full one...
EVERYDAY_HIT = 0.4
# ...unless the item's other words (the cosine without the everyday words' own share)
# agree with the topic at all: this is about one ordinary shared word besides.
EVERYDAY_SUPPORT = 0.02
# A topic needs this much of its (unit) vector outside its everyday words to back them.
EVERYDAY_OTHER_WORDS = 0.5


class Matcher(TopicVectors, Learning, Explaining, Reading):
    """Scores items against every topic of a set of profiles at once."""

    def __init__(self, profiles: list[Profile], corpus: Iterable[str | tuple[str, str]] = (),
                 labelled: dict[tuple[str, str], list[Example]] | None = None,
                 feedback_from_corpus: bool = True, semantic: bool = False) -> None:
        """``corpus``: the stream's texts, for IDF and feedback; a (title, summary) pair reads as
        the text ``f"{title}. {summary}"`` and what is read of it is kept for scoring that pair.

        ``semantic``: also take sentence-embedding evidence (``semantic.py``; needs the
        ``semantic`` extra, raises ``SemanticUnavailable`` without it).  Off by default.
        """
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
                for key in forms_found(term_key(term)):
                    self._term_columns.setdefault(key, set()).add(j)
                    written.append((key, shown[j].get(term, term.strip())))
            self._topic_terms.append(written)
            for term in topic.exclude:
                for key in forms_found(term_key(term)):
                    self._exclude_columns.setdefault(key, set()).add(j)
        self._phrases = PhraseIndex([*self._term_columns, *self._exclude_columns])
        self._prepared: dict[tuple[str, str], Prepared] = {}   # corpus pairs read, until scored
        # Phrase -> topic incidence, so hits become two sparse products when scoring.
        phrases = sorted(set(self._term_columns) | set(self._exclude_columns))
        self._phrase_row = {key: r for r, key in enumerate(phrases)}
        self._term_incidence = incidence(phrases, self._term_columns, len(self._topics))
        # log(1 - hit) per phrase and topic, in the title and in the body only; everyday
        # words also at their weak strength, used where the item's words do not back them.
        strength = np.array([EVERYDAY_HIT if _everyday(key) else 1.0 for key in phrases], dtype=np.float32)
        self._title_log_miss = _scaled_rows(self._term_incidence, np.full(len(phrases), np.log(1.0 - TITLE_HIT)))
        self._body_log_miss = _scaled_rows(self._term_incidence, np.full(len(phrases), np.log(1.0 - BODY_HIT)))
        self._title_log_miss_weak = _scaled_rows(self._term_incidence, np.log(1.0 - TITLE_HIT * strength))
        self._body_log_miss_weak = _scaled_rows(self._term_incidence, np.log(1.0 - BODY_HIT * strength))
        self._any_everyday = bool((strength < 1.0).any())
        self._exclude_incidence = incidence(phrases, self._exclude_columns, len(self._topics))

        parts = [topic_parts(t, terms) for t, terms in zip(self._topics, expanded_terms)]
        topic_docs = [doc for topic_parts in parts for docs_ in topic_parts.values() for doc in docs_]
        self._names: np.ndarray | None = None      # feature names, built when first explaining
        self._feature_words: dict[int, tuple[frozenset[str], bool]] = {}   # index -> (words, generic?)
        # scikit-learn's TfidfVectorizer(sublinear_tf=True, dtype=float32), bit for bit, without its import
        self._vectorizer = Tfidf()
        # The corpus streams through the fit: each text is read once, and no list of every
        # item's tokens and features is held (at national scale that was ~1 GB; issue 19).
        corpus_hits: list[set[tuple[str, ...]]] = []
        read = {"docs": 0, "words": False}

        def corpus_then_topics() -> Iterator[list[str]]:
            for doc, hits in self._read_corpus(corpus):
                if feedback_from_corpus:
                    corpus_hits.append(hits)
                read["docs"] += 1
                read["words"] = read["words"] or bool(doc)
                yield doc
            yield from topic_docs

        try:
            counted = self._vectorizer.fit_transform(corpus_then_topics())
            self._fitted = True
        except ValueError:            # "empty vocabulary": nothing to learn words from
            if read["words"] or topic_docs:
                raise
            self._fitted = False
            counted = None
        n_corpus = int(read["docs"])
        self._n_docs = n_corpus + len(topic_docs)
        corpus_vectors = counted[:n_corpus] if counted is not None else None
        del counted
        # What the profile alone says (before any feedback), for "terms gained and lost".
        self.base_vectors: sparse.csr_matrix
        if self._fitted:
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
        # Calibration from the profile alone, before any judgement: a vector moved towards
        # judged items is less like the topic's own sentences, so recalibrating it would
        # scale every cosine up (more false matches) just because the librarian judged.
        profile_scale = self._calibration(parts) if self._fitted and CALIBRATE and labelled else None
        if self._fitted and labelled:
            self._rocchio(labelled)
            self._train_models(labelled, parts)
        self.feedback_vectors = self._topic_vectors      # after judged examples, before the corpus
        self._scale = np.ones(len(self._topics), dtype=np.float32)
        if self._fitted and CALIBRATE:
            self._scale = self._calibration(parts)
        if self._fitted and feedback_from_corpus and corpus_hits and corpus_vectors is not None:
            self._pseudo_relevance(corpus_vectors, corpus_hits)
            if CALIBRATE:
                self._scale = self._calibration(parts)
        if profile_scale is not None:
            self._scale = profile_scale
        if self._fitted and labelled:      # it reads the lexical scores as they will be
            self._thresholds_from_judgements(labelled)
        # Last, so thresholds from judgements stay what the lexical scores say (as measured).
        self._semantic = None
        if semantic:
            self._semantic = SemanticEvidence(self._topics, [p for p, _ in self.topic_keys])
        logger.debug("matcher: %d topics, %d features, %d used by topics",
                     len(self._topics), self._width, len(self._columns))

    # ------------------------------------------------------------ scoring

    def _analyse(self, texts: Sequence[tuple[str, str]]) -> Analysed:
        docs: list[list[str]] = []
        title_hits: list[set[tuple[str, ...]]] = []
        body_hits: list[set[tuple[str, ...]]] = []
        segs: list[tuple[list[list[Token]], list[list[Token]]]] = []
        prepared = self._prepared
        for title, summary in texts:
            ready = prepared.pop((title or "", summary or ""), None) if prepared else None
            title_segs, body_segs, title_features, body_features, title_found, body_found = (
                ready or self._prepare(title, summary))
            docs.append(title_features * TITLE_REPEAT + body_features)
            title_hits.append(title_found)
            body_hits.append(body_found)
            segs.append((title_segs, body_segs))
        if self._fitted:
            vectors = self._vectorizer.transform(docs)
        else:
            vectors = sparse.csr_matrix((len(docs), 0), dtype=np.float32)
        semantic = getattr(self, "_semantic", None)
        evidence = semantic.evidence(texts) if semantic is not None else None
        return Analysed(vectors, title_hits, body_hits, segs, semantic=evidence)

    def excluded_by(self, title: str, summary: str, profile_id: str, topic_id: str) -> list[str]:
        """The topic's exclude terms this text contains (why it scored 0)."""
        j = self._column[(profile_id, topic_id)]
        found = self._phrases.find(segments(title or "")) | self._phrases.find(segments(summary or ""))
        topic = self._topics[j]
        return [term for term in topic.exclude if term_key(term) in found]

    def _scores(self, analysed: Analysed, veto_excluded: bool = True) -> np.ndarray:
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
        scores = 1.0 - np.power(1.0 - np.clip(cosine, 0.0, 1.0), COSINE_POWER) * miss
        for j, model in self._models.items():     # a learned topic: its probability, plus term hits
            probability = model.predict_proba(analysed.vectors)[:, list(model.classes_).index(True)]
            scores[:, j] = 1.0 - (1.0 - probability) * miss[:, j]
        if analysed.semantic is not None:
            # Embedding evidence matches the topic at its threshold, never above a lexical score.
            floor = np.maximum(self.thresholds, 1e-6)[np.newaxis, :]
            analysed.lifted = analysed.semantic & (scores < floor) & ~veto
            scores = np.where(analysed.lifted, floor, scores)
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
        if analysed.lifted is not None:
            explained = [(SEMANTIC_REASON, *reasons) if analysed.lifted[i, j] else reasons
                         for i, j, reasons in zip(rows.tolist(), cols.tolist(), explained)]
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

