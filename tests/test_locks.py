"""Database locks: one scheduler per database, one sender per profile, and a crashed
holder never blocks the next start. On SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from awareness.store import locks
from awareness.store.locks import SCHEDULER, LockHeld, SchedulerLock, holder_of, profile_claim, try_claim
from awareness.store.store import Store
from awareness.store.schema import utcnow
from service_world import World, database_url, world  # noqa: F401 - fixtures


@pytest.fixture
def store(database_url: str) -> Store:  # noqa: F811
    s = Store(database_url)
    yield s  # type: ignore[misc]
    s.close()


def test_a_second_scheduler_lock_is_refused_until_the_first_is_released(store: Store) -> None:
    first = SchedulerLock(store)
    first.acquire()
    try:
        other = Store(store.url)
        try:
            second = SchedulerLock(other)
            second.holder = "elsewhere:1"        # another machine, as far as the lock can tell
            with pytest.raises(LockHeld, match="another `awareness serve` is already running"):
                second.acquire()
        finally:
            other.close()
    finally:
        first.release()
    assert holder_of(store, SCHEDULER) is None
    again = SchedulerLock(store)
    again.acquire()
    again.release()


def test_a_lock_row_is_taken_over_only_when_stale(store: Store) -> None:
    now = utcnow()
    assert try_claim(store, "job", holder="host-a:1", ttl=timedelta(seconds=60), now=now)
    assert not try_claim(store, "job", holder="host-b:2", ttl=timedelta(seconds=60), now=now + timedelta(seconds=30))
    assert try_claim(store, "job", holder="host-b:2", ttl=timedelta(seconds=60), now=now + timedelta(seconds=61))
    assert holder_of(store, "job")[0] == "host-b:2"  # type: ignore[index]


def test_one_sender_per_profile_at_a_time(store: Store) -> None:
    with profile_claim(store, "ph-team") as first:
        assert first
        with profile_claim(store, "ph-team") as second:   # another thread or process
            assert not second
        with profile_claim(store, "other-team") as different:
            assert different
    with profile_claim(store, "ph-team") as later:
        assert later, "released when the sender finished"


def test_a_killed_serve_does_not_block_the_next_one(world: World) -> None:
    first = world.popen("serve", "--port", "0")
    store = Store(world.database_url)
    try:
        deadline = time.monotonic() + 30
        while holder_of(store, SCHEDULER) is None:
            assert time.monotonic() < deadline and first.poll() is None, "serve did not take the lock"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)          # no clean shutdown: the row stays behind
        first.communicate(timeout=10)
        assert holder_of(store, SCHEDULER) is not None
        lock = SchedulerLock(store)
        lock.acquire()                             # its process is gone (and on PostgreSQL, its session)
        assert holder_of(store, SCHEDULER)[0] == locks.me()  # type: ignore[index]
        lock.release()
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
        store.close()
