"""The digest schedule for a long-running server: parsing, the next slot in the export's zone, a run at the
slot, a run with failures repeated, stop."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dealpulse.digest import schedule as sch
from dealpulse.digest.schedule import DigestScheduler, Schedule
from dealpulse.errors import InputError

MSK = ZoneInfo("Europe/Moscow")


def test_parse_and_next_slot():
    assert Schedule.parse("weekly") == Schedule("weekly", time(8, 0), 0)
    assert Schedule.parse("weekly@fri 17:30") == Schedule("weekly", time(17, 30), 4)
    assert Schedule.parse("daily@08:30").since == "1d" and Schedule.parse("weekly").since == "7d"
    for bad in ("hourly", "daily@mon 08:00", "weekly@fri 25:00", ""):
        with pytest.raises(InputError):
            Schedule.parse(bad)
    wed = datetime(2024, 6, 26, 9, 0, tzinfo=MSK)  # a Wednesday
    assert Schedule.parse("weekly@mon 08:00").next_after(wed) == datetime(2024, 7, 1, 8, 0, tzinfo=MSK)
    assert Schedule.parse("daily@08:30").next_after(wed) == datetime(2024, 6, 27, 8, 30, tzinfo=MSK)
    assert Schedule.parse("daily@09:30").next_after(wed) == datetime(2024, 6, 26, 9, 30, tzinfo=MSK)
    mon8 = datetime(2024, 7, 1, 8, 0, tzinfo=MSK)
    assert Schedule.parse("weekly").next_after(mon8) == mon8 + timedelta(days=7)  # strictly after


class _Done:
    def __init__(self, failed):
        self._failed = failed

    def failed(self):
        return self._failed


class _Store:
    closed = 0

    def close(self):
        _Store.closed += 1


def test_the_scheduler_runs_at_the_slot_repeats_a_failed_run_and_stops(monkeypatch):
    monkeypatch.setattr(sch, "RETRY_AFTER", timedelta(seconds=0.05))
    calls = []
    answers = [_Done([type("O", (), {"login": "bob", "channel": "webhook", "error": "503"})()]), _Done([])]

    def run(store, **kw):
        calls.append(kw)
        return answers[min(len(calls) - 1, 1)]

    slot = Schedule.parse("daily@08:30")
    start = datetime.now(timezone.utc)
    first = slot.next_after(start.astimezone(MSK))
    # a clock 0.3 s before the slot: the thread waits that long, runs, then (the clock is fixed) the next day
    clock = lambda: first.astimezone(timezone.utc) - timedelta(seconds=0.3) + (datetime.now(timezone.utc) - start)  # noqa: E731
    s = DigestScheduler(_Store, slot, MSK, run=run, clock=clock, lang="ru")
    s.start()
    deadline = datetime.now() + timedelta(seconds=5)
    while len(calls) < 2 and datetime.now() < deadline:
        s.join(0.05)
    s.stop()
    s.join(2)
    assert not s.is_alive()
    assert calls == [{"since": "1d", "lang": "ru"}, {"since": "1d", "lang": "ru"}]  # the failed run was repeated once
    assert _Store.closed == 2
