"""The `awareness` command: a thin shell over the pipeline and the service.

Options are parsed here and library errors become clear messages; the work itself happens
in ``pipeline``, ``service`` and the stages.  One module per command group (run, sources,
profiles, service, web, demo); each is imported only when its command runs, so
`awareness runs` does not load scikit-learn, Scrapy or Starlette.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__
from .base import Obj, setup_logging

# command name -> "module:attribute", in the order `awareness --help` lists them (by name)
COMMANDS = {
    "run": "awareness.cli.run:run", "send": "awareness.cli.run:send", "gather": "awareness.cli.run:gather",
    "items": "awareness.cli.run:items", "crawl": "awareness.cli.run:crawl",
    "sources": "awareness.cli.sources:sources",
    "profiles": "awareness.cli.profiles:profiles", "evaluate": "awareness.cli.profiles:evaluate",
    "demo": "awareness.cli.demo:demo",
    "serve": "awareness.cli.service:serve", "reload": "awareness.cli.service:reload",
    "runs": "awareness.cli.service:runs", "db": "awareness.cli.service:db",
    "web": "awareness.cli.web:web", "users": "awareness.cli.web:users",
}


class CommandGroups(click.Group):
    """A click group whose commands live in their own modules, loaded by name when wanted."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command: Any = getattr(importlib.import_module(module), attribute)
        return command


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


if __name__ == "__main__":  # pragma: no cover
    main()
