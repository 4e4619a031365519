"""The bundled content stays valid: example profiles, sources.yaml, demo feeds, labelled items.

These files are what a new librarian reads first and what `make demo` and
`awareness evaluate` run on, so a typo in any of them should fail here, with
the file and the entry named, rather than in front of a user.

The labelled items (tests/data/labelled.jsonl) were labelled the way a
librarian would file them: an item carries every "profile/topic" it belongs
under, across all the example profiles, and none when no team would want it.
The demo feeds say the same in a "# for:" comment above each item.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml

from awareness.demo.server import render_atom, render_rss
from awareness.core.models import ID_PATTERN, Profile, Source
from awareness.config.profiles import load_profile, load_profiles
from awareness.config.sources import load_sources
from conftest import EXAMPLE_PROFILES, SITE_FILES, example_profile_paths

ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = SITE_FILES / "profiles"
SOURCES_FILE = SITE_FILES / "sources.yaml"
DEMO_FEEDS = ROOT / "awareness" / "demo" / "feeds.yaml"
LABELLED = ROOT / "tests" / "data" / "labelled.jsonl"

EXAMPLE_DOMAINS = ("example.org", "example.nhs.uk", "example.com")


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return {p.id: p for p in map(load_profile, example_profile_paths())}


@pytest.fixture(scope="module")
def topic_keys(profiles: dict[str, Profile]) -> set[str]:
    return {f"{p.id}/{t.id}" for p in profiles.values() for t in p.topics}


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return yaml.safe_load(DEMO_FEEDS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def labelled() -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(LABELLED.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"{LABELLED}:{number}: blank line"
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            pytest.fail(f"{LABELLED}:{number}: not JSON: {e}")
    return records


# ------------------------------------------------------------------ profiles

def test_every_example_profile_loads_with_the_service_loader(profiles: dict[str, Profile]) -> None:
    assert set(profiles) == set(EXAMPLE_PROFILES)
    loaded = {p.id for p in load_profiles(PROFILES_DIR)}
    assert set(EXAMPLE_PROFILES) <= loaded, "the service loads the examples beside any profile a site adds"


def test_the_ten_big_questions_are_ten_topics(profiles: dict[str, Profile]) -> None:
    topics = [t.id for t in profiles["ten-big-questions"].topics]
    assert topics == ["prevention", "engagement", "general-practice", "new-care-models", "core-standards",
                      "clinical-priorities", "quality-safety", "technology", "workforce", "financial-balance"]


@pytest.mark.parametrize("profile_id", [p for p in EXAMPLE_PROFILES if p != "ten-big-questions"])
def test_team_profiles_have_three_to_five_topics(profiles: dict[str, Profile], profile_id: str) -> None:
    assert 3 <= len(profiles[profile_id].topics) <= 5


def test_every_topic_has_a_description_and_five_to_twelve_distinct_terms(profiles: dict[str, Profile]) -> None:
    for profile in profiles.values():
        for topic in profile.topics:
            where = f"{profile.id}/{topic.id}"
            assert topic.description.strip(), f"{where} has no description"
            assert 5 <= len(topic.terms) <= 12, f"{where} has {len(topic.terms)} terms"
            lowered = [t.lower() for t in topic.terms]
            assert len(set(lowered)) == len(lowered), f"{where} repeats a term"


def test_profiles_use_example_addresses_only(profiles: dict[str, Profile]) -> None:
    for profile in profiles.values():
        for address in [profile.owner, *profile.subscribers]:
            assert address.endswith(EXAMPLE_DOMAINS), f"{profile.id}: {address} is not an example address"


def test_profiles_leave_the_threshold_to_the_default(profiles: dict[str, Profile]) -> None:
    # Example profiles teach the defaults first; a threshold appears only as a comment.
    set_thresholds = [f"{p.id}/{t.id}" for p in profiles.values() for t in p.topics if t.threshold is not None]
    assert set_thresholds == []


# ------------------------------------------------------------------ sources.yaml

def test_sources_yaml_loads_and_every_entry_is_a_valid_source() -> None:
    sources = load_sources(SOURCES_FILE)
    raw = yaml.safe_load(SOURCES_FILE.read_text(encoding="utf-8"))
    assert len(sources) == len(raw) >= 15
    for entry in raw:
        Source(**entry)  # raises with the field named if an entry is wrong
    ids = [s.id for s in sources]
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]


def test_sources_cover_the_publishers_librarians_rely_on() -> None:
    hosts = {re.sub(r"^https://(www\.)?", "", s.url).split("/")[0] for s in load_sources(SOURCES_FILE)}
    for host in ("gov.uk", "england.nhs.uk", "nice.org.uk", "kingsfund.org.uk", "nuffieldtrust.org.uk",
                 "health.org.uk", "evidence.nihr.ac.uk", "cqc.org.uk"):
        assert host in hosts, f"no source from {host}"
    # PubMed addresses are made by PubMed per search: shipped as a commented entry with instructions.
    assert "# - id: pubmed-" in SOURCES_FILE.read_text() and "Create RSS" in SOURCES_FILE.read_text()
    assert all(s.url.startswith("https://") for s in load_sources(SOURCES_FILE))


def test_profile_source_lists_name_real_sources(profiles: dict[str, Profile]) -> None:
    sources = load_sources(SOURCES_FILE)
    known = {s.id for s in sources} | {tag for s in sources for tag in s.tags}
    for profile in profiles.values():
        for name in profile.sources or []:
            assert name in known, f"{profile.id} names source '{name}', which sources.yaml does not have"


# ------------------------------------------------------------------ demo feeds

def test_demo_feeds_are_well_formed(demo: dict[str, Any]) -> None:
    feeds = demo["feeds"]
    ids = [f["id"] for f in feeds]
    assert len(set(ids)) == len(ids) == 7
    for feed in feeds:
        assert re.match(ID_PATTERN, feed["id"]), feed["id"]
        assert feed["name"] and feed["format"] in ("atom", "rss") and feed["tags"]
        items = feed["items"]
        assert 12 <= len(items) <= 18, f"{feed['id']} has {len(items)} items"
        for key in ("link", "title"):
            values = [item[key] for item in items]
            repeated = [v for v, n in Counter(values).items() if n > 1]
            assert not repeated, f"{feed['id']}: {key} used twice: {repeated}"
        for item in items:
            where = f"{feed['id']}: {item['title']}"
            assert re.match(r"^https://[^/\s]+/", item["link"]), where
            assert item["summary"].strip() and item["author"] and item["categories"], where
            assert isinstance(item["days_ago"], int) and 0 <= item["days_ago"] <= 40, where
            if item.get("html"):
                assert re.search(r"<(p|a|em|strong|ul)\b", item["summary"]), f"{where}: html without markup"
            else:
                assert "<" not in item["summary"], f"{where}: markup in a plain summary (set html: true)"


def test_demo_feeds_render_as_feeds_that_parse(demo: dict[str, Any]) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    for feed in demo["feeds"]:
        render = render_atom if feed["format"] == "atom" else render_rss
        parsed = feedparser.parse(render(feed, now, "http://127.0.0.1/"))
        assert not parsed.bozo, f"{feed['id']}: {parsed.get('bozo_exception')}"
        assert [e.title for e in parsed.entries] == [i["title"] for i in feed["items"]]


def test_demo_has_cross_posted_stories_to_show_deduplication(demo: dict[str, Any]) -> None:
    owners_by_link: dict[str, set[str]] = {}
    owners_by_title: dict[str, set[str]] = {}
    for feed in demo["feeds"]:
        for item in feed["items"]:
            owners_by_link.setdefault(item["link"], set()).add(feed["id"])
            owners_by_title.setdefault(item["title"].lower(), set()).add(feed["id"])
    same_link = [k for k, v in owners_by_link.items() if len(v) > 1]
    same_title = [k for k, v in owners_by_title.items() if len(v) > 1]
    assert len(same_link) >= 1 and len(same_title) >= 3


def _demo_intentions() -> list[str]:
    return re.findall(r"^\s*# for: (.*)$", DEMO_FEEDS.read_text(encoding="utf-8"), re.M)


def test_every_demo_item_says_who_it_is_for(demo: dict[str, Any], topic_keys: set[str]) -> None:
    intentions = _demo_intentions()
    assert len(intentions) == sum(len(f["items"]) for f in demo["feeds"])
    for line in intentions:
        if line.startswith("none"):
            continue
        for key in (part.strip() for part in line.split(",")):
            assert key in topic_keys, f"feeds.yaml '# for: {line}' names unknown topic {key}"


def test_demo_gives_every_topic_at_least_two_items_and_some_noise(topic_keys: set[str]) -> None:
    intentions = _demo_intentions()
    counts = Counter(key.strip() for line in intentions if not line.startswith("none") for key in line.split(","))
    thin = sorted(k for k in topic_keys if counts[k] < 2)
    assert not thin, f"topics with fewer than two demo items: {thin}"
    noise = sum(1 for line in intentions if line.startswith("none"))
    assert 0.1 <= noise / len(intentions) <= 0.3


# ------------------------------------------------------------------ labelled items

def test_labelled_items_are_complete_and_have_unique_ids(labelled: list[dict[str, Any]]) -> None:
    assert len(labelled) >= 150
    for record in labelled:
        assert set(record) == {"id", "title", "summary", "labels"}, record.get("id")
        assert record["title"].strip() and record["summary"].strip(), record["id"]
        assert isinstance(record["labels"], list), record["id"]
    ids = [r["id"] for r in labelled]
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    titles = [r["title"].lower() for r in labelled]
    assert len(set(titles)) == len(titles)


def test_every_label_names_an_existing_profile_topic(labelled: list[dict[str, Any]],
                                                     topic_keys: set[str]) -> None:
    for record in labelled:
        unknown = [label for label in record["labels"] if label not in topic_keys]
        assert not unknown, f"{record['id']}: unknown labels {unknown}"
        assert len(set(record["labels"])) == len(record["labels"]), f"{record['id']}: repeated label"


def test_labelled_items_include_negatives_and_multi_topic_items(labelled: list[dict[str, Any]],
                                                                topic_keys: set[str]) -> None:
    none = sum(1 for r in labelled if not r["labels"])
    multi = sum(1 for r in labelled if len(r["labels"]) >= 2)
    assert 0.15 <= none / len(labelled) <= 0.3
    assert multi / len(labelled) >= 0.1
    used = Counter(label for r in labelled for label in r["labels"])
    assert not sorted(k for k in topic_keys if used[k] < 3), "every topic needs at least three labelled items"


def test_labelled_items_are_not_the_demo_items(labelled: list[dict[str, Any]], demo: dict[str, Any]) -> None:
    demo_titles = {item["title"].lower() for feed in demo["feeds"] for item in feed["items"]}
    reused = [r["id"] for r in labelled if r["title"].lower() in demo_titles]
    assert not reused, f"labelled items copy demo titles: {reused}"
