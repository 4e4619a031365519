"""The shared feed farm (../shared/tools/feedfarm.py) served on 127.0.0.1 for one test module."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from conftest import SHARED

FARM = SHARED / "tools" / "feedfarm.py"


@contextmanager
def serving_farm(folder: Path, *args: str, slow_s: int, oversize_mb: int) -> Iterator[str]:
    """The farm's base URL while it serves; ``args`` choose its feeds, seed and faults."""
    port_file = folder / "port"
    proc = subprocess.Popen([sys.executable, str(FARM), "serve", "--port", "0", "--port-file", str(port_file),
                             "--slow-s", str(slow_s), "--oversize-mb", str(oversize_mb), "--speed", "0",
                             "--duration", "300", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
