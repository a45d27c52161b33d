"""A digest schedule inside a long-running process (`dealpulse serve`): weekly or daily at a time of day in
the export's zone. Without a server, cron does the same (docs/digests.md).

    sched = DigestScheduler(lambda: connect(url), Schedule.parse("weekly@mon 08:00"), tz)
    sched.start()   # a daemon thread; sched.stop() ends it

Each run is `run_digests(store, since=<the schedule's period>)` on a store opened for it; a failed delivery
is in `digest_log` and the next run retries it only if it is for the same period, so a run that had
failures is repeated (up to `RETRY_RUNS` times, `RETRY_AFTER` apart) before waiting for the next slot.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Callable

from dealpulse.errors import InputError

log = logging.getLogger("dealpulse.digest")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RETRY_RUNS = 3
RETRY_AFTER = timedelta(minutes=10)
_SPEC = re.compile(r"^\s*(daily|weekly)\s*(?:@\s*(?:(mon|tue|wed|thu|fri|sat|sun)\s*)?(\d{1,2}):(\d{2}))?\s*$", re.I)


@dataclass(frozen=True)
class Schedule:
    every: str  # daily | weekly
    at: time
    weekday: int = 0  # weekly: 0 = Monday

    @property
    def since(self) -> str:
        return "1d" if self.every == "daily" else "7d"

    @classmethod
    def parse(cls, text: str) -> "Schedule":
        """`weekly` (Monday 08:00), `weekly@fri 17:30`, `daily` (08:00), `daily@08:30`."""
        m = _SPEC.match(text or "")
        if not m or (m.group(2) and m.group(1).lower() == "daily"):
            raise InputError(f"digest schedule: expected daily, daily@HH:MM, weekly or weekly@DAY HH:MM (DAY: "
                             f"{', '.join(DAYS)}), got {text!r}")
        hour, minute = int(m.group(3) or 8), int(m.group(4) or 0)
        if hour > 23 or minute > 59:
            raise InputError(f"digest schedule: no such time of day in {text!r}")
        day = DAYS.index(m.group(2).lower()) if m.group(2) else 0
        return cls(every=m.group(1).lower(), at=time(hour, minute), weekday=day)

    def next_after(self, now: datetime) -> datetime:
        """The next slot strictly after `now` (an aware datetime, in the zone the schedule is read in)."""
        slot = now.replace(hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0)
        if self.every == "weekly":
            slot += timedelta(days=(self.weekday - slot.weekday()) % 7)
            return slot if slot > now else slot + timedelta(days=7)
        return slot if slot > now else slot + timedelta(days=1)


class DigestScheduler(threading.Thread):
    """Sends the digests at each slot of `schedule` (in zone `tz`) until `stop()`."""

    def __init__(self, open_store: Callable[[], Any], schedule: Schedule, tz: Any, *,
                 run: Callable[..., Any] | None = None, clock: Callable[[], datetime] | None = None, **options: Any):
        super().__init__(name="dealpulse-digests", daemon=True)
        self.open_store = open_store
        self.schedule = schedule
        self.tz = tz
        self.options = options
        self._run = run
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._halt = threading.Event()
        self.runs: list[Any] = []

    def stop(self) -> None:
        self._halt.set()

    def _now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def run(self) -> None:  # the thread's body
        while not self._halt.is_set():
            now = self._now()
            slot = self.schedule.next_after(now)
            if self._halt.wait((slot - now).total_seconds()):
                return
            for attempt in range(RETRY_RUNS):
                failed = self.send_once()
                if not failed or self._halt.wait(RETRY_AFTER.total_seconds()):
                    break

    def send_once(self) -> int:
        """One run now; returns how many deliveries failed (logged, never raised: the server stays up)."""
        from dealpulse.digest.deliver import run_digests

        run = self._run or run_digests
        try:
            store = self.open_store()
        except Exception as exc:  # noqa: BLE001 - a store that cannot open now may open at the next slot
            log.error("digests: cannot open the store: %s", exc)
            return 1
        try:
            done = run(store, since=self.schedule.since, **self.options)
        except Exception as exc:  # noqa: BLE001 - reported, and tried again
            log.error("digests: the run failed: %s", exc)
            return 1
        finally:
            store.close()
        self.runs.append(done)
        failed = done.failed() if done is not None else []
        for o in failed:
            log.warning("digest for %s via %s not delivered: %s", o.login, o.channel, o.error)
        return len(failed)


__all__ = ["Schedule", "DigestScheduler"]
