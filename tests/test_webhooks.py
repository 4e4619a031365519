"""A team that lives in Teams or Slack gets the bulletin's summary posted to its channel: each item's title
linked to the document, a link to the whole bulletin, through an exactly-once ledger like email's (a failing
webhook is retried on the next run; one that worked never gets the same item again).

The channel is a real HTTP server on 127.0.0.1 that keeps each request's raw body and headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from awareness.config.profiles import check_profiles
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from webworld import ITEMS, PROFILE, Site, build_site, close_site, rss

FALLS = "Preventing falls in older people: strength and balance programmes"
HIP = "Hip fracture outcomes in frail older adults: a cohort study"


@pytest.fixture
def channel() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def site(tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> Iterator[Site]:
    s = build_site(tmp_path, http_server, smtp_server)
    yield s
    close_site(s)


def with_webhook(site: Site, url: str, fmt: str) -> None:
    (site.root / "profiles" / "ph-team.yaml").write_text(
        PROFILE + f"webhooks:\n  - url: {url}\n    format: {fmt}   # the team's channel\n")


def posted(channel: LoopbackHTTPServer) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(body) for _, _, body in channel.posts]


def test_slack_gets_the_summary_with_links_once_and_only_new_items_later(site: Site,
                                                                         channel: LoopbackHTTPServer) -> None:
    channel.routes["/services/T0/B0/secret"] = Route(b"ok", content_type="text/plain")
    with_webhook(site, channel.url("/services/T0/B0/secret"), "slack")
    report = site.run()
    assert report.ok and report.profiles[0].posted == 1
    assert len(channel.posts) == 1
    path, headers, raw = channel.posts[0]
    assert headers["content-type"] == "application/json; charset=utf-8"
    message = json.loads(raw)
    assert message["text"].startswith("Public Health Team — current awareness")
    assert message["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": message["text"]}}
    sections = "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    assert "*Frailty and older people*" in sections
    falls_link = "https://example.org/pub/falls-1"
    assert f"<{falls_link}|{FALLS}>" in sections, sections
    assert "car parking" not in sections.lower(), "only the matched items"
    context = message["blocks"][-1]["elements"][0]["text"]
    view = context.split("<", 1)[1].split("|", 1)[0]
    assert view.startswith("http://testserver/profiles/ph-team/bulletins/") and "View the whole bulletin" in context
    page = site.client().get(view.replace("http://testserver", ""))
    assert page.status_code == 200 and FALLS in page.text

    site.run()
    assert len(channel.posts) == 1, "nothing new: nothing posted again"
    site.feeds.routes["/policy.xml"] = Route(rss(ITEMS + [("falls-2", "Falls in care homes: a new audit of older people",
                                                           "Frailty and falls in care homes.", 0)]))
    site.run()
    assert len(channel.posts) == 2
    later = "\n".join(b["text"]["text"] for b in posted(channel)[1]["blocks"] if b["type"] == "section")
    assert "Falls in care homes" in later and FALLS not in later, "each item once"


def test_teams_gets_an_adaptive_card_with_markdown_links(site: Site, channel: LoopbackHTTPServer) -> None:
    channel.routes["/workflows/team"] = Route(b"", status=202, content_type="text/plain")
    with_webhook(site, channel.url("/workflows/team"), "teams")
    assert site.run().ok
    (message,) = posted(channel)
    assert message["type"] == "message"
    card = message["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [b["text"] for b in card["content"]["body"]]
    assert texts[0].startswith("Public Health Team — current awareness")
    assert "Frailty and older people" in texts
    assert f"- [{FALLS}](https://example.org/pub/falls-1)" in "\n".join(texts)
    assert card["content"]["actions"][0]["title"] == "View the whole bulletin"


def test_a_failing_webhook_is_retried_next_run_and_never_posted_twice(site: Site, channel: LoopbackHTTPServer) -> None:
    channel.routes["/hook"] = Route(b"service unavailable", status=503, content_type="text/plain")
    with_webhook(site, channel.url("/hook"), "slack")
    report = site.run()
    assert not report.ok
    error = " ".join(report.profiles[0].errors)
    assert "answered 503" in error and "the next run posts it again" in error
    assert "/hook" not in error, "the webhook's secret path is never shown"
    channel.routes["/hook"] = Route(b"ok", content_type="text/plain")
    assert site.run().ok
    site.run()
    assert len(channel.posts) == 2, "failed, retried, then nothing more"
    retried = json.dumps(posted(channel)[1])
    assert FALLS in retried and HIP in retried


def test_a_private_address_is_refused_unless_allowed_and_mail_still_goes(tmp_path: Path,
                                                                         http_server: LoopbackHTTPServer,
                                                                         smtp_server: LoopbackSMTPServer) -> None:
    site = build_site(tmp_path, http_server, smtp_server)
    try:
        with_webhook(site, "http://10.20.30.40/hook", "teams")
        before = len(site.smtp.messages)
        site.feeds.routes["/policy.xml"] = Route(rss(ITEMS + [("falls-3", "Falls among older people at home",
                                                               "Frailty and falls.", 0)]))
        report = site.run()
        error = " ".join(report.profiles[0].errors)
        assert "10.20.30.40 is a private address; add it to fetch_allow" in error
        assert len(site.smtp.messages) == before + 1, "the email bulletin still went"
    finally:
        close_site(site)


def test_a_webhook_with_an_unknown_format_is_a_profile_error_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(PROFILE + "webhooks:\n  - url: https://hooks.example/x\n    format: discord\n")
    profiles, problems = check_profiles([tmp_path], [])
    assert not profiles and problems
    text = str(problems[0])
    assert "team.yaml:" in text and "format" in text and "'teams' or 'slack'" in text, text


def test_a_dry_run_says_what_each_webhook_would_get_and_posts_nothing(site: Site, channel: LoopbackHTTPServer) -> None:
    channel.routes["/hook"] = Route(b"ok", content_type="text/plain")
    with_webhook(site, channel.url("/hook"), "slack")
    report = site.run(dry_run=True)
    would = dict((who, bulletin) for who, bulletin in report.profiles[0].would_send)
    (label,) = [w for w in would if "webhook" in w]
    assert label == f"the slack webhook http://127.0.0.1:{channel.port}/…"
    assert FALLS in [e.item.title for s in would[label].sections for e in s.entries]
    assert channel.posts == [], "a dry run posts nothing"
    site.run()
    assert len(channel.posts) == 1, "and marked nothing posted"


def test_a_channel_that_is_down_is_reported_and_the_items_wait_for_the_next_run(site: Site,
                                                                                channel: LoopbackHTTPServer) -> None:
    import socket

    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with_webhook(site, f"http://127.0.0.1:{closed}/hook", "teams")
    report = site.run()
    error = " ".join(report.profiles[0].errors)
    assert f"could not connect to the webhook http://127.0.0.1:{closed}/…" in error and "posts it again" in error
    channel.routes["/hook"] = Route(b"", status=202, content_type="text/plain")
    with_webhook(site, channel.url("/hook"), "teams")          # the channel is back (at its new address)
    assert site.run().ok and len(channel.posts) == 1
