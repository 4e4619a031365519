"""`awareness serve`: the scheduler and the web app in one process, until SIGTERM or Ctrl-C.

The service runs the scheduler (holding the one-scheduler-per-database lock, and on SIGTERM
letting the message being sent finish); this serves the web app beside it.  It stands here, at the top of
the house, because it is the one place that starts both the service and the web.
"""

from __future__ import annotations

import logging
import sys

import click
import uvicorn

from ..config.settings import Settings
from ..core import logs
from ..service.runs import scheduler_running
from ..web import create_app
from ..web.serving import server_options
from .base import Obj, friendly

logger = logging.getLogger(__name__)


def serve_forever(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """`awareness serve`: the scheduler, plus the web app, until SIGTERM or Ctrl-C."""
    logs.configure(settings.log_format, logging.getLogger().level or logging.INFO)
    with scheduler_running(settings) as stop:
        app = create_app(settings)
        if not stop.is_set():
            logger.info("serving the web app on http://%s:%d", host, port)
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                                   **server_options(settings)))
            server.run()   # returns on SIGTERM / SIGINT (uvicorn handles them while it runs)
    sys.stderr.flush()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for the web app.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port for the web app.")
@click.pass_obj
@friendly
def serve(obj: Obj, host: str, port: int) -> None:
    """Run the service: the scheduler (sources polled, bulletins on schedule) plus the web app when present."""
    serve_forever(obj.settings, host=host, port=port)
