"""`awareness reload`, `runs` and `db`: the service's history and schema (`serve` is cli/serve.py)."""

from __future__ import annotations

import json

import click

from ..service import admin
from ..store import runlog
from .base import Obj, friendly


# ------------------------------------------------------------------ service: serve, reload, runs, db (issue 5)

@click.command()
@click.pass_obj
@friendly
def reload(obj: Obj) -> None:
    """Ask the running `awareness serve` to re-read sources.yaml and profiles/ now."""
    admin.ask_reload(obj.settings)
    click.echo(f"Asked the scheduler to reload; it does within {obj.settings.watch_interval} s "
               "(problems are logged and shown by `awareness runs`).")


@click.group(invoke_without_command=True)
@click.option("--last", default=20, show_default=True, type=click.IntRange(min=1), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.pass_context
@friendly
def runs(click_ctx: click.Context, last: int, as_json: bool) -> None:
    """The run history: every scheduled and ad hoc run, newest first."""
    if click_ctx.invoked_subcommand is not None:
        return

    records = admin.runs(click_ctx.obj.settings, last)
    if as_json:
        for record in records:
            click.echo(json.dumps(record.as_json(), ensure_ascii=False))
    else:
        click.echo(runlog.format_table(records, click_ctx.obj.settings.timezone))


@runs.command("show")
@click.argument("run_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.pass_obj
@friendly
def runs_show(obj: Obj, run_id: int, as_json: bool) -> None:
    """Everything recorded about one run."""
    record = admin.run_record(obj.settings, run_id)
    click.echo(json.dumps({**record.as_json(), "details": record.details}, ensure_ascii=False) if as_json
               else runlog.format_details(record, obj.settings.timezone))


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_obj
@friendly
def db_upgrade(obj: Obj) -> None:
    """Bring the database schema up to date (back it up first)."""
    before, after = admin.upgrade_database(obj.settings)
    if before == after:
        click.echo(f"The database is up to date (schema revision {after}).")
    else:
        click.echo(f"Upgraded the database from schema revision {before or 'none (new database)'} to {after}.")
