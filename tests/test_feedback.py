"""Readers' verdicts and librarians' judgements are kept once each and teach the topic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from awareness.match import learning as classify
from awareness.match.classify import Matcher
from awareness.match.feedback import FeedbackError, feedback_summary, labelled_examples, labels, matcher_for, record_feedback, record_judgement
from awareness.core.models import Match, Profile, Source, Topic
from awareness.gather.normalise import normalise
from awareness.store.store import Store

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)

PROFILE = Profile(id="ph", name="Public health", topics=[
    Topic(id="falls", title="Falls prevention", terms=["falls", "hip fracture"], exclude=["falls short"]),
    Topic(id="smoking", title="Smoking", description="Stopping smoking and tobacco control.",
          terms=["smoking cessation", "tobacco"]),
])

STORIES = [
    ("Strength and balance classes for people over 70", "Community exercise groups to keep older people steady."),
    ("Tai chi sessions in leisure centres for older adults", "Balance training offered free to people over 65."),
    ("Home hazard checks by occupational therapists", "Rugs, stairs and lighting checked in older people's homes."),
    ("Hospital car park charges review", "Parking fees at hospital sites are being reviewed."),
    ("Stop smoking service in maternity units", "Pregnant smokers offered tobacco dependence treatment."),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'a.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = Store(url)
    s.sync_sources([Source(id="a", url="https://a.example/feed")])
    s.add_items("a", [normalise("a", guid=str(n), link=f"https://example.org/{n}", title=t, summary=b,
                                published=NOW, now=NOW) for n, (t, b) in enumerate(STORIES)], now=NOW)
    yield s
    s.close()


def ids(store: Store) -> dict[str, int]:
    return {i.title: i.id for i in store.items_since(NOW - timedelta(days=1))}


def test_a_readers_second_click_replaces_the_first_and_counts_once(store: Store) -> None:
    item = ids(store)[STORIES[0][0]]
    record_feedback(store, profile_id="ph", topic_id="falls", item_id=item, subscriber_id=1, verdict="not_relevant")
    record_feedback(store, profile_id="ph", topic_id="falls", item_id=item, subscriber_id=1, verdict="useful")
    record_feedback(store, profile_id="ph", topic_id="falls", item_id=item, subscriber_id=1, verdict="useful")
    record_feedback(store, profile_id="ph", topic_id="falls", item_id=item, subscriber_id=2, verdict="not_relevant")
    assert feedback_summary(store, "ph") == {"falls": {"useful": 1, "not_relevant": 1}}
    assert feedback_summary(store, "other") == {}


def test_an_unknown_verdict_is_refused_with_the_allowed_ones_named(store: Store) -> None:
    with pytest.raises(FeedbackError, match="'useful' or 'not_relevant'"):
        record_feedback(store, profile_id="ph", topic_id="falls", item_id=1, subscriber_id=1, verdict="meh")


def test_feedback_without_a_topic_is_filed_under_the_topic_the_item_was_matched_to(store: Store) -> None:
    item = ids(store)[STORIES[4][0]]
    store.replace_matches([item], [Match(item, "ph", "falls", 0.36, ()), Match(item, "ph", "smoking", 0.8, ())])
    record_feedback(store, profile_id="ph", topic_id=None, item_id=item, subscriber_id=3, verdict="useful")
    assert feedback_summary(store, "ph") == {"smoking": {"useful": 1, "not_relevant": 0}}


def test_a_librarians_judgement_overrides_readers(store: Store) -> None:
    item = ids(store)[STORIES[3][0]]
    for subscriber in (1, 2, 3):
        record_feedback(store, profile_id="ph", topic_id="falls", item_id=item, subscriber_id=subscriber,
                        verdict="useful")
    assert labels(store, "ph") == {"falls": {item: True}}
    record_judgement(store, profile_id="ph", topic_id="falls", item_id=item, include=False, who="lib@example.org")
    record_judgement(store, profile_id="ph", topic_id="falls", item_id=item, include=False, who="lib@example.org")
    assert labels(store, "ph") == {"falls": {item: False}}


def test_useful_verdicts_pull_similar_items_into_the_topic_and_show_the_words_gained(store: Store) -> None:
    by_title = ids(store)
    for title in (STORIES[0][0], STORIES[1][0]):
        record_feedback(store, profile_id="ph", topic_id="falls", item_id=by_title[title], subscriber_id=1,
                        verdict="useful")
    record_feedback(store, profile_id="ph", topic_id="falls", item_id=by_title[STORIES[3][0]], subscriber_id=1,
                    verdict="not_relevant")
    unseen = [("Balance classes for older adults at the leisure centre", "")]
    before = Matcher([PROFILE], corpus=[f"{t}. {b}" for t, b in STORIES], feedback_from_corpus=False)
    items = store.items_since(NOW - timedelta(days=1))
    after = Matcher([PROFILE], corpus=[f"{i.title}. {i.summary}" for i in items],
                    labelled=labelled_examples(store, "ph"), feedback_from_corpus=False)
    column = before.topic_keys.index(("ph", "falls"))
    assert after.score_texts(unseen)[0, column] > before.score_texts(unseen)[0, column] + 0.1
    change = after.topic_change("ph", "falls")
    assert "balance" in change["gained"]
    assert before.topic_change("ph", "falls") == {"gained": [], "lost": []}
    assert matcher_for(store, [PROFILE], items).topic_change("ph", "falls")["gained"]


def test_with_enough_labels_a_learned_model_scores_but_exclusions_and_terms_still_rule(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classify, "MODEL_MIN_LABELS", 4)
    monkeypatch.setattr(classify, "MODEL_MIN_EACH", 2)
    labelled = {("ph", "falls"): [(t, b, n < 3) for n, (t, b) in enumerate(STORIES)]}
    matcher = Matcher([PROFILE], corpus=[f"{t}. {b}" for t, b in STORIES], labelled=labelled)
    assert matcher.learned_topics == [("ph", "falls")]
    column = matcher.topic_keys.index(("ph", "falls"))
    texts = [("Falls clinic opens", "A new falls service."),                       # a librarian's term
             ("Falls short of the target: balance of funding", "Older people and balance classes."),
             ("Tai chi and balance classes for older people", "Strength training in leisure centres.")]
    decided = matcher.predict_texts(texts)[:, column]
    assert decided.tolist() == [True, False, True]
