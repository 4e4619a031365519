"""Readers' "useful" / "not relevant" and librarians' include / exclude, kept as labelled examples.

The web layer calls these three functions when a signed feedback link is followed
or a librarian judges an item on the profile page:

* ``record_feedback(store, profile_id=, topic_id=, item_id=, subscriber_id=, verdict=)``:
  one verdict per (profile, item, subscriber); calling again replaces it (**last
  wins**: a reader who clicked the wrong link can click the other one).  When
  ``topic_id`` is None the topic the item was matched under (its best stored match
  for the profile) is recorded, so the verdict still teaches a topic.
* ``record_judgement(store, profile_id=, topic_id=, item_id=, include=, who=)``: one per
  (profile, topic, item), last wins.
* ``feedback_summary(store, profile_id) -> {topic_id: {"useful": n, "not_relevant": n}}``
  (verdicts whose topic is unknown count under the key None).

``labelled_examples`` turns both into per-topic examples for the matcher
(``Matcher(..., labelled=...)``): a librarian's judgement overrides readers' verdicts
on the same item, and readers' verdicts on one item are decided by majority.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from .classify import Example, Matcher
from ..core.models import Profile, StoredItem
from ..store.store import Store
from ..store.schema import match_feedback, match_judgements, matches, utcnow

VERDICTS = ("useful", "not_relevant")


class FeedbackError(ValueError):
    """Feedback that cannot be stored (unknown verdict, missing ids)."""


def _upsert(store: Store, table: sa.Table, keys: dict[str, object], values: dict[str, object]) -> None:
    """Insert, or update the row with these keys (portable across SQLite and PostgreSQL)."""
    where = sa.and_(*(table.c[k] == v for k, v in keys.items()))
    with store.engine.begin() as conn:
        updated = conn.execute(table.update().where(where).values(**values)).rowcount
        if not updated:
            try:
                with conn.begin_nested():
                    conn.execute(table.insert().values(**keys, **values))
            except sa.exc.IntegrityError:    # a concurrent click got there first: last wins
                conn.execute(table.update().where(where).values(**values))


def _matched_topic(store: Store, profile_id: str, item_id: int) -> str | None:
    q = (sa.select(matches.c.topic_id)
         .where(matches.c.profile_id == profile_id, matches.c.item_id == item_id)
         .order_by(matches.c.score.desc()).limit(1))
    with store.engine.connect() as conn:
        return conn.execute(q).scalar()


def record_feedback(store: Store, *, profile_id: str, topic_id: str | None, item_id: int,
                    subscriber_id: int, verdict: str, now: datetime | None = None) -> None:
    """A reader's verdict on a bulletin item; a repeat call replaces the earlier one."""
    verdict = verdict.replace("-", "_")          # the bulletin's links say "not-relevant"
    if verdict not in VERDICTS:
        raise FeedbackError(f"verdict must be 'useful' or 'not_relevant', not {verdict!r}")
    if not profile_id:
        raise FeedbackError("feedback needs the profile id")
    topic = topic_id or _matched_topic(store, profile_id, item_id)
    _upsert(store, match_feedback,
            {"profile_id": profile_id, "item_id": int(item_id), "subscriber_id": int(subscriber_id)},
            {"topic_id": topic, "verdict": verdict, "at": now or utcnow()})


def record_judgement(store: Store, *, profile_id: str, topic_id: str, item_id: int, include: bool,
                     who: str, now: datetime | None = None) -> None:
    """A librarian's include (True) or exclude (False) of an item for a topic; last wins."""
    if not (profile_id and topic_id):
        raise FeedbackError("a judgement needs the profile id and the topic id")
    _upsert(store, match_judgements,
            {"profile_id": profile_id, "topic_id": topic_id, "item_id": int(item_id)},
            {"include": bool(include), "who": who, "at": now or utcnow()})


def feedback_summary(store: Store, profile_id: str) -> dict[str | None, dict[str, int]]:
    """Readers' verdicts per topic of a profile: {topic_id: {"useful": n, "not_relevant": n}}."""
    q = (sa.select(match_feedback.c.topic_id, match_feedback.c.verdict, sa.func.count())
         .where(match_feedback.c.profile_id == profile_id)
         .group_by(match_feedback.c.topic_id, match_feedback.c.verdict))
    out: dict[str | None, dict[str, int]] = {}
    with store.engine.connect() as conn:
        for topic_id, verdict, n in conn.execute(q):
            out.setdefault(topic_id, {v: 0 for v in VERDICTS})[verdict] = int(n)
    return out


def labels(store: Store, profile_id: str) -> dict[str, dict[int, bool]]:
    """Per topic: item id -> relevant?  Judgements override readers; readers go by majority."""
    votes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    decided: dict[str, dict[int, bool]] = defaultdict(dict)
    with store.engine.connect() as conn:
        for r in conn.execute(sa.select(match_feedback).where(match_feedback.c.profile_id == profile_id)):
            if r.topic_id:
                votes[r.topic_id][r.item_id] += 1 if r.verdict == "useful" else -1
        judged = conn.execute(sa.select(match_judgements)
                              .where(match_judgements.c.profile_id == profile_id)).all()
    for topic_id, by_item in votes.items():
        for item_id, balance in by_item.items():
            if balance:
                decided[topic_id][item_id] = balance > 0
    for r in judged:
        decided[r.topic_id][r.item_id] = bool(r.include)
    return dict(decided)


def labelled_examples(store: Store, profile_id: str) -> dict[tuple[str, str], list[Example]]:
    """The matcher's ``labelled`` argument for one profile: (title, summary, relevant) per topic."""
    by_topic = labels(store, profile_id)
    wanted = {item_id for items in by_topic.values() for item_id in items}
    texts = {i.id: (i.title, i.summary) for i in store.get_items(wanted)} if wanted else {}
    out: dict[tuple[str, str], list[Example]] = {}
    for topic_id, items in by_topic.items():
        examples = [(*texts[item_id], relevant) for item_id, relevant in sorted(items.items())
                    if item_id in texts]
        if examples:
            out[(profile_id, topic_id)] = examples
    return out


def matcher_for(store: Store, profiles: list[Profile], items: Sequence[StoredItem],
                semantic: bool = False) -> Matcher:
    """The matcher for these items: IDF from them, topics moved by every profile's feedback;
    ``semantic`` adds sentence-embedding evidence (the ``semantic_matching`` setting)."""
    labelled: dict[tuple[str, str], list[Example]] = {}
    for profile in profiles:
        labelled.update(labelled_examples(store, profile.id))
    # (title, summary) pairs: read once for the IDF and kept for scoring the same items
    return Matcher(profiles, corpus=[(i.title, i.summary) for i in items], labelled=labelled,
                   semantic=semantic)
