"""A librarian sees what a profile would send, and what an edit changes, before saving it;
items about the team's own place come first in the bulletin."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from awareness.cli import main
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import rss as feed, write_config

NOW = datetime.now(timezone.utc)

PROFILE = """\
id: ne-team
name: Gateshead Frailty Team
schedule: "0 8 * * MON"
subscribers: [team@example.org]
place:
  system: North East and North Cumbria
  places: [Gateshead, Sunderland]
  bodies: [Gateshead Health NHS Foundation Trust]
topics:
  - id: falls
    title: Falls prevention
    description: Preventing falls in older people, strength and balance, fracture after a fall.
    terms: [falls, hip fracture]
    exclude: [falls short]
  - id: urgent
    title: Urgent and emergency care
    description: Waiting times in emergency departments and ambulance handovers.
    terms: [A&E, ambulance handover]
"""

STORIES = [  # (guid, title, summary, days ago)
    ("f1", "Falls prevention classes expand across the North West",
     "Strength and balance programmes for older people in Cheshire.", 1),
    ("f2", "Sunderland falls service cuts repeat hip fracture admissions",
     "A falls service for older people in Sunderland reports fewer repeat admissions.", 3),
    ("f3", "Funding falls short for community services",
     "A report on falls prevention budgets says money for older people falls short.", 2),
    ("f4", "Strength and balance: what older people say about exercise classes",
     "Older people describe balance and strength classes and their fear of a fall at home.", 2),
    ("u1", "Waits in emergency departments reach a winter high",
     "Patients waited longer in emergency departments this winter, with long ambulance queues.", 1),
    ("x1", "Hospital car parking contract renewed", "A national car parking framework was renewed.", 1),
]


def rss(items: list[tuple[str, str, str, int]]) -> bytes:
    return feed(items, now=NOW, title="News")


@pytest.fixture
def world(tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> dict:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ne-team.yaml").write_text(PROFILE)
    http_server.routes["/news.xml"] = Route(rss(STORIES))
    (tmp_path / "sources.yaml").write_text(f"- id: news\n  name: Health News\n  url: {http_server.url('/news.xml')}\n")
    config = write_config(tmp_path, smtp_url=smtp_server.url)
    world = {"config": config, "dir": tmp_path, "smtp": smtp_server}
    assert cli(world, "gather").exit_code == 0
    return world


def cli(world: dict, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(world["config"]), *args],
                              env={"AWARENESS_SECRET_KEY": "test-secret"}, catch_exceptions=False)


def test_preview_lists_what_would_be_sent_local_first_and_near_misses_with_reasons(world: dict) -> None:
    result = cli(world, "profiles", "preview", "ne-team", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    falls = next(t for t in data["topics"] if t["topic_id"] == "falls")
    sent = [p["title"] for p in falls["would_send"]]
    assert sent[0].startswith("Sunderland falls service")        # local first
    assert falls["would_send"][0]["local"] == ["Sunderland"]
    assert "Falls prevention classes expand across the North West" in sent
    assert all(p["terms"] for p in falls["would_send"])        # every match says why
    excluded = next(p for p in falls["near_misses"] if p["title"] == "Funding falls short for community services")
    assert "falls short" in excluded["why"]
    urgent = next(t for t in data["topics"] if t["topic_id"] == "urgent")
    # The vocabulary knows A&E is the emergency department.
    assert [p["title"] for p in urgent["would_send"]] == ["Waits in emergency departments reach a winter high"]
    assert urgent["would_send"][0]["terms"][0] == "emergency department (A&E)"

    text = cli(world, "profiles", "preview", "ne-team", "--days", "14")
    assert text.exit_code == 0
    assert "would send" in text.output and "near-misses" in text.output and "[local: Sunderland]" in text.output


def test_diff_lists_items_an_edit_would_add_and_drop(world: dict) -> None:
    edited = world["dir"] / "edited.yaml"
    edited.write_text(PROFILE.replace("terms: [falls, hip fracture]", "terms: [hip fracture, car parking]")
                      .replace("Preventing falls in older people, strength and balance, fracture after a fall.",
                               "Hip fractures, and parking for visitors to fracture clinics."))
    result = cli(world, "profiles", "diff", str(world["dir"] / "profiles" / "ne-team.yaml"), str(edited),
                 "--days", "28", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    added = {(d["topic_id"], d["title"]) for d in data["added"]}
    dropped = {(d["topic_id"], d["title"]) for d in data["dropped"]}
    assert ("falls", "Hospital car parking contract renewed") in added
    assert ("falls", "Falls prevention classes expand across the North West") in dropped
    assert not any(t == "urgent" for t, _ in added | dropped)
    text = cli(world, "profiles", "diff", str(world["dir"] / "profiles" / "ne-team.yaml"), str(edited))
    assert "+ [falls] Hospital car parking contract renewed" in text.output


def test_the_bulletin_marks_local_items_and_puts_them_first_under_their_topic(world: dict) -> None:
    assert cli(world, "run").exit_code == 0
    [message] = world["smtp"].to("team@example.org")
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    local = text.index("Sunderland falls service")
    other = text.index("Falls prevention classes expand")
    assert local < other
    assert "Local · Health News" in text[local:other]
    assert "Local" not in text[other:other + 200]


def test_preview_shows_readers_feedback_and_how_it_moved_the_topic(world: dict) -> None:
    from awareness.match.feedback import record_feedback
    from awareness.store.store import Store

    store = Store(f"sqlite:///{world['dir'] / 'awareness.db'}")
    try:
        ids = {i.title: i.id for i in store.items_since(NOW - timedelta(days=30))}
        for subscriber, title in enumerate(["Strength and balance: what older people say about exercise classes",
                                            "Falls prevention classes expand across the North West"]):
            record_feedback(store, profile_id="ne-team", topic_id="falls", item_id=ids[title],
                            subscriber_id=subscriber, verdict="useful")
    finally:
        store.close()
    data = json.loads(cli(world, "profiles", "preview", "ne-team", "--json").output)
    falls = next(t for t in data["topics"] if t["topic_id"] == "falls")
    assert falls["feedback"] == {"useful": 2, "not_relevant": 0}
    assert falls["change"]["gained"]
    text = cli(world, "profiles", "preview", "ne-team").output
    assert "feedback: 2 useful, 0 not relevant" in text and "feedback moved the topic: gained" in text


def test_a_near_miss_a_hair_under_the_threshold_never_reads_as_level_with_it() -> None:
    from awareness.preview import _under

    assert _under(0.3496, 0.35) == "score 0.34, 0.01 under the threshold 0.35"
    assert _under(0.30, 0.35) == "score 0.30, 0.05 under the threshold 0.35"
