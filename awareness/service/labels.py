"""Readers' feedback and a librarian's include / exclude decisions on a profile, as the labelled
JSONL that `awareness evaluate` reads (`awareness profiles export-labels`)."""

from __future__ import annotations

from ..config.settings import Settings
from ..match.labels_export import labelled_lines
from ..store.store import Store


def labels(settings: Settings, profile_id: str) -> list[str]:
    store = Store(settings.database_url)
    try:
        return list(labelled_lines(store, profile_id))
    finally:
        store.close()
