"""The real APScheduler, its jobs in the real database, with the clock moved by time-machine.

Each test steps the clock and asks the scheduler to look at its jobs (``tick``);
jobs run in the scheduler's thread, so when ``tick`` returns their work is done.
Bulletins arrive at a real SMTP server; feeds come from a real HTTP server.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine

from awareness import pipeline
from awareness.store import runlog
from awareness.service.scheduler import Scheduler
from awareness.store.store import Store
from service_world import World, database_url, profile_yaml, world  # noqa: F401 - fixtures

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Clock:
    """A running scheduler and the clock it sees."""

    def __init__(self, world: World, traveller: time_machine.Coordinates, **settings: object) -> None:
        self.world = world
        self.traveller = traveller
        self.store = Store(world.database_url)
        self.scheduler = Scheduler(world.settings(**settings), self.store, synchronous=True)

    def start(self) -> "Clock":
        self.scheduler.start()
        self.scheduler.tick()
        return self

    def to(self, when: datetime) -> None:
        self.traveller.move_to(when)
        self.scheduler.tick()

    def walk(self, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)) -> None:
        t = start
        while t <= end:
            self.to(t)
            t += step

    def stop(self) -> None:
        self.scheduler.shutdown()
        self.store.close()

    def scheduled_sends(self) -> list[datetime]:
        return sorted(r.started for r in runlog.list_runs(self.store, 1000)
                      if r.trigger == "schedule" and r.profile == "ph-team" and r.bulletins_sent)


@pytest.fixture
def traveller() -> Iterator[time_machine.Coordinates]:
    pipeline.STOP.clear()
    with time_machine.travel(utc(2026, 1, 5, 6, 0), tick=False) as t:
        yield t


@pytest.mark.parametrize("monday_before, monday_after, hour_utc_before, hour_utc_after", [
    (utc(2026, 3, 23), utc(2026, 3, 30), 8, 7),      # clocks go forward on Sunday 29 March
    (utc(2026, 10, 19), utc(2026, 10, 26), 7, 8),    # clocks go back on Sunday 25 October
], ids=["spring-forward", "autumn-back"])
def test_weekly_bulletin_goes_at_eight_london_time_once_across_the_clock_change(
        world: World, traveller: time_machine.Coordinates, monday_before: datetime, monday_after: datetime,
        hour_utc_before: int, hour_utc_after: int) -> None:
    traveller.move_to(monday_before + timedelta(hours=5))
    clock = Clock(world, traveller).start()
    try:
        clock.walk(monday_before + timedelta(hours=5), monday_before + timedelta(hours=10))
        # From the Sunday of the change to the Tuesday after it, hour by hour.
        clock.walk(monday_after - timedelta(days=1), monday_after + timedelta(days=1))
        sends = clock.scheduled_sends()
    finally:
        clock.stop()
    assert [s.replace(minute=0, second=0, microsecond=0) for s in sends] == [
        monday_before.replace(hour=hour_utc_before), monday_after.replace(hour=hour_utc_after)]
    assert all(s.astimezone(LONDON).hour == 8 for s in sends), "08:00 on the wall clock both times"
    assert len(world.smtp.to("alice@example.org")) == 2, "exactly one bulletin each Monday"


def test_a_run_missed_while_down_runs_once_when_the_service_returns(
        world: World, traveller: time_machine.Coordinates) -> None:
    monday = utc(2026, 1, 12)
    traveller.move_to(monday.replace(hour=6))
    first = Clock(world, traveller).start()
    first.stop()                                   # down from 06:00 ...
    traveller.move_to(monday.replace(hour=9, minute=30))
    second = Clock(world, traveller).start()       # ... back at 09:30: the 08:00 run is caught up
    try:
        second.walk(monday.replace(hour=10), monday.replace(hour=23))
        sends = second.scheduled_sends()
    finally:
        second.stop()
    assert len(sends) == 1 and sends[0] == monday.replace(hour=9, minute=30)
    assert len(world.smtp.to("alice@example.org")) == 1


def test_a_run_missed_for_longer_than_the_grace_period_waits_for_the_next_week(
        world: World, traveller: time_machine.Coordinates) -> None:
    monday = utc(2026, 1, 12)
    traveller.move_to(monday.replace(hour=6))
    Clock(world, traveller, misfire_grace_time=3600).start().stop()
    traveller.move_to(monday.replace(hour=9, minute=30))      # 90 minutes late, grace is 60
    clock = Clock(world, traveller, misfire_grace_time=3600).start()
    try:
        clock.walk(monday.replace(hour=10), monday.replace(hour=12))
        assert world.smtp.to("alice@example.org") == []
        clock.walk(monday + timedelta(days=7, hours=7), monday + timedelta(days=7, hours=9))
        sends = clock.scheduled_sends()
    finally:
        clock.stop()
    assert sends == [monday + timedelta(days=7, hours=8)]
    assert len(world.smtp.to("alice@example.org")) == 1


def test_a_profile_edit_is_picked_up_without_a_restart(world: World, traveller: time_machine.Coordinates) -> None:
    monday = utc(2026, 1, 12)
    traveller.move_to(monday.replace(hour=6))
    clock = Clock(world, traveller).start()
    try:
        assert clock.scheduler.next_run("send:ph-team") == monday.replace(hour=8)
        world.profile_path.write_text(profile_yaml(schedule="30 9 * * TUE",
                                                   subscribers=("alice@example.org", "bob@example.org")))
        clock.to(monday.replace(hour=6, minute=1))   # the file watcher's next look
        assert clock.scheduler.next_run("send:ph-team") == monday.replace(day=13, hour=9, minute=30)
        clock.walk(monday.replace(hour=7), monday.replace(day=13, hour=12), step=timedelta(minutes=30))
    finally:
        clock.stop()
    assert len(world.smtp.to("alice@example.org")) == 1 and len(world.smtp.to("bob@example.org")) == 1
    assert "13 Jan 2026 09:30" in world.smtp.to("alice@example.org")[0]["Date"], "on the new schedule"


def test_a_broken_profile_edit_keeps_the_last_good_version_and_says_so(
        world: World, traveller: time_machine.Coordinates) -> None:
    monday = utc(2026, 1, 12)
    traveller.move_to(monday.replace(hour=6))
    clock = Clock(world, traveller).start()
    try:
        world.profile_path.write_text(profile_yaml(schedule="30 9 * * TUE", subscribers=("bob@example.org",))
                                      .replace("lookback_days: 14", "lookback_days: fourteen"))
        clock.to(monday.replace(hour=6, minute=1))
        problems = clock.scheduler.problems
        assert len(problems) == 1 and "ph-team.yaml:5" in problems[0] and "lookback_days" in problems[0]
        assert "kept the last good version" in problems[0]
        assert clock.scheduler.next_run("send:ph-team") == monday.replace(hour=8), "old schedule still in force"
        recorded = runlog.list_runs(clock.store)
        assert recorded[0].status == "error" and "ph-team.yaml:5" in recorded[0].errors[0]
        clock.walk(monday.replace(hour=7), monday.replace(hour=9))
    finally:
        clock.stop()
    assert len(world.smtp.to("alice@example.org")) == 1, "the last good version's subscriber got the bulletin"
    assert world.smtp.to("bob@example.org") == []


def test_sources_are_polled_at_their_own_interval(world: World, traveller: time_machine.Coordinates) -> None:
    start = utc(2026, 1, 13, 6)      # a Tuesday: no bulletin due
    traveller.move_to(start)
    (world.dir / "sources.yaml").write_text((world.dir / "sources.yaml").read_text().replace("every: 1d", "every: 2h"))
    clock = Clock(world, traveller).start()
    try:
        clock.walk(start, start + timedelta(hours=10), step=timedelta(minutes=30))
        gathers = [r for r in runlog.list_runs(clock.store, 100) if r.trigger == "schedule" and r.profile is None]
    finally:
        clock.stop()
    assert world.http.hits("/policy.xml") == 6, "06:00, 08:00, ... 16:00: every two hours"
    assert len(gathers) == 6 and all(r.status == "ok" for r in gathers)


def test_awareness_reload_applies_an_edit_the_file_watcher_could_not_see(
        world: World, traveller: time_machine.Coordinates) -> None:
    monday = utc(2026, 1, 12)
    traveller.move_to(monday.replace(hour=6))
    clock = Clock(world, traveller).start()
    try:
        before = world.profile_path.stat()
        world.profile_path.write_text(profile_yaml(schedule="0 9 * * MON"))   # same size, mtime put back:
        os.utime(world.profile_path, ns=(before.st_atime_ns, before.st_mtime_ns))   # invisible to the watcher
        clock.to(monday.replace(hour=6, minute=1))
        assert clock.scheduler.next_run("send:ph-team") == monday.replace(hour=8)
        assert world.invoke("reload").exit_code == 0
        clock.to(monday.replace(hour=6, minute=2))
        assert clock.scheduler.next_run("send:ph-team") == monday.replace(hour=9)
    finally:
        clock.stop()
