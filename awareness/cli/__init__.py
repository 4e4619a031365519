"""The ``awareness`` command: a thin shell, one module per command group (``main`` is the click group, ``entry`` the console script)."""

from .main import entry, main

__all__ = ["entry", "main"]
