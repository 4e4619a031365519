"""`awareness --help` lists the commands from a table, so it imports none of them (issue 18): the
table must say what each command's own help says, and the listing must stay as click draws it."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from awareness.cli.main import COMMANDS, main
from conftest import without_settings


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_says_what_the_command_says(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert command.get_short_help_str(1000) == click.Command(name, help=COMMANDS[name][1]).get_short_help_str(1000)


def test_help_lists_every_command_as_click_would_and_loads_no_stage() -> None:
    listed = CliRunner().invoke(main, ["--help"], prog_name="awareness").output

    class Eager(click.Group):   # click's own listing, every command imported
        pass

    eager = Eager(name="awareness", help=main.help, params=main.params,
                  context_settings=main.context_settings,
                  commands={n: main.get_command(click.Context(main), n) for n in COMMANDS})  # type: ignore[misc]
    assert listed == CliRunner().invoke(eager, ["--help"], prog_name="awareness").output
    code = ("import sys; from awareness.cli import main; sys.argv = ['awareness', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('sklearn', 'scrapy', 'starlette', 'awareness.pipeline') if m in sys.modules]\n"
            "print('loaded:', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=without_settings(),
                         timeout=60)
    assert out.stdout.strip().endswith("loaded: []"), out.stdout + out.stderr


def _entry(code: str, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` then ``awareness.cli.entry()`` with these arguments, in a fresh process."""
    script = f"import sys\n{code}\nfrom awareness.cli import entry\nsys.argv = ['awareness', *{list(args)!r}]\nentry()"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=without_settings(),
                          timeout=60, cwd=cwd)


def test_the_console_command_exits_quickly_with_its_code_its_output_and_its_exit_handlers(tmp_path) -> None:
    # entry() leaves without the interpreter's teardown (issue 19): the same code, every line
    # written, and exit handlers (atexit, weakref finalizers such as a temporary folder's) still run.
    marker = tmp_path / "handlers-ran"
    handlers = (f"import atexit, pathlib, tempfile\nkept = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})\n"
                f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('yes'))")
    ok = _entry(handlers, "--help")
    assert ok.returncode == 0 and "Commands:" in ok.stdout, ok.stderr
    assert ok.stdout.splitlines()[-1].split()[0] == sorted(COMMANDS)[-1]     # written to the last line
    assert marker.read_text() == "yes" and [p.name for p in tmp_path.iterdir()] == [marker.name]
    usage = _entry("", "no-such-command")
    assert usage.returncode == 2 and "No such command" in usage.stderr
    failed = _entry("", "--config", str(tmp_path / "missing.toml"), "runs", cwd=str(tmp_path))
    assert failed.returncode == 1 and failed.stderr.strip(), failed.stderr
    # With another thread still running, the ordinary exit (which waits for it).
    waits = _entry("import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.3), print('late'))).start()",
                   "--version")
    assert waits.returncode == 0 and waits.stdout.splitlines()[-1] == "late"


def test_under_a_profiler_the_console_command_exits_as_usual(tmp_path) -> None:
    # python -m cProfile -o FILE -m awareness ...: the profile is written after entry() returns.
    out = tmp_path / "run.prof"
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "awareness", "--version"],
                          capture_output=True, text=True, env=without_settings(), timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0 and "awareness" in proc.stdout and out.stat().st_size > 0
