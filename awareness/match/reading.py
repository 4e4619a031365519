"""Reading items for the matcher: each (title, summary) into features and the terms found, once.

A run's matcher is fitted on the items it will then score; what fitting read of each pair is
kept (up to PREPARED_LIMIT pairs) so scoring reads nothing again, and a corpus streams
through one text at a time, so a national one is never held as token lists (issue 19).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .terms import PhraseIndex
from .textnorm import Token, features, segments

# Corpus pairs whose reading is kept for scoring them (more are scored in worker processes, matchpool).
PREPARED_LIMIT = 6000
# A (title, summary) as read: segments, features, terms found; title's then summary's.
Prepared = tuple[list[list[Token]], list[list[Token]], list[str], list[str],
                 set[tuple[str, ...]], set[tuple[str, ...]]]


class Reading:
    """The matcher's reading of texts (a mixin: needs ``_phrases`` and ``_prepared``)."""

    _phrases: PhraseIndex
    _prepared: dict[tuple[str, str], Prepared]

    def _read_corpus(self, corpus: Iterable[str | tuple[str, str]]
                     ) -> Iterator[tuple[list[str], set[tuple[str, ...]]]]:
        """Each corpus text's features and the terms found in it, one text at a time.

        A pair's title and summary are read apart: the segments of ``f"{title}. {summary}"``
        are the title's then the summary's (no segment crosses the ". ", and no fold, apostrophe
        or break rule looks across it: tests/test_match.py checks awkward cases), and features
        and terms are found per segment, so this is what reading the joined text gives; what
        was read is kept (up to PREPARED_LIMIT pairs) so scoring the same items reads nothing again.
        """
        kept = seen = 0
        for text in corpus:
            seen += 1
            if isinstance(text, str):
                segs = segments(text)
                yield features(segs), self._phrases.find(segs)
                continue
            ready = self._prepare(*text)
            if kept < PREPARED_LIMIT:
                self._prepared[(text[0] or "", text[1] or "")] = ready
                kept += 1
            _, _, title_features, body_features, title_hits, body_hits = ready
            yield title_features + body_features, title_hits | body_hits
        if seen > PREPARED_LIMIT:    # a corpus this large is scored in slices, mostly by workers
            self._prepared.clear()

    def _prepare(self, title: str, summary: str) -> Prepared:
        title_segs, body_segs = segments(title or ""), segments(summary or "")
        return (title_segs, body_segs, features(title_segs), features(body_segs),
                self._phrases.find(title_segs), self._phrases.find(body_segs))

    def __getstate__(self) -> dict[str, object]:
        """Pickled for scoring workers (matchpool) without the corpus's kept readings."""
        return {**self.__dict__, "_prepared": {}}
