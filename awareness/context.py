"""The run's context: the settings, the open store, and the sources and profiles in force.

Every command opens one (``open_context``); the scheduler and the web app build theirs over
the store they keep open (``Context.of``), from the same ``load_in_force()``, so the three agree
on which profiles are in force, the last good version of a broken file included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .config.settings import Settings
from .core.collector import collect_less_often
from .core.errors import ProfileError, SourcesError, UnknownName
from .core.models import Profile, Source
from .deliver.bulletin import Composer
from .deliver.tokens import Signer
from .store.lastgood import InForce, load_in_force
from .store.store import Store

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What every stage needs, loaded once per command."""

    settings: Settings
    store: Store
    sources: list[Source]
    profiles: list[Profile]
    composer: Composer
    signer: Signer
    profile_errors: list[ProfileError] = field(default_factory=list)   # bad files, skipped this run
    source_problems: list[SourcesError] = field(default_factory=list)  # bad sources.yaml entries, skipped

    @property
    def source_names(self) -> dict[str, str]:
        return {s.id: s.label for s in self.sources}

    def profile(self, profile_id: str) -> Profile:
        for p in self.profiles:
            if p.id == profile_id:
                return p
        known = ", ".join(p.id for p in self.profiles) or "none"
        raise UnknownName(f"no profile '{profile_id}' in {self.settings.profiles} (profiles: {known})")

    def close(self) -> None:
        self.store.close()

    @classmethod
    def of(cls, settings: Settings, store: Store, in_force: InForce, *, composer: Composer,
           signer: Signer) -> Context:
        """A context over an open store with what is in force (the scheduler's and the web's)."""
        return cls(settings=settings, store=store, sources=list(in_force.sources), profiles=list(in_force.profiles),
                   composer=composer, signer=signer, profile_errors=list(in_force.profile_errors),
                   source_problems=list(in_force.source_problems))


def open_context(settings: Settings, *, template_dirs: list[Path] | None = None) -> Context:
    """Open the store and load what is in force.

    A profile with errors is reported and left out (or its last good version stands in); the
    other teams' bulletins still go.  Likewise a bad entry in sources.yaml (malformed, or a
    private address the fetch guard refuses) is reported and the other sources are gathered;
    only a sources.yaml that cannot be read at all, or no profiles folder, stops everything.
    """
    collect_less_often()   # a run holds many objects alive: see core/collector.py
    store = Store(settings.database_url)
    try:
        in_force = load_in_force(settings, store)
    except BaseException:
        store.close()
        raise
    for skipped in in_force.source_problems:
        logger.error("source skipped: %s", skipped)
    for problem in in_force.profile_errors:
        logger.error("profile skipped: %s", problem)
    store.sync_sources(in_force.sources)
    return Context.of(settings, store, in_force, composer=Composer(template_dirs),
                      signer=Signer(settings.ensure_secret_key()))
