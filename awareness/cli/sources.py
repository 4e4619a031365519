"""`awareness sources`: list them with their health, import and export OPML."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from ..config.opml_export import sources_opml
from ..config.opml_import import import_opml
from ..config.sources import load_sources
from ..core.localtime import local
from ..service import admin
from .base import Obj, friendly


# ------------------------------------------------------------------ sources

@click.group()
def sources() -> None:
    """Sources: list them with their health, import an OPML file."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.pass_obj
@friendly
def sources_list(obj: Obj, as_json: bool) -> None:
    """Each source with its health: last success, last error, failures in a row, items.

    An entry that cannot be gathered (malformed, or refused by the fetch guard) is listed
    with its file, line and what to do; the other sources are listed as usual.
    """
    configured, states, skipped = admin.source_health(obj.settings)
    for source in configured:
        s = states[source.id]
        if as_json:
            click.echo(json.dumps({
                "id": s.id, "url": source.url, "ok": s.ok,
                "last_success": s.last_success.isoformat() if s.last_success else None,
                "last_error": s.last_error, "consecutive_failures": s.consecutive_failures, "items": s.items,
                "last_warning": s.last_warning,
                "name": source.label, "kind": source.kind, "tags": list(source.tags),
            }, ensure_ascii=False))
            continue
        health = ("ok" if s.ok else "never fetched" if s.last_checked is None
                  else f"FAILING x{s.consecutive_failures}")
        last = local(s.last_success, obj.settings.timezone) if s.last_success else "-"   # the install's zone
        click.echo(f"{s.id:<32} {health:<14} last ok {last:<20} {s.items:>5} items  {source.url}")
        if s.last_error:
            click.echo(f"{'':<32} ! {s.last_error}")
        elif s.last_warning:
            click.echo(f"{'':<32} ~ {s.last_warning}")
    for problem in skipped:
        if as_json:
            click.echo(json.dumps({"id": None, "url": None, "ok": False, "last_success": None,
                                   "last_error": str(problem), "consecutive_failures": 0, "items": 0,
                                   "problem": problem.problem, "file": problem.path, "line": problem.line},
                                  ensure_ascii=False))
        else:
            click.echo(f"SKIPPED {problem}", err=True)
    if skipped and not as_json:
        click.echo(f"{len(skipped)} entr{'ies' if len(skipped) != 1 else 'y'} in {obj.settings.sources} cannot be "
                   "gathered until fixed; every other source is gathered as usual.", err=True)


@sources.command("import-opml")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@friendly
def sources_import_opml(obj: Obj, opml_file: Path) -> None:
    """Add every feed in an OPML file (as exported by feed readers) to sources.yaml."""
    added, messages = import_opml(opml_file, obj.settings.sources, fetch_allow=obj.settings.fetch_allow)
    for message in messages:
        click.echo(f"  {message}")
    click.echo(f"Added {len(added)} source{'s' * (len(added) != 1)} to {obj.settings.sources}.")


@sources.command("export-opml")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of printing.")
@click.pass_obj
@friendly
def sources_export_opml(obj: Obj, out_path: Path | None) -> None:
    """Every feed in sources.yaml as OPML, for a feed reader (spider sources have no feed and are left out)."""
    found = load_sources(obj.settings.sources)
    text = sources_opml(found, title=f"Awareness sources ({obj.settings.sources.name})", now=datetime.now(timezone.utc))
    feeds = sum(s.kind == "feed" for s in found)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {feeds} feed{'s' * (feeds != 1)} to {out_path}", err=True)
    if feeds < len(found):
        click.echo(f"left out {len(found) - feeds} spider source(s): web pages without a feed", err=True)
