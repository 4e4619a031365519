"""Words that mean the same in UK health news: A&E and emergency department, GP and family doctor.

A librarian writes "A&E" once; the matcher should also find "emergency department".
The built-in groups ship in ``awareness/data/vocabulary.yaml``; a profile adds its
own under ``vocabulary:`` (a list of groups).  Groups are compared on folded keys
(``textnorm.term_key``), so word forms need no listing of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import yaml

from .textnorm import term_key

BUILT_IN = Path(__file__).with_name("data") / "vocabulary.yaml"

Key = tuple[str, ...]


@lru_cache(maxsize=1)
def built_in_groups() -> tuple[tuple[str, ...], ...]:
    """The shipped groups, as written."""
    data = yaml.safe_load(BUILT_IN.read_text(encoding="utf-8")) or {}
    return tuple(tuple(str(word) for word in group) for group in data.get("equivalents", []))


@lru_cache(maxsize=1)
def everyday_keys() -> frozenset[str]:
    """Folded keys of the shipped everyday words: single words with a common sense beside
    the topic's ("vacancies fall", "staff car park"), weak evidence when found alone."""
    data = yaml.safe_load(BUILT_IN.read_text(encoding="utf-8")) or {}
    keys = (term_key(str(word)) for word in data.get("everyday", []))
    return frozenset(key[0].removesuffix("~ing") for key in keys if len(key) == 1)


class Vocabulary:
    """Which written forms are equivalent to a term (the term itself excluded)."""

    def __init__(self, groups: Iterable[Sequence[str]]) -> None:
        self._groups: dict[Key, list[str]] = {}
        for group in groups:
            words = [w.strip() for w in group if w and w.strip()]
            for word in words:
                key = term_key(word)
                if key:
                    self._groups.setdefault(key, []).extend(w for w in words if term_key(w) != key)

    @classmethod
    def for_profile(cls, extra: Iterable[Sequence[str]] = ()) -> "Vocabulary":
        return cls([*built_in_groups(), *extra])

    def equivalents(self, term: str) -> list[str]:
        """Other ways of writing this term, first-listed first, each once."""
        seen: set[Key] = {term_key(term)}
        out: list[str] = []
        for word in self._groups.get(term_key(term), ()):
            key = term_key(word)
            if key not in seen:
                seen.add(key)
                out.append(word)
        return out
