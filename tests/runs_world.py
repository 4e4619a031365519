"""A deployment for the run tests (issue 16): ten good feeds on loopback, two team profiles,
a real SMTP server, and a sources.yaml that may also hold bad entries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result

from awareness.cli import main
from awareness.config.settings import Settings, load_settings
from awareness.store.store import Store
from awareness.store.schema import deliveries
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import rss, write_config
from conftest import without_settings

SECRET = {"AWARENESS_SECRET_KEY": "runs-secret"}
GOOD = 10

# A private address not in fetch_allow (only 127.0.0.1 is), and an entry with a bad id and no url.
REFUSED = "- id: intranet\n  name: Intranet news\n  url: http://10.20.30.40/news.rss\n"
MALFORMED = "- id: Bad Id!\n  name: Typo\n"

PROFILE = """\
id: {id}
name: {name}
owner: librarian@example.org
schedule: "0 8 * * MON"
lookback_days: 14
subscribers: [{subscribers}]
topics:
  - id: {topic}
    title: {title}
    description: {title}.
    terms: [{terms}]
"""


@dataclass
class RunsWorld:
    dir: Path
    config: Path
    http: LoopbackHTTPServer
    smtp: LoopbackSMTPServer

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.dir / 'awareness.db'}"

    def settings(self) -> Settings:
        return load_settings(self.config, environ=SECRET)

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(self.config), *args], env=SECRET, catch_exceptions=False)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        keep = without_settings()
        return subprocess.Popen([sys.executable, "-m", "awareness", "--config", str(self.config), *args],
                                env={**keep, **SECRET}, cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def add_sources(self, text: str) -> None:
        path = self.dir / "sources.yaml"
        path.write_text(path.read_text() + text)

    def line_of(self, needle: str) -> int:
        lines = (self.dir / "sources.yaml").read_text().splitlines()
        return next(n for n, line in enumerate(lines, 1) if needle in line)

    def store(self) -> Store:
        return Store(self.database_url)

    def ledger(self) -> set[tuple[str, str]]:
        """(address, item link) for every delivery recorded."""
        from awareness.store.schema import items, subscribers
        store = self.store()
        try:
            with store.engine.connect() as conn:
                rows = conn.execute(sa.select(subscribers.c.email, items.c.link)
                                    .select_from(deliveries.join(subscribers,
                                                                 subscribers.c.id == deliveries.c.subscriber_id)
                                                 .join(items, items.c.id == deliveries.c.item_id))).all()
        finally:
            store.close()
        return {(email, link) for email, link in rows}


def make_runs_world(tmp_path: Path, http: LoopbackHTTPServer, smtp: LoopbackSMTPServer, *,
                    good: int = GOOD, extra_sources: str = "", smtp_url: str | None = None) -> RunsWorld:
    """``good`` feeds, each with one frailty and one maternity item; two profiles, one per subject."""
    now = datetime.now(timezone.utc)
    entries = []
    for n in range(good):
        http.routes[f"/feed{n}.xml"] = Route(rss([
            (f"frail-{n}", f"Frailty and falls in older people: report {n}", "Falls prevention and frailty.", 1),
            (f"mat-{n}", f"Maternity and perinatal care: review {n}", "Midwife-led maternity services.", 2)],
            now=now, title=f"Feed {n}"))
        entries.append(f"- id: feed-{n}\n  name: Feed {n}\n  url: {http.url(f'/feed{n}.xml')}\n  every: 1h\n")
    (tmp_path / "sources.yaml").write_text("".join(entries) + extra_sources)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "frailty-team.yaml").write_text(PROFILE.format(
        id="frailty-team", name="Frailty Team", subscribers="ann@example.org, bob@example.org", topic="frailty",
        title="Frailty and older people", terms="frailty, falls, older people"))
    (tmp_path / "profiles" / "maternity-team.yaml").write_text(PROFILE.format(
        id="maternity-team", name="Maternity Team", subscribers="cat@example.org", topic="maternity",
        title="Maternity and perinatal care", terms="maternity, perinatal, midwife"))
    config = write_config(tmp_path, smtp_url=smtp.url if smtp_url is None else smtp_url,
                          extra=textwrap.dedent("""\
                              fetch_timeout = 5
                              smtp_retry_for = 1
                              """))
    return RunsWorld(tmp_path, config, http, smtp)
