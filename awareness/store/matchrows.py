"""A slice's match rows, encoded as SQLite stores them where the slice is scored (issue 19).

At national scale the run's main process stores ~6 M match rows while two workers score;
turning each Match into a row (its reasons as JSON text) and putting the rows in key order
was a fifth of the main process's time.  Done in the worker, the main process unpickles
plain tuples and hands them straight to the driver.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.models import Match

Row = tuple[int, str, str, float, str, int]   # item_id, profile_id, topic_id, score, terms (JSON), local


@dataclass
class MatchRows:
    """Rows in the table's key order (profile, item, topic): each insert lands beside the one
    before it, not on a page of the tree read back from disk for it."""

    rows: list[Row]

    def __len__(self) -> int:
        return len(self.rows)

    def matches(self) -> list[Match]:
        """The Match objects again, for databases whose driver takes JSON as a value."""
        decoded: dict[str, tuple[str, ...]] = {}
        out = []
        for item_id, profile_id, topic_id, score, terms, local in self.rows:
            reasons = decoded.get(terms)
            if reasons is None:
                reasons = decoded[terms] = tuple(json.loads(terms))
            out.append(Match(item_id, profile_id, topic_id, score, reasons, bool(local)))
        return out


def encode(found: Sequence[Match]) -> MatchRows:
    encoded: dict[tuple[str, ...], str] = {}   # the same reasons recur across items: encode each once

    def text(terms: tuple[str, ...]) -> str:
        done = encoded.get(terms)
        if done is None:
            done = encoded[terms] = json.dumps(list(terms))
        return done

    ordered = sorted(found, key=lambda m: (m.profile_id, m.item_id, m.topic_id))
    return MatchRows([(m.item_id, m.profile_id, m.topic_id, float(m.score), text(tuple(m.terms)), int(bool(m.local)))
                      for m in ordered])
