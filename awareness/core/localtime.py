"""Times as people at the install read them: in its time zone (Europe/London by default), not UTC.

Stored times stay UTC; only what is shown (run history, admin pages) is converted (issue 16).
``DEFAULT_ZONE`` is the one place the default time zone is written: the settings, a profile that
names none and the run history all take it from here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Europe/London"


def check_zone(name: str) -> str:
    """``name`` if it is a known time zone, else ValueError with a hint (settings and profiles say where)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a known time zone (try {DEFAULT_ZONE})") from None
    return name


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local(when: datetime | None, name: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``when`` (UTC, naive taken as UTC) in the install's zone, with the zone's abbreviation (GMT, BST)."""
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    shown = when.astimezone(zone(name))
    return f"{shown.strftime(fmt)} {shown.tzname()}"
