"""The whole path as a user meets it: feeds on a real HTTP server, `awareness run`,
bulletins arriving at a real SMTP server, a real SQLite file."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from awareness.cli import main
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import rss as feed, write_config

NOW = datetime.now(timezone.utc)

PROFILE = """\
id: ph-team
name: Public Health Team
owner: librarian@example.org
schedule: "0 8 * * MON"
lookback_days: 14
subscribers: [alice@example.org, bob@example.org]
topics:
  - id: frailty
    title: Frailty and older people
    description: Frailty, falls and the care of older people living with several long-term conditions.
    terms: [frailty, falls, older people, hip fracture]
  - id: maternity
    title: Maternity and perinatal care
    description: Maternity services, midwifery, antenatal and postnatal care, perinatal mental health.
    terms: [maternity, midwifery, perinatal, antenatal, postnatal]
"""


def rss(items: list[tuple[str, str, str, int]]) -> bytes:
    return feed(items, now=NOW, title="Policy")


def atom(entries: list[tuple[str, str, str, int]]) -> bytes:
    body = "".join(
        f'<entry><title>{t}</title><link href="https://example.org/pub/{g}"/><id>urn:research:{g}</id>'
        f"<updated>{(NOW - timedelta(days=d)).isoformat()}</updated><summary>{s}</summary></entry>"
        for g, t, s, d in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Research</title><id>urn:research</id><updated>{NOW.isoformat()}</updated>{body}</feed>").encode()


FRAILTY = ("falls-1", "Preventing falls in older people: strength and balance programmes",
           "New guidance for integrated care systems on falls prevention and frailty services for older people.", 2)
MATERNITY = ("mat-1", "Maternity and neonatal services: three-year delivery plan update",
             "Progress on midwifery staffing, perinatal mental health and postnatal care in NHS maternity units.", 3)
OFF_TOPIC = ("park-1", "Hospital car parking procurement framework renewed",
             "A national procurement framework for car park management contracts at NHS sites has been renewed.", 1)
RESEARCH_FRAILTY = ("hip-1", "Hip fracture outcomes in frail older adults: a cohort study",
                    "Frailty predicted mortality after hip fracture in a cohort of older people.", 4)


@pytest.fixture
def world(tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> dict:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ph-team.yaml").write_text(PROFILE)
    http_server.routes["/policy.xml"] = Route(rss([FRAILTY, MATERNITY, OFF_TOPIC]))
    # The research feed carries the maternity story too, under its own id but the same link.
    http_server.routes["/research.xml"] = Route(atom([RESEARCH_FRAILTY, MATERNITY]), content_type="application/atom+xml")
    (tmp_path / "sources.yaml").write_text(textwrap.dedent(f"""\
        - id: policy
          name: Policy Publications
          url: {http_server.url('/policy.xml')}
          tags: [policy]
        - id: research
          name: Research Digest
          url: {http_server.url('/research.xml')}
          tags: [research]
        """))
    config = write_config(tmp_path, smtp_url=smtp_server.url, extra="smtp_retry_for = 1\n")
    return {"config": config, "http": http_server, "smtp": smtp_server, "dir": tmp_path}


def cli(world: dict, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(world["config"]), *args],
                              env={"AWARENESS_SECRET_KEY": "test-secret"}, catch_exceptions=False)


def text_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def heading(text: str, title: str) -> int:
    """Where a topic heading (the title on its own line, underlined) starts in the plain text."""
    m = re.search(rf"^{re.escape(title)}\s*\n[-=~]{{3,}}\s*$", text, re.MULTILINE)
    assert m, f"no heading {title!r} in:\n{text}"
    return m.start()


def html_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_run_delivers_one_bulletin_per_subscriber_with_items_under_their_topics(world: dict) -> None:
    result = cli(world, "run")
    assert result.exit_code == 0, result.output
    smtp: LoopbackSMTPServer = world["smtp"]
    assert len(smtp.messages) == 2
    assert len(smtp.to("alice@example.org")) == 1 and len(smtp.to("bob@example.org")) == 1

    msg = smtp.to("alice@example.org")[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://awareness.example.org/unsubscribe/" in msg["List-Unsubscribe"]
    assert "mailto:" not in msg["List-Unsubscribe"], "no mailbox of the app is read: no mailto (issue 17)"
    assert msg["List-Id"] and "ph-team" in msg["List-Id"]
    assert msg["Message-ID"]

    text = text_part(msg).replace("\r\n", "\n")
    frailty_heading = heading(text, "Frailty and older people")
    maternity_heading = heading(text, "Maternity and perinatal care")
    assert frailty_heading < maternity_heading
    for title in (FRAILTY[1], RESEARCH_FRAILTY[1]):
        assert frailty_heading < text.index(title) < maternity_heading
    assert text.index(MATERNITY[1]) > maternity_heading
    assert text.count(MATERNITY[1]) == 1, "a story carried by two sources is one item"
    assert OFF_TOPIC[1] not in text
    assert "https://example.org/pub/falls-1" in text

    html = html_part(msg)
    assert FRAILTY[1] in html and OFF_TOPIC[1] not in html
    assert "Matched" in html or "matched" in html


def test_second_run_sends_nothing_and_a_new_item_is_sent_alone(world: dict) -> None:
    assert cli(world, "run").exit_code == 0
    smtp: LoopbackSMTPServer = world["smtp"]
    assert len(smtp.messages) == 2

    again = cli(world, "run", "--now")
    assert again.exit_code == 0, again.output
    assert len(smtp.messages) == 2, "nothing new: nothing sent"
    assert "no new items" in again.output

    newcomer = ("pnd-1", "Perinatal mental health services: access standards for new mothers",
                "Postnatal depression and perinatal mental health support in maternity care.", 0)
    world["http"].routes["/policy.xml"] = Route(rss([newcomer, FRAILTY, MATERNITY, OFF_TOPIC]))
    third = cli(world, "run", "--now")
    assert third.exit_code == 0, third.output
    assert len(smtp.messages) == 4
    latest = text_part(smtp.to("alice@example.org")[-1])
    assert newcomer[1] in latest
    for old in (FRAILTY[1], MATERNITY[1], RESEARCH_FRAILTY[1]):
        assert old not in latest


def test_conditional_get_second_fetch_is_not_modified(world: dict) -> None:
    assert cli(world, "run").exit_code == 0
    assert cli(world, "run", "--now").exit_code == 0
    second = [h for p, h in world["http"].requests if p == "/policy.xml"][1]
    assert second.get("if-none-match"), "the stored ETag is sent back"


def test_broken_feed_is_reported_and_the_others_still_arrive(world: dict) -> None:
    world["http"].routes["/broken.xml"] = Route(b"<html><body>Server maintenance</body></html>",
                                                content_type="text/html")
    sources = world["dir"] / "sources.yaml"
    sources.write_text(sources.read_text() + textwrap.dedent(f"""\
        - id: broken
          name: Broken Source
          url: {world['http'].url('/broken.xml')}
        """))
    result = cli(world, "run")
    assert result.exit_code == 0, result.output
    assert "broken" in result.output and "1 failed" in result.output
    assert len(world["smtp"].messages) == 2

    listing = cli(world, "sources", "list", "--json")
    rows = {r["id"]: r for r in map(json.loads, listing.output.splitlines())}
    assert set(rows) == {"policy", "research", "broken"}
    assert rows["broken"]["ok"] is False and rows["broken"]["consecutive_failures"] == 1
    assert rows["broken"]["last_error"]
    assert rows["policy"]["ok"] is True and rows["policy"]["items"] == 3
    assert set(rows["policy"]) >= {"id", "url", "ok", "last_success", "last_error", "consecutive_failures", "items"}


def test_truncated_feed_keeps_complete_items_and_says_what_was_odd(world: dict) -> None:
    whole = rss([FRAILTY, MATERNITY, OFF_TOPIC]).decode()
    cut = whole[: whole.index("<item>", whole.index("park-1") - 200) + 40]    # the last item is cut short
    world["http"].routes["/policy.xml"] = Route(cut.encode())
    assert cli(world, "run").exit_code == 0
    rows = {r["id"]: r for r in map(json.loads, cli(world, "sources", "list", "--json").output.splitlines())}
    assert rows["policy"]["ok"] and rows["policy"]["items"] == 2
    assert "not well-formed" in rows["policy"]["last_warning"]
    titles = [json.loads(line)["title"] for line in cli(world, "items", "--json").output.splitlines()]
    assert sorted(titles) == sorted([FRAILTY[1], MATERNITY[1], RESEARCH_FRAILTY[1]])


def test_smtp_down_loses_nothing_and_the_next_run_sends_it(world: dict) -> None:
    smtp: LoopbackSMTPServer = world["smtp"]
    smtp.stop()
    down = cli(world, "run")
    assert down.exit_code != 0
    assert "127.0.0.1" in down.output
    assert smtp.messages == []

    smtp.start()
    up = cli(world, "run")
    assert up.exit_code == 0, up.output
    assert len(smtp.messages) == 2
    assert FRAILTY[1] in text_part(smtp.to("bob@example.org")[0])


def test_a_failed_ad_hoc_send_is_retried_by_the_next_scheduled_run(world: dict) -> None:
    smtp: LoopbackSMTPServer = world["smtp"]
    assert cli(world, "run").exit_code == 0          # the weekly bulletin went out
    newcomer = ("pnd-2", "Perinatal mental health: new maternity access standards",
                "Perinatal mental health support in maternity and postnatal care.", 0)
    world["http"].routes["/policy.xml"] = Route(rss([newcomer, FRAILTY, MATERNITY, OFF_TOPIC]))
    smtp.stop()
    assert cli(world, "run", "--now").exit_code != 0  # the admin's ad hoc run hits a dead mail server
    smtp.start()
    retry = cli(world, "run")                         # not Monday 08:00 again, but someone is owed a bulletin
    assert retry.exit_code == 0, retry.output
    assert len(smtp.messages) == 4
    assert newcomer[1] in text_part(smtp.to("alice@example.org")[-1])
    assert "not due" in cli(world, "run").output, "once everyone is served, the schedule rules again"


def test_items_json_lists_sources_and_matches(world: dict) -> None:
    assert cli(world, "run").exit_code == 0
    out = cli(world, "items", "--json")
    rows = [json.loads(line) for line in out.output.splitlines()]
    by_title = {r["title"]: r for r in rows}
    assert len(rows) == 4, "the cross-posted maternity story is stored once"
    assert sorted(by_title[MATERNITY[1]]["sources"]) == ["policy", "research"]
    assert set(rows[0]) == {"id", "title", "link", "published", "sources", "matches"}
    topics = {m["topic"] for m in by_title[FRAILTY[1]]["matches"]}
    assert "frailty" in topics
    match = by_title[FRAILTY[1]]["matches"][0]
    assert set(match) == {"profile", "topic", "score", "terms"} and match["terms"]
    assert by_title[OFF_TOPIC[1]]["matches"] == []


def test_malformed_profile_is_reported_with_file_and_line_and_skipped(world: dict) -> None:
    bad = world["dir"] / "profiles" / "broken.yaml"
    bad.write_text("name: Broken\ntopics:\n  - id: x\n    title: X\n    terms: [a]\n    threshold: high\n")
    check = cli(world, "profiles", "check")
    assert check.exit_code != 0
    assert "broken.yaml:6" in check.output
    run = cli(world, "run")
    assert run.exit_code != 0 and "broken.yaml:6" in run.output
    assert len(world["smtp"].messages) == 2, "one team's broken profile does not stop the others' bulletins"


def test_unknown_profile_or_source_is_named(world: dict) -> None:
    result = cli(world, "run", "--now", "--profile", "nope")
    assert result.exit_code != 0 and "no profile 'nope'" in result.output and "ph-team" in result.output
    result = cli(world, "items", "--source", "nope")
    assert result.exit_code != 0 and "no source 'nope'" in result.output


def test_dry_run_renders_without_sending(world: dict) -> None:
    assert cli(world, "gather").exit_code == 0
    dry = cli(world, "send", "--dry-run", "--profile", "ph-team")
    assert dry.exit_code == 0, dry.output
    assert FRAILTY[1] in dry.output
    assert world["smtp"].messages == []
    assert cli(world, "run").exit_code == 0
    assert len(world["smtp"].messages) == 2, "a dry run records nothing as sent"
