"""Real servers on loopback for the tests: an HTTP server for feeds and pages,
and an SMTP server (aiosmtpd) that keeps what it receives.

Nothing here is mocked: the code under test opens real sockets to 127.0.0.1.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


# ------------------------------------------------------------------ HTTP

@dataclass
class Route:
    """A canned response. ETag and Last-Modified are added for 200s so conditional GET works."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True


Handler = Callable[[BaseHTTPRequestHandler], Route]


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 whose routes a test sets and changes."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.posts: list[tuple[str, dict[str, str], bytes]] = []   # POSTs as received: path, headers, raw body
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # see shared/PERFORMANCE.md: 40 ms stalls otherwise

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    self._send(404, {"Content-Type": "text/plain"}, b"not found")
                    return
                if callable(route):
                    route = route(self)
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.status == 200 and route.conditional:
                    etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                    headers.setdefault("ETag", etag)
                    headers.setdefault("Last-Modified", "Mon, 05 Jan 2026 09:00:00 GMT")
                    if self.headers.get("If-None-Match") == headers["ETag"]:
                        self._send(304, {"ETag": headers["ETag"]}, b"")
                        return
                self._send(route.status, headers, route.body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                route = server.routes.get(self.path)
                if route is None:
                    self._send(404, {"Content-Type": "text/plain"}, b"not found")
                    return
                if callable(route):
                    route = route(self)
                self._send(route.status, {"Content-Type": route.content_type, **route.headers}, route.body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD" and status != 304:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def start(self) -> "LoopbackHTTPServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------ SMTP

class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []          # each message's bytes exactly as they came over the wire
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_rcpt: set[str] = set()
        self.refuse_all = False

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse_all or address in self.refuse_rcpt:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        self.raw.append(raw)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class LoopbackSMTPServer:
    """aiosmtpd on 127.0.0.1; stop() and start() again to simulate an outage."""

    def __init__(self) -> None:
        self.handler = _Collector()
        self.port = _free_port()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "LoopbackSMTPServer":
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
            time.sleep(0.05)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m, (_, rcpts) in zip(self.messages, self.handler.envelopes) if address in rcpts]


class CountingListener:
    """A TCP port on a loopback address that counts the connections it accepts and answers none.

    Tests of the address guard use it to prove a connection was never opened.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
