"""Profiles as a librarian writes them: loaded, or refused with file:line and plain words."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest

from awareness.core.errors import ProfileError
from awareness.core.models import Source
from awareness.config.profiles import check_profiles, load_profile, load_profiles, profile_sources
from awareness.config.schedule import cron_day_of_week, cron_trigger, validate_schedule

FIXTURES = Path(__file__).parent / "fixtures" / "profiles"
LONDON = ZoneInfo("Europe/London")

MINIMAL_TOPICS = """\
topics:
  - id: falls
    title: Falls
    terms: [falls]
"""


def write(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text).replace("<topics>\n", MINIMAL_TOPICS), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    _, errors = check_profiles([path])
    return [str(e) for e in errors]


# ------------------------------------------------------------------ good files

def test_a_full_profile_loads_with_its_settings_and_path() -> None:
    path = FIXTURES / "valid" / "lancs-public-health.yaml"
    profile = load_profile(path)
    assert profile.id == "lancs-public-health"          # from the file name
    assert profile.path == str(path)
    assert profile.name == "Lancashire and South Cumbria — Public Health"
    assert profile.sources == ["policy", "nice-news"]
    assert profile.subscribers == ["ph-team@example.org", "consultant@example.nhs.uk"]
    assert [t.id for t in profile.topics] == ["frailty", "smoking"]
    assert profile.topic("frailty").threshold == 0.2
    assert profile.topic("frailty").exclude == ["veterinary"]
    assert profile.topic("smoking").threshold is None


def test_an_id_in_the_file_is_used_instead_of_the_file_name() -> None:
    assert load_profile(FIXTURES / "valid" / "respiratory.yml").id == "resp-team"


def test_a_folder_loads_yaml_and_yml_files_in_name_order_and_ignores_the_rest(tmp_path: Path) -> None:
    profiles = load_profiles(FIXTURES / "valid")
    assert [p.id for p in profiles] == ["lancs-public-health", "resp-team"]
    assert load_profiles(tmp_path) == []


def test_a_missing_profiles_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="profiles folder does not exist"):
        load_profiles(tmp_path / "nowhere")


# ------------------------------------------------------------- each problem

BAD_PROFILES = [
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls]
          - id: frailty
            title: Frailty
            terms: [frailty]
            threshold: high
        """, 9, """topic 'frailty': threshold must be a number between 0 and 1 (got "high")""", id="threshold-word"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls]
            threshold: 1.5
        """, 6, "topic 'falls': threshold must be a number between 0 and 1 (got 1.5)", id="threshold-range"),
    pytest.param("""\
        name: Team
        # a comment
        shedule: "0 8 * * MON"
        <topics>
        """, 3, "unknown setting 'shedule' — did you mean 'schedule'?", id="unknown-setting"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls]
            treshold: 0.3
        """, 6, "topic 'falls': unknown setting 'treshold' — did you mean 'threshold'?", id="unknown-topic-setting"),
    pytest.param("""\
        name: Team
        owner: someone@example.org
        """, 1, "the profile has no topics; add at least one under 'topics:'", id="no-topics"),
    pytest.param("""\
        name: Team
        topics: []
        """, 2, "the profile has no topics; add at least one under 'topics:'", id="empty-topics"),
    pytest.param("""\
        name: Team
        schedule: "0 8 * MON"
        <topics>
        """, 2,
        'schedule "0 8 * MON" must have 5 fields (minute hour day-of-month month day-of-week)', id="schedule-fields"),
    pytest.param("""\
        name: Team
        schedule: "0 25 * * MON"
        <topics>
        """, 2, 'schedule "0 25 * * MON": hour "25" is not valid', id="schedule-hour"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls]
          - id: falls
            title: Falls again
            terms: [trips]
        """, 6, "two topics have the id 'falls' (the other is on line 3)", id="duplicate-topic"),
    pytest.param("""\
        name: Team
        subscribers:
          - team@example.org
          - team at example dot org
        <topics>
        """, 4, 'subscribers: "team at example dot org" is not an email address', id="email"),
    pytest.param("""\
        name: Team
        timezone: Europe/Londn
        <topics>
        """, 2, "unknown time zone \"Europe/Londn\" — did you mean 'Europe/London'?", id="timezone"),
    pytest.param("""\
        id: Public Health
        name: Team
        <topics>
        """, 1,
        "profile id \"Public Health\" must use lower case letters, digits, - and _ — try 'public-health'", id="id"),
    pytest.param("""\
        name: Team
        topics:
          - id: Falls
            title: Falls
            terms: [falls]
        """, 3, "topic id \"Falls\" must use lower case letters, digits, - and _ — try 'falls'", id="topic-id"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
        """, 3, "topic 'falls' needs terms, a description or examples to match on", id="nothing-to-match"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            terms: [falls]
        """, 3, "topic 'falls': no 'title'; add the heading", id="topic-title"),
    pytest.param("""\
        name: Team
        topics:
          - title: Falls
            terms: [falls]
        """, 3, "topic 1 has no 'id'", id="topic-id-missing"),
    pytest.param("""\
        name: Team
        topics:
          - falls
        """, 3, 'topic 1 must be a set of settings (id:, title:, terms: …), not "falls"', id="topic-not-mapping"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: falls, trips
        """, 5, "topic 'falls': 'terms' must be a list", id="terms-not-list"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls, 2024]
        """, 5, "topic 'falls': each entry of 'terms' must be text (got 2024); put it in quotes", id="term-number"),
    pytest.param("""\
        name: Team
        lookback_days: 0
        <topics>
        """, 2, "lookback_days must be a whole number of days from 1 to 366 (got 0)", id="lookback"),
    pytest.param("""\
        name: Team
        sources: []
        <topics>
        """, 2, "'sources: []' selects no sources", id="no-sources"),
    pytest.param("""\
        owner: a@example.org
        <topics>
        """, 1, "the profile has no 'name'", id="no-name"),
    pytest.param("""\
        name: Team
        name: Team again
        <topics>
        """, 2, "'name' is set twice (first on line 1); keep one", id="duplicate-key"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls]
            terms: [trips]
        """, 6, "'terms' is set twice (first on line 5); keep one", id="duplicate-key-in-topic"),
    pytest.param("""\
        name: Team
        topics:
          - id: falls
            title: Falls
            terms: [falls, trips
        """, 6, "this is not valid YAML", id="unclosed-bracket"),
    pytest.param("name: Team\ntopics:\n\t- id: falls\n", 3, "indent with spaces, not tabs", id="tab"),
    pytest.param("name: Team: Public health\n" + MINIMAL_TOPICS, 1, "put the value in quotes", id="colon"),
    pytest.param("- name: Team\n", 1, "a profile is a set of settings (name:, schedule:, topics: …), not a list",
                 id="list"),
]


@pytest.mark.parametrize("text, line, problem", BAD_PROFILES)
def test_each_problem_names_file_line_and_what_to_do(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, text)
    found = problems(path)
    assert any(p.startswith(f"{path}:{line}: ") and problem in p for p in found), found
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert raised.value.path == str(path)


def test_no_pydantic_jargon_reaches_the_librarian(tmp_path: Path) -> None:
    _, errors = check_profiles([write(tmp_path, BAD_PROFILES[0].values[0])])
    messages = " ".join(e.problem for e in errors)
    assert "threshold" in messages
    for jargon in ("Input should", "Value error", "float_parsing", "pydantic", "loc"):
        assert jargon not in messages


def test_an_empty_file_says_what_a_profile_needs(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert problems(path) == [f"{path}: the file is empty; a profile needs at least 'name:' and 'topics:'"]


def test_a_file_name_that_cannot_be_an_id_says_how_to_fix_it(tmp_path: Path) -> None:
    path = write(tmp_path, "name: Team\n" + MINIMAL_TOPICS, name="Public Health.yaml")
    assert problems(path) == [f"{path}:1: the file name 'Public Health.yaml' is used as the profile id but ids "
                              "must use lower case letters, digits, - and _: rename it to 'public-health.yaml' "
                              "or add 'id: public-health'"]


def test_every_problem_in_one_file_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        name: Team
        shedule: "0 8 * * MON"
        timezone: Mars/Olympus
        subscribers: [ok@example.org, nope]
        topics:
          - id: falls
            title: Falls
            terms: [falls]
            threshold: high
          - id: falls
            title: Falls again
            terms: [trips]
        """)
    lines = [int(p.split(":")[1]) for p in problems(path)]
    assert lines == [2, 3, 4, 9, 10]


def test_every_problem_in_every_file_of_a_folder_is_collected() -> None:
    folder = FIXTURES / "mixed"
    profiles, errors = check_profiles([folder])
    assert [p.id for p in profiles] == ["a-good"]
    assert [(Path(e.path).name, e.line) for e in errors] == [
        ("b-typos.yaml", 2), ("b-typos.yaml", 3), ("b-typos.yaml", 8),
        ("c-broken.yaml", 6),
        ("d-same-id.yaml", 1),
    ]
    same_id = str(errors[-1])
    assert "a-good.yaml" in same_id and "d-same-id.yaml" in same_id and "'a-good'" in same_id
    with pytest.raises(ProfileError) as raised:
        load_profiles(folder)
    assert raised.value is not None and Path(raised.value.path).name == "b-typos.yaml"


def test_check_accepts_files_and_folders_together(tmp_path: Path) -> None:
    extra = write(tmp_path, "name: Extra\n" + MINIMAL_TOPICS, name="extra.yaml")
    profiles, errors = check_profiles([FIXTURES / "valid", extra, tmp_path / "missing.yaml"])
    assert [p.id for p in profiles] == ["lancs-public-health", "resp-team", "extra"]
    assert [str(e) for e in errors] == [f"{tmp_path / 'missing.yaml'}: there is no such profile file"]


# ---------------------------------------------------------------- sources

SOURCES = [
    Source(id="nice-news", url="https://nice.example/feed", tags=("guidance",)),
    Source(id="gov-policy", url="https://gov.example/feed", tags=("policy", "government")),
    Source(id="think-tank", url="https://tank.example/feed", tags=("policy",)),
    Source(id="bmj", url="https://bmj.example/feed", tags=("journals",)),
]


def test_a_profile_reads_the_sources_it_names_by_id_or_tag() -> None:
    profile = load_profile(FIXTURES / "valid" / "lancs-public-health.yaml")   # sources: [policy, nice-news]
    assert [s.id for s in profile_sources(profile, SOURCES)] == ["nice-news", "gov-policy", "think-tank"]


def test_a_profile_naming_no_sources_reads_them_all() -> None:
    profile = load_profile(FIXTURES / "valid" / "respiratory.yml")
    assert profile_sources(profile, SOURCES) == SOURCES


def test_an_unknown_source_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        name: Team
        sources:
          - policy
          - nice-nwes
        <topics>
        """)
    profile = load_profile(path)
    with pytest.raises(ProfileError) as raised:
        profile_sources(profile, SOURCES)
    assert str(raised.value) == (f"{path}:4: sources: 'nice-nwes' is neither a source id nor a tag in "
                                 "sources.yaml — did you mean 'nice-news'?")
    profiles, errors = check_profiles([path], sources=SOURCES)
    assert profiles == [] and [e.line for e in errors] == [4]


# ---------------------------------------------------------------- schedules

@pytest.mark.parametrize("field, names", [
    ("1", "mon"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("0,6", "sun,sat"),
    ("5-7", "fri,sat,sun"), ("*/2", "sun,tue,thu,sat"), ("MON-FRI", "mon,tue,wed,thu,fri"), ("SUN-TUE", "sun,mon,tue"), ("Sat", "sat"), ("*", "*"),
])
def test_cron_day_numbers_become_day_names(field: str, names: str) -> None:
    assert cron_day_of_week(field) == names


def _next(expr: str, after: datetime) -> datetime:
    fire = cron_trigger(expr, "Europe/London").get_next_fire_time(None, after)
    assert fire is not None
    return fire


def test_day_1_means_monday_as_in_cron() -> None:
    sunday = datetime(2025, 10, 19, 12, 0, tzinfo=LONDON)
    assert _next("0 8 * * 1", sunday) == datetime(2025, 10, 20, 8, 0, tzinfo=LONDON)
    assert _next("0 8 * * 0", sunday).date() == datetime(2025, 10, 26).date()    # next Sunday
    assert _next("0 8 * * 7", sunday).date() == datetime(2025, 10, 26).date()
    assert _next("0 8 * * MON", sunday) == _next("0 8 * * 1", sunday)


def test_weekdays_skip_the_weekend() -> None:
    friday_evening = datetime(2025, 10, 24, 18, 0, tzinfo=LONDON)
    assert _next("30 7 * * 1-5", friday_evening) == datetime(2025, 10, 27, 7, 30, tzinfo=LONDON)


def test_monday_eight_stays_eight_local_across_the_october_clock_change() -> None:
    before = _next("0 8 * * 1", datetime(2025, 10, 19, 12, 0, tzinfo=LONDON))
    after = _next("0 8 * * 1", before + timedelta(minutes=1))
    assert (before.hour, after.hour) == (8, 8)
    assert after.date() == datetime(2025, 10, 27).date()
    assert before.utcoffset() != after.utcoffset()            # BST then GMT


@pytest.mark.parametrize("expr, words", [
    ("0 8 * MON", "must have 5 fields"),
    ("@weekly", "must have 5 fields"),
    ("0 8 * * 9", "day-of-week: '9' is not a day of the week"),
    ("0 8 * * 5-1", "runs backwards"),
    ("61 8 * * *", 'minute "61" is not valid'),
    ("0 8 * 13 *", 'month "13" is not valid'),
    ("0 eight * * *", 'hour "eight" is not valid'),
])
def test_bad_schedules_are_refused_in_words(expr: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("*", r"\*")):
        validate_schedule(expr)
