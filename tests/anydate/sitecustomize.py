"""Move this Python process's wall clock when AWARENESS_TEST_CLOCK_SHIFT_DAYS is set.

The suite must pass on any date, so ``make test-any-date`` runs it with this
folder on PYTHONPATH and the clock moved 400 days ahead and 400 days back.
Python imports ``sitecustomize`` at start-up, so every process the tests start
(the loopback feed and site servers, the CLI, Scrapy's child process) is moved
too, not only pytest's own.  time-machine keeps the clock ticking and leaves
``time.monotonic`` and ``time.sleep`` alone, so timeouts and waits behave
(libfaketime does not: it breaks thread waits).
"""

from __future__ import annotations

import os

SHIFT_DAYS: int | None = None

_raw = os.environ.get("AWARENESS_TEST_CLOCK_SHIFT_DAYS", "").strip()
if _raw:
    from datetime import datetime, timedelta, timezone

    import time_machine

    SHIFT_DAYS = int(_raw)
    time_machine.travel(datetime.now(timezone.utc) + timedelta(days=SHIFT_DAYS), tick=True).start()
