"""A small world for the reliability suite: feeds on loopback, a profile, a config file.

Every test builds its own world in tmp_path and drives the real pipeline
(or the real ``awareness`` command) against real loopback servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from awareness import pipeline
from awareness.config.settings import Settings, load_settings
from worlds import write_config

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ENV = {"AWARENESS_SECRET_KEY": "reliability-secret"}

PROFILE = """\
id: ph-team
name: Public Health Team
owner: librarian@example.org
schedule: "0 8 * * MON"
lookback_days: 30
subscribers: {subscribers}
topics:
  - id: frailty
    title: Frailty and older people
    description: Frailty, falls and the care of older people.
    terms: [frailty, falls, older people]
"""


@dataclass
class Entry:
    """One feed item; the title says 'frailty' so that it matches the test profile."""

    guid: str
    title: str
    summary: str = "Guidance on frailty and falls prevention for older people."
    link: str = ""
    published: str | None = None          # an RSS pubDate as written, None for no date
    days_ago: float = 1.0

    def xml(self) -> str:
        link = self.link or f"https://example.org/pub/{self.guid}"
        date = self.published if self.published is not None else format_datetime(NOW - timedelta(days=self.days_ago))
        date_xml = f"<pubDate>{date}</pubDate>" if date else ""
        return (f"<item><title>{self.title}</title><link>{link}</link><guid>{self.guid}</guid>"
                f"<description>{self.summary}</description>{date_xml}</item>")


def frail(n: int, **kw: Any) -> Entry:
    return Entry(guid=f"item-{n}", title=f"Frailty and falls: service update number {n}", **kw)


def rss(entries: list[Entry], title: str = "Policy feed") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://example.org/</link><description>d</description>"
            f"{''.join(e.xml() for e in entries)}</channel></rss>").encode()


@dataclass
class World:
    dir: Path
    config: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.config, environ=ENV, **overrides)

    def context(self, **overrides: Any) -> pipeline.Context:
        return pipeline.open_context(self.settings(**overrides))


def make_world(tmp_path: Path, sources: dict[str, str], *, smtp_url: str = "",
               subscribers: list[str] | None = None, extra_config: str = "",
               source_names: dict[str, str] | None = None) -> World:
    """sources: id -> URL.  Without smtp_url, bulletins go to the outbox folder."""
    (tmp_path / "profiles").mkdir(exist_ok=True)
    subs = subscribers if subscribers is not None else ["alice@example.org", "bob@example.org"]
    (tmp_path / "profiles" / "ph-team.yaml").write_text(PROFILE.format(subscribers="[" + ", ".join(subs) + "]"))
    names = source_names or {}
    (tmp_path / "sources.yaml").write_text("".join(
        f"- id: {sid}\n  name: {names.get(sid, sid.title())!r}\n  url: {url}\n  every: 1h\n"
        for sid, url in sources.items()))
    config = write_config(tmp_path, smtp_url=smtp_url, extra='outbox = "outbox"\nfetch_timeout = 5\n' + extra_config)
    return World(dir=tmp_path, config=config)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
