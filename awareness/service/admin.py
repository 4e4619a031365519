"""What the shells ask of the database besides a run: items and their verdicts, sources' health,
the run history, schema upgrades, a reload request (accounts: ``accounts``).

Each call opens the store, asks, and closes it, so `awareness` commands hold no Store of their
own and never query tables themselves.  It loads no stage (no scikit-learn, Scrapy or
Starlette), so `awareness runs` or `db upgrade` start at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from ..config.settings import Settings
from ..config.sources import usable_sources
from ..core.errors import SourcesError, UnknownName
from ..core.models import Match, Source, StoredItem
from ..store import runlog
from ..store.locks import request_reload
from ..store.migrations import upgrade
from ..store.schema import SourceState, utcnow
from ..store.store import Store


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
