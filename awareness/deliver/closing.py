"""Consultations and calls for evidence that close soon, as a calendar feed.

A team that misses a consultation's closing date has lost its say.  The bulletin
lists those closing within two weeks at its top (``bulletin.closing_soon``), and
``/p/{profile}/closing.ics`` gives
every upcoming closing date of the profile's items as an iCalendar (RFC 5545)
feed a reader can subscribe to in Outlook.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from ..core.models import Profile, StoredItem
from ..store.store import Store
from ..store.schema import items

FEED_DAYS_BACK = 180          # items published this long ago may still be open


@dataclass
class Closing:
    item: StoredItem
    topic_ids: list[str]


def upcoming(store: Store, profile: Profile, *, today: date) -> list[Closing]:
    """The profile's matched items (a librarian's exclude honoured) that close today or later, soonest first."""
    since = datetime.combine(today - timedelta(days=FEED_DAYS_BACK), datetime.min.time(), tzinfo=timezone.utc)
    q = sa.select(items.c.id).where(items.c.closes.is_not(None), items.c.closes >= today, items.c.published >= since)
    with store.engine.connect() as conn:
        ids = [r for (r,) in conn.execute(q)]
    if not ids:
        return []
    verdicts = store.matches_for(ids, profile.id)
    topics = {t.id for t in profile.topics}
    out = []
    for item in store.get_items(list(verdicts)):
        mine = [m.topic_id for m in verdicts[item.id] if m.topic_id in topics]
        if mine:
            out.append(Closing(item, mine))
    return sorted(out, key=lambda c: (c.item.closes, c.item.title))


# ------------------------------------------------------------------ iCalendar

def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets, continued with CRLF and a space (never inside a character)."""
    out, current = [], b""
    for ch in line:
        encoded = ch.encode("utf-8")
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode("utf-8"))
            current = b""
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n ".join(out)


def closing_ics(profile: Profile, closings: list[Closing], *, base_url: str, now: datetime) -> str:
    """One all-day event per closing date; the UID is stable, so calendars update rather than duplicate."""
    host = base_url.split("//", 1)[-1].split("/", 1)[0] or "awareness"
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    titles = {t.id: t.title for t in profile.topics}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Awareness//Closing dates//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{_escape(profile.name + ': closing dates')}"]
    for c in closings:
        closes = c.item.closes
        assert closes is not None
        uid = hashlib.sha256(f"{profile.id}/{c.item.id}".encode()).hexdigest()[:24]
        about = ", ".join(titles.get(t, t) for t in c.topic_ids)
        lines += ["BEGIN:VEVENT", f"UID:{uid}@{host}", f"DTSTAMP:{stamp}",
                  f"DTSTART;VALUE=DATE:{closes:%Y%m%d}", f"DTEND;VALUE=DATE:{closes + timedelta(days=1):%Y%m%d}",
                  f"SUMMARY:{_escape('Closes: ' + c.item.title)}",
                  f"DESCRIPTION:{_escape(f'{c.item.title} ({about}). {c.item.link}')}",
                  f"URL:{c.item.link}", "TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
