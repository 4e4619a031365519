"""Which stored item a new one is the same document as (issue 15): the store's dedup rule.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timedelta
from typing import Any, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.models import Item
from .schema import item_sources, items, sources, utcnow


class SameStory:
    """Which stored item a new one is the same document as (issue 15: only on positive evidence).

    Two items whose URLs differ are one document only when something shows it:
    the same canonical link; the same content hash of a real summary, published
    within days; or, from *another* source, the same title with a near-identical
    summary within days, or the same title from a feed and a spider (which often
    carries no summary) within a few days; from the *same* source, the same title
    only with the same publication date (a site that moved).  A title alone never merges: a source
    publishes "Statistical release" or "Board papers" every month under the same
    title, often with no summary, and each is its own document.
    """

    TITLE_CANDIDATES = 20
    NEAR = timedelta(days=14)            # same text from two places, published this close: one document
    PAIR = timedelta(days=3)             # a feed's item and a spider's listing entry of it
    SAME_DATE = timedelta(hours=24)      # one source listing a dated document again at another URL
    SUBSTANTIVE = 40                     # characters of summary before its hash says anything

    def __init__(self, conn: Connection, batch: Sequence[Item], source_id: str = "",
                 now: datetime | None = None) -> None:
        self.source_id = source_id
        self.now = now or utcnow()
        self.kind = conn.execute(sa.select(sources.c.kind).where(sources.c.id == source_id)).scalar() or "feed"
        self.by_link: dict[str, int] = {}
        self.by_hash: dict[str, tuple[int, datetime]] = {}
        self.by_title: dict[str, list[tuple[int, str, datetime]]] = {}
        self.origins: dict[int, dict[str, str]] = {}     # item id -> its sources and their kinds
        links = sorted({it.link for it in batch if it.link})
        hashes = sorted({it.content_hash for it in batch if self._substantive(it)})
        titles = sorted({it.title_key for it in batch if self._telling(it.title_key)})
        for chunk in in_chunks(links, 500):
            for key, item_id in conn.execute(sa.select(items.c.link, items.c.id).where(items.c.link.in_(chunk))
                                             .order_by(items.c.id)):
                self.by_link.setdefault(key, int(item_id))
        for chunk in in_chunks(hashes, 500):
            for key, item_id, published in conn.execute(
                    sa.select(items.c.content_hash, items.c.id, items.c.published)
                    .where(items.c.content_hash.in_(chunk)).order_by(items.c.id)):
                self.by_hash.setdefault(key, (int(item_id), published))
        for chunk in in_chunks(titles, 500):
            for r in conn.execute(sa.select(items.c.id, items.c.title_key, items.c.summary, items.c.published)
                                  .where(items.c.title_key.in_(chunk)).order_by(items.c.id)):
                candidates = self.by_title.setdefault(r.title_key, [])
                if len(candidates) < self.TITLE_CANDIDATES:
                    candidates.append((int(r.id), r.summary, r.published))
        ids = sorted({i for cands in self.by_title.values() for i, _, _ in cands})
        for chunk in in_chunks(ids, 500):
            q = (sa.select(item_sources.c.item_id, item_sources.c.source_id, sources.c.kind)
                 .select_from(item_sources.outerjoin(sources, sources.c.id == item_sources.c.source_id))
                 .where(item_sources.c.item_id.in_(chunk)))
            for item_id, sid, kind in conn.execute(q):
                self.origins.setdefault(int(item_id), {})[sid] = kind or "feed"

    @staticmethod
    def _telling(title_key: str) -> bool:
        return bool(title_key) and len(title_key) >= 12  # "Update", "News" say too little to merge on

    @classmethod
    def _substantive(cls, it: Item) -> bool:
        return len(" ".join(it.summary.split())) >= cls.SUBSTANTIVE

    def _close(self, published: datetime | None, it: Item, within: timedelta) -> bool:
        mine = it.published or self.now
        return published is not None and abs(published - mine) <= within

    def find(self, it: Item) -> int | None:
        # items whose link was unusable (javascript:, none) share "" and are not one story
        if it.link and it.link in self.by_link:
            return self.by_link[it.link]
        if self._substantive(it) and it.content_hash in self.by_hash:
            item_id, published = self.by_hash[it.content_hash]
            if self._close(published, it, self.NEAR):
                return item_id
        if not self._telling(it.title_key):
            return None
        b = it.summary[:400].lower()
        similar = _SimilarTo(b)
        for item_id, summary, published in self.by_title.get(it.title_key, ()):
            origins = self.origins.get(item_id, {})
            a = summary[:400].lower()
            if self.source_id in origins:
                # The same source, another URL: another document of that title ("Board papers" each
                # month), unless it carries the very same date (a site that moved, listed again).
                if it.published is not None and self._close(published, it, self.SAME_DATE) \
                        and (not a or not b or similar(a, 0.8)):
                    return item_id
                continue
            if a and b:
                if self._close(published, it, self.NEAR) and similar(a, 0.8):
                    return item_id
            elif set(origins.values()) - {self.kind} and self._close(published, it, self.PAIR):
                return item_id  # a feed and a spider listing saw the same document
        return None

    def add(self, item_id: int, it: Item) -> None:
        if it.link:
            self.by_link.setdefault(it.link, item_id)
        if self._substantive(it):
            self.by_hash.setdefault(it.content_hash, (item_id, it.published or self.now))
        if self._telling(it.title_key):
            candidates = self.by_title.setdefault(it.title_key, [])
            if len(candidates) < self.TITLE_CANDIDATES:
                candidates.append((item_id, it.summary, it.published or self.now))
            self.origins.setdefault(item_id, {})[self.source_id] = self.kind


def in_chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class _SimilarTo:
    """Whether SequenceMatcher's ratio() of (a, b) >= at_least, for one ``b`` and many ``a``,
    its cheap upper bounds tried first (the same answer).  SequenceMatcher indexes its second
    sequence, so a new item's summary is indexed once for all the stored ones of its title
    (a national first poll compares tens of thousands of such pairs; issue 19)."""

    def __init__(self, b: str) -> None:
        self._matcher: difflib.SequenceMatcher[str] | None = None
        self._b = b

    def __call__(self, a: str, at_least: float) -> bool:
        if self._matcher is None:
            self._matcher = difflib.SequenceMatcher(None, "", self._b)
        m = self._matcher
        m.set_seq1(a)
        return m.real_quick_ratio() >= at_least and m.quick_ratio() >= at_least and m.ratio() >= at_least
