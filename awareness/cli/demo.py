"""`awareness demo`: the whole job on bundled demo feeds served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click

from ..demo.run import run_demo
from .base import friendly


# ------------------------------------------------------------------ demo

@click.command()
@click.option("--keep-db", is_flag=True, help="Keep the demo database from the last demo (shows that nothing is sent twice).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="The port the printed `web` command uses (and the bulletins' links point at).")
@friendly
def demo(keep_db: bool, port: int) -> None:
    """Run the whole job on bundled demo feeds served on 127.0.0.1: gather, match, write bulletins."""
    run_demo(Path.cwd(), keep_db=keep_db, port=port)
