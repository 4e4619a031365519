"""Progress for long runs: a live bar on a terminal, one log line per source otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

logger = logging.getLogger("awareness.gather")


class GatherProgress:
    """Counts sources as they finish: new items, unchanged, failed."""

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.new_items = 0
        self.unchanged = 0
        self.failed = 0
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._last_draw = 0.0

    def source_done(self, source_id: str, *, new: int = 0, unchanged: bool = False,
                    error: str | None = None) -> None:
        self.done += 1
        self.new_items += new
        if error:
            self.failed += 1
        elif unchanged:
            self.unchanged += 1
        if self.live:
            self._draw()
        elif error:
            logger.warning("[%d/%d] %s failed: %s", self.done, self.total, source_id, error)
        else:
            logger.info("[%d/%d] %s: %s", self.done, self.total, source_id,
                        "unchanged" if unchanged else f"{new} new")

    def _draw(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_draw < 0.1 and self.done < self.total:
            return
        self._last_draw = now
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "█" * filled + "░" * (width - filled)
        self.stream.write(f"\r  gathering {bar} {self.done}/{self.total} sources · "
                          f"{self.new_items} new items · {self.unchanged} unchanged · {self.failed} failed ")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.total:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()
