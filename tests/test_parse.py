"""parse_feed on saved feeds: what a librarian would see from each kind of source."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from awareness.core.errors import ParseError
from awareness.gather.parse import ParsedFeed, discover_feeds, parse_feed

FEEDS = Path(__file__).resolve().parent / "fixtures" / "feeds"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
URL = "https://news.example.nhs.uk/feed.xml"


def parse(name: str, url: str = URL, content_type: str = "") -> ParsedFeed:
    return parse_feed("test-source", url, (FEEDS / name).read_bytes(), content_type=content_type, now=NOW)


def test_rss2_with_cdata_and_escaped_html() -> None:
    feed = parse("rss2_cdata.xml", content_type="application/rss+xml; charset=utf-8")
    assert feed.title == "Health Policy Digest & News"
    assert feed.link == "https://news.example.nhs.uk/"
    assert feed.warnings == []
    first, second, third = feed.items
    assert first.title == "NHS England publishes urgent & emergency care plan for 2026/27"
    assert first.guid == "uec-plan-2026"
    assert first.link == "https://news.example.nhs.uk/2026/01/uec-plan?id=42"  # tracking and fragment gone
    assert first.summary == ("The plan sets out how ambulance handovers will be cut to 45 minutes. "
                             "Trusts must publish weekly data.")
    assert first.published == datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    assert first.authors == ["Urgent Care Policy Team"]
    assert first.tags == ["Urgent and emergency care", "Winter"]
    assert second.summary == ("Draft guidance says about 3.4 million people could be eligible & "
                              "prescribing will be phased over 12 years.")
    assert second.authors == ["NICE press office"]
    # A relative link is resolved against the feed's URL; +01:00 becomes UTC.
    assert third.link == "https://news.example.nhs.uk/2026/01/cqc-state-of-care"
    assert third.guid == third.link
    assert third.published == datetime(2026, 1, 7, 7, 0, tzinfo=timezone.utc)


def test_atom_10() -> None:
    feed = parse("atom10.xml", content_type="application/atom+xml")
    assert feed.title == "The Health Think Tank: Latest analysis"
    assert feed.warnings == []
    waits, gp = feed.items
    assert waits.title == "Waiting times for children\u2019s mental health services in England"
    assert waits.summary == "One in five referrals waited more than a year."  # from <content>
    assert waits.authors == ["Dr Asha Patel", "Tom Hughes"]
    assert waits.tags == ["Mental health", "children"]
    assert waits.published == datetime(2026, 1, 8, 9, 15, tzinfo=timezone.utc)
    assert gp.published == datetime(2026, 1, 7, 15, 45, tzinfo=timezone.utc)  # <updated> when no <published>
    assert gp.summary == "Patients who see the same GP have fewer emergency admissions."


def test_rss_10_rdf() -> None:
    feed = parse("rss1_rdf.rdf")
    assert [i.title for i in feed.items] == [
        "Financial incentives double smoking cessation in pregnancy, trial finds",
        "Routine frailty screening in primary care: a cost-effectiveness study",
    ]
    assert feed.items[0].guid == "https://research.example.ac.uk/studies/smoking-cessation-pregnancy"
    assert feed.items[0].authors == ["NIHR Public Health Research Programme"]
    assert feed.items[0].tags == ["Smoking"]
    assert feed.items[1].published == datetime(2026, 1, 3, tzinfo=timezone.utc)


def test_malformed_feed_keeps_what_it_can_and_says_so() -> None:
    feed = parse("malformed.xml")
    assert [i.title for i in feed.items] == [
        "Integrated care board consults on community diagnostic centres & hospital hubs",
        "Winter flu vaccination uptake among health and care staff",
    ]
    assert len(feed.warnings) == 1 and "not well-formed" in feed.warnings[0]
    assert "2 items were recovered" in feed.warnings[0]


def test_latin1_labelled_utf8_is_read_not_rejected() -> None:
    feed = parse("latin1_mislabelled.xml", content_type="application/rss+xml; charset=utf-8")
    item = feed.items[0]
    assert item.title == "Na\u00efve estimates of the \u00a3250m prevention fund \u00e0 la carte"
    assert "\ufffd" not in item.summary and "sm\u00f8rrebr\u00f8d" in item.summary
    assert item.title_key == "naive estimates of the 250m prevention fund a la carte"
    assert any("character set" in w for w in feed.warnings)


def test_missing_titles_dates_and_future_dates() -> None:
    untitled, undated, future, bare = parse("missing_fields.xml").items
    assert untitled.title.startswith("Maternity safety investigations found recurring problems")
    assert untitled.title.endswith("…")
    assert undated.published is None
    assert future.published == NOW  # 2039 clamped
    assert bare.title == "https://patchy.example.org.uk/a/no-words"


def test_hostile_content_is_reduced_to_plain_text() -> None:
    feed = parse("xss.xml")
    texts = [feed.title] + [v for i in feed.items for v in (i.title, i.summary, i.link, *i.tags)]
    joined = " ".join(texts).lower()
    for marker in ("<", "script", "onerror", "onload", "onmouseover", "javascript:", "alert", "iframe", "display:none"):
        assert marker not in joined, marker
    first, second = feed.items
    assert first.title == "Social care funding announced"
    assert first.link == ""  # javascript: link dropped
    assert first.summary == "Councils receive extra money for discharge."
    assert second.title == "Health inequalities in coastal towns"
    assert second.summary == "Life expectancy gap widens."


def test_a_valid_feed_with_no_items_is_not_an_error() -> None:
    feed = parse("empty_channel.xml", content_type="application/rss+xml")
    assert feed.items == [] and feed.warnings == []
    assert feed.title == "Quiet Trust Announcements"


def test_an_html_page_names_its_feed() -> None:
    with pytest.raises(ParseError) as err:
        parse("page.html", url="https://health.example.gov.uk/news/", content_type="text/html; charset=utf-8")
    message = str(err.value)
    assert "web page, not a feed" in message
    assert "https://health.example.gov.uk/news/feed.xml" in message
    assert err.value.source_id == "test-source"


def test_an_html_page_without_a_feed_link_says_what_to_do() -> None:
    with pytest.raises(ParseError, match="web page .*names no feed.*RSS or Atom link"):
        parse("page_no_feed.html", content_type="text/html")


def test_discover_feeds_resolves_relative_links() -> None:
    html = (FEEDS / "page.html").read_bytes()
    assert discover_feeds(html, "https://health.example.gov.uk/news/") == [
        "https://health.example.gov.uk/news/feed.xml", "https://health.example.gov.uk/news.atom"]


@pytest.mark.parametrize("body", [b"", b"   \n "])
def test_an_empty_body_is_an_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_feed("s", URL, body, now=NOW)


@pytest.mark.parametrize("body", [b'{"version": "not a feed"}', b"Service temporarily unavailable",
                                  b"<rss version='2.0'><channel><title>cut off"])
def test_something_else_entirely_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError, match="not a feed: "):
        parse_feed("s", URL, body, content_type="text/plain", now=NOW)


def test_a_body_that_is_a_file_path_is_not_opened(tmp_path: Path) -> None:
    # feedparser calls open() on a str or bytes argument; a server answering with a path
    # must not make Awareness read that file from its own disk.
    secret = tmp_path / "secret.xml"
    secret.write_bytes((FEEDS / "rss2_cdata.xml").read_bytes())
    with pytest.raises(ParseError):
        parse_feed("s", URL, str(secret).encode(), now=NOW)


def test_billion_laughs_is_refused_with_a_reason() -> None:
    with pytest.raises(ParseError, match="entity attack"):
        parse("billion_laughs.xml")


def test_external_entities_are_refused_and_never_read() -> None:
    with pytest.raises(ParseError, match="external entity"):
        parse("external_entity.xml")


def test_quadratic_blowup_entity_is_refused() -> None:
    body = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + "x" * 50_000 + '">]>'
            '<rss version="2.0"><channel><title>&a;&a;&a;</title></channel></rss>').encode()
    with pytest.raises(ParseError, match="longer than"):
        parse_feed("s", URL, body, now=NOW)


def test_a_small_harmless_entity_declaration_is_fine() -> None:
    body = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nhs "National Health Service">]>'
            '<rss version="2.0"><channel><title>Feed</title><item><title>The &nhs; at 78</title>'
            '<link>https://example.org/a</link></item></channel></rss>').encode()
    [item] = parse_feed("s", URL, body, now=NOW).items
    assert item.title == "The National Health Service at 78"
