"""An SMTP server on 127.0.0.1 that accepts everything and only counts it.

Run as its own process so that receiving mail does not share a GIL with the
sender being measured (it still shares the machine's two cores):

    .venv/bin/python bench/smtp_sink.py --port-file PATH --count-file PATH

The count file holds ``{"messages": n, "bytes": n, "recipients": n, "max_bytes": n}`` and is
rewritten twice a second; SIGUSR1 starts ``max_bytes`` (the largest message) afresh;
SIGTERM writes the file one last time and stops.

Why not aiosmtpd, as the tests use: it reads a message's DATA one line at a time in
Python, and a national cycle sends 1.7 GB in 80-byte lines.  On the benchmark's two
cores that sink spent about as much CPU receiving as Awareness spent sending, so the
deliver phase measured the sink.  A relay in production (Postfix, Exim, a cloud
relay) reads DATA in bulk, in C, on another machine.  This sink speaks the same
protocol (EHLO with PIPELINING and SIZE, MAIL, RCPT, DATA with dot-stuffing, RSET,
NOOP, QUIT) but finds a message's end with one ``bytes.find`` per packet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
from pathlib import Path


class Counts:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.recipients = 0
        self.max_bytes = 0      # the largest message since the last SIGUSR1 (one subscriber's email)

    def add(self, size: int, recipients: int) -> None:
        self.messages += 1
        self.bytes += size
        self.max_bytes = max(self.max_bytes, size)
        self.recipients += recipients

    def as_dict(self) -> dict[str, int]:
        return {"messages": self.messages, "bytes": self.bytes, "recipients": self.recipients,
                "max_bytes": self.max_bytes}


class SinkSession(asyncio.Protocol):
    """One client connection: commands line by line, a message's DATA in bulk."""

    END = b"\r\n.\r\n"

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.in_data = False
        self.recipients = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 127.0.0.1 bench sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.in_data:
                # DATA put a CRLF in front of the message, so its first line can end it too
                end = self.buffer.find(self.END)
                if end == -1:
                    return
                stuffed = self.buffer.count(b"\r\n..", 0, end + 2)   # dot-stuffing undone, as a server stores it
                self.counts.add(end - stuffed, self.recipients)
                del self.buffer[:end + 5]
                self.in_data, self.recipients = False, 0
                self.transport.write(b"250 OK\r\n")
                continue
            eol = self.buffer.find(b"\r\n")
            if eol == -1:
                return
            line = bytes(self.buffer[:eol])
            del self.buffer[:eol + 2]
            self._command(line)

    def _command(self, line: bytes) -> None:
        assert self.transport is not None
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.transport.write(b"250-127.0.0.1\r\n250-PIPELINING\r\n250-SIZE 0\r\n250-8BITMIME\r\n"
                                 b"250 SMTPUTF8\r\n")
        elif verb == b"HELO":
            self.transport.write(b"250 127.0.0.1\r\n")
        elif verb == b"MAIL":
            self.recipients = 0
            self.transport.write(b"250 OK\r\n")
        elif verb == b"RCPT":
            self.recipients += 1
            self.transport.write(b"250 OK\r\n")
        elif verb == b"DATA":
            if not self.recipients:
                self.transport.write(b"503 Error: need RCPT command\r\n")
                return
            self.in_data = True
            self.buffer[:0] = b"\r\n"   # so a message's first line can end it too (an empty message)
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"RSET":
            self.recipients = 0
            self.transport.write(b"250 OK\r\n")
        elif verb == b"NOOP":
            self.transport.write(b"250 OK\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
            self.transport = None
        else:
            self.transport.write(b"502 Command not implemented\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _write(path: Path, data: dict[str, int]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


async def serve(port_file: Path, count_file: Path) -> None:
    counts = Counts()
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await loop.create_server(lambda: SinkSession(counts), sock=sock)
    port = int(sock.getsockname()[1])
    _write(port_file.with_suffix(".tmpport"), {"port": port})
    os.replace(port_file.with_suffix(".tmpport"), port_file)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(counts, "max_bytes", 0))
    while not stop.is_set():
        _write(count_file, counts.as_dict())
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    _write(count_file, counts.as_dict())
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--count-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port_file, args.count_file))


if __name__ == "__main__":
    main()
