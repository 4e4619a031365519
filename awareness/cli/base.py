"""What every command shares: the settings it was given, and errors turned into one clear line."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable, TypeVar

import click

from ..config.settings import Settings, load_settings
from ..core import diskfull
from ..core.errors import AwarenessError

F = TypeVar("F", bound=Callable[..., Any])

def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


class Obj:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


def friendly(fn: F) -> F:
    """Turn Awareness errors into one clear line and a non-zero exit, not a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AwarenessError as e:
            raise click.ClickException(str(e)) from None
        except Exception as e:   # a full disk: say what is full and that nothing was lost, not a traceback
            if not diskfull.is_disk_full(e):
                raise
            raise click.ClickException(diskfull.explain(e, _database_url())) from None

    return wrapper  # type: ignore[return-value]


def _database_url() -> str | None:
    """The database in use, if the settings were loaded (for the disk-full message)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(Obj) if ctx else None
    return obj._settings.database_url if obj is not None and obj._settings is not None else None
