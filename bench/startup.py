"""How fast Awareness starts (issue 19, "start fast").  Prints figures; not a test.

    .venv/bin/python bench/startup.py          # median of 5 fresh processes each
    .venv/bin/python bench/startup.py --runs 9

Every `awareness run` (and the scheduler, and each CLI command) first pays for importing
the code it needs.  Measured, each in fresh processes:

- ``import awareness.pipeline``: the import alone, timed inside the child;
- ``awareness --help``, ``awareness sources list`` and ``awareness run --dry-run``: wall time
  of the whole command, on a small deployment of its own (one feed of 20 items served on
  127.0.0.1, the example frailty profile).  The dry run matches for real, so it loads
  scikit-learn: that part is the matcher's work, not start-up.

``bench/national.py`` puts the import row into its targets table (``measure`` and ``rows``).
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
AWARENESS = ROOT / ".venv" / "bin" / "awareness"
PROFILE = ROOT / "profiles" / "frailty.yaml"

IMPORT_TARGET_S, IMPORT_GOAL_S = 0.5, 0.2
COMMAND_TARGET_S = 0.5          # --help and sources list: nothing to gather, match or send
DRY_RUN_TARGET_S = 3.0          # one feed gathered and matched, bulletins composed, nothing sent
IMPORT_PIPELINE = ("import time; t = time.perf_counter(); import awareness.pipeline; "
                   "print(time.perf_counter() - t)")
HEAVY = ("numpy", "scipy", "sklearn", "scrapy", "twisted", "starlette", "uvicorn", "trafilatura", "pypdf",
         "lxml", "argon2", "alembic")
WORDS = ("frailty", "falls prevention", "care homes", "hospital discharge", "delirium", "dementia",
         "polypharmacy", "social care", "older people", "rehabilitation")


def _feed() -> bytes:
    """Twenty items from the last few days, in the words the frailty profile looks for."""
    now = datetime.now(timezone.utc)
    items = "".join(
        f"<item><title>{WORDS[i % len(WORDS)].capitalize()}: report {i}</title>"
        f"<link>http://127.0.0.1/item/{i}</link><guid>startup-{i}</guid>"
        f"<pubDate>{format_datetime(now - timedelta(hours=6 * i))}</pubDate>"
        f"<description>New evidence on {WORDS[i % len(WORDS)]} and {WORDS[(i + 3) % len(WORDS)]} "
        f"for older people in the community.</description></item>" for i in range(20))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Startup bench</title>'
            f"<link>http://127.0.0.1/</link><description>x</description>{items}</channel></rss>").encode()


@contextmanager
def feed_server() -> Iterator[str]:
    """One RSS feed on 127.0.0.1, served from this process."""
    body = _feed()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()


def deployment(where: Path, feed: str) -> Path:
    """awareness.toml, sources.yaml and profiles/ with one feed and one profile."""
    (where / "profiles").mkdir(parents=True)
    shutil.copy(PROFILE, where / "profiles" / PROFILE.name)
    (where / "sources.yaml").write_text(f"- id: startup-feed\n  url: {feed}\n")
    config = where / "awareness.toml"
    config.write_text("\n".join([
        f'database_url = "sqlite:///{where / "awareness.db"}"', 'sources = "sources.yaml"',
        'profiles = "profiles"', 'smtp_url = "smtp://127.0.0.1:9"',
        'sender = "Awareness <awareness@startup.example.nhs.uk>"',
        'base_url = "https://awareness.startup.example.nhs.uk"', 'fetch_allow = ["127.0.0.1"]', ""]))
    return config


def _env() -> dict[str, str]:
    # Bytecode is cached as on an installed system (pip compiles it): without the cache every
    # start compiles awareness's ~70 modules again (PYTHONDONTWRITEBYTECODE), ~0.05-0.1 s more.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWARENESS_") and k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "AWARENESS_SECRET_KEY": "startup-bench-secret-not-for-production"}


def _timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def heavy_modules(code: str, cwd: Path) -> list[str]:
    """Which heavy libraries a fresh process has loaded after running ``code``."""
    probe = f"{code}\nimport sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([str(PYTHON), "-c", probe], cwd=cwd, env=_env(), capture_output=True, text=True)
    return proc.stdout.split()


def measure(runs: int = 5) -> dict[str, Any]:
    """Medians of ``runs`` fresh processes for the import and each command (seconds)."""
    out: dict[str, Any] = {"runs": runs}
    with tempfile.TemporaryDirectory(prefix="awareness-startup-") as tmp, feed_server() as feed:
        where = Path(tmp)   # not the checkout: `python -c` puts the current folder first on sys.path
        _timed([str(PYTHON), "-c", "import awareness.cli.main, awareness.service.runs, awareness.cli.sources"], where)
        imports = [float(_timed([str(PYTHON), "-c", IMPORT_PIPELINE], where)[1]) for _ in range(runs)]
        out["import_pipeline_s"] = statistics.median(imports)
        out["python_alone_s"] = statistics.median(_timed([str(PYTHON), "-c", "pass"], where)[0] for _ in range(runs))
        out["import_pipeline_loads"] = heavy_modules("import awareness.pipeline", where)
        config = deployment(where / "deployment", feed)
        base = [str(AWARENESS), "--config", str(config)]
        commands = {"help": [str(AWARENESS), "--help"], "sources_list": [*base, "sources", "list"],
                    "run_dry_run": [*base, "run", "--dry-run", "--now"]}
        for name, cmd in commands.items():
            _timed(cmd, where)   # not counted: the first run makes the database and gathers the feed
            out[f"{name}_s"] = statistics.median(_timed(cmd, where)[0] for _ in range(runs))
    return out


def rows(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The start-up targets beside what was measured (the same shape as national.py's rows)."""
    loads = m.get("import_pipeline_loads") or []
    return [
        {"target": f"import awareness.pipeline < {IMPORT_TARGET_S} s (aim < {IMPORT_GOAL_S} s)",
         "measured": f"{m['import_pipeline_s']:.3f} s" + (f" (loads {', '.join(loads)})" if loads else ""),
         "met": m["import_pipeline_s"] < IMPORT_TARGET_S},
        {"target": f"awareness --help < {COMMAND_TARGET_S} s", "measured": f"{m['help_s']:.3f} s",
         "met": m["help_s"] < COMMAND_TARGET_S},
        {"target": f"awareness sources list < {COMMAND_TARGET_S} s", "measured": f"{m['sources_list_s']:.3f} s",
         "met": m["sources_list_s"] < COMMAND_TARGET_S},
        {"target": f"awareness run --dry-run, 1 feed x 20 items < {DRY_RUN_TARGET_S:g} s",
         "measured": f"{m['run_dry_run_s']:.3f} s", "met": m["run_dry_run_s"] < DRY_RUN_TARGET_S},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="How fast Awareness starts (issue 19)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure (the median is shown)")
    args = parser.parse_args()
    if not PYTHON.exists():
        raise SystemExit(f"{PYTHON} is missing: run `make .venv/.installed-test` first")
    m = measure(args.runs)
    print(f"Start-up, median of {m['runs']} fresh processes (Python alone starts in {m['python_alone_s']:.3f} s; "
          f"load {os.getloadavg()[0]:.2f})")
    print()
    print("| target | measured | met |")
    print("| --- | --- | --- |")
    for r in rows(m):
        print(f"| {r['target']} | {r['measured']} | {'yes' if r['met'] else '**no**'} |")


if __name__ == "__main__":
    sys.exit(main())
