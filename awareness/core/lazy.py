"""Heavy libraries imported when first used, not when awareness starts (issue 19).

numpy and scipy (with scikit-learn behind them) cost about a second to import, and
`awareness --help`, `awareness sources list` or a run with nothing new to match never touch
them.  A ``LazyModule`` stands in for a module and imports it on the first attribute read;
after that, reads find the module's attributes in the stand-in's own dict, as fast as before.
Type checkers see the real modules (``TYPE_CHECKING``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["LazyModule", "np", "sparse"]


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
    import numpy as np
    from scipy import sparse
else:
    np = LazyModule("numpy")
    sparse = LazyModule("scipy.sparse")
