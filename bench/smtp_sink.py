"""An SMTP server on 127.0.0.1 that accepts everything and only counts it.

Run as its own process so that receiving mail does not share a GIL with the
sender being measured (it still shares the machine's two cores):

    .venv/bin/python bench/smtp_sink.py --port-file PATH --count-file PATH

The count file holds ``{"messages": n, "bytes": n, "recipients": n, "max_bytes": n}`` and is
rewritten twice a second; SIGUSR1 starts ``max_bytes`` (the largest message) afresh;
SIGTERM writes the file one last time and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.recipients = 0
        self.max_bytes = 0      # the largest message since the last SIGUSR1 (one subscriber's email)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        size = len(envelope.original_content or b"")
        self.bytes += size
        self.max_bytes = max(self.max_bytes, size)
        self.recipients += len(envelope.rcpt_tos)
        return "250 OK"

    def counts(self) -> dict[str, int]:
        return {"messages": self.messages, "bytes": self.bytes, "recipients": self.recipients,
                "max_bytes": self.max_bytes}

    def reset_max(self) -> None:
        self.max_bytes = 0


def _write(path: Path, data: dict[str, int]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--count-file", type=Path, required=True)
    args = parser.parse_args()
    handler = CountingHandler()
    # data_size_limit=0: the sink must never be what refuses mail in a benchmark.
    with socket.socket() as s:  # aiosmtpd's Controller cannot be given port 0
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    _write(args.port_file.with_suffix(".tmpport"), {"port": port})
    os.replace(args.port_file.with_suffix(".tmpport"), args.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: handler.reset_max())   # national.py: one cycle's largest email
    while not stop.wait(0.5):
        _write(args.count_file, handler.counts())
    _write(args.count_file, handler.counts())
    controller.stop()


if __name__ == "__main__":
    main()
