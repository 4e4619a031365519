"""Consultations closing within two weeks head the bulletin, and every open closing date is in the
profile's calendar feed /p/{profile}/closing.ics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from servers import Route
from webworld import ITEMS, Site, rss, site  # noqa: F401 (the fixture)

TODAY = datetime.now(timezone.utc).date()
SOON = TODAY + timedelta(days=5)
LATER = TODAY + timedelta(days=40)
GONE = TODAY - timedelta(days=2)

CONSULTATIONS = [
    ("c-soon", "Consultation: falls prevention standards for older people in care homes",
     f"NICE asks for views on frailty and falls. This consultation closes on {SOON:%d %B %Y}.", 1),
    ("c-later", "Call for evidence: frailty services and hip fracture recovery",
     f"Evidence on frailty services for older people. The call for evidence closes on {LATER:%d %B %Y}.", 1),
    ("c-gone", "Consultation: maternity triage and midwifery staffing",
     f"Views on maternity and midwifery services. This consultation closed on {GONE:%d %B %Y}.", 3),
]


def add_consultations_and_a_reader(site: Site) -> None:
    site.feeds.routes["/policy.xml"] = Route(rss(ITEMS + CONSULTATIONS))
    path = site.root / "profiles" / "ph-team.yaml"
    path.write_text(path.read_text().replace("subscribers: [", "subscribers: [dan@example.nhs.uk, "))
    site.run()


def test_a_consultation_closing_within_two_weeks_heads_the_bulletin(site: Site) -> None:
    add_consultations_and_a_reader(site)
    [mail] = site.mails_to("dan@example.nhs.uk")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    top = text[:text.index("In this bulletin:")]
    assert "Closing soon:" in top
    assert "falls prevention standards" in top and f"closes {SOON.day} " in top and "(in 5 days)" in top
    assert "Call for evidence: frailty services" not in top, "40 days away is not 'soon'"
    assert "maternity triage" not in top, "a closed consultation is not listed"
    assert html.index(">Closing soon</h2>") < html.index(">In this bulletin</h2>")
    assert text.count("falls prevention standards") == 2, "listed at the top and still in its topic"


def test_the_calendar_feed_has_each_open_closing_date_as_an_all_day_event(site: Site) -> None:
    add_consultations_and_a_reader(site)
    r = site.client().get("/p/ph-team/closing.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    raw = r.content.decode("utf-8")
    assert raw.startswith("BEGIN:VCALENDAR\r\n") and raw.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n")), "lines folded at 75 octets"
    unfolded = raw.replace("\r\n ", "")
    events = unfolded.split("BEGIN:VEVENT")[1:]
    assert len(events) == 2, "the closed consultation is left out"
    first, second = events
    assert f"DTSTART;VALUE=DATE:{SOON:%Y%m%d}" in first and "SUMMARY:Closes: Consultation: falls prevention" in first
    assert f"DTSTART;VALUE=DATE:{LATER:%Y%m%d}" in second and "URL:https://example.org/pub/c-later" in second
    again = site.client().get("/p/ph-team/closing.ics").content.decode()
    uid = [line for line in first.split("\r\n") if line.startswith("UID:")]
    assert uid and uid[0] in again.replace("\r\n ", ""), "the same event keeps its UID"
    assert site.client().get("/p/nobody/closing.ics").status_code == 404
