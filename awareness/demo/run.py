"""`awareness demo`: the whole job, end to end, on bundled feeds and no network.

Serves the demo feeds on 127.0.0.1, gathers them, matches them against the
example profiles in ./profiles and writes each subscriber's bulletin to the
outbox folder, then says where everything is and what to try next, with a
config file (var/demo/awareness.toml) that points the next commands at the demo's data.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click

from ..config.settings import load_settings
from ..gather.crawl import override_settings
from ..core.errors import ConfigError
from ..pipeline import open_context, run
from ..store.store import Store
from . import nextsteps
from .server import DemoServer


def run_demo(workdir: Path, *, keep_db: bool = False, port: int = 8000) -> None:
    profiles_dir = workdir / "profiles"
    if not profiles_dir.is_dir():
        raise ConfigError("profiles", f"no profiles folder in {workdir}; run the demo from the project folder")
    var = workdir / "var"
    demo_dir = var / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    db = var / "demo.db"
    if not keep_db:
        for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            leftover.unlink(missing_ok=True)
    outbox = var / "outbox"
    config = nextsteps.write_config(demo_dir / "awareness.toml", database=db, sources=demo_dir / "sources.yaml",
                                    profiles=profiles_dir, outbox=outbox, port=port)
    secret = os.environ.get("AWARENESS_SECRET_KEY")
    settings = load_settings(config, environ={"AWARENESS_SECRET_KEY": secret} if secret else {})
    # The summary below names every file; one log line per message would only bury it.
    logging.getLogger("awareness.deliver.transport").setLevel(logging.WARNING)
    started = time.time()
    with DemoServer() as server:
        settings.sources.write_text(server.sources_yaml(), encoding="utf-8")
        click.echo(f"Serving {len(server.feeds)} demo feeds on http://127.0.0.1:{server.port}/ "
                   f"(plus one broken source, to show error reporting)")
        click.echo(f"and one site without a feed ({server.site.data['name']}), read by the listing spider")
        ctx = open_context(settings)
        try:
            # The demo's spider source is our own server on loopback: no need for the polite delays.
            with override_settings(DOWNLOAD_DELAY=0, AUTOTHROTTLE_ENABLED=False, DOWNLOAD_DELAY_JITTER=0):
                report = run(ctx, force=True)
        finally:
            ctx.close()

    g = report.gather
    click.echo(f"Gathered {g.sources} sources: {g.new_items} new items, {g.failed} failed.")
    for source_id, error in g.errors.items():
        click.echo(f"  ! {source_id}: {error}")
    written = sorted(p for p in outbox.glob("*") if p.is_file() and p.stat().st_mtime >= started - 1)
    click.echo(f"\nBulletins are in {outbox}/ ({sum(p.suffix == '.eml' for p in written)} emails, "
               f"each with an .html preview):")
    for p in report.profiles:
        previews = [f for f in written if f.suffix == ".html" and f"-{p.profile_id}-" in f.name]
        where = f" -> {previews[0].relative_to(workdir)}" if previews else ""
        if p.sent:
            click.echo(f"  {p.profile_id:<22} {p.name}: {p.items} items to {p.sent} "
                       f"subscriber{'s' * (p.sent != 1)}{where}")
        else:
            click.echo(f"  {p.profile_id:<22} {p.name}: {p.note or 'nothing sent'}")
    if not report.ok:
        raise click.ClickException("some bulletins could not be written")
    click.echo("\nOpen an .html file in a browser to see a bulletin.")
    store = Store(settings.database_url)
    try:
        email, password = nextsteps.staff_login(store, demo_dir / "staff-password")
    finally:
        store.close()
    shown = next((p.profile_id for p in report.profiles if p.sent), report.profiles[0].profile_id
                 if report.profiles else "PROFILE")
    preview, web, again = nextsteps.next_commands(workdir, config, shown, port)
    click.echo(f"\nThe demo's settings are in {config.relative_to(workdir)}. Next, try:")
    for warning in nextsteps.demo_environment_warnings():
        click.echo(f"  ({warning})")
    click.echo(f"  {preview}\n      what {shown}'s next bulletin would hold, and the near-misses")
    click.echo(f"  {web}\n      the web app on the demo data: http://127.0.0.1:{port}/librarian, "
               f"log in as {email} with password {password}")
    click.echo(f"  {again}\n      run the demo again: nothing already sent is sent twice")
