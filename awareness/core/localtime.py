"""Times as people at the install read them: in its time zone (Europe/London by default), not UTC.

Stored times stay UTC; only what is shown (run history, admin pages) is converted (issue 16).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Europe/London"


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
