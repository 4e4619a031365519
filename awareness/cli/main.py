"""The `awareness` command: a thin shell over the pipeline.

Options are parsed here and library errors become clear messages; the work
itself happens in ``pipeline`` and the stage modules.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from .. import __version__
from ..core import diskfull
from ..config.settings import Settings, load_settings
from ..core.errors import AwarenessError, ProfileError, UnknownName

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("awareness")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


class _Obj:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


def _friendly(fn: F) -> F:
    """Turn Awareness errors into one clear line and a non-zero exit, not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AwarenessError as e:
            raise click.ClickException(str(e)) from None
        except Exception as e:   # a full disk: say what is full and that nothing was lost, not a traceback
            if not diskfull.is_disk_full(e):
                raise
            raise click.ClickException(diskfull.explain(e, _database_url())) from None

    return wrapper  # type: ignore[return-value]


def _database_url() -> str | None:
    """The database in use, if the settings were loaded (for the disk-full message)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(_Obj) if ctx else None
    return obj._settings.database_url if obj is not None and obj._settings is not None else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="AWARENESS_CONFIG",
              help="Settings file (default: ./awareness.toml).")
@click.option("-v", "--verbose", count=True, help="More detail in the log (-vv for debugging).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in the log.")
@click.version_option(__version__, prog_name="awareness")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: int, quiet: bool) -> None:
    """Awareness: gather health policy and research, match it to team profiles, email bulletins."""
    _setup_logging(verbose, quiet)
    ctx.obj = _Obj(config)


# ------------------------------------------------------------------ run

@main.command()
@click.option("--now", "force", is_flag=True, help="Fetch every source and send every bulletin now, ignoring schedules.")
@click.option("--profile", "profile_id", metavar="ID", help="Only this profile's bulletin.")
@click.option("--source", "source_id", metavar="ID", help="Only gather this source.")
@click.option("--dry-run", is_flag=True, help="Gather and match, then print what would go to whom; send nothing, "
              "mark nothing sent.")
@click.pass_obj
@_friendly
def run(obj: _Obj, force: bool, profile_id: str | None, source_id: str | None, dry_run: bool) -> None:
    """Gather due sources, match new items and send the bulletins that are due."""
    from ..service import runs as service

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


@main.command()
@click.option("--now", "force", is_flag=True, help="Send even if the schedule has not come round.")
@click.option("--dry-run", is_flag=True, help="Render the bulletin and print it; send nothing, record nothing.")
@click.option("--profile", "profile_id", metavar="ID", help="Only this profile.")
@click.option("--html", "as_html", is_flag=True, help="With --dry-run: print the HTML instead of the text.")
@click.pass_obj
@_friendly
def send(obj: _Obj, force: bool, dry_run: bool, profile_id: str | None, as_html: bool) -> None:
    """Compose and send bulletins from what is already gathered and matched."""
    from .. import pipeline

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


@main.command()
@click.option("--now", "force", is_flag=True, help="Fetch every source, not only those due.")
@click.option("--source", "source_id", metavar="ID", help="Only this source.")
@click.pass_obj
@_friendly
def gather(obj: _Obj, force: bool, source_id: str | None) -> None:
    """Fetch due sources and store new items (no matching, no email)."""
    from .. import pipeline

    from ..store import runlock

    ctx = pipeline.open_context(obj.settings)
    try:
        lock = runlock.acquire(ctx.store)   # never two runs gathering at once (issue 16)
        try:
            report = pipeline.refresh_due(ctx, force=force, only=[source_id] if source_id else None)
        finally:
            lock.release()
    finally:
        ctx.close()
    click.echo(f"{report.sources} sources: {report.new_items} new items, {report.unchanged} unchanged, "
               f"{report.failed} failed.")
    for sid, error in report.errors.items():
        click.echo(f"  ! {sid}: {error}")
    for problem in ctx.source_problems:
        click.echo(f"  ! skipped: {problem}")


# ------------------------------------------------------------------ items

@main.command()
@click.option("--source", "source_id", metavar="ID", help="Only items from this source.")
@click.option("--days", default=14, show_default=True, type=click.IntRange(min=1), help="Published in the last N days.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
@_friendly
def items(obj: _Obj, source_id: str | None, days: int, as_json: bool) -> None:
    """List gathered items and what they matched."""
    from ..store.store import Store
    from ..store.schema import utcnow

    store = Store(obj.settings.database_url)
    try:
        if source_id and not store.source_states([source_id]):
            known = ", ".join(s.id for s in store.source_states()) or "none gathered yet"
            raise UnknownName(f"no source '{source_id}' (sources: {known})")
        found = store.items_since(utcnow() - timedelta(days=days), source_ids=[source_id] if source_id else None)
        verdicts = store.matches_for([i.id for i in found])
    finally:
        store.close()
    for item in found:
        item_matches = [{"profile": m.profile_id, "topic": m.topic_id, "score": round(m.score, 4),
                         "terms": list(m.terms)} for m in verdicts.get(item.id, [])]
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


# ------------------------------------------------------------------ sources

@main.group()
def sources() -> None:
    """Sources: list them with their health, import an OPML file."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.pass_obj
@_friendly
def sources_list(obj: _Obj, as_json: bool) -> None:
    """Each source with its health: last success, last error, failures in a row, items.

    An entry that cannot be gathered (malformed, or refused by the fetch guard) is listed
    with its file, line and what to do; the other sources are listed as usual.
    """
    from ..core.localtime import local
    from ..config.sources import usable_sources
    from ..store.store import Store

    configured, skipped = usable_sources(obj.settings.sources, fetch_allow=obj.settings.fetch_allow)
    store = Store(obj.settings.database_url)
    try:
        store.sync_sources(configured)
        states = {s.id: s for s in store.source_states()}
    finally:
        store.close()
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
@_friendly
def sources_import_opml(obj: _Obj, opml_file: Path) -> None:
    """Add every feed in an OPML file (as exported by feed readers) to sources.yaml."""
    from ..config.sources import import_opml

    added, messages = import_opml(opml_file, obj.settings.sources, fetch_allow=obj.settings.fetch_allow)
    for message in messages:
        click.echo(f"  {message}")
    click.echo(f"Added {len(added)} source{'s' * (len(added) != 1)} to {obj.settings.sources}.")


@sources.command("export-opml")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of printing.")
@click.pass_obj
@_friendly
def sources_export_opml(obj: _Obj, out_path: Path | None) -> None:
    """Every feed in sources.yaml as OPML, for a feed reader (spider sources have no feed and are left out)."""
    from ..config.opml_export import sources_opml
    from ..config.sources import load_sources
    from ..store.schema import utcnow

    found = load_sources(obj.settings.sources)
    text = sources_opml(found, title=f"Awareness sources ({obj.settings.sources.name})", now=utcnow())
    feeds = sum(s.kind == "feed" for s in found)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {feeds} feed{'s' * (feeds != 1)} to {out_path}", err=True)
    if feeds < len(found):
        click.echo(f"left out {len(found) - feeds} spider source(s): web pages without a feed", err=True)


# ------------------------------------------------------------------ profiles

@main.group()
def profiles() -> None:
    """Profiles: check the YAML files librarians write."""


@profiles.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: 'ok' (profiles) and 'problems'.")
@click.pass_obj
def profiles_check(obj: _Obj, paths: tuple[Path, ...], as_json: bool) -> None:
    """Report every problem in the given profiles (default: the profiles folder)."""
    from ..config.profiles import check_profiles
    from ..config.sources import check_sources

    targets = list(paths) or [obj.settings.profiles]
    known: list[Any] | None = None
    source_problems: list[Any] = []
    if obj.settings.sources.exists():
        known, source_problems = check_sources(obj.settings.sources)
        if source_problems:
            known = None
            click.echo(f"{obj.settings.sources} has problems, so profiles' 'sources:' entries were not "
                       "checked against it:", err=True)
    else:
        click.echo(f"note: {obj.settings.sources} does not exist; 'sources:' entries were not checked", err=True)
    for problem in source_problems:
        click.echo(str(problem), err=True)
    good, problems = check_profiles(targets, known)
    problems = [*source_problems, *problems]
    if as_json:
        click.echo(json.dumps({
            "ok": [{"id": p.id, "path": str(p.path), "topics": len(p.topics), "subscribers": len(p.subscribers)}
                   for p in good],
            "problems": [{"file": e.path, "line": e.line, "problem": e.problem, "message": str(e)}
                         for e in problems]}, ensure_ascii=False))
        if problems:
            sys.exit(1)
        return
    for problem in problems[len(source_problems):]:
        click.echo(str(problem), err=True)
    for profile in good:
        click.echo(f"ok  {profile.path}: {profile.id} ({len(profile.topics)} topics, "
                   f"{len(profile.subscribers)} subscribers)")
    if problems:
        raise click.ClickException(f"{len(problems)} problem{'s' * (len(problems) != 1)} found")


# ------------------------------------------------------------------ evaluate

@main.command()
@click.argument("profile_path", metavar="PROFILE")
@click.argument("items_path", metavar="ITEMS.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--feedback", "feedback_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled items (same format) given as a librarian's judgements, e.g. the first 5 judged "
                   "items of each topic; any of them also in ITEMS are not scored. Shows what they change.")
@_friendly
def evaluate(profile_path: str, items_path: Path, as_json: bool, feedback_path: Path | None) -> None:
    """Score a labelled file against a profile and compare with keyword and stemmed-keyword baselines.

    PROFILE is a profile YAML file (or the id of one in ./profiles). Needs no
    config, database or network.
    """
    from ..match import evaluate as evaluation
    from ..config.profiles import load_profile

    path = Path(profile_path)
    if not path.exists() and (Path("profiles") / f"{profile_path}.yaml").exists():
        path = Path("profiles") / f"{profile_path}.yaml"
    if not path.exists():
        raise ProfileError(profile_path, None, "no such profile file")
    profile = load_profile(path)
    feedback = evaluation.load_labelled(feedback_path) if feedback_path else None
    result = evaluation.evaluate(profile, evaluation.load_labelled(items_path), feedback=feedback)
    if as_json:
        click.echo(json.dumps(result, indent=None))
    else:
        click.echo(evaluation.format_report(result))
    if result["unlabelled_topics"]:
        raise click.ClickException(f"{items_path} has no labelled items for topic "
                                   f"{', '.join(result['unlabelled_topics'])} of {profile.id}; "
                                   "its scores there mean nothing")


# ------------------------------------------------------------------ demo

@main.command()
@click.option("--keep-db", is_flag=True, help="Keep the demo database from the last demo (shows that nothing is sent twice).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="The port the printed `web` command uses (and the bulletins' links point at).")
@_friendly
def demo(keep_db: bool, port: int) -> None:
    """Run the whole job on bundled demo feeds served on 127.0.0.1: gather, match, write bulletins."""
    from ..demo.run import run_demo

    run_demo(Path.cwd(), keep_db=keep_db, port=port)


# ------------------------------------------------------------------ spiders and full text (issue 3)

@main.command()
@click.argument("source_ids", nargs=-1, metavar="[SOURCE_ID...]")
@click.option("--now", "force", is_flag=True, help="Crawl every spider source, not only those due.")
@click.pass_obj
@_friendly
def crawl(obj: _Obj, source_ids: tuple[str, ...], force: bool) -> None:
    """Run the spiders for sites without feeds (the named sources now, or those due), then read thin items' full text."""
    from .. import pipeline

    from ..gather.enrich import enrich_new_items

    ctx = pipeline.open_context(obj.settings)
    try:
        spiders = {s.id for s in ctx.sources if s.kind == "spider"}
        for sid in source_ids:
            if sid not in spiders:
                known = ", ".join(sorted(spiders)) or "none"
                raise UnknownName(f"'{sid}' is not a spider source in {obj.settings.sources} (spider sources: {known})")
        report = pipeline.crawl_due(ctx, force=force or bool(source_ids), only=list(source_ids) or None)
        enriched = enrich_new_items(ctx.store, ctx.settings)
        states = {s.id: s for s in ctx.store.source_states(spiders)}
    finally:
        ctx.close()
    click.echo(f"{report.sources} spider sources: {report.new_items} new items, {report.failed} failed; "
               f"full text read for {enriched.fetched} items.")
    for sid in sorted(states):
        state = states[sid]
        if sid in report.errors:
            click.echo(f"  ! {sid}: {report.errors[sid]}")
        elif state.last_warning and (not source_ids or sid in source_ids):
            click.echo(f"  ~ {sid}: {state.last_warning}")

# ------------------------------------------------------------------ matching: preview, diff (issue 4)

def _profile_arg(obj: _Obj, given: str) -> Any:
    """A profile from a YAML path, or the id of one in the profiles folder (saved or not)."""
    from ..config.profiles import load_profile

    path = Path(given)
    if not path.exists():
        path = obj.settings.profiles / f"{given}.yaml"
    if not path.exists():
        raise ProfileError(given, None, f"no such profile file (nor {path})")
    return load_profile(path)


@profiles.command("preview")
@click.argument("profile_ref", metavar="PROFILE")
@click.option("--days", default=None, type=click.IntRange(1, 366),
              help="Look at the items gathered in this many days (default: the profile's lookback_days).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@_friendly
def profiles_preview(obj: _Obj, profile_ref: str, days: int | None, as_json: bool) -> None:
    """Per topic: what would be sent, the near-misses just under the threshold, and why."""
    from .. import pipeline
    from ..preview import format_preview, preview_profile

    profile = _profile_arg(obj, profile_ref)
    ctx = pipeline.open_context(obj.settings)
    try:
        result = preview_profile(ctx, profile, days=days)
    finally:
        ctx.close()
    click.echo(json.dumps(result.to_dict()) if as_json else format_preview(result))


@profiles.command("export-labels")
@click.argument("profile_ref", metavar="PROFILE")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of printing.")
@click.pass_obj
@_friendly
def profiles_export_labels(obj: _Obj, profile_ref: str, out_path: Path | None) -> None:
    """Readers' feedback and your include / exclude decisions as labelled JSONL that `evaluate` reads."""
    from ..match.labels_export import labelled_lines
    from ..store.store import Store

    profile = _profile_arg(obj, profile_ref)
    store = Store(obj.settings.database_url)
    try:
        lines = list(labelled_lines(store, profile.id))
    finally:
        store.close()
    text = "".join(line + "\n" for line in lines)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(lines)} labelled item{'s' * (len(lines) != 1)} to {out_path}", err=True)
    if not lines:
        click.echo(f"{profile.id} has no feedback or include/exclude decisions yet", err=True)


@profiles.command("diff")
@click.argument("old_ref", metavar="OLD.yaml")
@click.argument("new_ref", metavar="NEW.yaml")
@click.option("--days", default=28, show_default=True, type=click.IntRange(1, 366),
              help="Compare on the items gathered in this many days.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@_friendly
def profiles_diff(obj: _Obj, old_ref: str, new_ref: str, days: int, as_json: bool) -> None:
    """List the items an edit to a profile would add and drop."""
    from .. import pipeline
    from ..preview import diff_profiles, format_diff

    old, new = _profile_arg(obj, old_ref), _profile_arg(obj, new_ref)
    ctx = pipeline.open_context(obj.settings)
    try:
        result = diff_profiles(ctx, old, new, days=days)
    finally:
        ctx.close()
    click.echo(json.dumps(result.to_dict()) if as_json else format_diff(result))


# ------------------------------------------------------------------ service: serve, reload, runs, db (issue 5)

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for the web app.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port for the web app.")
@click.pass_obj
@_friendly
def serve(obj: _Obj, host: str, port: int) -> None:
    """Run the service: the scheduler (sources polled, bulletins on schedule) plus the web app when present."""
    from ..service import runs as service

    service.serve(obj.settings, host=host, port=port)


@main.command()
@click.pass_obj
@_friendly
def reload(obj: _Obj) -> None:
    """Ask the running `awareness serve` to re-read sources.yaml and profiles/ now."""
    from ..service.scheduler import request_reload
    from ..store.store import Store

    store = Store(obj.settings.database_url)
    try:
        request_reload(store)
    finally:
        store.close()
    click.echo(f"Asked the scheduler to reload; it does within {obj.settings.watch_interval} s "
               "(problems are logged and shown by `awareness runs`).")


@main.group(invoke_without_command=True)
@click.option("--last", default=20, show_default=True, type=click.IntRange(min=1), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.pass_context
@_friendly
def runs(click_ctx: click.Context, last: int, as_json: bool) -> None:
    """The run history: every scheduled and ad hoc run, newest first."""
    if click_ctx.invoked_subcommand is not None:
        return
    from ..store import runlog
    from ..store.store import Store

    store = Store(click_ctx.obj.settings.database_url)
    try:
        records = runlog.list_runs(store, last)
    finally:
        store.close()
    if as_json:
        for record in records:
            click.echo(json.dumps(record.as_json(), ensure_ascii=False))
    else:
        click.echo(runlog.format_table(records, click_ctx.obj.settings.timezone))


@runs.command("show")
@click.argument("run_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.pass_obj
@_friendly
def runs_show(obj: _Obj, run_id: int, as_json: bool) -> None:
    """Everything recorded about one run."""
    from ..store import runlog
    from ..store.store import Store

    store = Store(obj.settings.database_url)
    try:
        record = runlog.get_run(store, run_id)
    finally:
        store.close()
    if record is None:
        raise UnknownName(f"no run {run_id} (see `awareness runs`)")
    click.echo(json.dumps({**record.as_json(), "details": record.details}, ensure_ascii=False) if as_json
               else runlog.format_details(record, obj.settings.timezone))


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_obj
@_friendly
def db_upgrade(obj: _Obj) -> None:
    """Bring the database schema up to date (back it up first)."""
    from ..store.migrations import upgrade
    from ..store.store import Store

    store = Store(obj.settings.database_url, check_schema=False)
    try:
        before, after = upgrade(store.engine)
    finally:
        store.close()
    if before == after:
        click.echo(f"The database is up to date (schema revision {after}).")
    else:
        click.echo(f"Upgraded the database from schema revision {before or 'none (new database)'} to {after}.")


# ------------------------------------------------------------------ web app: web, users (issue 6)

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
@_friendly
def web(obj: _Obj, host: str, port: int) -> None:
    """Serve the web app alone (subscribe, archive, feedback, librarian and admin pages)."""
    import uvicorn

    from ..web import create_app
    from ..web.serving import server_options

    uvicorn.run(create_app(obj.settings), host=host, port=port, log_level="info", **server_options(obj.settings))


@main.group()
def users() -> None:
    """Librarian and admin accounts for the web app."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["librarian", "admin"]), required=True, help="What the account may do.")
@click.password_option(envvar="AWARENESS_USER_PASSWORD", help="The password (asked for when not given).")
@click.pass_obj
@_friendly
def users_add(obj: _Obj, email: str, role: str, password: str) -> None:
    """Make an account; the password is stored only as an argon2id hash."""
    from ..store.store import Store
    from ..web.users import add_user

    store = Store(obj.settings.database_url)
    try:
        user = add_user(store, email, role, password)
    finally:
        store.close()
    click.echo(f"added {user.role} {user.email}")


@users.command("grant")
@click.argument("email")
@click.argument("profile_ids", nargs=-1, required=True)
@click.pass_obj
@_friendly
def users_grant(obj: _Obj, email: str, profile_ids: tuple[str, ...]) -> None:
    """Let a librarian tune these profiles (besides those whose owner they are); admins tune all."""
    from ..store.store import Store
    from ..web.users import grant_profiles

    store = Store(obj.settings.database_url)
    try:
        user = grant_profiles(store, email, list(profile_ids))
    finally:
        store.close()
    click.echo(f"{user.email} may tune {', '.join(profile_ids)}")


if __name__ == "__main__":  # pragma: no cover
    main()
