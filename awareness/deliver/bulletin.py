"""From matched items to a bulletin people read: grouping, then rendering.

``build_bulletin`` decides what goes where (each item once, under the topic it
fits best, newest first, capped at the profile's ``max_items``);
``Composer`` renders that through the Jinja templates into a subject line, an
HTML body and a plain-text body.  Nothing here sends mail or touches the store.
"""

from __future__ import annotations

import heapq
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.utils import parseaddr
from html.entities import codepoint2name
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ..core.models import Match, Profile, StoredItem, Topic

logger = logging.getLogger(__name__)

SUMMARY_CHARS = 400
SUMMARY_SENTENCES = 3
TEXT_WIDTH = 72


# ------------------------------------------------------------------ shapes

@dataclass
class Entry:
    """One item in a bulletin, with why it is there."""

    item: StoredItem
    topic_id: str
    score: float
    terms: tuple[str, ...]        # matched terms: the explanation shown to readers
    source_names: list[str]       # human names of every source it came from
    also: list[str]               # titles of other topics it matched too
    local: bool = False           # names the team's own footprint: shown first (issue 4)


@dataclass
class Section:
    topic: Topic
    entries: list[Entry]


@dataclass
class Bulletin:
    profile: Profile
    sections: list[Section]       # in the profile's topic order; empty sections dropped
    period_start: datetime
    period_end: datetime
    every: str | None = None      # how often this reader's copy comes, when not the profile's schedule (issue 17)

    @property
    def item_ids(self) -> list[int]:
        return [e.item.id for s in self.sections for e in s.entries]

    @property
    def count(self) -> int:
        return sum(len(s.entries) for s in self.sections)


@dataclass
class Links:
    """Per-subscriber URLs, built by the caller (who holds the signer and base URL)."""

    unsubscribe: str
    view_online: str | None = None
    feedback: Callable[[int, str], str] | None = None   # (item_id, "useful"|"not-relevant") -> URL
    manage: str | None = None     # the reader's page of every subscription (issue 17)


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


# ------------------------------------------------------------------ grouping

def build_bulletin(profile: Profile, matched: list[tuple[StoredItem, list[Match]]],
                   source_names: dict[str, str], period_start: datetime,
                   period_end: datetime) -> Bulletin:
    """Place each matched item once, under its best topic, and keep the best ``max_items``."""
    order = {t.id: i for i, t in enumerate(profile.topics)}
    placed: list[tuple[StoredItem, list[Match], Match]] = []
    for item, matches in matched:
        mine = [m for m in matches if m.profile_id == profile.id and m.topic_id in order]
        if mine:   # best score wins; on a tie the topic the librarian listed first
            placed.append((item, mine, min(mine, key=lambda m: (-m.score, order[m.topic_id]))))
    if len(placed) > profile.max_items:
        logger.info("profile %s: %d items matched, keeping the best %d", profile.id, len(placed),
                    profile.max_items)
        # Entries are made for the kept items only: at national scale a profile matches
        # tens of thousands of items for a bulletin of 50 (issue 19).
        placed = heapq.nsmallest(profile.max_items, placed,
                                 key=lambda p: (-p[2].score, -_ts(p[0].published), p[0].id))
    entries = [Entry(
        item=item,
        topic_id=best.topic_id,
        score=best.score,
        terms=tuple(best.terms),
        source_names=_unique(source_names.get(s, s) for s in item.sources),
        also=[profile.topic(t).title for t in sorted({m.topic_id for m in mine} - {best.topic_id},
                                                     key=order.__getitem__)],
        local=any(m.local for m in mine),
    ) for item, mine, best in placed]
    sections = []
    for topic in profile.topics:
        mine_entries = [e for e in entries if e.topic_id == topic.id]
        if mine_entries:
            mine_entries.sort(key=lambda e: (not e.local, -_ts(e.item.published), -e.score, e.item.id))
            sections.append(Section(topic=topic, entries=mine_entries))
    return Bulletin(profile=profile, sections=sections, period_start=period_start, period_end=period_end)


CLOSING_SOON_DAYS = 14   # a consultation closing within this many days of a bulletin is listed at its top


def closing_soon(bulletin: Bulletin, *, days: int = CLOSING_SOON_DAYS) -> list[Entry]:
    """The entries that close within ``days`` of the bulletin and are still open, soonest first
    (they stay in their topic too: the list only points at them)."""
    today = _utc(bulletin.period_end).date()
    last = today + timedelta(days=days)
    soon = [e for s in bulletin.sections for e in s.entries
            if e.item.closes is not None and today <= e.item.closes <= last]
    return sorted(soon, key=lambda e: (e.item.closes, e.item.title))


def days_left(closes: date, today: date) -> str:
    """'today', 'tomorrow', 'in 5 days'."""
    n = (closes - today).days
    return "today" if n == 0 else "tomorrow" if n == 1 else f"in {n} days"


_DAYS = {"MON": "Monday", "TUE": "Tuesday", "WED": "Wednesday", "THU": "Thursday", "FRI": "Friday",
         "SAT": "Saturday", "SUN": "Sunday", "0": "Sunday", "1": "Monday", "2": "Tuesday", "3": "Wednesday",
         "4": "Thursday", "5": "Friday", "6": "Saturday", "7": "Sunday"}


def schedule_words(cron: str) -> str:
    """How often a profile's bulletin comes, from its cron schedule, in words a reader knows."""
    parts = cron.split()
    if len(parts) != 5:
        return "on its own schedule"
    _, _, day_of_month, month, day_of_week = parts
    dow = day_of_week.upper()
    if day_of_month == "*" and month == "*":
        if dow == "*":
            return "every day"
        if dow in ("MON-FRI", "1-5"):
            return "every weekday"
        names = [_DAYS.get(d) for d in dow.split(",")]
        if all(names):
            return "every " + " and ".join(n for n in names if n)
    if day_of_month.isdigit() and month == "*" and dow == "*":
        n = int(day_of_month)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"on the {n}{suffix} of every month"
    return "on its own schedule"


def _unique(names: object) -> list[str]:
    seen: list[str] = []
    for n in names:  # type: ignore[attr-defined]
        if n not in seen:
            seen.append(n)
    return seen


def _ts(when: datetime) -> float:
    return _utc(when).timestamp()


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


# ------------------------------------------------------------------ words and dates

# English month names whatever the process locale (strftime's %b follows setlocale).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _dm(d: datetime) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]}"


def day_label(when: datetime, tz: str = "UTC") -> str:
    """'12 Nov 2026' in the profile's time zone."""
    local = _utc(when).astimezone(ZoneInfo(tz))
    return f"{_dm(local)} {local.year}"


def period_label(start: datetime, end: datetime, tz: str = "UTC") -> str:
    """'9–16 Nov 2026', '28 Oct – 4 Nov 2026' or '28 Dec 2026 – 4 Jan 2027'."""
    a = _utc(start).astimezone(ZoneInfo(tz))
    b = _utc(end).astimezone(ZoneInfo(tz))
    if a.date() == b.date():
        return f"{_dm(b)} {b.year}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{_dm(b)} {b.year}"
    if a.year == b.year:
        return f"{_dm(a)} – {_dm(b)} {b.year}"
    return f"{_dm(a)} {a.year} – {_dm(b)} {b.year}"


PUB_TYPE_LABELS = {"guidance": "Guidance", "policy paper": "Policy paper", "consultation": "Consultation",
                   "statistics": "Statistics", "research article": "Research", "news": "News"}


def item_facts(entry: Entry) -> list[str]:
    """What kind of publication it is and whose, when known (an organisation its source already names is left out)."""
    item, facts = entry.item, []
    if item.pub_type:
        facts.append(PUB_TYPE_LABELS.get(item.pub_type, item.pub_type.capitalize()))
    org = (item.organisation or "").strip()
    if org and not any(org.casefold() in n.casefold() or n.casefold() in org.casefold() for n in entry.source_names):
        facts.append(org)
    return facts


def closes_label(closes: date | None, today: datetime) -> str:
    """'closes 14 March' (with the year when it is not this bulletin's year)."""
    if closes is None:
        return ""
    label = f"closes {closes.day} {_MONTH_NAMES[closes.month - 1]}"
    return label if closes.year == today.year else f"{label} {closes.year}"


_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘'(])")


def shorten(text: str, limit: int = SUMMARY_CHARS, sentences: int = SUMMARY_SENTENCES) -> str:
    """The first few sentences, cut at a word boundary near ``limit`` characters."""
    text = " ".join(text.split())
    parts = _SENTENCE_END.split(text)
    if len(parts) > sentences:
        text = " ".join(parts[:sentences])
    if len(text) <= limit:
        return text
    cut = text[:limit + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > limit // 2 else text[:limit]
    return cut.rstrip(" ,;:-–—.") + "…"


def wrap(text: str, width: int = TEXT_WIDTH, indent: str = "", first: str | None = None) -> str:
    """Wrap for plain-text mail; long words (URLs) are never broken.

    What ``textwrap.wrap(..., break_long_words=False, break_on_hyphens=False)`` gives, in a
    plain greedy loop: a 50-item bulletin wraps a few hundred strings, and textwrap's
    regular expressions were a sixth of rendering one (issue 19).
    """
    lines: list[str] = []
    prefix = indent if first is None else first
    line, room = "", width - len(prefix)
    for word in str(text).split():
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= room:
            line += " " + word
            continue
        else:
            lines.append(prefix + line)
            prefix, room, line = indent, width - len(indent), word
        if len(word) > room:            # a URL longer than the line sits on a line of its own
            lines.append(prefix + line)
            prefix, room, line = indent, width - len(indent), ""
    if line:
        lines.append(prefix + line)
    return "\n".join(lines)


def safe_url(url: str) -> str:
    """The URL if it is http(s), else '' (a feed must not put javascript: into a bulletin)."""
    url = (url or "").strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in ("http", "https") else ""


def subject_for(bulletin: Bulletin) -> str:
    p = bulletin.profile
    period = period_label(bulletin.period_start, bulletin.period_end, p.timezone)
    return f"{p.name} — current awareness, {period} ({plural(bulletin.count, 'item')})"


# ------------------------------------------------------------------ rendering

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def ascii_html(html: str) -> str:
    """The HTML with every non-ASCII character as a character reference (``·`` as ``&middot;``).

    ASCII in lines of at most 998 bytes goes out as 7bit, byte for byte, which every mail
    server takes; UTF-8 would need quoted-printable, which turns each ``=`` of the markup
    into ``=3D`` and adds a soft break every 76 columns (issue 19: ~4 KB on 50 items).
    """
    def ref(m: re.Match[str]) -> str:
        name = codepoint2name.get(ord(m.group(0)))
        return f"&{name};" if name else f"&#{ord(m.group(0))};"
    return _NON_ASCII.sub(ref, html)


def templates_dir() -> Path:
    """The repo's templates/ in a checkout, else the copy the wheel packs inside the package."""
    repo = Path(__file__).resolve().parents[2] / "templates"
    if (repo / "bulletin.html.j2").exists():
        return repo
    return Path(__file__).resolve().parents[1] / "_templates"


class Composer:
    """Renders bulletins through Jinja; a librarian's own template dir can go first."""

    def __init__(self, template_dirs: list[Path] | None = None) -> None:
        # Lazy: Jinja costs ~15 ms at start, and only composing needs it (issue 19).
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        dirs = [str(d) for d in (template_dirs or [templates_dir()])]
        self.env = Environment(
            loader=FileSystemLoader(dirs),
            autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False,
                                         default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(shorten=shorten, wrap=wrap, safe_url=safe_url)
        self.env.globals.update(plural=plural)

    def render(self, bulletin: Bulletin, *, links: Links) -> Rendered:
        p = bulletin.profile
        owner_name, owner_address = parseaddr(p.owner) if p.owner else ("", "")
        context = {
            "bulletin": bulletin,
            "profile": p,
            "sections": bulletin.sections,
            "links": links,
            "period": period_label(bulletin.period_start, bulletin.period_end, p.timezone),
            "count": bulletin.count,
            "topic_count": len(bulletin.sections),
            "owner_name": owner_name or owner_address,
            "owner_address": owner_address if "@" in owner_address else "",
            "day": lambda when: day_label(when, p.timezone),
            "facts": item_facts,                                              # type, organisation (issue 3)
            "closes": lambda when: closes_label(when, bulletin.period_end),   # "closes 14 March"
            "closing": closing_soon(bulletin),                                # issue 17: at the top
            "every": bulletin.every or schedule_words(p.schedule),            # "every Monday"
            "days_left": lambda when: days_left(when, _utc(bulletin.period_end).date()),
        }
        subject = subject_for(bulletin)
        context["subject"] = subject
        html = ascii_html(self.env.get_template("bulletin.html.j2").render(context))
        text = self.env.get_template("bulletin.txt.j2").render(context)
        return Rendered(subject=subject, html=html, text=text)
