"""The profile editor: the YAML file stays the source of truth.

An edited version is checked exactly as ``awareness profiles check`` would
check the file (written under the same name in a scratch folder, so errors
carry the real file name and line), its effect is shown as a preview diff,
and saving keeps the previous version in ``profiles/.history/``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.models import Profile
from ..context import Context
from ..config.profiles import check_profiles
from ..preview import diff_profiles

HISTORY = ".history"


@dataclass
class Checked:
    errors: list[str] = field(default_factory=list)    # "file:line: problem"
    profile: Profile | None = None
    diff: Any = None                                   # preview.diff_profiles' answer


def read(profile: Profile) -> str:
    return Path(profile.path).read_text(encoding="utf-8")


def check(ctx: Context, profile: Profile, text: str) -> Checked:
    real = Path(profile.path)
    with tempfile.TemporaryDirectory(prefix="awareness-edit-") as scratch:
        draft = Path(scratch) / real.name
        draft.write_text(text, encoding="utf-8")
        found, problems = check_profiles([draft], ctx.sources or None)
    errors = [str(p).replace(str(draft), real.name) for p in problems]
    if found and found[0].id != profile.id:
        errors.append(f"{real.name}: the id must stay '{profile.id}' (links in sent emails use it); "
                      "copy the file to make a new profile")
    if errors or not found:
        return Checked(errors=errors or [f"{real.name}: no profile found in the edited text"])
    new = found[0].model_copy(update={"path": str(real)})
    return Checked(profile=new, diff=diff_profiles(ctx, profile, new))


def save(profile: Profile, text: str) -> Path:
    """Write the new version atomically; the previous one goes to .history/<name>.<UTC time>."""
    real = Path(profile.path)
    history = real.parent / HISTORY
    history.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    kept = history / f"{real.name}.{stamp}"
    kept.write_bytes(real.read_bytes())
    tmp = real.with_name(f".{real.name}.saving")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, real)
    return kept
