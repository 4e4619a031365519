"""Heavy libraries imported when first used, not when awareness starts (issue 19).

numpy and scipy (with scikit-learn behind them) cost about a second to import, and
`awareness --help`, `awareness sources list` or a run with nothing new to match never touch
them; httpx, feedparser and the stemmer are smaller, but every command that imports the
pipeline paid for them too.  A ``LazyModule`` stands in for a module and imports it on the first attribute read;
after that, reads find the module's attributes in the stand-in's own dict, as fast as before.
Type checkers see the real modules (``TYPE_CHECKING``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["LazyModule", "dateparser", "feedparser", "httpx", "np", "snowballstemmer", "sparse"]


class LazyModule:
    """A module imported on the first attribute read (then copied in, so later reads are plain)."""

    def __init__(self, name: str) -> None:
        self.__dict__["_lazy_name"] = name

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not yet in our dict: the first read, or a submodule loaded later.
        module = importlib.import_module(self.__dict__["_lazy_name"])
        self.__dict__.update(vars(module))
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_name']!r}>"


if TYPE_CHECKING:
    import feedparser
    import httpx
    import numpy as np
    import snowballstemmer
    from dateutil import parser as dateparser
    from scipy import sparse
else:
    # Roughly, idle, on the 2-core machine (python -X importtime):
    np = LazyModule("numpy")                            # ~0.15 s; the matcher
    sparse = LazyModule("scipy.sparse")                 # ~0.4 s with scipy; the matcher
    httpx = LazyModule("httpx")                         # ~40 ms with httpcore, h11, anyio, ssl; fetching
    feedparser = LazyModule("feedparser")               # ~10 ms; parsing feeds
    dateparser = LazyModule("dateutil.parser")          # ~5 ms; dates written in pages
    snowballstemmer = LazyModule("snowballstemmer")     # ~10 ms (it loads all its languages); stemming
