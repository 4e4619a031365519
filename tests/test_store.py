"""The store keeps one item per story and remembers every source that carried it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from awareness.core.models import Item, Match, Source
from awareness.gather.normalise import normalise
from awareness.store.store import Store

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)


def item(source: str, guid: str, link: str, title: str, summary: str = "A summary of the publication.") -> Item:
    return normalise(source, guid=guid, link=link, title=title, summary=summary, published=NOW, now=NOW)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'a.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store(url)
    s.sync_sources([Source(id="a", url="https://a.example/feed"), Source(id="b", url="https://b.example/feed"),
                    Source(id="c", url="https://c.example/feed")])
    yield s
    s.close()


def test_same_link_in_two_sources_is_one_item_with_both_sources(store: Store) -> None:
    first = store.add_items("a", [item("a", "1", "https://example.org/report?utm_source=x", "Report on falls")], now=NOW)
    second = store.add_items("b", [item("b", "zz", "https://example.org/report", "Report on falls (updated)")], now=NOW)
    assert len(first.new) == 1 and second.new == [] and second.known == 1
    [stored] = store.items_since(NOW - timedelta(days=1))
    assert stored.sources == ["a", "b"]


def test_changed_guid_same_link_and_readded_item_are_not_new(store: Store) -> None:
    store.add_items("a", [item("a", "g1", "https://example.org/x", "Workforce plan published")], now=NOW)
    again = store.add_items("a", [item("a", "g2", "https://example.org/x", "Workforce plan published")], now=NOW)
    assert again.new == []
    readded = store.add_items("a", [item("a", "g1", "https://example.org/x", "Workforce plan published")], now=NOW)
    assert readded.new == []
    assert len(store.items_since(NOW - timedelta(days=1))) == 1


def test_same_title_and_near_identical_summary_across_sources_is_one_item(store: Store) -> None:
    summary = "The strategy sets out how integrated care systems will reduce health inequalities by 2030."
    store.add_items("a", [item("a", "1", "https://gov.example/strategy", "Health inequalities strategy 2026", summary)], now=NOW)
    store.add_items("b", [item("b", "2", "https://mirror.example/s", "Health Inequalities Strategy 2026!", summary + " Read more.")], now=NOW)
    store.add_items("c", [item("c", "3", "https://other.example/s", "Health inequalities strategy 2026",
                               "A completely different article about something else entirely, on cancer screening uptake.")], now=NOW)
    titles = [i.sources for i in store.items_since(NOW - timedelta(days=1))]
    assert sorted(map(sorted, titles)) == [["a", "b"], ["c"]]


def test_failures_back_off_and_success_resets(store: Store) -> None:
    every = timedelta(hours=1)
    store.record_failure("a", now=NOW, every=every, error="HTTP 500")
    store.record_failure("a", now=NOW, every=every, error="HTTP 500")
    n = store.record_failure("a", now=NOW, every=every, error="HTTP 500")
    [state] = store.source_states(["a"])
    assert n == 3 and state.consecutive_failures == 3 and state.last_error == "HTTP 500"
    assert state.next_check == NOW + timedelta(hours=4)
    store.record_failure("a", now=NOW, every=every, error="HTTP 503", retry_after=6 * 3600)
    [state] = store.source_states(["a"])
    assert state.retry_until == NOW + timedelta(hours=6) and state.next_check >= state.retry_until
    store.record_success("a", now=NOW, every=every, etag='"x"', last_modified=None)
    [state] = store.source_states(["a"])
    assert state.ok and state.last_error is None and state.etag == '"x"'


def test_ledger_refuses_the_same_item_twice(store: Store) -> None:
    import sqlalchemy.exc

    added = store.add_items("a", [item("a", "1", "https://example.org/1", "Frailty report")], now=NOW)
    ids = store.sync_subscribers("p", ["Team@Example.org"], now=NOW)
    sid = ids["team@example.org"]
    store.record_delivery(profile_id="p", subscriber_id=sid, item_ids=added.new, message_id="<1@x>", subject="s", now=NOW)
    assert store.delivered_item_ids("p", sid) == set(added.new)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        store.record_delivery(profile_id="p", subscriber_id=sid, item_ids=added.new, message_id="<2@x>", subject="s", now=NOW)


def test_matches_are_replaced_when_items_are_rescored(store: Store) -> None:
    added = store.add_items("a", [item("a", "1", "https://example.org/1", "Frailty report")], now=NOW)
    [iid] = added.new
    store.replace_matches([iid], [Match(iid, "p", "frailty", 0.5, ("frailty",)), Match(iid, "p", "falls", 0.3, ())])
    store.replace_matches([iid], [Match(iid, "p", "frailty", 0.6, ("frailty", "older people"))])
    assert store.matches_for([iid]) == {iid: [Match(iid, "p", "frailty", 0.6, ("frailty", "older people"))]}


def test_a_reused_title_with_a_different_summary_is_a_different_publication(store: Store) -> None:
    title = "Adult social care: what the latest data tell us"
    store.add_items("a", [item("a", "1", "https://a.example/1", title, "Vacancy rates in home care fell to 7% in the year.")], now=NOW)
    later = store.add_items("b", [item("b", "2", "https://b.example/2", title,
                                       "Local authority spending on care for working-age adults rose by a fifth.")], now=NOW)
    assert len(later.new) == 1


def test_a_gatherings_feeds_are_committed_unsynced_then_made_durable_at_once(store: Store, monkeypatch) -> None:
    # Each feed's commit need not wait for the disk (issue 19); the pooled connection goes back
    # synced (the ledger's commits must be), and sync() puts the write-ahead log on disk.
    import os

    from awareness.store import durable

    sqlite = store.engine.dialect.name == "sqlite"
    if sqlite:
        with store.engine.connect() as conn:
            synced = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        with store.unsynced() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1      # NORMAL
    added = store.add_items("a", [item("a", "g1", "https://a.example/1", "Unsynced but stored")], now=NOW,
                            success=dict(every=timedelta(hours=1), etag='"e1"', last_modified=None), synced=False)
    assert len(added.new) == 1 and store.source_states(["a"])[0].etag == '"e1"'
    if sqlite:
        for _ in range(3):     # whichever pooled connection comes next
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == synced
    synced_files: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(durable.os, "fsync", lambda fd: (synced_files.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                              real_fsync(fd)))
    store.sync()
    assert synced_files == ([f"{store.engine.url.database}-wal"] if sqlite else [])


def test_outside_wal_mode_an_unsynced_transaction_is_an_ordinary_one(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        with s.engine.connect() as conn:
            synced = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        with s.unsynced() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == synced
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        s.close()
