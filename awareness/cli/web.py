"""`awareness web`: the web app alone."""

from __future__ import annotations

import click
import uvicorn

from ..web import create_app
from ..web.serving import server_options
from .base import Obj, friendly


# ------------------------------------------------------------------ web app (issue 6)

@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
@friendly
def web(obj: Obj, host: str, port: int) -> None:
    """Serve the web app alone (subscribe, archive, feedback, librarian and admin pages)."""
    uvicorn.run(create_app(obj.settings), host=host, port=port, log_level="info", **server_options(obj.settings))
