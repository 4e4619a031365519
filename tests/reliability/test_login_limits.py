"""Issue 15, case 2: the login limit holds against guesses sent all at once, a stranger cannot lock a
librarian out, and X-Forwarded-For is believed only from a proxy the operator named.

Reproduced against `awareness web` in a child process on 127.0.0.1: 50 wrong passwords
posted at once, each claiming a different X-Forwarded-For; then the librarian logs in
from another loopback address (127.0.0.2).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import sqlalchemy as sa

from awareness.store.store import Store
from awareness.store.schema import login_attempts
from awareness.store.users import add_user
from servers import LoopbackHTTPServer, LoopbackSMTPServer
from service_world import World, database_url, make_world  # noqa: F401 - fixture

PASSWORD = "a long librarian passphrase"
WHO = "librarian@example.nhs.uk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebServer:
    def __init__(self, world: World) -> None:
        store = Store(world.database_url)
        add_user(store, WHO, "librarian", PASSWORD)
        store.close()
        self.port = free_port()
        self.proc = world.popen("web", "--host", "127.0.0.1", "--port", str(self.port))
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/login", timeout=1)
                return
            except httpx.TransportError:
                assert self.proc.poll() is None, self.proc.communicate()[1]
                time.sleep(0.1)
        raise AssertionError("awareness web did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=15)


def client(base: str, local: str = "127.0.0.1") -> httpx.AsyncClient:
    """A browser whose connections come from ``local``."""
    return httpx.AsyncClient(base_url=base, transport=httpx.AsyncHTTPTransport(local_address=local), timeout=120)


async def csrf(c: httpx.AsyncClient) -> str:
    """The login form's token; its cookie is Secure (base_url is https), so it is sent by hand over http."""
    page = await c.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    c.headers["Cookie"] = f"aw_csrf={page.cookies['aw_csrf']}"
    return found.group(1)


async def guesses(base: str, n: int) -> list[int]:
    c = client(base)
    async with c:
        token = await csrf(c)
        async def one(i: int) -> int:
            r = await c.post("/login", data={"csrf": token, "email": WHO, "password": f"wrong guess {i}"},
                             headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
            return r.status_code
        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def login_from(base: str, local: str, headers: dict[str, str] | None = None,
                     password: str = PASSWORD) -> int:
    c = client(base, local)
    async with c:
        token = await csrf(c)
        r = await c.post("/login", data={"csrf": token, "email": WHO, "password": password}, headers=headers or {})
        return r.status_code


@pytest.fixture
def world(tmp_path: Path, database_url: str, http_server: LoopbackHTTPServer,  # noqa: F811
          smtp_server: LoopbackSMTPServer) -> World:
    return make_world(tmp_path, database_url, http_server, smtp_server)


@pytest.fixture
def server(world: World) -> Iterator[WebServer]:
    s = WebServer(world)
    yield s
    s.stop()


def test_fifty_guesses_at_once_get_five_tries_and_the_librarian_still_logs_in_elsewhere(
        server: WebServer, world: World) -> None:
    codes = asyncio.run(guesses(server.base, 50))
    assert codes.count(401) == 5, codes          # five verified; the others refused before argon2 ran
    assert codes.count(429) == 45, codes
    store = Store(world.database_url)
    try:
        with store.engine.connect() as conn:
            clients = set(conn.execute(sa.select(login_attempts.c.client)).scalars())
    finally:
        store.close()
    assert clients == {"127.0.0.1"}, "a client chose its own address with X-Forwarded-For"
    assert asyncio.run(login_from(server.base, "127.0.0.2")) == 303   # not locked out by a stranger
    assert asyncio.run(login_from(server.base, "127.0.0.1")) == 429   # the guesser still waits


def test_a_configured_proxy_is_believed(tmp_path: Path, http_server: LoopbackHTTPServer,
                                        smtp_server: LoopbackSMTPServer) -> None:
    w = make_world(tmp_path, f"sqlite:///{tmp_path / 'awareness.db'}", http_server, smtp_server,
                   extra_config='trusted_proxies = ["127.0.0.1"]\n')
    s = WebServer(w)
    try:
        for _ in range(5):
            assert asyncio.run(login_from(s.base, "127.0.0.1", {"X-Forwarded-For": "198.51.100.7"},
                                          password="wrong guess")) == 401
        assert asyncio.run(login_from(s.base, "127.0.0.1", {"X-Forwarded-For": "198.51.100.7"})) == 429
        assert asyncio.run(login_from(s.base, "127.0.0.1", {"X-Forwarded-For": "198.51.100.8"})) == 303
    finally:
        s.stop()
