"""A small real world for the web app (used by tests/web and tests/browser): feeds on a loopback HTTP server, a profile
file, a SQLite file, a real SMTP server, one bulletin already sent; and a client
that talks to the ASGI app in-process through httpx's ASGITransport."""

from __future__ import annotations

import asyncio
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from awareness import pipeline
from awareness.config.settings import Settings, load_settings
from awareness.store.store import Store
from awareness.store.users import add_user
from awareness.web import create_app
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import rss as feed

NOW = datetime.now(timezone.utc)
PASSWORD = "a long librarian passphrase"

PROFILE = """\
id: ph-team
name: Public Health Team
owner: Lee Librarian <librarian@example.nhs.uk>
schedule: "0 8 * * MON"
lookback_days: 14
subscribers: [alice@example.nhs.uk]
topics:
  - id: frailty
    title: Frailty and older people
    description: Frailty, falls and the care of older people living with several long-term conditions.
    terms: [frailty, falls, older people, hip fracture]
  - id: maternity
    title: Maternity and perinatal care
    description: Maternity services, midwifery, antenatal and postnatal care, perinatal mental health.
    terms: [maternity, midwifery, perinatal, antenatal, postnatal]
"""

ITEMS = [
    ("falls-1", "Preventing falls in older people: strength and balance programmes",
     "New guidance for integrated care systems on falls prevention and frailty services for older people.", 2),
    ("mat-1", "Maternity and neonatal services: three-year delivery plan update",
     "Progress on midwifery staffing, perinatal mental health and postnatal care in NHS maternity units.", 3),
    ("park-1", "Hospital car parking procurement framework renewed",
     "A national procurement framework for car park management contracts at NHS sites has been renewed.", 1),
    ("hip-1", "Hip fracture outcomes in frail older adults: a cohort study",
     "Frailty predicted mortality after hip fracture in a cohort of older people.", 4),
]


def rss(items: list[tuple[str, str, str, int]]) -> bytes:
    return feed(items, now=NOW, title="Policy")


class Client:
    """A synchronous face on httpx.AsyncClient + ASGITransport, with its own event loop and cookies."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, url, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def csrf(self, url: str) -> str:
        """The CSRF token of the form on a page (visiting it sets the cookie that goes with it)."""
        found = re.search(r'name="csrf" value="([^"]+)"', self.get(url).text)
        assert found, f"no CSRF field on {url}"
        return found.group(1)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/login", data={"csrf": self.csrf("/login"), "email": email, "password": password,
                                         "next": "/librarian"})

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


@dataclass
class Site:
    root: Path
    settings: Settings
    store: Store
    smtp: LoopbackSMTPServer
    feeds: LoopbackHTTPServer
    app: Any

    def client(self) -> Client:
        c = Client(self.app)
        self._clients.append(c)
        return c

    def run(self, **kw: Any) -> pipeline.RunReport:
        """`awareness run --now` against this world."""
        ctx = pipeline.open_context(self.settings)
        try:
            return pipeline.run(ctx, force=True, **kw)
        finally:
            ctx.close()

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [m for m, (_, rcpts) in zip(self.smtp.messages, self.smtp.handler.envelopes)
                if address.lower() in {r.lower() for r in rcpts}]

    def __post_init__(self) -> None:
        self._clients: list[Client] = []


def make_settings(root: Path, smtp_url: str, **extra: Any) -> Settings:
    extra.setdefault("base_url", "http://testserver")
    extra.setdefault("database_url", f"sqlite:///{root / 'awareness.db'}")
    config = root / "awareness.toml"          # the install's home (its var/) is the tmp folder, not the cwd
    if not config.exists():
        config.write_text("# settings come from the test\n")
    return load_settings(config, environ={},
                         sources=str(root / "sources.yaml"), profiles=str(root / "profiles"),
                         smtp_url=smtp_url, secret_key="test-secret-key",
                         admin_token="test-admin-token", fetch_allow="127.0.0.1",
                         sender="Library <library@example.nhs.uk>", **extra)


def build_site(root: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer,
               base_url: str = "http://testserver", database_url: str | None = None) -> Site:
    """Profiles, sources, users and one bulletin already sent to the profile file's subscriber."""
    (root / "profiles").mkdir()
    (root / "profiles" / "ph-team.yaml").write_text(PROFILE)
    http_server.routes["/policy.xml"] = Route(rss(ITEMS))
    (root / "sources.yaml").write_text(textwrap.dedent(f"""\
        - id: policy
          name: Department of Health and Social Care
          url: {http_server.url('/policy.xml')}
        """))
    settings = make_settings(root, smtp_server.url, base_url=base_url,
                             **({"database_url": database_url} if database_url else {}))
    store = Store(settings.database_url)
    add_user(store, "librarian@example.nhs.uk", "librarian", PASSWORD)
    add_user(store, "admin@example.nhs.uk", "admin", PASSWORD)
    s = Site(root=root, settings=settings, store=store, smtp=smtp_server, feeds=http_server,
             app=create_app(settings))
    s.run()
    return s


def close_site(s: Site) -> None:
    for c in s._clients:
        c.close()
    s.store.close()
    s.app.state.web.store.close()


@pytest.fixture
def site(tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> Iterator[Site]:
    """The world above, with the app at http://testserver (import this fixture into a test module)."""
    s = build_site(tmp_path, http_server, smtp_server)
    yield s
    close_site(s)
