"""A small deployment for the service tests: a feed on loopback HTTP that publishes
one new frailty item each day (dated by the clock, which tests move), one team
profile, a real SMTP server, and a database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner, Result

from awareness.cli import main
from awareness.config.settings import Settings, load_settings
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import write_config
from conftest import without_settings

ROOT = Path(__file__).resolve().parent.parent


def profile_yaml(*, schedule: str = "0 8 * * MON", subscribers: tuple[str, ...] = ("alice@example.org",),
                 extra: str = "") -> str:
    return textwrap.dedent(f"""\
        id: ph-team
        name: Public Health Team
        owner: librarian@example.org
        schedule: "{schedule}"
        lookback_days: 14
        subscribers: [{", ".join(subscribers)}]
        topics:
          - id: frailty
            title: Frailty and older people
            description: Frailty, falls and the care of older people.
            terms: [frailty, falls, older people]
        """) + extra


def daily_feed(handler: BaseHTTPRequestHandler) -> Route:
    """One item per day for the last week, up to the (possibly travelled) clock's today."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    items = []
    for back in range(7):
        day = today - timedelta(days=back)
        if day > datetime.now(timezone.utc):
            continue
        key = f"{day:%Y-%m-%d}"
        items.append(f"<item><title>Falls prevention for older people with frailty: update {key}</title>"
                     f"<link>https://example.org/pub/falls-{key}</link><guid>falls-{key}</guid>"
                     f"<description>Frailty services and falls prevention for older people, news of {key}."
                     f"</description><pubDate>{format_datetime(day)}</pubDate></item>")
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Policy</title>'
            f"<link>https://example.org/</link><description>d</description>{''.join(items)}</channel></rss>")
    return Route(body.encode())


@dataclass
class World:
    dir: Path
    config: Path
    database_url: str
    http: LoopbackHTTPServer
    smtp: LoopbackSMTPServer

    @property
    def profile_path(self) -> Path:
        return self.dir / "profiles" / "ph-team.yaml"

    def settings(self, **overrides: object) -> Settings:
        return load_settings(self.config, environ={"AWARENESS_SECRET_KEY": "test-secret"}, **overrides)

    def env(self) -> dict[str, str]:
        # The deployment's own settings only; the test run's switches (AWARENESS_TEST_*: the moved clock of
        # make test-any-date, the PostgreSQL server) reach the child as they reach every other process.
        keep = without_settings()
        return {**keep, "AWARENESS_SECRET_KEY": "test-secret", "AWARENESS_CONFIG": str(self.config)}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "awareness", *args], env=self.env(), cwd=self.dir,
                              capture_output=True, text=True, timeout=120)

    def invoke(self, *args: str) -> Result:
        """The CLI in this process (fast); ``cli`` runs it in a child process."""
        return CliRunner().invoke(main, ["--config", str(self.config), *args],
                                  env={"AWARENESS_SECRET_KEY": "test-secret"}, catch_exceptions=False)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "awareness", *args], env=self.env(), cwd=self.dir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def make_world(tmp_path: Path, database_url: str, http: LoopbackHTTPServer, smtp: LoopbackSMTPServer,
               *, subscribers: tuple[str, ...] = ("alice@example.org",), extra_config: str = "") -> World:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "ph-team.yaml").write_text(profile_yaml(subscribers=subscribers))
    http.routes["/policy.xml"] = daily_feed
    (tmp_path / "sources.yaml").write_text(textwrap.dedent(f"""\
        - id: policy
          name: Policy Publications
          url: {http.url('/policy.xml')}
          every: 1d
        """))
    config = write_config(tmp_path, smtp_url=smtp.url, database_url=database_url, extra=extra_config)
    return World(tmp_path, config, database_url, http, smtp)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'awareness.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def world(tmp_path: Path, database_url: str, http_server: LoopbackHTTPServer,
          smtp_server: LoopbackSMTPServer) -> World:
    return make_world(tmp_path, database_url, http_server, smtp_server)
