"""The last good version of each profile file, kept in the database.

A librarian's edit that breaks a profile (a typo, a tab, a bad schedule) must
not stop the team's bulletin: the error is reported with file:line, and the
version that last validated stays in force until the file is fixed.  It is
kept in the database, so `awareness run` processes and the scheduler's reloads
share it, and it survives a restart.

``load_in_force()`` is the one way to read what is in force: sources.yaml's usable entries, the
profiles that validate (with the settings' default time zone), and the last good version of
each broken file.  The pipeline, the scheduler and the web app all read it so, so they agree.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import sqlalchemy as sa

from ..config.profiles import check_profiles, load_profile, profile_sources
from ..config.settings import Settings
from ..config.sources import usable_sources
from ..core.errors import AwarenessError, ProfileError, SourcesError
from ..core.models import Profile, Source
from .store import Store, _insert_unless_present
from .schema import profile_versions

logger = logging.getLogger(__name__)


@dataclass
class InForce:
    """What a run goes by: the sources and profiles in force, and what was left out or stood in."""

    sources: list[Source]
    profiles: list[Profile]
    source_problems: list[SourcesError] = field(default_factory=list)   # bad entries, skipped
    profile_errors: list[ProfileError] = field(default_factory=list)    # bad files (a stand-in noted on each)
    restored: list[Profile] = field(default_factory=list)               # last good versions standing in
    sources_error: AwarenessError | None = None   # sources.yaml unreadable: ``keep_sources`` stood in


def load_in_force(settings: Settings, store: Store, *,
                  keep_sources: Sequence[Source] | None = None) -> InForce:
    """Read sources.yaml and the profiles folder as they stand, keeping the last good version of each
    broken profile.

    For a command (``keep_sources`` None) an unreadable sources.yaml or a missing profiles folder
    raises.  A service that must keep going (the scheduler, with its previous sources; the web
    app, with none) passes ``keep_sources``: those stand in for an unreadable file, a missing
    folder means no profiles, and both are reported in the result."""
    error = None
    try:
        sources, source_problems = usable_sources(settings.sources, fetch_allow=settings.fetch_allow)
    except AwarenessError as e:
        if keep_sources is None:
            raise
        sources, source_problems, error = list(keep_sources), [], e
    if not settings.profiles.is_dir():
        missing = ProfileError(str(settings.profiles), None, "the profiles folder does not exist; "
                               "create it and add one YAML file per team (see README)")
        if keep_sources is None:
            raise missing
        return InForce(sources=sources, profiles=[], source_problems=source_problems, profile_errors=[missing],
                       sources_error=error)
    good, problems = check_profiles([settings.profiles], sources if error is None else (sources or None))
    good = [p if "timezone" in p.model_fields_set else p.model_copy(update={"timezone": settings.timezone})
            for p in good]   # the config's default time zone (issue 5)
    profiles, notes = keep_last_good(store, good, problems, sources, default_timezone=settings.timezone)
    return InForce(sources=sources, profiles=profiles, source_problems=source_problems, profile_errors=notes,
                   restored=profiles[len(good):], sources_error=error)


def keep_last_good(store: Store, profiles: list[Profile], problems: list[ProfileError], sources: Sequence[Source],
                   *, default_timezone: str | None = None) -> tuple[list[Profile], list[ProfileError]]:
    """Remember the good profiles; stand in the last good version for each broken file that had one."""
    now = datetime.now(timezone.utc)
    with store.engine.begin() as conn:
        saved = {r.path: r for r in conn.execute(sa.select(profile_versions))}
        for p in profiles:
            try:
                text = Path(p.path).read_text(encoding="utf-8")
            except OSError:
                continue
            row = saved.get(p.path)
            if row is None:
                # Two first runs may start together: the second insert is a no-op, not a crash.
                conn.execute(_insert_unless_present(conn, profile_versions).values(
                    path=p.path, profile_id=p.id, text=text, saved=now))
            elif row.text != text:
                conn.execute(profile_versions.update().where(profile_versions.c.path == p.path)
                             .values(profile_id=p.id, text=text, saved=now))
    taken = {p.id for p in profiles} | {p.path for p in profiles}
    restored: list[Profile] = []
    notes: list[ProfileError] = []
    for problem in problems:
        row = saved.get(problem.path)
        if row is None or problem.path in taken or not Path(problem.path).exists():
            notes.append(problem)
            continue
        profile = _revive(row.text, problem.path, sources)
        if profile is None or profile.id in taken:
            notes.append(problem)
            continue
        if default_timezone and "timezone" not in profile.model_fields_set:
            profile = profile.model_copy(update={"timezone": default_timezone})
        taken |= {profile.id, problem.path}
        restored.append(profile)
        logger.error("%s: keeping the last good version (saved %s) until the file is fixed",
                     problem.path, row.saved.strftime("%Y-%m-%d %H:%M"))
        notes.append(ProfileError(problem.path, problem.line, f"{problem.problem} (the last good version, saved "
                                  f"{row.saved:%Y-%m-%d %H:%M}, stays in force until this is fixed)"))
    return profiles + restored, notes


def _revive(text: str, path: str, sources: Sequence[Source]) -> Profile | None:
    """The saved text read back with the same checks as a file (it is written to a scratch copy)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / Path(path).name
        copy.write_text(text, encoding="utf-8")
        try:
            profile = load_profile(copy)
            profile = profile.model_copy(update={"path": path})
            profile_sources(profile, list(sources))
        except ProfileError:
            return None
    return profile
