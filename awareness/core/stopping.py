"""The one stop signal of a process (issue 5): set on SIGTERM, the message being sent finishes and
is recorded, and nothing further starts.  Every stage that loops looks at it; pipeline.STOP is it."""

from __future__ import annotations

import threading

STOP = threading.Event()
