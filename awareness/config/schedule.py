"""A profile's ``schedule``: a cron expression read as cron means it, in the profile's time zone.

Cron counts 0 (and 7) as Sunday where APScheduler counts 0 as Monday, and restricts day-of-month
and day-of-week with "either" where APScheduler says "both"; ``cron_trigger`` turns the
librarian's line into the trigger the scheduler and the "is it due?" rule both use.
"""

from __future__ import annotations

import functools
import re
from zoneinfo import ZoneInfo, available_timezones

from apscheduler.triggers.cron import CronTrigger

CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_TRIGGER_ARGS = ("minute", "hour", "day", "month", "day_of_week")


@functools.lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_PART = re.compile(r"^(?:(?P<star>\*)|(?P<start>[0-7]|[a-z]{3})(?:-(?P<end>[0-7]|[a-z]{3}))?)"
                       r"(?:/(?P<step>\d+))?$", re.I)


def _day_number(token: str) -> int:
    if token.isdigit():
        return int(token) % 7
    try:
        return _CRON_DAYS.index(token.lower())
    except ValueError:
        raise ValueError(f"'{token}' is not a day of the week (use 0-7 or sun, mon, … sat)") from None


def cron_day_of_week(field: str) -> str:
    """A cron day-of-week field with its numbers turned into day names.


    Cron counts 0 (and 7) as Sunday; APScheduler counts 0 as Monday.  Names
    mean the same to both, so every part with a number (or a step, which
    counts from a different day) is spelled out as names: '1-5' becomes
    'mon,tue,wed,thu,fri'.
    """
    out: list[str] = []
    for part in field.split(","):
        if part == "*" or re.fullmatch(r"[a-z]{3}", part, re.I):
            out.append(part.lower())
            continue
        m = _DOW_PART.match(part)
        if not m:
            raise ValueError(f"'{part}' is not a day of the week, a range like 1-5 or a step like */2")
        step = int(m["step"] or 1)
        if step < 1:
            raise ValueError(f"the step in '{part}' must be 1 or more")
        if m["star"]:
            start, end = 0, 6
        else:
            start = 7 if m["start"] == "7" else _day_number(m["start"])
            end = (7 if m["end"] == "7" else _day_number(m["end"])) if m["end"] else (6 if m["step"] else start)
            if start == 7 and end == 7:
                start = end = 0
            if start > end:
                raise ValueError(f"the range '{part}' runs backwards; write it low to high (0 or 7 is Sunday)")
        for n in range(start, end + 1, step):
            name = _CRON_DAYS[n % 7]
            if name not in out:
                out.append(name)
    return "*" if "*" in out else ",".join(out)


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger that fires when cron would for ``expr`` in ``timezone``.


    When both day-of-month and day-of-week are restricted, both must hold
    (APScheduler's rule, unlike cron's "either"): "0 8 1-7 * MON" is the
    first Monday of each month.
    """
    fields = str(expr).split()
    if len(fields) != 5:
        raise ValueError(f'schedule "{expr}" must have 5 fields ({" ".join(CRON_FIELDS)}), '
                         'e.g. "0 8 * * MON" for Mondays at 08:00')
    tz = ZoneInfo(timezone)
    try:
        fields[4] = cron_day_of_week(fields[4])
    except ValueError as e:
        raise ValueError(f'schedule "{expr}": day-of-week: {e}') from None
    for name, arg, value in zip(CRON_FIELDS, _TRIGGER_ARGS, fields):
        try:
            CronTrigger(**{arg: value}, timezone=tz)
        except ValueError as e:
            reason = re.sub(r"^Error validating expression '[^']*': ", "", str(e))
            if reason.startswith("Unrecognized expression"):
                reason = "write a number, a range like 1-5, a list like 1,3 or a step like */15"
            raise ValueError(f'schedule "{expr}": {name} "{value}" is not valid ({reason})') from None
    return CronTrigger(minute=fields[0], hour=fields[1], day=fields[2], month=fields[3],
                       day_of_week=fields[4], timezone=tz)


def validate_schedule(expr: str) -> None:
    """Raise ValueError, in words for the profile's author, when ``expr`` is not a usable schedule."""
    cron_trigger(expr, "UTC")
