"""Several SMTP connections at once, each reused for many messages (issue 19).

A national run sends tens of thousands of messages; one connection waits for the
server's reply to each before the next can go.  ``ParallelSender`` hands each
message to one of a few threads, each with its own transport, and gives back a
future; the caller writes the ledger once the future says the server accepted
it, so nothing is marked sent that was not (exactly-once is the caller's, as before).
The outbox folder and single-connection use keep one transport, sending inline.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage
from typing import Callable

from .transport import Transport, open_transport, send_with_retry
from ..config.settings import Settings
from ..core.errors import DeliveryError
from ..core.stopping import STOP

SMTP_CONNECTIONS = 4    # a mail relay accepts a few connections per client; more buys nothing on 2 cores


class ParallelSender:
    """``submit(message)`` -> Future (None on success, DeliveryError raised); ``close()`` ends every connection."""

    def __init__(self, open_transport: Callable[[], Transport], send: Callable[[Transport, EmailMessage], None],
                 connections: int = SMTP_CONNECTIONS) -> None:
        self._open, self._send = open_transport, send
        self.connections = max(1, connections)
        self._local = threading.local()
        self._transports: list[Transport] = []
        self._lock = threading.Lock()
        self.unreachable: DeliveryError | None = None   # the first "cannot reach the server" of any connection
        self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="smtp") if self.connections > 1 else None

    def submit(self, message: EmailMessage) -> Future[None]:
        if self._pool is not None:
            return self._pool.submit(self._send_here, message)
        done: Future[None] = Future()
        try:
            self._send_here(message)
            done.set_result(None)
        except BaseException as e:   # handed to the caller through the future, as a thread would
            done.set_exception(e)
        return done

    def _send_here(self, message: EmailMessage) -> None:
        if self.unreachable is not None:   # the other connections stop knocking too, as one connection did
            raise self.unreachable
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = self._open()
            with self._lock:
                self._transports.append(transport)
        try:
            self._send(transport, message)
        except DeliveryError as e:
            if e.unreachable and self.unreachable is None:
                self.unreachable = e
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()


def open_sender(settings: Settings) -> ParallelSender:
    """Several connections to a mail server; the outbox folder is written one file at a time."""
    return ParallelSender(lambda: open_transport(settings),
                          lambda transport, message: send_with_retry(
                              transport, message, retry_for=settings.smtp_retry_for, wait=STOP.wait),
                          connections=SMTP_CONNECTIONS if settings.smtp_url else 1)
