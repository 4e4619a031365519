"""`awareness run`, `send`, `gather`, `crawl` and `items`: the pipeline's stages, by hand."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import pipeline
from ..config.settings import Settings
from ..service import admin
from ..service import runs as service
from .base import Obj, friendly


# ------------------------------------------------------------------ run

@click.command()
@click.option("--now", "force", is_flag=True, help="Fetch every source and send every bulletin now, ignoring schedules.")
@click.option("--profile", "profile_id", metavar="ID", help="Only this profile's bulletin.")
@click.option("--source", "source_id", metavar="ID", help="Only gather this source.")
@click.option("--dry-run", is_flag=True, help="Gather and match, then print what would go to whom; send nothing, "
              "mark nothing sent.")
@click.pass_obj
@friendly
def run(obj: Obj, force: bool, profile_id: str | None, source_id: str | None, dry_run: bool) -> None:
    """Gather due sources, match new items and send the bulletins that are due."""
    if dry_run:
        report = service.dry_run(obj.settings, force=force, profile=profile_id, source=source_id)
        _print_gathered(report)
        click.echo(_would_send(report))
        return
    run_id, report = service.run_from_cli(obj.settings, force=force, profile=profile_id, source=source_id)
    _print_run(report, obj.settings)
    if report.stopped:
        raise click.ClickException(f"run {run_id} stopped early (SIGTERM); what was sent is recorded and the "
                                   "next run sends the rest")
    if report.profile_errors:
        for problem in report.profile_errors:
            click.echo(f"  ! profile skipped: {problem}", err=True)
        raise click.ClickException("some profiles have errors and were skipped (see above); "
                                   "fix them and check with `awareness profiles check`")
    if not report.ok:
        raise click.ClickException(_failure_summary(report.profiles))


def _failure_summary(profiles: Any) -> str:
    """Say which failures the next run retries and which it never will (a 5xx refusal is final)."""
    refused = sum(p.refused for p in profiles)
    retried = sum(p.failed for p in profiles) - refused
    parts = []
    crashed = [p.profile_id for p in profiles if getattr(p, "crashed", False)]
    if crashed:
        parts.append(f"the bulletin of {', '.join(crashed)} could not be made (see above); the other profiles' "
                     "bulletins went, and the next run tries again")
    if retried:
        parts.append(f"{retried} bulletin{'s' * (retried != 1)} could not be sent; nothing was marked sent "
                     "for them and the next run will retry")
    if refused:
        parts.append(f"{refused} {'was' if refused == 1 else 'were'} refused for good by the mail server "
                     "(see above); those are recorded and will not be retried: check the address")
    return "; ".join(parts) or "some bulletins could not be sent (see above)"


def _print_gathered(report: Any) -> None:
    g = report.gather
    click.echo(f"Gathered {g.sources} sources: {g.new_items} new items, {g.unchanged} unchanged, "
               f"{g.failed} failed.")
    for source_id, error in g.errors.items():
        click.echo(f"  ! {source_id}: {error}")
    for problem in report.source_problems:
        click.echo(f"  ! skipped: {problem}")
    click.echo(f"Matched: {report.matched} matches.")


def _would_send(report: Any) -> str:
    """`run --dry-run`: per profile, who would get which items (the next real run sends exactly these)."""
    lines = ["Dry run: nothing was sent and nothing was marked sent. A real run now would send:"]
    for p in report.profiles:
        if not p.would_send:
            lines.append(f"  {p.profile_id}: {'not due yet' if not p.due else p.note or 'nothing to send'}")
            continue
        lines.append(f"  {p.profile_id}: {len(p.would_send)} bulletin{'s' * (len(p.would_send) != 1)}")
        for address, bulletin in p.would_send:
            lines.append(f"    to {address}: {len(bulletin.item_ids)} item{'s' * (len(bulletin.item_ids) != 1)}")
            for section in bulletin.sections:
                for entry in section.entries:
                    lines.append(f"      - [{section.topic.id}] {entry.item.title} <{entry.item.link}>")
        for error in p.errors:
            lines.append(f"    ! {error}")
    return "\n".join(lines)


def _print_run(report: Any, settings: Settings) -> None:
    _print_gathered(report)
    for p in report.profiles:
        click.echo("  " + _profile_line(p))
    for p in report.profiles:
        for error in p.errors:
            click.echo(f"  ! {p.profile_id}: {error}", err=True)


def _profile_line(p: Any) -> str:
    if not p.due:
        return f"{p.profile_id}: not due yet"
    if p.sent or p.failed:
        line = f"{p.profile_id}: sent {p.sent} bulletin{'s' * (p.sent != 1)} ({p.items} items)"
        return line + (f", {p.failed} FAILED" if p.failed else "")
    return f"{p.profile_id}: {p.note or 'nothing sent'}"


@click.command()
@click.option("--now", "force", is_flag=True, help="Send even if the schedule has not come round.")
@click.option("--dry-run", is_flag=True, help="Render the bulletin and print it; send nothing, record nothing.")
@click.option("--profile", "profile_id", metavar="ID", help="Only this profile.")
@click.option("--html", "as_html", is_flag=True, help="With --dry-run: print the HTML instead of the text.")
@click.pass_obj
@friendly
def send(obj: Obj, force: bool, dry_run: bool, profile_id: str | None, as_html: bool) -> None:
    """Compose and send bulletins from what is already gathered and matched."""
    ctx = pipeline.open_context(obj.settings)
    try:
        pipeline.match_recent(ctx)
        reports = pipeline.send_due_bulletins(ctx, force=force, only_profile=profile_id, dry_run=dry_run)
    finally:
        ctx.close()
    for p in reports:
        if dry_run:
            if not p.outputs:
                click.echo(f"{p.profile_id}: nothing new to send")
            for rendered in p.outputs[:1]:
                click.echo(f"Subject: {rendered.subject}\n")
                click.echo(rendered.html if as_html else rendered.text)
        else:
            click.echo(_profile_line(p))
    if any(p.failed for p in reports):
        raise click.ClickException(_failure_summary(reports))


@click.command()
@click.option("--now", "force", is_flag=True, help="Fetch every source, not only those due.")
@click.option("--source", "source_id", metavar="ID", help="Only this source.")
@click.pass_obj
@friendly
def gather(obj: Obj, force: bool, source_id: str | None) -> None:
    """Fetch due sources and store new items (no matching, no email)."""
    report, skipped = service.gather_from_cli(obj.settings, force=force, source=source_id)
    click.echo(f"{report.sources} sources: {report.new_items} new items, {report.unchanged} unchanged, "
               f"{report.failed} failed.")
    for sid, error in report.errors.items():
        click.echo(f"  ! {sid}: {error}")
    for problem in skipped:
        click.echo(f"  ! skipped: {problem}")


# ------------------------------------------------------------------ items

@click.command()
@click.option("--source", "source_id", metavar="ID", help="Only items from this source.")
@click.option("--days", default=14, show_default=True, type=click.IntRange(min=1), help="Published in the last N days.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
@friendly
def items(obj: Obj, source_id: str | None, days: int, as_json: bool) -> None:
    """List gathered items and what they matched."""
    found = admin.recent_items(obj.settings, days=days, source_id=source_id)
    for item, verdicts in found:
        item_matches = [{"profile": m.profile_id, "topic": m.topic_id, "score": round(m.score, 4),
                         "terms": list(m.terms)} for m in verdicts]
        if as_json:
            click.echo(json.dumps({"id": item.id, "title": item.title, "link": item.link,
                                   "published": item.published.isoformat(), "sources": item.sources,
                                   "matches": item_matches}, ensure_ascii=False))
        else:
            tags = ", ".join(f"{m['profile']}/{m['topic']} {m['score']:.2f}" for m in item_matches)
            click.echo(f"{item.published:%d %b} {item.title[:90]}")
            click.echo(f"       {', '.join(item.sources)}{' -> ' + tags if tags else ''}")
    if not as_json:
        click.echo(f"{len(found)} items in the last {days} days.")


# ------------------------------------------------------------------ spiders and full text (issue 3)

@click.command()
@click.argument("source_ids", nargs=-1, metavar="[SOURCE_ID...]")
@click.option("--now", "force", is_flag=True, help="Crawl every spider source, not only those due.")
@click.pass_obj
@friendly
def crawl(obj: Obj, source_ids: tuple[str, ...], force: bool) -> None:
    """Run the spiders for sites without feeds (the named sources now, or those due), then read thin items' full text."""
    report, enriched, states = service.crawl_from_cli(obj.settings, list(source_ids), force=force)
    click.echo(f"{report.sources} spider sources: {report.new_items} new items, {report.failed} failed; "
               f"full text read for {enriched.fetched} items.")
    for sid in sorted(states):
        state = states[sid]
        if sid in report.errors:
            click.echo(f"  ! {sid}: {report.errors[sid]}")
        elif state.last_warning and (not source_ids or sid in source_ids):
            click.echo(f"  ~ {sid}: {state.last_warning}")
