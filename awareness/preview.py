"""What a profile would send, and what an edit to it would change, before anyone receives it.

``preview_profile(ctx, profile, days=14)`` scores the stored items of the last
``days`` against the profile as it is given (saved or not) and returns, per topic,
the items it would send and the near-misses just under the threshold, each with
its reasons.  ``diff_profiles(ctx, old, new, days=28)`` lists the items an edit
would add and drop.  The web librarian page and ``awareness profiles preview|diff``
both use these; ``to_dict()`` gives plain JSON-ready data.
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .core.lazy import np  # numpy loads when a preview first scores: it costs ~0.2 s at start
from .match.classify import DEFAULT_THRESHOLD, Matcher
from .match.feedback import feedback_summary, labelled_examples
from .core.models import Match, Profile, StoredItem
from .pipeline import bulletin_from
from .match.place import PlaceFinder
from .config.profiles import profile_sources
from .store.schema import deliveries, utcnow

if TYPE_CHECKING:
    from .context import Context

NEAR_MISS_MARGIN = 0.10     # how far under the threshold still counts as a near-miss
NEAR_MISS_LIMIT = 10        # per topic, the closest first


@dataclass
class PreviewItem:
    item_id: int
    title: str
    link: str
    published: str                 # ISO 8601, UTC
    score: float
    terms: list[str]               # what contributed most
    local: list[str]               # footprint names the item mentions
    why: str                       # one line a librarian can read
    in_bulletin: bool = False      # in the next bulletin, if it were sent now (issue 17)
    left_out: str = ""             # matched but not in it: already sent, outside lookback, over max_items...


@dataclass
class TopicPreview:
    topic_id: str
    title: str
    threshold: float
    would_send: list[PreviewItem] = field(default_factory=list)
    near_misses: list[PreviewItem] = field(default_factory=list)
    feedback: dict[str, int] = field(default_factory=dict)          # {"useful": n, "not_relevant": n}
    change: dict[str, list[str]] = field(default_factory=dict)      # words gained / lost through feedback
    learned: bool = False          # scored by its own model trained on feedback


@dataclass
class BulletinLine:
    """One item of the next bulletin, in the order it would be sent."""

    topic: str
    title: str
    url: str
    item_id: int


@dataclass
class Preview:
    profile_id: str
    days: int
    items_considered: int
    topics: list[TopicPreview]
    bulletin: list[BulletinLine] = field(default_factory=list)   # the next bulletin, if it were sent now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiffItem:
    topic_id: str
    item_id: int
    title: str
    link: str
    old_score: float
    new_score: float
    terms: list[str]               # reasons under the profile that matches it


@dataclass
class ProfileDiff:
    profile_id: str
    days: int
    items_considered: int
    added: list[DiffItem]
    dropped: list[DiffItem]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _window(ctx: "Context", days: int, now: datetime | None) -> list[StoredItem]:
    now = now or utcnow()
    return ctx.store.items_since(now - timedelta(days=days))


def _matcher(ctx: "Context", profile: Profile, items: list[StoredItem]) -> Matcher:
    """Scored beside the other profiles, as the pipeline does, so IDF and scores agree with it."""
    others = [p for p in ctx.profiles if p.id != profile.id]
    return Matcher([*others, profile], corpus=[f"{i.title}. {i.summary}" for i in items],
                   labelled=labelled_examples(ctx.store, profile.id),
                   semantic=ctx.settings.semantic_matching)


def _item(item: StoredItem, score: float, terms: tuple[str, ...], local: list[str], why: str) -> PreviewItem:
    return PreviewItem(item.id, item.title, item.link, item.published.isoformat(), _shown(score),
                       list(terms), local, why)


def _shown(score: float) -> float:
    """A score as shown, to two places: the same number in the list and in its reason."""
    return round(score + 1e-9, 2)


def _shown_under(score: float) -> float:
    """A near-miss's score as shown: rounded down, so it never looks level with the threshold."""
    return math.floor(score * 100 + 1e-9) / 100


def _under(score: float, threshold: float) -> str:
    """How far a near-miss fell short, never "0.00 under"."""
    gap = math.ceil((threshold - score) * 100 - 1e-9) / 100
    return f"score {_shown_under(score):.2f}, {max(gap, 0.01):.2f} under the threshold {threshold:.2f}"


def preview_profile(ctx: "Context", profile: Profile, *, days: int | None = None,
                    now: datetime | None = None) -> Preview:
    """Per topic: what matches (strongest first) and the near-misses, with reasons; and the next bulletin.

    The bulletin is made by the same rule as a real run (pipeline.bulletin_from), so each
    matching item says whether it is in it and, if not, why.  ``days`` (default: the
    profile's lookback_days) is how far back items are scored.
    """
    now = now or utcnow()
    days = days or profile.lookback_days
    items = _window(ctx, days, now)
    topics = [TopicPreview(t.id, t.title, DEFAULT_THRESHOLD if t.threshold is None else t.threshold)
              for t in profile.topics]
    if not items:
        return Preview(profile.id, days, 0, topics)
    matcher = _matcher(ctx, profile, items)
    texts = [(i.title, i.summary) for i in items]
    scores = matcher.score_texts(texts)
    unvetoed = matcher.score_texts(texts, veto_excluded=False)
    places = PlaceFinder(profile.place)
    summary = feedback_summary(ctx.store, profile.id)
    learned = set(matcher.learned_topics)
    for preview in topics:
        j = matcher.topic_keys.index((profile.id, preview.topic_id))
        threshold = float(matcher.thresholds[j])
        preview.threshold = threshold
        preview.feedback = summary.get(preview.topic_id, {"useful": 0, "not_relevant": 0})
        preview.change = matcher.topic_change(profile.id, preview.topic_id)
        preview.learned = (profile.id, preview.topic_id) in learned
        column, raw = scores[:, j], unvetoed[:, j]
        for i in np.argsort(-column, kind="stable"):
            score = float(column[i])
            if score <= 0.0 or score < threshold:
                break
            item = items[i]
            terms = matcher.explain(item.title, item.summary, profile.id, preview.topic_id)
            local = places.mentions(item.title, item.summary)
            preview.would_send.append(_item(item, score, terms, local,
                                            f"score {_shown(score):.2f} ≥ threshold {threshold:.2f}"))
        preview.would_send.sort(key=lambda p: (not p.local, -p.score))
        near: list[tuple[float, PreviewItem]] = []
        for i in np.nonzero(raw >= threshold - NEAR_MISS_MARGIN)[0]:
            item, score, before_veto = items[i], float(column[i]), float(raw[i])
            if score >= threshold and score > 0:
                continue                          # sent
            terms = matcher.explain(item.title, item.summary, profile.id, preview.topic_id)
            if score == 0.0 and before_veto >= threshold:
                excluded = matcher.excluded_by(item.title, item.summary, profile.id, preview.topic_id)
                why = (f"would score {_shown(before_veto):.2f} but contains the exclude term "
                       f"'{', '.join(excluded) or '?'}'")
            elif score == 0.0:
                continue                          # excluded and weak anyway: not near
            else:
                why = _under(score, threshold)
            near.append((before_veto, _item(item, _shown_under(score), terms,
                                             places.mentions(item.title, item.summary), why)))
        near.sort(key=lambda pair: -pair[0])
        preview.near_misses = [p for _, p in near[:NEAR_MISS_LIMIT]]
    result = Preview(profile.id, days, len(items), topics)
    _next_bulletin(ctx, profile, result, {i.id: i for i in items}, now)
    return result


def _next_bulletin(ctx: "Context", profile: Profile, preview: Preview, items: dict[int, StoredItem],
                   now: datetime) -> None:
    """Mark each matching item in or out of the next bulletin, and list that bulletin in order."""
    scored: dict[int, list[Match]] = {}
    for t in preview.topics:
        for p in t.would_send:
            scored.setdefault(p.item_id, []).append(Match(p.item_id, profile.id, t.topic_id, p.score,
                                                          tuple(p.terms), bool(p.local)))
    already = _sent_before(ctx, profile.id)
    bulletin = bulletin_from(ctx, profile, [(items[i], ms) for i, ms in scored.items()], already=already,
                             now=now)
    placed: dict[int, str] = {}
    for section in bulletin.sections if bulletin else []:
        for entry in section.entries:
            placed[entry.item.id] = section.topic.id
            preview.bulletin.append(BulletinLine(section.topic.id, entry.item.title, entry.item.link,
                                                 entry.item.id))
    start = now - timedelta(days=profile.lookback_days)
    chosen = {s.id for s in profile_sources(profile, ctx.sources)}
    titles = {t.id: t.title for t in profile.topics}
    for t in preview.topics:
        for p in t.would_send:
            item = items[p.item_id]
            if placed.get(p.item_id) == t.topic_id:
                p.in_bulletin = True
            elif p.item_id in already:
                p.left_out = "already sent"
            elif item.published < start:
                p.left_out = f"outside lookback ({profile.lookback_days} days)"
            elif not chosen.intersection(item.sources):
                p.left_out = "not from this profile's sources"
            elif p.item_id in placed:
                p.left_out = f"in the bulletin under '{titles.get(placed[p.item_id])}' (one topic per item)"
            else:
                p.left_out = f"over max_items ({profile.max_items}): the best-scoring {profile.max_items} are kept"


def _sent_before(ctx: "Context", profile_id: str) -> set[int]:
    """Items this profile's bulletins have already carried (to any reader)."""
    with ctx.store.engine.connect() as conn:
        return set(conn.execute(sa.select(deliveries.c.item_id).where(deliveries.c.profile_id == profile_id)
                                .distinct()).scalars())


def diff_profiles(ctx: "Context", old_profile: Profile, new_profile: Profile, *, days: int = 28,
                  now: datetime | None = None) -> ProfileDiff:
    """Items (per topic) the new version would send that the old would not, and the reverse."""
    items = _window(ctx, days, now)
    if not items:
        return ProfileDiff(new_profile.id, days, 0, [], [])
    texts = [(i.title, i.summary) for i in items]
    old = _matcher(ctx, old_profile, items)
    new = _matcher(ctx, new_profile, items)
    old_scores, new_scores = old.score_texts(texts), new.score_texts(texts)
    old_sent, new_sent = old.predict_texts(texts), new.predict_texts(texts)
    topic_ids = [t.id for t in new_profile.topics] + [t.id for t in old_profile.topics
                                                       if t.id not in {t.id for t in new_profile.topics}]
    added: list[DiffItem] = []
    dropped: list[DiffItem] = []
    for topic_id in topic_ids:
        jo = old.topic_keys.index((old_profile.id, topic_id)) if (old_profile.id, topic_id) in old.topic_keys else None
        jn = new.topic_keys.index((new_profile.id, topic_id)) if (new_profile.id, topic_id) in new.topic_keys else None
        for i, item in enumerate(items):
            was = jo is not None and bool(old_sent[i, jo])
            now_sent = jn is not None and bool(new_sent[i, jn])
            if was == now_sent:
                continue
            old_score = float(old_scores[i, jo]) if jo is not None else 0.0
            new_score = float(new_scores[i, jn]) if jn is not None else 0.0
            if now_sent:
                terms = new.explain(item.title, item.summary, new_profile.id, topic_id)
                added.append(DiffItem(topic_id, item.id, item.title, item.link, round(old_score, 3),
                                      round(new_score, 3), list(terms)))
            else:
                terms = old.explain(item.title, item.summary, old_profile.id, topic_id)
                dropped.append(DiffItem(topic_id, item.id, item.title, item.link, round(old_score, 3),
                                        round(new_score, 3), list(terms)))
    added.sort(key=lambda d: (topic_ids.index(d.topic_id), -d.new_score))
    dropped.sort(key=lambda d: (topic_ids.index(d.topic_id), -d.old_score))
    return ProfileDiff(new_profile.id, days, len(items), added, dropped)


# ------------------------------------------------------------------ text for the command line

def format_preview(preview: Preview) -> str:
    lines = [f"Profile {preview.profile_id}: {preview.items_considered} items from the last "
             f"{preview.days} days"]
    lines.append(f"The next bulletin, if it were sent now: {len(preview.bulletin)} item"
                 f"{'s' * (len(preview.bulletin) != 1)}")
    lines += [f"   [{b.topic}] {b.title}" for b in preview.bulletin]
    for t in preview.topics:
        lines.append("")
        learned = ", scored by its own model trained on feedback" if t.learned else ""
        lines.append(f"== {t.title} [{t.topic_id}]  threshold {t.threshold:.2f}{learned}")
        if t.feedback and any(t.feedback.values()):
            lines.append(f"   feedback: {t.feedback.get('useful', 0)} useful, "
                         f"{t.feedback.get('not_relevant', 0)} not relevant")
        if t.change.get("gained") or t.change.get("lost"):
            lines.append(f"   feedback moved the topic: gained {', '.join(t.change['gained']) or '-'}; "
                         f"lost {', '.join(t.change['lost']) or '-'}")
        lines.append(f"   would send {len(t.would_send)}:" if t.would_send else "   would send nothing")
        for p in t.would_send:
            lines.append(_line(p) + ("" if p.in_bulletin else f"\n        NOT in the next bulletin: {p.left_out}"))
        if t.near_misses:
            lines.append(f"   near-misses ({len(t.near_misses)}):")
            for p in t.near_misses:
                lines.append(_line(p))
    return "\n".join(lines)


def _line(p: PreviewItem) -> str:
    local = f" [local: {', '.join(p.local)}]" if p.local else ""
    terms = f"\n        matched: {', '.join(p.terms)}" if p.terms else ""
    return f"   {p.score:5.2f}  {p.title}{local}\n        {p.why}{terms}"


def format_diff(diff: ProfileDiff) -> str:
    lines = [f"Profile {diff.profile_id}: {diff.items_considered} items from the last {diff.days} days; "
             f"the edit adds {len(diff.added)} and drops {len(diff.dropped)}"]
    for label, rows, sign in (("Added", diff.added, "+"), ("Dropped", diff.dropped, "-")):
        if rows:
            lines.append("")
            lines.append(f"{label}:")
            for d in rows:
                terms = f"  (matched: {', '.join(d.terms)})" if d.terms else ""
                lines.append(f" {sign} [{d.topic_id}] {d.title}  {d.old_score:.2f} -> {d.new_score:.2f}{terms}")
    return "\n".join(lines)
