"""What the end-to-end style tests share: a small RSS feed and the config of a test deployment.

Each test world (end to end, preview, web, service, reliability) builds its own
profiles and sources; the feed format and the config keys that point Awareness
at loopback servers are the same everywhere, so they live here once.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path


def rss(items: list[tuple[str, str, str, int]], *, now: datetime, title: str = "Policy") -> bytes:
    """(guid, title, summary, days before ``now``) -> an RSS 2.0 feed with links on example.org."""
    body = "".join(
        f"<item><title>{t}</title><link>https://example.org/pub/{g}</link><guid>{g}</guid>"
        f"<description>{s}</description><pubDate>{format_datetime(now - timedelta(days=d))}</pubDate></item>"
        for g, t, s, d in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://example.org/</link><description>d</description>{body}</channel></rss>").encode()


def write_config(folder: Path, *, smtp_url: str, database_url: str | None = None, extra: str = "") -> Path:
    """awareness.toml for a test deployment in ``folder``: its own database, loopback fetching allowed."""
    config = folder / "awareness.toml"
    config.write_text(textwrap.dedent(f"""\
        database_url = "{database_url or f'sqlite:///{folder / "awareness.db"}'}"
        sources = "sources.yaml"
        profiles = "profiles"
        smtp_url = "{smtp_url}"
        sender = "Awareness <awareness@example.org>"
        base_url = "https://awareness.example.org"
        fetch_allow = ["127.0.0.1"]
        """) + textwrap.dedent(extra))
    return config
