"""Item 9: URLs people type in must never become a way into the network Awareness runs in.

Every refusal is checked twice: the error says what was refused and why, and
no connection was opened (a listener on loopback counts the connections it
accepts; an audit hook records every socket connect the process makes).
"""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from awareness.core import netguard
from awareness.config.settings import Settings, load_settings
from awareness.core.errors import FetchError, SourcesError
from awareness.gather.fetch import FetchRequest, fetch_all
from awareness.core.models import FetchResult
from awareness.config.sources import load_sources
from awareness.config.opml_import import import_opml
from relworld import frail, rss
from servers import CountingListener, LoopbackHTTPServer, Route

FEED = rss([frail(1)])


_CONNECTS: list[Any] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _CONNECTS is not None and event == "socket.connect":
        _CONNECTS.append(args[1])


sys.addaudithook(_audit)   # inert except while a test records


def fetch_recording(url: str, settings: Settings) -> tuple[FetchResult | FetchError, list[Any]]:
    global _CONNECTS
    _CONNECTS = []
    try:
        result = fetch_all([FetchRequest("typed-in", url)], settings)[0]
        return result, list(_CONNECTS)
    finally:
        _CONNECTS = None


def refused(result: FetchResult | FetchError) -> str:
    assert isinstance(result, FetchError), f"expected a refusal, got {result}"
    assert result.problem.startswith("refused: "), result.problem
    return result.problem


# ------------------------------------------------------------------ refused at fetch time

LOOPBACK_FORMS = ["127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]"]
ELSEWHERE = ["10.0.0.1", "10.255.1.2", "172.16.0.1", "172.31.9.9", "192.168.1.1", "169.254.169.254",
             "100.64.0.1", "[64:ff9b::a9fe:a9fe]", "[fd00::1]", "[fe80::1]", "0.0.0.0"]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_in_every_disguise_is_refused_and_never_connected(host: str, listener: CountingListener) -> None:
    result, connects = fetch_recording(f"http://{host}:{listener.port}/feed.xml", Settings())
    assert "loopback" in refused(result) and "fetch_allow" in result.problem
    assert connects == [] and listener.accepted == 0


@pytest.mark.parametrize("host", ELSEWHERE)
def test_private_link_local_cgnat_and_metadata_addresses_are_refused(host: str) -> None:
    result, connects = fetch_recording(f"http://{host}/latest/meta-data/", Settings())
    problem = refused(result)
    assert any(word in problem for word in ("private", "metadata", "carrier-grade", "link-local", "unspecified"))
    assert connects == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed.xml", "gopher://127.0.0.1:70/",
                                 "data:text/xml,<rss/>", "dict://127.0.0.1:11211/stat"])
def test_other_schemes_are_refused(url: str) -> None:
    result, connects = fetch_recording(url, Settings())
    assert "only http and https" in refused(result)
    assert connects == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://[::1]/",
                                    "http://[::ffff:10.0.0.1]/", "file:///etc/passwd", "gopher://127.0.0.1/"])
def test_a_redirect_to_a_forbidden_address_is_refused_at_that_hop(http_server: LoopbackHTTPServer, target: str) -> None:
    http_server.routes["/feed.xml"] = Route(status=302, headers={"Location": target})
    result, connects = fetch_recording(http_server.url("/feed.xml"), Settings(fetch_allow=("127.0.0.1",)))
    refused(result)
    assert {c[0] for c in connects} == {"127.0.0.1"}, "only the allowed first hop was connected to"


def test_a_redirect_to_another_loopback_address_never_reaches_it(http_server: LoopbackHTTPServer) -> None:
    other = CountingListener("127.0.0.2")
    try:
        http_server.routes["/feed.xml"] = Route(status=301, headers={"Location": f"http://0x7f000002:{other.port}/x"})
        result, _ = fetch_recording(http_server.url("/feed.xml"), Settings(fetch_allow=("127.0.0.1",)))
        assert "resolves to 127.0.0.2, which is a loopback address" in refused(result)
        assert other.accepted == 0
    finally:
        other.close()


# ------------------------------------------------------------------ DNS rebinding: the address is pinned

class _FeedOn127_0_0_2:
    """An HTTP server on 127.0.0.2 and a counting listener on 127.0.0.1, on the same port."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        seen = self.hosts

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen.append(self.headers.get("Host", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(FEED)))
                self.end_headers()
                self.wfile.write(FEED)

        for _ in range(20):
            self.httpd = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
            self.port = self.httpd.server_address[1]
            try:
                self.trap = CountingListener("127.0.0.1", self.port)
                break
            except OSError:
                self.httpd.server_close()
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.trap.close()


def test_a_dns_answer_that_changes_between_check_and_connect_cannot_reach_a_forbidden_address(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first answer (the one the guard checks) is 127.0.0.2, which fetch_allow allows; any later
    answer is 127.0.0.1, which it does not.  The connection must go to the checked address."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "feeds.rebind.test":
            asked.append(host)
            host = "127.0.0.2" if len(asked) == 1 else "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    world = _FeedOn127_0_0_2()
    try:
        url = f"http://feeds.rebind.test:{world.port}/feed.xml"
        result, connects = fetch_recording(url, Settings(fetch_allow=("127.0.0.2",)))
        assert isinstance(result, FetchResult) and result.content == FEED, result
        assert world.trap.accepted == 0, "the second DNS answer (127.0.0.1) was never connected to"
        assert {c[0] for c in connects} == {"127.0.0.2"}
        assert asked == ["feeds.rebind.test"], "the name was resolved once, by the guard"
        assert world.hosts == [f"feeds.rebind.test:{world.port}"], "the Host header still names the site"
    finally:
        world.close()


def test_a_name_that_resolves_to_a_forbidden_address_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                listener: CountingListener) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host == "intranet.rebind.test" else host, *a, **k))
    result, connects = fetch_recording(f"http://intranet.rebind.test:{listener.port}/", Settings())
    assert "intranet.rebind.test resolves to 127.0.0.1, which is a loopback address" in refused(result)
    assert connects == [] and listener.accepted == 0


# ------------------------------------------------------------------ proxies and the allow-list

def test_proxy_variables_do_not_bypass_the_guard(http_server: LoopbackHTTPServer, listener: CountingListener,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{listener.port}")
    monkeypatch.setenv("NO_PROXY", "")
    blocked, connects = fetch_recording("http://169.254.169.254/latest/meta-data/", Settings())
    refused(blocked)
    assert connects == []
    http_server.routes["/feed.xml"] = Route(FEED)
    direct, _ = fetch_recording(http_server.url("/feed.xml"), Settings(fetch_allow=("127.0.0.1",)))
    assert isinstance(direct, FetchResult) and direct.content == FEED
    assert listener.accepted == 0, "the proxy was never used"


def test_fetch_allow_from_the_environment_names_hosts_and_ranges_and_nothing_else(
        http_server: LoopbackHTTPServer, tmp_path: Path) -> None:
    http_server.routes["/feed.xml"] = Route(FEED)
    settings = load_settings(None, environ={"AWARENESS_FETCH_ALLOW": "127.0.0.1/32, intranet.example.nhs.uk"})
    ok, _ = fetch_recording(http_server.url("/feed.xml"), settings)
    assert isinstance(ok, FetchResult) and ok.content == FEED
    for other in ("http://127.0.0.2/", "http://10.20.1.1/", "http://[::1]/"):
        refused(fetch_recording(other, settings)[0])
    networks, hosts = netguard.split_allow(["10.20.0.0/16", "Intranet.Example.NHS.uk"])
    assert netguard.check_url("http://10.20.1.1/", allow_networks=networks, allow_hosts=hosts) == ["10.20.1.1"]
    with pytest.raises(netguard.BlockedAddress):
        netguard.check_url("http://10.21.0.1/", allow_networks=networks, allow_hosts=hosts)


# ------------------------------------------------------------------ refused when the source is added

def test_sources_yaml_with_a_forbidden_url_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("- id: nice\n  url: https://www.nice.org.uk/guidance/published.rss\n"
                    "- id: metadata\n  url: http://169.254.169.254/latest/meta-data/\n")
    with pytest.raises(SourcesError) as err:
        load_sources(path, fetch_allow=())
    assert err.value.line == 4
    assert str(err.value).startswith(f"{path}:4: source 'metadata': refused http://169.254.169.254/")
    assert "the cloud metadata address" in str(err.value) and "fetch_allow" in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://localhost:8080/feed", "http://[::1]/",
                                 "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://10.0.0.1/",
                                 "http://172.16.0.1/", "http://192.168.0.1/", "http://169.254.169.254/",
                                 "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/"])
def test_every_forbidden_form_is_refused_when_added(tmp_path: Path, url: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(f"- id: typed-in\n  url: {url}\n")
    with pytest.raises(SourcesError, match="refused"):
        load_sources(path, fetch_allow=())
    assert load_sources(path, fetch_allow=("0.0.0.0/0", "::/0", "localhost"))[0].url == url


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/f", "gopher://x/", "data:,hello"])
def test_other_schemes_are_refused_when_added(tmp_path: Path, url: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(f"- id: typed-in\n  url: '{url}'\n")
    with pytest.raises(SourcesError, match="not a web address"):
        load_sources(path, fetch_allow=())


def test_an_opml_import_skips_forbidden_feeds_and_says_why(tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
                    '<outline text="NICE" type="rss" xmlUrl="https://www.nice.org.uk/news/feed"/>'
                    '<outline text="Router" type="rss" xmlUrl="http://192.168.0.1/admin.xml"/>'
                    '<outline text="Self" type="rss" xmlUrl="http://2130706433/x"/>'
                    '</body></opml>')
    sources = tmp_path / "sources.yaml"
    added, messages = import_opml(opml, sources, fetch_allow=())
    assert [s.url for s in added] == ["https://www.nice.org.uk/news/feed"]
    assert any("'Router'" in m and "192.168.0.1 is a private address" in m for m in messages)
    assert any("'Self'" in m and "2130706433 (that is 127.0.0.1) is a loopback address" in m for m in messages)
    assert "192.168" not in sources.read_text() and "2130706433" not in sources.read_text()
