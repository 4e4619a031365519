"""`awareness serve`: the scheduler and the web app in one process, until SIGTERM or Ctrl-C.

It holds the one-scheduler-per-database lock, runs the scheduler, serves the web app, and on
SIGTERM lets the message being sent finish before it stops.  It stands here, at the top of
the house, because it is the one place that starts both the service and the web.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import uvicorn

from .. import pipeline
from ..config.settings import Settings
from ..core import logs
from ..service.scheduler import Scheduler
from ..store.locks import SchedulerLock
from ..store.store import Store
from ..web import create_app
from ..web.serving import server_options

logger = logging.getLogger(__name__)


def serve_forever(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """`awareness serve`: the scheduler, plus the web app when present, until SIGTERM or Ctrl-C."""
    logs.configure(settings.log_format, logging.getLogger().level or logging.INFO)
    store = Store(settings.database_url)
    lock = SchedulerLock(store)
    try:
        lock.acquire()
    except BaseException:
        store.close()
        raise
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            return
        logger.info("%s: finishing the work in progress, then stopping", signal.Signals(signum).name)
        pipeline.STOP.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = Scheduler(settings, store)
    try:
        scheduler.start()
        app = create_app(settings)
        if not stop.is_set():
            logger.info("serving the web app on http://%s:%d", host, port)
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                                   **server_options(settings)))
            server.run()   # returns on SIGTERM / SIGINT (uvicorn handles them while it runs)
    finally:
        pipeline.STOP.set()
        scheduler.shutdown()
        lock.release()
        store.close()
        logger.info("stopped")
        sys.stderr.flush()
