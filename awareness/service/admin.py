"""What the shells ask of the database besides a run: items and their verdicts, sources' health,
labelled feedback, the run history, schema upgrades, accounts, a reload request.

Each call opens the store, asks, and closes it, so `awareness` commands hold no Store of their
own and never query tables themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from ..config.settings import Settings
from ..config.sources import usable_sources
from ..core.errors import SourcesError, UnknownName
from ..core.models import Match, Source, StoredItem
from ..match.labels_export import labelled_lines
from ..store import runlog, users
from ..store.migrations import upgrade
from ..store.schema import SourceState, utcnow
from ..store.store import Store
from .scheduler import request_reload


@contextmanager
def _store(settings: Settings, *, check_schema: bool = True) -> Iterator[Store]:
    store = Store(settings.database_url, check_schema=check_schema)
    try:
        yield store
    finally:
        store.close()


def recent_items(settings: Settings, *, days: int, source_id: str | None = None
                 ) -> list[tuple[StoredItem, list[Match]]]:
    """Items published in the last ``days`` days (of one source, if named) with what they matched."""
    with _store(settings) as store:
        if source_id and not store.source_states([source_id]):
            known = ", ".join(s.id for s in store.source_states()) or "none gathered yet"
            raise UnknownName(f"no source '{source_id}' (sources: {known})")
        return store.matched_items(utcnow() - timedelta(days=days), source_ids=[source_id] if source_id else None)


def source_health(settings: Settings) -> tuple[list[Source], dict[str, SourceState], list[SourcesError]]:
    """sources.yaml's usable entries with each one's health, and the entries that cannot be gathered."""
    configured, skipped = usable_sources(settings.sources, fetch_allow=settings.fetch_allow)
    with _store(settings) as store:
        store.sync_sources(configured)
        return configured, {s.id: s for s in store.source_states()}, skipped


def labels(settings: Settings, profile_id: str) -> list[str]:
    """Readers' feedback and the librarian's decisions on a profile, as labelled JSONL lines."""
    with _store(settings) as store:
        return list(labelled_lines(store, profile_id))


def runs(settings: Settings, last: int) -> list[runlog.RunRecord]:
    with _store(settings) as store:
        return runlog.list_runs(store, last)


def run_record(settings: Settings, run_id: int) -> runlog.RunRecord:
    with _store(settings) as store:
        record = runlog.get_run(store, run_id)
    if record is None:
        raise UnknownName(f"no run {run_id} (see `awareness runs`)")
    return record


def upgrade_database(settings: Settings) -> tuple[str | None, str]:
    """`awareness db upgrade`: (revision before, revision after)."""
    with _store(settings, check_schema=False) as store:
        return upgrade(store.engine)


def ask_reload(settings: Settings) -> None:
    """Leave the note the running scheduler picks up within ``watch_interval`` seconds."""
    with _store(settings) as store:
        request_reload(store)


def add_user(settings: Settings, email: str, role: str, password: str) -> users.User:
    with _store(settings) as store:
        return users.add_user(store, email, role, password)


def grant_profiles(settings: Settings, email: str, profile_ids: list[str]) -> users.User:
    with _store(settings) as store:
        return users.grant_profiles(store, email, profile_ids)
