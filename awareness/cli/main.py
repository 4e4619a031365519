"""The `awareness` command: a thin shell over the pipeline and the service.

Options are parsed here and library errors become clear messages; the work itself happens
in ``pipeline``, ``service`` and the stages.  One module per command group (run, sources,
profiles, service, web, demo); each is imported only when its command runs, so
`awareness runs` does not load scikit-learn, Scrapy or Starlette.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
import threading
from typing import Any

import click

from .. import __version__
from .base import Obj, setup_logging

# command name -> (where it is, the first line of its help). The line is here so that
# `awareness --help` lists the commands without importing them; tests/test_cli_help.py checks
# each one against the command's own docstring.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("awareness.cli.run:run", "Gather due sources, match new items and send the bulletins that are due."),
    "send": ("awareness.cli.run:send", "Compose and send bulletins from what is already gathered and matched."),
    "gather": ("awareness.cli.run:gather", "Fetch due sources and store new items (no matching, no email)."),
    "items": ("awareness.cli.run:items", "List gathered items and what they matched."),
    "crawl": ("awareness.cli.run:crawl", "Run the spiders for sites without feeds (the named sources now, or those "
              "due), then read thin items' full text."),
    "sources": ("awareness.cli.sources:sources", "Sources: list them with their health, import an OPML file."),
    "profiles": ("awareness.cli.profiles:profiles", "Profiles: check the YAML files librarians write."),
    "evaluate": ("awareness.cli.profiles:evaluate", "Score a labelled file against a profile and compare with "
                 "keyword and stemmed-keyword baselines."),
    "demo": ("awareness.cli.demo:demo", "Run the whole job on bundled demo feeds served on 127.0.0.1: gather, "
             "match, write bulletins."),
    "serve": ("awareness.cli.serve:serve", "Run the service: the scheduler (sources polled, bulletins on schedule) "
              "plus the web app when present."),
    "reload": ("awareness.cli.service:reload", "Ask the running `awareness serve` to re-read sources.yaml and "
               "profiles/ now."),
    "runs": ("awareness.cli.service:runs", "The run history: every scheduled and ad hoc run, newest first."),
    "db": ("awareness.cli.service:db", "The database schema."),
    "web": ("awareness.cli.web:web", "Serve the web app alone (subscribe, archive, feedback, librarian and admin "
            "pages)."),
    "users": ("awareness.cli.users:users", "Librarian and admin accounts for the web app."),
}


class CommandGroups(click.Group):
    """A click group whose commands live in their own modules, loaded by name when wanted."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name][0].split(":")
        # Importing a command builds tens of thousands of objects that live as long as the process;
        # the cyclic collector would walk them again and again meanwhile (~8% of start-up, issue 19).
        collecting = gc.isenabled()
        gc.disable()
        try:
            command: Any = getattr(importlib.import_module(module), attribute)
        finally:
            if collecting:
                gc.enable()
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands, as click draws it, from the table (nothing is imported)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit))
                                for name in names])


@click.group(cls=CommandGroups, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="AWARENESS_CONFIG",
              help="Settings file (default: ./awareness.toml).")
@click.option("-v", "--verbose", count=True, help="More detail in the log (-vv for debugging).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in the log.")
@click.version_option(__version__, prog_name="awareness")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: int, quiet: bool) -> None:
    """Awareness: gather health policy and research, match it to team profiles, email bulletins."""
    setup_logging(verbose, quiet)
    ctx.obj = Obj(config)


def entry() -> None:
    """The console command: ``main``, then exit without tearing the interpreter down (issue 19).

    Teardown frees every module's objects one by one, ~0.2-0.3 s after a run that loaded
    numpy, scipy and SQLAlchemy, and nothing waits on it: everything is stored and closed by
    then.  The exit handlers still run (logging, multiprocessing, weakref finalizers) and the
    output is flushed, then the process ends with click's exit code.  With another thread
    still running, a profiler or tracer on (``python -m cProfile``), or a message for the exit
    code, Python exits as usual.
    """
    try:
        main()
    except SystemExit as e:
        quiet = threading.active_count() == 1 and sys.getprofile() is None and sys.gettrace() is None
        if (e.code is None or isinstance(e.code, int)) and quiet:   # a profiler writes its report after us
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:   # a closed pipe: let Python report it as it always does
                raise e from None
            atexit._run_exitfuncs()
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(e.code or 0)
        raise


if __name__ == "__main__":  # pragma: no cover
    entry()
