"""Finding a librarian's terms in items: phrases in any word form, and the two references.

A term is folded word by word (``textnorm``: Snowball stemming plus a few folds), so
"falls" finds "fall" and "fractures" finds "fracture"; a phrase never spans two
sentences.  The keyword baseline and the stemmed-keyword reference are what
``awareness evaluate`` compares the matcher with.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..core.lazy import np, snowballstemmer, sparse  # loaded when first used: numpy/scipy cost ~1 s at start
from ..core.models import Profile
from .textnorm import Token, hit_keys

if TYPE_CHECKING:
    from snowballstemmer.basestemmer import BaseStemmer


class PhraseIndex:
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
            words = hit_keys(seg)
            if lengths.keys().isdisjoint(words):       # the usual case: nothing to look at
                continue
            for i, word in enumerate(words):
                for n in lengths.get(word, ()):
                    candidate = tuple(words[i:i + n])
                    if candidate in self.keys:
                        found.add(candidate)
        return found


@dataclass
class Analysed:
    """Items as the matcher sees them: vectors and the topic phrases they contain."""

    vectors: sparse.csr_matrix
    title_hits: list[set[tuple[str, ...]]]
    body_hits: list[set[tuple[str, ...]]]
    # Each item's words (title, summary), kept so explaining a match never re-reads the text.
    segs: list[tuple[list[list[Token]], list[list[Token]]]] = field(default_factory=list)
    # Items x topics where sentence embeddings are evidence (semantic.py; None when off),
    # and where that alone lifted the item to the topic's threshold (set by scoring).
    semantic: Any = None
    lifted: Any = None


def forms_found(key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The phrase keys a term is found as: a term written with -ing ("walking") also
    finds the plain form ("walk"), but a plain term ("falls") never finds "falling"."""
    if not key:
        return []
    options = [(word, word.removesuffix("~ing")) if word.endswith("~ing") else (word,) for word in key]
    return list(dict.fromkeys(itertools.product(*options)))


def incidence(phrases: list[tuple[str, ...]], columns: dict[tuple[str, ...], set[int]],
               topics: int) -> sparse.csr_matrix:
    """Phrases x topics, 1 where the topic lists the phrase."""
    rows = [r for r, key in enumerate(phrases) for _ in columns.get(key, ())]
    cols = [j for key in phrases for j in sorted(columns.get(key, ()))]
    return sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                             shape=(len(phrases), topics))


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


_WORDS = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _snowball() -> BaseStemmer:
    """Porter2 for the baseline, made on first use (snowballstemmer loads all its languages)."""
    return snowballstemmer.stemmer("english")


def _stems(text: str) -> list[str]:
    stemmer = _snowball()
    return [stemmer.stemWord(w) for w in _WORDS.findall(text.lower())]


def stemmed_baseline(profile: Profile, title: str, summary: str) -> set[str]:
    """Topic ids with any term found, Snowball-stemmed word by word, anywhere in title or summary.

    The ten-line reference a new matcher must clearly beat: it finds "falls" in "fall",
    "vaccines" in "vaccination" ... as far as a stemmer can, and knows nothing else.
    """
    words = _stems(f"{title}\n{summary}")
    grams = {n: {tuple(words[i:i + n]) for i in range(len(words) - n + 1)} for n in range(1, 6)}
    found: set[str] = set()
    for topic in profile.topics:
        for term in topic.terms:
            key = tuple(_stems(term))
            if key and (key in grams[len(key)] if len(key) in grams
                        else any(tuple(words[i:i + len(key)]) == key for i in range(len(words)))):
                found.add(topic.id)
                break
    return found
