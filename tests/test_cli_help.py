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
