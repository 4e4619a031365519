"""`awareness profiles` (check, preview, diff, export-labels) and `evaluate`: the librarian's files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .. import pipeline
from ..config.profiles import check_profiles
from ..config.profiles import load_profile
from ..config.sources import check_sources
from ..core.errors import ProfileError
from ..core.extras import SEMANTIC_HINT, semantic_available
from ..match import evaluate as evaluation
from ..preview import diff_profiles, format_diff
from ..preview import format_preview, preview_profile
from ..service.labels import labels
from .base import Obj, friendly


# ------------------------------------------------------------------ profiles

@click.group()
def profiles() -> None:
    """Profiles: check the YAML files librarians write."""


@profiles.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: 'ok' (profiles) and 'problems'.")
@click.pass_obj
def profiles_check(obj: Obj, paths: tuple[Path, ...], as_json: bool) -> None:
    """Report every problem in the given profiles (default: the profiles folder)."""
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


# ------------------------------------------------------------------ matching: preview, diff (issue 4)

def _profile_arg(obj: Obj, given: str) -> Any:
    """A profile from a YAML path, or the id of one in the profiles folder (saved or not)."""
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
@friendly
def profiles_preview(obj: Obj, profile_ref: str, days: int | None, as_json: bool) -> None:
    """Per topic: what would be sent, the near-misses just under the threshold, and why."""
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
@friendly
def profiles_export_labels(obj: Obj, profile_ref: str, out_path: Path | None) -> None:
    """Readers' feedback and your include / exclude decisions as labelled JSONL that `evaluate` reads."""
    profile = _profile_arg(obj, profile_ref)
    lines = labels(obj.settings, profile.id)
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
@friendly
def profiles_diff(obj: Obj, old_ref: str, new_ref: str, days: int, as_json: bool) -> None:
    """List the items an edit to a profile would add and drop."""
    old, new = _profile_arg(obj, old_ref), _profile_arg(obj, new_ref)
    ctx = pipeline.open_context(obj.settings)
    try:
        result = diff_profiles(ctx, old, new, days=days)
    finally:
        ctx.close()
    click.echo(json.dumps(result.to_dict()) if as_json else format_diff(result))


# ------------------------------------------------------------------ evaluate

@click.command()
@click.argument("profile_path", metavar="PROFILE")
@click.argument("items_path", metavar="ITEMS.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--feedback", "feedback_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled items (same format) given as a librarian's judgements, e.g. the first 5 judged "
                   "items of each topic; any of them also in ITEMS are not scored. Shows what they change.")
@click.option("--semantic", is_flag=True,
              help="Also match by sentence embeddings (needs pip install 'awareness[semantic]').")
@friendly
def evaluate(profile_path: str, items_path: Path, as_json: bool, feedback_path: Path | None,
             semantic: bool) -> None:
    """Score a labelled file against a profile and compare with keyword and stemmed-keyword baselines.

    PROFILE is a profile YAML file (or the id of one in ./profiles). Needs no
    config, database or network.
    """
    path = Path(profile_path)
    if not path.exists() and (Path("profiles") / f"{profile_path}.yaml").exists():
        path = Path("profiles") / f"{profile_path}.yaml"
    if not path.exists():
        raise ProfileError(profile_path, None, "no such profile file")
    profile = load_profile(path)
    feedback = evaluation.load_labelled(feedback_path) if feedback_path else None
    if semantic and not semantic_available():
        raise click.ClickException(f"--semantic needs the semantic extra: {SEMANTIC_HINT}")
    result = evaluation.evaluate(profile, evaluation.load_labelled(items_path), feedback=feedback,
                                 semantic=semantic)
    if as_json:
        click.echo(json.dumps(result, indent=None))
    else:
        click.echo(evaluation.format_report(result))
    if result["unlabelled_topics"]:
        raise click.ClickException(f"{items_path} has no labelled items for topic "
                                   f"{', '.join(result['unlabelled_topics'])} of {profile.id}; "
                                   "its scores there mean nothing")
