"""The shapes every stage speaks, declared once.

Profiles and sources are pydantic models because people write them by hand
(validated at the edge); items, matches and fetch results are plain
dataclasses passed between stages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .localtime import DEFAULT_ZONE, check_zone

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
SPIDER_SETTINGS = ("spider", "item", "title", "link", "date", "summary", "next", "max_pages")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> timedelta:
    """'90s', '15m', '1h', '2d', '1w' (or a number of seconds) as a timedelta."""
    if isinstance(text, (int, float)):
        return timedelta(seconds=float(text))
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration: write a number and a unit, e.g. 30m, 1h, 1d")
    return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])


# ---------------------------------------------------------------- sources

class Source(BaseModel):
    """One place Awareness gathers from (a line of sources.yaml)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = ""
    kind: Literal["feed", "spider"] = "feed"
    url: str
    tags: tuple[str, ...] = ()
    every: timedelta = timedelta(hours=1)
    # kind: spider (issue 3): which spider, and for `listing` the selectors that find each entry.
    # A selector is CSS (with ::text / ::attr(name)) or, prefixed "xpath:", an XPath expression.
    spider: str = ""
    item: str = ""
    title: str = ""
    link: str = ""
    date: str = ""
    summary: str = ""
    next: str = ""
    max_pages: int = Field(default=3, ge=1, le=100)

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, v: object) -> timedelta:
        if isinstance(v, timedelta):
            return v
        return parse_duration(v)  # type: ignore[arg-type]

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v, re.I):
            raise ValueError(f"'{v}' is not an http(s) URL")
        return v

    @property
    def label(self) -> str:
        return self.name or self.id


# ---------------------------------------------------------------- profiles

class Topic(BaseModel):
    """A heading in a team's bulletin, and what belongs under it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: str
    description: str = ""
    terms: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _has_something_to_match(self) -> "Topic":
        if not (self.terms or self.description.strip() or self.examples):
            raise ValueError(f"topic '{self.id}' needs terms, a description or examples to match on")
        return self


class Place(BaseModel):
    """A team's footprint: items naming it are marked local and come first (issue 4)."""

    model_config = ConfigDict(extra="forbid")

    system: str = ""                                            # the integrated care system
    places: list[str] = Field(default_factory=list)             # towns, cities, boroughs
    neighbourhoods: list[str] = Field(default_factory=list)
    bodies: list[str] = Field(default_factory=list)             # its ICB, trusts, councils


class Webhook(BaseModel):
    """Where the profile's bulletin summary is also posted: a Teams or Slack incoming webhook (issue 17).

    The URL is a secret (whoever has it can post to the channel): logs and errors show its host only."""

    model_config = ConfigDict(extra="forbid")

    url: str
    format: Literal["teams", "slack"]

    @field_validator("url")
    @classmethod
    def _web_address(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v.strip()):
            raise ValueError(f"'{v[:40]}' is not a web address; paste the incoming webhook URL that Teams or "
                             "Slack gave you (it starts with https://)")
        return v.strip()


class Profile(BaseModel):
    """A team's priorities, written and tuned by a librarian (one YAML file)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str
    owner: str = ""
    schedule: str = "0 8 * * MON"
    timezone: str = DEFAULT_ZONE
    lookback_days: int = Field(default=14, ge=1, le=366)
    max_items: int = Field(default=50, ge=1, le=1000)
    sources: list[str] | None = None
    subscribers: list[str] = Field(default_factory=list)
    topics: list[Topic] = Field(min_length=1)
    place: Place | None = None
    # Groups of words that mean the same here, added to the built-in vocabulary (issue 4).
    vocabulary: list[list[str]] = Field(default_factory=list)
    # The bulletin's summary also posted to Teams or Slack channels (issue 17).
    webhooks: list[Webhook] = Field(default_factory=list)
    path: str = Field(default="", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        return check_zone(v)

    @field_validator("subscribers")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for address in v:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address):
                raise ValueError(f"'{address}' is not an email address")
        return v

    @model_validator(mode="after")
    def _unique_topic_ids(self) -> "Profile":
        seen: set[str] = set()
        for topic in self.topics:
            if topic.id in seen:
                raise ValueError(f"two topics have the id '{topic.id}'; each needs its own")
            seen.add(topic.id)
        return self

    def topic(self, topic_id: str) -> Topic:
        return next(t for t in self.topics if t.id == topic_id)


# ---------------------------------------------------------------- items

@dataclass
class Item:
    """A normalised entry from any source (feed or spider), before it is stored."""

    source_id: str
    guid: str
    link: str
    title: str
    summary: str = ""
    published: datetime | None = None   # UTC, None when the source gave no usable date
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    content_hash: str = ""
    title_key: str = ""                  # normalised title, for cross-source dedup


@dataclass
class StoredItem:
    """An item as the store holds it, with every source it came from."""

    id: int
    guid: str
    link: str
    title: str
    summary: str
    published: datetime        # UTC; first-seen time when the source gave none
    first_seen: datetime       # UTC
    authors: list[str]
    tags: list[str]
    sources: list[str]         # source ids, first one first
    pub_type: str | None = None       # guidance, consultation, statistics... (issue 3)
    organisation: str | None = None   # the publisher, when it can be told
    closes: date | None = None        # a consultation's closing date

    @property
    def text(self) -> str:
        return f"{self.title}. {self.summary}"


@dataclass(frozen=True)
class Match:
    """Why an item belongs under a topic of a profile."""

    item_id: int
    profile_id: str
    topic_id: str
    score: float
    terms: tuple[str, ...]
    local: bool = False        # the item names a place or body of the profile's footprint (issue 4)


@dataclass
class FetchResult:
    """What one conditional GET of a source produced."""

    source_id: str
    url: str                       # the URL asked for
    status: int = 0                # HTTP status; 0 when no response
    content: bytes | None = None   # None on 304 or error
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None   # after redirects
    permanent_redirect: bool = False
    elapsed_s: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304
