"""The last good version of each profile file, kept in the database.

A librarian's edit that breaks a profile (a typo, a tab, a bad schedule) must
not stop the team's bulletin: the error is reported with file:line, and the
version that last validated stays in force until the file is fixed.  It is
kept in the database, so `awareness run` processes and the scheduler's reloads
share it, and it survives a restart.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import sqlalchemy as sa

from ..core.errors import ProfileError
from ..core.models import Profile, Source
from ..config.profiles import load_profile, profile_sources
from .store import Store, _insert_unless_present
from .schema import profile_versions

logger = logging.getLogger(__name__)


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
