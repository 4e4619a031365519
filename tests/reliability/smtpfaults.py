"""An SMTP server (aiosmtpd on loopback) that misbehaves on cue, for the delivery cases."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from aiosmtpd.smtp import SMTP, Envelope, Session

from servers import LoopbackSMTPServer, _Collector


class FaultyCollector(_Collector):
    """Keeps accepted messages like the plain collector, and can:

    - answer RCPT for an address with a 4xx a number of times, or with a 5xx for ever;
    - drop the connection after receiving a message's data, before answering (once per address);
    - after ``hold_after`` accepted messages, hold the next one unanswered until ``release`` is set;
    - hold the message to an address in ``hold_for`` unanswered (until ``release``) and take the others.
    """

    def __init__(self) -> None:
        super().__init__()
        self.temporary: dict[str, int] = {}        # address -> how many more 4xx answers
        self.permanent: set[str] = set()
        self.drop_after_data: set[str] = set()
        self.rcpt_attempts: Counter[str] = Counter()
        self.received_but_unanswered: list[str] = []
        self.hold_after: int | None = None
        self.hold_for: set[str] = set()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpt_attempts[address] += 1
        if self.temporary.get(address, 0) > 0:
            self.temporary[address] -= 1
            return "450 4.2.1 mailbox busy, try again later"
        if address in self.permanent:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        rcpt = envelope.rcpt_tos[0]
        if rcpt in self.drop_after_data:
            self.drop_after_data.discard(rcpt)
            await super().handle_DATA(server, session, envelope)   # it arrived...
            assert server.transport is not None
            server.transport.abort()                                 # ...but the sender never hears so
            return "250 never heard"
        if rcpt in self.hold_for or (self.hold_after is not None and len(self.messages) >= self.hold_after):
            self.received_but_unanswered.append(rcpt)
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 aborted"
        return await super().handle_DATA(server, session, envelope)


def faulty_server() -> tuple[LoopbackSMTPServer, FaultyCollector]:
    """A server not yet started (start() it, or leave it down)."""
    server = LoopbackSMTPServer()
    handler = FaultyCollector()
    server.handler = handler
    return server, handler
