"""What kind of publication an item is, who published it, and when a consultation closes.

Told from the words publishers use ("Consultation: ...", "official
statistics", "NICE guideline NG123"), the source's own label where a spider
has one (GOV.UK's document types), and the address it lives at.  Wrong
guesses cost a reader more than no guess, so each rule is specific and
anything unclear stays unlabelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from urllib.parse import urlsplit

from ..core.lazy import dateparser  # loaded when a page's date is first read (issue 19)

PUB_TYPES = ("guidance", "policy paper", "consultation", "statistics", "research article", "news")

# GOV.UK content_store_document_type -> our publication type.
GOVUK_TYPES = {
    "guidance": "guidance", "detailed_guide": "guidance", "statutory_guidance": "guidance",
    "policy_paper": "policy paper", "corporate_report": "policy paper", "impact_assessment": "policy paper",
    "open_consultation": "consultation", "closed_consultation": "consultation", "consultation_outcome": "consultation",
    "official_statistics": "statistics", "national_statistics": "statistics", "statistical_data_set": "statistics",
    "official_statistics_announcement": "statistics",
    "research": "research article", "independent_report": "research article",
    "news_story": "news", "press_release": "news", "speech": "news", "government_response": "policy paper",
}

_TYPE_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("consultation", re.compile(r"\b(consultation|call for evidence|have your say)\b", re.I)),
    ("statistics", re.compile(r"\b(official statistics|national statistics|statistical (release|bulletin)|"
                              r"monthly (data|statistics)|statistics:|data tables?)\b", re.I)),
    ("guidance", re.compile(r"\b(guidance|guideline|NG\d{2,3}|quality standard|technology appraisal|"
                            r"TA\d{3,4}|how to|toolkit)\b", re.I)),
    ("policy paper", re.compile(r"\b(policy paper|strategy|white paper|green paper|action plan|framework|"
                                r"long term plan|roadmap)\b", re.I)),
    ("research article", re.compile(r"\b(randomi[sz]ed|cohort study|systematic review|meta-analysis|"
                                    r"trial|research (report|article)|evaluation of|study of)\b", re.I)),
    ("news", re.compile(r"\b(press release|news story|announce[sd]?|welcomes?)\b", re.I)),
]

# Publishers a UK public health librarian meets, by how they are named and where they live.
ORGANISATIONS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("NICE", (r"\bNICE\b", r"National Institute for Health and Care Excellence"), ("nice.org.uk",)),
    ("NHS England", (r"\bNHS England\b",), ("england.nhs.uk",)),
    ("Department of Health and Social Care", (r"Department of Health and Social Care", r"\bDHSC\b"), ()),
    ("UK Health Security Agency", (r"UK Health Security Agency", r"\bUKHSA\b"), ()),
    ("Office for Health Improvement and Disparities", (r"Office for Health Improvement and Disparities",
                                                       r"\bOHID\b"), ()),
    ("Care Quality Commission", (r"Care Quality Commission", r"\bCQC\b"), ("cqc.org.uk",)),
    ("The King's Fund", (r"King['’]s Fund",), ("kingsfund.org.uk",)),
    ("Nuffield Trust", (r"Nuffield Trust",), ("nuffieldtrust.org.uk",)),
    ("The Health Foundation", (r"Health Foundation",), ("health.org.uk",)),
    ("NIHR", (r"\bNIHR\b", r"National Institute for Health and Care Research"), ("nihr.ac.uk",)),
    ("Local Government Association", (r"Local Government Association",), ("local.gov.uk",)),
]
_ORG_PATTERNS = [(name, re.compile("|".join(words))) for name, words, _ in ORGANISATIONS]

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE_WORDS = rf"(\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:\s+\d{{4}})?|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
_CLOSES = re.compile(rf"\b(?:clos(?:es|ing|ed)(?:\s+date)?|deadline|ends|runs until|open until|"
                     rf"responses? (?:by|before)|respond by)\b[^.\n]{{0,40}}?\b(?:on\s+)?{_DATE_WORDS}", re.I)


_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")   # English whatever the process locale


@dataclass
class PubInfo:
    pub_type: str | None = None
    organisation: str | None = None
    closes: date | None = None


def parse_date(text: str | None, *, default_year: int | None = None) -> datetime | None:
    """A date as publishers write it, leniently, UK day-first ('4/3/2026' is 4 March); UTC; None if unclear."""
    text = " ".join((text or "").split())
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            base = datetime(default_year or datetime.now(timezone.utc).year, 1, 1)
            when = dateparser.parse(text, dayfirst=True, fuzzy=True, default=base)
        except (ValueError, OverflowError, TypeError):
            return None
    if when is None or not 1990 <= when.year <= 2100:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def pub_type_of(title: str, text: str = "", link: str = "", hint: str | None = None) -> str | None:
    """The publication type, from a source's own label first, then the title, then the text's opening."""
    if hint:
        mapped = GOVUK_TYPES.get(hint.strip().lower().replace(" ", "_"), hint.strip().lower())
        if mapped in PUB_TYPES:
            return mapped
    path = urlsplit(link).path.lower()
    if "/consultations/" in path:
        return "consultation"
    if "/statistics/" in path:
        return "statistics"
    for where in (title, text[:600]):
        for kind, pattern in _TYPE_RULES:
            if pattern.search(where or ""):
                return kind
    if "/news/" in path:
        return "news"
    return None


def organisation_of(title: str, text: str = "", link: str = "", hint: str | None = None) -> str | None:
    """The publisher: the source's label, the link's site, or a name early in the text."""
    if hint and hint.strip():
        return " ".join(hint.split())[:200]
    host = (urlsplit(link).hostname or "").lower()
    for name, _, hosts in ORGANISATIONS:
        if any(host == h or host.endswith("." + h) for h in hosts):
            return name
    opening = f"{title} {text[:400]}"
    for name, pattern in _ORG_PATTERNS:
        if pattern.search(opening):
            return name
    return None


def closing_date(text: str, *, published: datetime | None = None) -> date | None:
    """'This consultation closes on 14 March 2026' -> 2026-03-14 (year inferred when left out)."""
    m = _CLOSES.search(text or "")
    if not m:
        return None
    ref = published or datetime.now(timezone.utc)
    when = parse_date(m.group(1), default_year=ref.year)
    if when is None:
        return None
    closes = when.date()
    if not re.search(r"\d{4}", m.group(1)) and closes < ref.date():
        closes = closes.replace(year=closes.year + 1)   # "closes 14 January", written in November
    return closes


def describe(title: str, text: str, link: str = "", *, published: datetime | None = None,
             type_hint: str | None = None, organisation_hint: str | None = None) -> PubInfo:
    kind = pub_type_of(title, text, link, type_hint)
    closes = closing_date(f"{title}. {text}", published=published) if kind == "consultation" else None
    return PubInfo(pub_type=kind, organisation=organisation_of(title, text, link, organisation_hint), closes=closes)


def closes_label(closes: date | None) -> str:
    """'closes 14 March' (the year only when it is not this year's)."""
    if closes is None:
        return ""
    label = f"closes {closes.day} {_MONTH_NAMES[closes.month - 1]}"
    return label if closes.year == datetime.now(timezone.utc).year else f"{label} {closes.year}"
