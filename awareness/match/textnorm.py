"""Turning titles, summaries and librarians' terms into comparable tokens.

One tokeniser serves both halves of the matcher, so a term in a profile and
a word in an item are folded the same way:

* lower case, accents stripped, split into words (letters and digits);
* split into *segments* at sentence punctuation, so neither a bigram nor a
  multi-word term ever spans two sentences ("...rose. Hip..." is not "rose hip");
* each word *folded* to a key: Porter2 (Snowball) stemming, which joins
  falls/fall and fractures/fracture, plus a few derivational folds it lacks
  (frailty -> frail, midwifery/midwives -> midwife).  For *phrase* matching
  (terms, exclusions, places) an -ing form keeps a key of its own (``hit_key``):
  a term "falls" must not be found in "GP numbers keep falling".

Stop words are kept in segments (a term may contain "in", "of") and dropped
only when features for TF-IDF are built.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.lazy import snowballstemmer  # loaded when the first word is folded (issue 19)

if TYPE_CHECKING:
    from snowballstemmer.basestemmer import BaseStemmer

# scikit-learn's ENGLISH_STOP_WORDS, less words that carry meaning in health news ("fire
# safety", "bill", "living alone", "system", "detail", "first aid", "interest").
_KEPT_WORDS = frozenset({
    "alone", "amount", "back", "bill", "bottom", "call", "co", "con", "cry", "de", "detail",
    "empty", "find", "fire", "first", "found", "front", "full", "give", "interest", "keep",
    "mill", "move", "name", "part", "serious", "show", "side", "system", "thick", "thin",
    "third", "together", "un", "well",
})


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """The stop words dropped from TF-IDF features: scikit-learn's list, less _KEPT_WORDS.

    The list is read from scikit-learn's installed file without importing the package
    (that import costs ~0.65 s, more than matching a small run): the file is one literal.
    """
    return _sklearn_stop_words() - _KEPT_WORDS


def _sklearn_stop_words() -> frozenset[str]:
    spec = importlib.util.find_spec("sklearn")          # finds the package, imports nothing
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "feature_extraction" / "_stop_words.py"
        try:
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ENGLISH_STOP_WORDS"
                                                         for t in node.targets)
                        and isinstance(node.value, ast.Call) and node.value.args):
                    return frozenset(ast.literal_eval(node.value.args[0]))
        except (OSError, SyntaxError, ValueError):
            pass
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS   # laid out otherwise: ask it

    return frozenset(ENGLISH_STOP_WORDS)


def __getattr__(name: str) -> frozenset[str]:
    """``textnorm.STOP_WORDS`` reads as before, the list built on first use."""
    if name == "STOP_WORDS":
        return stop_words()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_WORD = re.compile(r"[a-z0-9]+")
# Sentence punctuation and dashes between spaces end a segment; "&" and "/" do not.
_SEGMENT_BREAK = re.compile(r"[.!?;:()\[\]{}|\"\u201c\u201d\u2022\n]+|\s[-\u2013\u2014]+\s|,")
_APOSTROPHE_S = re.compile(r"['\u2019]s\b")
_APOSTROPHE = re.compile(r"['\u2019]")
_COMBINING = re.compile(r"[\u0300-\u036f]")

# Irregular plurals Porter2 leaves apart (surface word -> singular).
_IRREGULAR = {
    "children": "child", "women": "woman", "men": "man", "feet": "foot", "teeth": "tooth",
    "mice": "mouse", "geese": "goose", "knives": "knife", "halves": "half", "selves": "self",
    "analyses": "analysis", "diagnoses": "diagnosis", "prognoses": "prognosis",
    "metastases": "metastasis", "crises": "crisis", "theses": "thesis",
}


@lru_cache(maxsize=1)
def _stemmer() -> BaseStemmer:
    """Porter2, made on first use (snowballstemmer loads all its languages on import)."""
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """The comparison key of one lower-case word (cached: vocabularies are small)."""
    word = _IRREGULAR.get(word, word)
    if word.endswith("wives"):          # midwives, housewives
        word = word[:-5] + "wife"
    stem = _stemmer().stemWord(word)
    # Derivational folds Porter2 does not make.
    if stem.endswith("eri") and len(stem) >= 7:   # midwiferi -> midwif, deliveri -> deliv
        stem = stem[:-3]
    elif stem.endswith("lti") and len(stem) >= 5:  # frailti -> frail, specialti -> special
        stem = stem[:-2]
    return stem


def ascii_lower(text: str) -> str:
    """Lower case without accents, so 'Café' and 'cafe' meet."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()


# A word as (surface, key): as written (lower-cased), and folded.  Plain tuples,
# not objects: a day's items are a million words.
Token = tuple[str, str]


# Each distinct word's token, and its hit key, made once and reused: a run's items repeat a
# vocabulary of some thousands of words, and looking one up is half the cost of making it (issue 19).
_TOKENS: dict[str, Token] = {}
_HIT_KEYS: dict[str, str] = {}
_CACHED_WORDS = 200_000     # as many as fold() keeps


def _token(word: str) -> Token:
    token = (word, fold(word))
    if len(_TOKENS) < _CACHED_WORDS:
        _TOKENS[word] = token
    return token


def segments(text: str) -> list[list[Token]]:
    """Words of a text, grouped into segments that phrases may not cross."""
    text = _APOSTROPHE.sub("", _APOSTROPHE_S.sub("", ascii_lower(text)))
    out: list[list[Token]] = []
    known = _TOKENS.get
    for part in _SEGMENT_BREAK.split(text):
        words = _WORD.findall(part)
        if words:
            out.append([known(w) or _token(w) for w in words])
    return out


def hit_key(word: str, key: str) -> str:
    """The key a word is matched on in phrases: its fold, but -ing forms kept apart."""
    if len(word) > 5 and (word.endswith("ing") or word.endswith("ings")):
        return key + "~ing"
    return key


def hit_keys(seg: list[Token]) -> list[str]:
    """``hit_key`` of each word of a segment (remembered per word: a word's key never changes)."""
    known = _HIT_KEYS.get
    return [known(word) or _hit_key(word, key) for word, key in seg]


def _hit_key(word: str, key: str) -> str:
    found = hit_key(word, key)
    if len(_HIT_KEYS) < _CACHED_WORDS:
        _HIT_KEYS[word] = found
    return found


def term_key(term: str) -> tuple[str, ...]:
    """A librarian's term as the sequence of words (hit keys) it must appear as."""
    return tuple(hit_key(word, key) for seg in segments(term) for word, key in seg)


def features(segs: list[list[Token]]) -> list[str]:
    """Unigram and bigram features (stop words and one-letter words dropped)."""
    out: list[str] = []
    stop = stop_words()
    for seg in segs:
        keys = [key for word, key in seg if len(word) > 1 and word not in stop]
        out.extend(keys)
        out.extend(f"{a} {b}" for a, b in zip(keys, keys[1:]))
    return out


def surface_forms(segs: list[list[Token]]) -> dict[str, str]:
    """Feature -> the words that produced it, first occurrence wins (for explanations)."""
    forms: dict[str, str] = {}
    stop = stop_words()
    for seg in segs:
        content = [(word, key) for word, key in seg if len(word) > 1 and word not in stop]
        for word, key in content:
            forms.setdefault(key, word)
        for (w1, k1), (w2, k2) in zip(content, content[1:]):
            forms.setdefault(f"{k1} {k2}", f"{w1} {w2}")
    return forms
