"""Python's cyclic garbage collector, set for a process that holds tens of thousands of objects.

A run keeps the lookback window's items and each profile's matches alive (hundreds of
thousands of small objects at national scale).  With CPython's default threshold (a young
collection every 700 new objects) the collector walks them again and again, and at national
scale that was a third of composing bulletins (issue 19).  Almost nothing Awareness makes is
cyclic, so reference counting frees it at once; collecting less often costs little memory.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000   # new objects between young collections (CPython's default: 700)


def collect_less_often() -> None:
    """Raise the young generation's threshold, once; never lowers one set higher already."""
    young, middle, old = gc.get_threshold()
    if young and young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
