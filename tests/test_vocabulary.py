"""Equivalent words and acronyms, and the team's own place, found as a librarian would expect."""

from __future__ import annotations

from awareness.match.classify import Matcher
from awareness.core.models import Place, Profile, Topic
from awareness.match.place import PlaceFinder
from awareness.match.vocabulary import Vocabulary, built_in_groups


def urgent_care(**extra: object) -> Profile:
    return Profile(id="uec", name="Urgent care", topics=[
        Topic(id="ae", title="A&E performance", terms=["A&E"]),
        Topic(id="camhs", title="Young people's mental health", terms=["CAMHS"]),
        Topic(id="gateshead", title="Our trust", terms=["QE Gateshead"]),
    ], **extra)


def matched(profile: Profile, title: str) -> set[str]:
    matcher = Matcher([profile])
    row = matcher.predict_texts([(title, "")])[0]
    return {matcher.topic_keys[j][1] for j in row.nonzero()[0]}


def test_built_in_equivalents_match_either_way_round() -> None:
    profile = urgent_care()
    assert matched(profile, "Four-hour waits in emergency departments get longer") == {"ae"}
    assert matched(profile, "Child and adolescent mental health services: waiting times") == {"camhs"}
    assert matched(profile, "Hospital car parking charges") == set()


def test_a_profile_adds_its_own_equivalents() -> None:
    assert matched(urgent_care(), "The Queen Elizabeth opens a new ward") == set()
    local = urgent_care(vocabulary=[["QE Gateshead", "the Queen Elizabeth"]])
    assert matched(local, "The Queen Elizabeth opens a new ward") == {"gateshead"}


def test_every_built_in_group_has_at_least_two_ways_of_saying_it() -> None:
    groups = built_in_groups()
    assert len(groups) > 30 and all(len(g) >= 2 for g in groups)
    assert "family doctor" in Vocabulary.for_profile().equivalents("GP")
    assert "general practice" in Vocabulary.for_profile().equivalents("GPs")
    assert Vocabulary([["extra", "added"]]).equivalents("extras") == ["added"]


def test_places_are_found_as_whole_names_in_any_form() -> None:
    finder = PlaceFinder(Place(system="North East and North Cumbria", places=["Gateshead", "Hull"],
                               bodies=["Gateshead Health NHS Foundation Trust"]))
    assert finder.mentions("Gateshead's new falls service") == ["Gateshead"]
    assert finder.mentions("Funding for Solihull and Birmingham") == []        # not "Hull" inside a word
    assert finder.mentions("Across North East and North Cumbria ICB", "Gateshead Health NHS Foundation Trust") == [
        "North East and North Cumbria", "Gateshead Health NHS Foundation Trust", "Gateshead"]
    assert not PlaceFinder(None)


def test_a_mistyped_place_or_vocabulary_is_reported_with_its_line_and_the_fix(tmp_path) -> None:
    from awareness.config.profiles import check_profiles

    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\nname: Bad\nplace:\n  system: North East\n  towns: [Gateshead]\n"
                    "vocabulary: [A&E, emergency department]\ntopics:\n  - id: a\n    title: A\n    terms: [x]\n")
    good, problems = check_profiles([path])
    assert good == []
    messages = [str(p) for p in problems]
    assert len(messages) == 2
    assert "bad.yaml:5" in messages[0] and "system, places, neighbourhoods and bodies" in messages[0]
    assert "bad.yaml:6" in messages[1] and "- [A&E, emergency department]" in messages[1]
