"""Fetching against a real loopback server, and the address guard in front of it."""

from __future__ import annotations

import gzip
import io
import ipaddress
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler

import pytest

from awareness.core import netguard
from awareness.config.settings import Settings
from awareness.core.errors import FetchError
from awareness.gather.fetch import FetchRequest, fetch_all, parse_retry_after
from awareness.core.models import FetchResult
from servers import LoopbackHTTPServer, Route

FEED = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>NHS news</title>'
        b'<item><title>Elective recovery: waiting list falls for third month</title>'
        b'<link>https://news.example.nhs.uk/1</link></item></channel></rss>')
LOOPBACK = Settings(fetch_allow=("127.0.0.1",))


def ok(result: FetchResult | FetchError) -> FetchResult:
    assert isinstance(result, FetchResult), f"expected a result, got: {result}"
    return result


def failed(result: FetchResult | FetchError) -> FetchError:
    assert isinstance(result, FetchError), f"expected an error, got: {result}"
    return result


def fetch_one(server: LoopbackHTTPServer, path: str, settings: Settings = LOOPBACK,
              **kwargs: str) -> FetchResult | FetchError:
    return fetch_all([FetchRequest("src", server.url(path), **kwargs)], settings)[0]


# ------------------------------------------------------------------ ordinary fetching

def test_200_then_304_with_the_etag(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(body=FEED)
    first = ok(fetch_one(http_server, "/feed.xml"))
    assert first.status == 200 and first.content == FEED
    assert first.content_type.startswith("application/rss+xml")
    assert first.etag and first.last_modified
    assert first.final_url == http_server.url("/feed.xml") and not first.permanent_redirect

    second = ok(fetch_one(http_server, "/feed.xml", etag=first.etag, last_modified=first.last_modified))
    assert second.not_modified and second.content is None
    assert second.etag == first.etag and second.last_modified == first.last_modified
    _, headers = http_server.requests[-1]
    assert headers["if-none-match"] == first.etag
    assert headers["if-modified-since"] == first.last_modified


def test_request_headers_identify_the_service(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(body=FEED)
    ok(fetch_one(http_server, "/feed.xml"))
    _, headers = http_server.requests[0]
    assert headers["user-agent"].startswith("Awareness/") and LOOPBACK.contact_url in headers["user-agent"]
    assert headers["accept"].startswith("application/atom+xml, application/rss+xml")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in headers


def test_gzip_body_is_decoded(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml.gz"] = Route(body=gzip.compress(FEED), headers={"Content-Encoding": "gzip"})
    assert ok(fetch_one(http_server, "/feed.xml.gz")).content == FEED


@pytest.mark.parametrize("status, text, permanent", [
    (500, "HTTP 500 Internal Server Error", False),
    (404, "HTTP 404 Not Found", False),
    (410, "HTTP 410 Gone", True),
])
def test_http_errors_say_what_happened(http_server: LoopbackHTTPServer, status: int, text: str,
                                       permanent: bool) -> None:
    http_server.routes["/x"] = Route(body=b"oops", status=status, content_type="text/plain")
    error = failed(fetch_one(http_server, "/x"))
    assert error.problem.startswith(text)
    assert error.permanent is permanent
    assert error.source_id == "src" and error.url == http_server.url("/x")


def test_503_with_retry_after(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/busy"] = Route(status=503, content_type="text/plain", headers={"Retry-After": "120"})
    error = failed(fetch_one(http_server, "/busy"))
    assert error.problem.startswith("HTTP 503 Service Unavailable")
    assert error.retry_after == 120.0
    assert "retry after 120 s" in str(error)


def test_retry_after_as_an_http_date() -> None:
    from datetime import datetime, timezone
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Mon, 05 Jan 2026 09:10:00 GMT", now) == 600.0
    assert parse_retry_after("Mon, 05 Jan 2026 08:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None


# ------------------------------------------------------------------ redirects

def test_redirect_chain_is_followed(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/old"] = Route(status=301, headers={"Location": "/older"})
    http_server.routes["/older"] = Route(status=308, headers={"Location": http_server.url("/feed.xml")})
    http_server.routes["/feed.xml"] = Route(body=FEED)
    result = ok(fetch_one(http_server, "/old"))
    assert result.content == FEED
    assert result.url == http_server.url("/old")
    assert result.final_url == http_server.url("/feed.xml")
    assert result.permanent_redirect  # every hop permanent: the source's URL can be updated


def test_a_temporary_hop_makes_the_redirect_not_permanent(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/old"] = Route(status=301, headers={"Location": "/tmp"})
    http_server.routes["/tmp"] = Route(status=302, headers={"Location": "/feed.xml"})
    http_server.routes["/feed.xml"] = Route(body=FEED)
    result = ok(fetch_one(http_server, "/old"))
    assert result.final_url == http_server.url("/feed.xml") and not result.permanent_redirect


def test_redirect_loop_is_an_error(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/a"] = Route(status=302, headers={"Location": "/b"})
    http_server.routes["/b"] = Route(status=302, headers={"Location": "/a"})
    error = failed(fetch_one(http_server, "/a"))
    assert "too many redirects (a redirect loop" in error.problem
    assert http_server.hits("/a") == 1 and http_server.hits("/b") == 1


def test_an_overlong_redirect_chain_is_an_error(http_server: LoopbackHTTPServer) -> None:
    for n in range(7):
        http_server.routes[f"/r{n}"] = Route(status=307, headers={"Location": f"/r{n + 1}"})
    http_server.routes["/r7"] = Route(body=FEED)
    error = failed(fetch_one(http_server, "/r0"))
    assert "too many redirects (more than 5 hops" in error.problem
    assert http_server.hits("/r6") == 0


def test_a_redirect_to_an_internal_address_is_refused(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/sneaky"] = Route(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    error = failed(fetch_one(http_server, "/sneaky"))
    assert error.problem.startswith("refused: 169.254.169.254 is the cloud metadata address")


# ------------------------------------------------------------------ limits

def test_a_body_over_the_cap_is_refused(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/big"] = Route(body=b"x" * 5000)
    error = failed(fetch_one(http_server, "/big", replace(LOOPBACK, fetch_max_bytes=4000)))
    assert "larger than the 0.004 MB cap" in error.problem


def test_a_body_without_length_over_the_cap_is_refused(http_server: LoopbackHTTPServer) -> None:
    def chunked(handler: BaseHTTPRequestHandler) -> Route:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Connection", "close")
        handler.end_headers()
        _write_quietly(handler, [b"y" * 1000] * 10)
        return _already_sent(handler)
    http_server.routes["/nolength"] = chunked
    error = failed(fetch_one(http_server, "/nolength", replace(LOOPBACK, fetch_max_bytes=4000)))
    assert "larger than the" in error.problem


def test_a_gzip_bomb_stops_at_the_cap(http_server: LoopbackHTTPServer) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~50 kB on the wire, 50 MB decoded
    assert len(bomb) < 100_000
    http_server.routes["/bomb"] = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    error = failed(fetch_one(http_server, "/bomb", replace(LOOPBACK, fetch_max_bytes=1_000_000)))
    assert "larger than the 1 MB cap" in error.problem


def test_a_slow_drip_hits_the_overall_deadline_and_others_still_succeed(http_server: LoopbackHTTPServer) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> Route:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        _write_quietly(handler, [b"<"] * 1000, delay=0.05)  # each read is quick; the whole is not
        return _already_sent(handler)
    http_server.routes["/drip"] = drip
    http_server.routes["/feed.xml"] = Route(body=FEED)
    settings = replace(LOOPBACK, fetch_timeout=1.0)
    started = time.monotonic()
    slow, fine = fetch_all([FetchRequest("slow", http_server.url("/drip")),
                            FetchRequest("fine", http_server.url("/feed.xml"))], settings)
    assert time.monotonic() - started < 3.0
    assert "no complete answer within 1 s" in failed(slow).problem
    assert ok(fine).content == FEED


def test_loopback_is_refused_without_fetch_allow(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(body=FEED)
    error = failed(fetch_one(http_server, "/feed.xml", Settings()))
    assert error.problem == ("refused: 127.0.0.1 is a loopback address; add it to fetch_allow if this is "
                             "an intranet source you trust")
    assert http_server.requests == []


def test_per_host_concurrency_is_respected(http_server: LoopbackHTTPServer) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(handler: BaseHTTPRequestHandler) -> Route:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return Route(body=FEED)
    http_server.routes["/slow"] = slow
    settings = replace(LOOPBACK, fetch_per_host=2, fetch_concurrency=8)
    seen: list[str] = []
    results = fetch_all([FetchRequest(f"s{i}", http_server.url(f"/slow?n={i}")) for i in range(6)], settings,
                        on_result=lambda request, result: seen.append(request.source_id))
    assert all(ok(r).content == FEED for r in results)
    assert state["peak"] == 2
    assert sorted(seen) == [f"s{i}" for i in range(6)]


def test_results_keep_request_order_and_a_bad_callback_breaks_nothing(http_server: LoopbackHTTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(body=FEED)
    http_server.routes["/gone"] = Route(status=410)

    def explode(request: FetchRequest, result: object) -> None:
        raise RuntimeError("progress bar broke")
    results = fetch_all([FetchRequest("a", http_server.url("/gone")), FetchRequest("b", "ftp://example.org/f"),
                         FetchRequest("c", http_server.url("/feed.xml"))], LOOPBACK, on_result=explode)
    assert failed(results[0]).permanent
    assert "only http and https" in failed(results[1]).problem
    assert ok(results[2]).source_id == "c"


def test_proxy_variables_cannot_route_around_the_guard(http_server: LoopbackHTTPServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    http_server.routes["/feed.xml"] = Route(body=FEED)
    with _ClosedPort() as port:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        assert ok(fetch_one(http_server, "/feed.xml")).content == FEED  # went direct, as checked


def test_a_closed_port_is_a_clear_error() -> None:
    with _ClosedPort() as port:
        error = failed(fetch_all([FetchRequest("x", f"http://127.0.0.1:{port}/feed")], LOOPBACK)[0])
    assert "the connection failed" in error.problem


# ------------------------------------------------------------------ netguard

@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://localhost:8080/feed", "localhost resolves to 127.0.0.1, which is a loopback address"),
    ("http://2130706433/", "2130706433 resolves to 127.0.0.1"),
    ("http://0x7f000001/", "0x7f000001 resolves to 127.0.0.1"),
    ("http://127.1/", "127.1 resolves to 127.0.0.1"),
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    ("http://172.16.5.4/", "a private address"),
    ("http://192.168.1.10/", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
    ("http://169.254.1.1/", "a link-local address"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://240.0.0.1/", "a reserved address"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[::]/", "unspecified"),
    ("http://[::ffff:127.0.0.1]/", "a loopback address in IPv6 disguise (127.0.0.1)"),
    ("http://[::ffff:10.1.2.3]/", "a private address in IPv6 disguise"),
    ("http://[64:ff9b::a9fe:a9fe]/", "the cloud metadata address in IPv6 disguise (169.254.169.254)"),
    ("http://[2002:7f00:1::]/", "a loopback address in IPv6 disguise"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[fd00::1]/", "a private (unique local) address"),
    ("http://[ff02::1]/", "a multicast address"),
])
def test_netguard_refuses_non_public_addresses(url: str, says: str) -> None:
    with pytest.raises(netguard.BlockedAddress) as err:
        netguard.check_url(url, allow_networks=[], allow_hosts=set())
    assert says in str(err.value)
    assert "fetch_allow" in str(err.value)


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "gopher://x/", "//no-scheme/feed"])
def test_netguard_refuses_other_schemes(url: str) -> None:
    with pytest.raises(netguard.BlockedAddress, match="only http and https"):
        netguard.check_url(url, allow_networks=[], allow_hosts=set())


def test_netguard_lets_public_addresses_through() -> None:
    assert netguard.check_url("https://8.8.8.8/feed", allow_networks=[], allow_hosts=set()) == ["8.8.8.8"]
    assert netguard.check_url("http://[2606:4700::1111]/", allow_networks=[], allow_hosts=set()) == ["2606:4700::1111"]


def test_netguard_allow_lists() -> None:
    lan = [ipaddress.ip_network("10.0.0.0/8")]
    assert netguard.check_url("http://10.1.2.3/feed", allow_networks=lan, allow_hosts=set()) == ["10.1.2.3"]
    assert netguard.check_url("http://[::ffff:10.1.2.3]/", allow_networks=lan, allow_hosts=set())
    with pytest.raises(netguard.BlockedAddress):
        netguard.check_url("http://192.168.0.1/", allow_networks=lan, allow_hosts=set())
    assert netguard.check_url("http://LocalHost./x", allow_networks=[], allow_hosts={"localhost"}) == ["127.0.0.1"]


def test_netguard_reports_unknown_hosts() -> None:
    with pytest.raises(netguard.HostNotFound, match="could not find the host"):
        netguard.check_url("http://no-such-host.invalid/", allow_networks=[], allow_hosts=set())


# ------------------------------------------------------------------ helpers

def _write_quietly(handler: BaseHTTPRequestHandler, chunks: list[bytes], delay: float = 0.0) -> None:
    """Write until the client hangs up (which is what these tests expect it to do)."""
    try:
        for chunk in chunks:
            handler.wfile.write(chunk)
            handler.wfile.flush()
            if delay:
                time.sleep(delay)
    except OSError:
        pass


def _already_sent(handler: BaseHTTPRequestHandler) -> Route:
    """The handler wrote its own response: send the server's canned one into the void."""
    handler.wfile = io.BytesIO()  # type: ignore[assignment]
    handler.close_connection = True
    return Route(status=204, conditional=False)


class _ClosedPort:
    """A port number nothing listens on."""

    def __enter__(self) -> int:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        pass
