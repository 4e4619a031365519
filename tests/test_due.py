"""Is a source due? One rule for the feed reader, the spiders and the scheduler (issue 18): a
source that asked us to wait (Retry-After) is left alone until then, even by `--now`; otherwise a
source is due when forced, never checked, or when its next check (with its back-off) has come."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from awareness.core.models import Source
from awareness.gather.due import due_sources
from awareness.store.store import Store

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SOURCES = [Source(id="waits", url="http://127.0.0.1:1/a.xml"), Source(id="failed", url="http://127.0.0.1:1/b.xml"),
           Source(id="fresh", url="http://127.0.0.1:1/c.xml"), Source(id="new", url="http://127.0.0.1:1/d.xml"),
           Source(id="site", url="http://127.0.0.1:1/e.html", kind="spider", spider="listing", item="li")]


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.sync_sources(SOURCES)
    every = timedelta(hours=1)
    store.record_failure("waits", now=NOW, every=every, error="429 Too Many Requests", retry_after=3 * 3600)
    store.record_failure("failed", now=NOW, every=every, error="500")
    for sid in ("fresh", "site"):
        store.record_success(sid, now=NOW, every=every, etag=None, last_modified=None)
    return store


def chosen(store: Store, when: datetime, **kw: object) -> list[str]:
    return [s.id for s in due_sources(SOURCES, store.source_states(), when, **kw)]  # type: ignore[arg-type]


def test_due_by_next_check_and_never_checked(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        assert chosen(store, NOW + timedelta(minutes=5)) == ["new"]
        assert chosen(store, NOW + timedelta(hours=1, minutes=1)) == ["failed", "fresh", "new", "site"]
        assert chosen(store, NOW + timedelta(hours=3, minutes=1)) == ["waits", "failed", "fresh", "new", "site"]
    finally:
        store.close()


def test_now_forces_everything_but_a_source_that_asked_us_to_wait(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        assert chosen(store, NOW + timedelta(minutes=5), force=True) == ["failed", "fresh", "new", "site"]
        assert chosen(store, NOW + timedelta(minutes=5), force=True, kind="feed") == ["failed", "fresh", "new"]
        assert chosen(store, NOW + timedelta(minutes=5), force=True, kind="spider") == ["site"]
        assert chosen(store, NOW + timedelta(minutes=5), force=True, only=["waits", "fresh"]) == ["fresh"]
    finally:
        store.close()
