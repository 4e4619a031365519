"""`awareness evaluate`: honest numbers for a profile against labelled items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from awareness.core.errors import AwarenessError
from awareness.match.evaluate import LabelledDataError, evaluate, format_report, load_labelled
from awareness.core.models import Profile, Topic
from awareness.config.profiles import load_profile
from conftest import example_profile_paths

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
HOLDOUT = Path(__file__).parent / "data" / "labelled_holdout.jsonl"
EXAMPLE_PROFILES = example_profile_paths()


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile(**yaml.safe_load((FIXTURES / "profile.yaml").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def result(profile: Profile) -> dict:
    return evaluate(profile, load_labelled(FIXTURES / "labelled.jsonl"))


def test_the_result_has_the_keys_other_commands_rely_on(result: dict, profile: Profile) -> None:
    keys = {"micro_f1", "macro_f1", "micro_precision", "micro_recall", "per_topic", "items"}
    assert set(result) == keys | {"baseline", "stemmed_baseline", "unlabelled_topics"}
    assert result["unlabelled_topics"] == []
    assert set(result["baseline"]) == keys
    assert set(result["stemmed_baseline"]) == keys
    assert list(result["per_topic"]) == [t.id for t in profile.topics]
    assert result["items"] == 32
    for side in (result, result["baseline"], result["stemmed_baseline"]):
        for row in side["per_topic"].values():
            assert set(row) == {"precision", "recall", "f1", "support", "tp", "fp", "fn"}
            assert row["tp"] + row["fn"] == row["support"]


def test_support_counts_the_labels_in_the_file(result: dict) -> None:
    # Counted by hand from labelled.jsonl (qualified labels included, other teams' dropped).
    supports = {topic: row["support"] for topic, row in result["per_topic"].items()}
    assert supports == {"frailty": 7, "maternity": 7, "mental-health": 7, "antimicrobial": 3}


def test_the_matcher_beats_the_keyword_baseline(result: dict) -> None:
    assert result["micro_f1"] > result["baseline"]["micro_f1"]
    assert result["macro_f1"] > result["baseline"]["macro_f1"]
    assert result["micro_f1"] >= 0.8


def test_on_held_out_items_the_matcher_beats_keywords_for_every_example_profile() -> None:
    # labelled_holdout.jsonl was written from the topics' descriptions and never tuned on.
    records = load_labelled(HOLDOUT)
    assert len(records) >= 120
    gains = {}
    for path in EXAMPLE_PROFILES:
        result = evaluate(load_profile(path), records)
        gains[path.stem] = result["micro_f1"] - result["baseline"]["micro_f1"]
        assert result["micro_f1"] >= 0.65, path.stem
    assert len(gains) == 6
    assert min(gains.values()) > 0.02, gains
    assert sum(gains.values()) / len(gains) >= 0.07, gains


def test_precision_and_recall_on_a_case_checked_by_hand() -> None:
    profile = Profile(id="team", name="Team", topics=[
        Topic(id="falls", title="Falls", terms=["falls"]),
        Topic(id="dementia", title="Dementia", terms=["dementia"]),
    ])
    records = [
        {"id": "1", "title": "Falls in care homes", "summary": "", "labels": ["falls"]},         # tp falls
        {"id": "2", "title": "Falls and dementia", "summary": "", "labels": ["falls"]},          # tp falls, fp dementia
        {"id": "3", "title": "Balance after a stumble", "summary": "", "labels": ["falls"]},     # fn falls
        {"id": "4", "title": "Dementia diagnosis rates", "summary": "", "labels": ["dementia"]},  # tp dementia
        {"id": "5", "title": "Car parking", "summary": "", "labels": []},
    ]
    result = evaluate(profile, records)
    falls, dementia = result["per_topic"]["falls"], result["per_topic"]["dementia"]
    assert (falls["tp"], falls["fp"], falls["fn"], falls["support"]) == (2, 0, 1, 3)
    assert falls["precision"] == 1.0 and falls["recall"] == pytest.approx(2 / 3)
    assert falls["f1"] == pytest.approx(0.8)
    assert (dementia["tp"], dementia["fp"], dementia["fn"]) == (1, 1, 0)
    assert dementia["precision"] == 0.5 and dementia["recall"] == 1.0
    assert dementia["f1"] == pytest.approx(2 / 3)
    # micro: tp 3, fp 1, fn 1
    assert result["micro_precision"] == pytest.approx(0.75)
    assert result["micro_recall"] == pytest.approx(0.75)
    assert result["micro_f1"] == pytest.approx(0.75)
    assert result["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_labels_of_other_profiles_are_dropped() -> None:
    profile = Profile(id="team", name="Team", topics=[Topic(id="falls", title="Falls", terms=["falls"])])
    records = [
        {"id": "1", "title": "Falls clinic opens", "summary": "", "labels": ["team/falls"]},
        {"id": "2", "title": "Falls clinic closes", "summary": "", "labels": ["other/falls", "falls"]},
        {"id": "3", "title": "Falls in winter", "summary": "", "labels": ["other/falls"]},
    ]
    result = evaluate(profile, records)
    row = result["per_topic"]["falls"]
    # Items 1 and 2 are ours; item 3 belongs to another team only, so matching it is a false positive.
    assert (row["support"], row["tp"], row["fp"], row["fn"]) == (2, 2, 1, 0)


def test_the_report_is_an_aligned_table(result: dict) -> None:
    report = format_report(result)
    lines = report.splitlines()
    assert lines[0].split() == ["topic", "support", "P", "R", "F1", "keyword", "F1", "stemmed", "F1"]
    rows = {line.split()[0]: line for line in lines[2:6]}
    assert set(rows) == {"frailty", "maternity", "mental-health", "antimicrobial"}
    assert len({len(line) for line in lines[:6]}) == 1          # columns line up
    frailty = rows["frailty"].split()
    assert frailty[1] == "7"
    assert frailty[4] == f"{result['per_topic']['frailty']['f1']:.2f}"
    assert frailty[5] == f"{result['baseline']['per_topic']['frailty']['f1']:.2f}"
    assert frailty[6] == f"{result['stemmed_baseline']['per_topic']['frailty']['f1']:.2f}"
    assert f"F1 {result['micro_f1']:.2f}" in report and f"F1 {result['macro_f1']:.2f}" in report


def test_a_bad_line_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    good = json.dumps({"id": "1", "title": "A", "summary": "", "labels": []})
    path.write_text(f"{good}\n\n{good}\n{{\"title\": \"B\", \"labels\": [}}\n", encoding="utf-8")
    with pytest.raises(LabelledDataError) as caught:
        load_labelled(path)
    assert f"{path}:4" in str(caught.value)
    assert isinstance(caught.value, AwarenessError)

    path.write_text(f'{good}\n{{"title": "No labels"}}\n', encoding="utf-8")
    with pytest.raises(LabelledDataError, match=r"items\.jsonl:2: .*labels"):
        load_labelled(path)

    path.write_text('["not", "an", "object"]\n', encoding="utf-8")
    with pytest.raises(LabelledDataError, match=r":1: expected a JSON object"):
        load_labelled(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LabelledDataError, match="nowhere.jsonl"):
        load_labelled(tmp_path / "nowhere.jsonl")


def test_blank_lines_are_skipped_and_summary_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('\n{"id": "1", "title": "A", "labels": ["x"]}\n\n', encoding="utf-8")
    assert load_labelled(path) == [{"id": "1", "title": "A", "summary": "", "labels": ["x"]}]


def test_feedback_from_other_items_is_shown_as_words_gained_and_lost(profile: Profile) -> None:
    records = load_labelled(FIXTURES / "labelled.jsonl")
    judged, scored = records[0::2], records[1::2]
    result = evaluate(profile, scored, feedback=judged)
    assert set(result["without_feedback"]) == {"micro_f1", "macro_f1", "per_topic"}
    taught = {t: c for t, c in result["feedback"].items() if c["useful"] or c["not_relevant"]}
    assert taught and any(c["gained"] for c in taught.values())
    report = format_report(result)
    assert "with feedback: micro F1" in report and "gained:" in report
    assert "feedback" not in evaluate(profile, scored)
