"""Dates in the fixture site, moved to today: the pages were written as of WRITTEN_ON.

The fixture site (tests/fixtures/site) reads like a real publisher's pages, with
real-looking dates ("12 November 2026", ``datetime="2026-11-12"``, a GOV.UK
``public_timestamp``, a closing date).  Served as written they would age: a
lookback of 14 days would find nothing from December 2026, and a run 400 days
back would find everything in the future.  So every full date in them is moved
by the days between WRITTEN_ON and today, keeping each date's own format, and
tests compare with ``shifted(date(...))`` instead of a fixed day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

WRITTEN_ON = date(2026, 11, 20)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
_MONTH = {m: n for n, m in enumerate(MONTHS, 1)} | {m[:3]: n for n, m in enumerate(MONTHS, 1)}
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_WRITTEN = re.compile(r"\b(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (" + "|".join(_MONTH) + r") (\d{4})\b")
_DAY_FIRST = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})\b")


def offset() -> timedelta:
    """How far the fixtures move today: whole days, so a page's dates stay dates."""
    return datetime.now(timezone.utc).date() - WRITTEN_ON


def shifted(day: date) -> date:
    """The date a fixture written as ``day`` shows today."""
    return day + offset()


def shift_dates(text: str) -> str:
    """``text`` with every full date moved to today, each in the format it was written in."""
    move = offset()
    if not move:
        return text

    def iso(m: re.Match[str]) -> str:
        return (date(int(m[1]), int(m[2]), int(m[3])) + move).isoformat()

    def written(m: re.Match[str]) -> str:
        weekday, day, month, year = m.groups()
        new = date(int(year), _MONTH[month], int(day)) + move
        name = MONTHS[new.month - 1] if len(month) > 3 else MONTHS[new.month - 1][:3]
        out = f"{new.day:02d}" if len(day) == 2 else str(new.day)
        head = f"{_WEEKDAYS[new.weekday()]}, " if weekday else ""
        return f"{head}{out} {name} {new.year}"

    def day_first(m: re.Match[str]) -> str:
        new = date(int(m[3]), int(m[2]), int(m[1])) + move
        return f"{new.day:02d}/{new.month:02d}/{new.year}"

    return _DAY_FIRST.sub(day_first, _WRITTEN.sub(written, _ISO.sub(iso, text)))
