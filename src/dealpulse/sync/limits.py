"""Client-side request limits, so a sync never trips the CRM's own.

- amoCRM allows 7 requests a second per account (more: HTTP 429, repeated: the IP is blocked).
  `WindowLimiter(6, 1.0)` keeps at most 6 request starts in any window of a second (plus a small
  margin): the server counts arrivals, not departures, and jitter may bunch requests up.
- Bitrix24 counts requests in a leaky bucket: each request adds one, the counter drains by 2 a
  second (Enterprise: 5), and past 50 (Enterprise: 250) requests get 503 QUERY_LIMIT_EXCEEDED.
  `BucketLimiter(50, 2.0)` mirrors that bucket and waits before a request would overflow it;
  a `batch` of up to 50 commands counts as one request.

Both take `clock`/`sleep` so tests can drive them without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class WindowLimiter:
    """At most `limit` requests in any `per` seconds (+ `margin`)."""

    def __init__(self, limit: int, per: float = 1.0, *, margin: float = 0.12, primed: bool = True,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = per + margin
        self._clock = clock
        self._sleep = sleep
        # primed: as if a full window of requests had just been made (by a run that ended a moment
        # ago, or another tool on the same account), so back-to-back runs stay within the limit too
        self._starts: deque[float] = deque([clock()] * limit if primed else [])
        self._lock = threading.Lock()
        self._hold_until = 0.0
        self.waited = 0.0  # seconds spent waiting, for the report

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self._clock()
                if now < self._hold_until:
                    self.waited += self._hold_until - now
                    self._sleep(self._hold_until - now)
                    continue
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                wait = self.window - (now - self._starts[0])
                self.waited += wait
                self._sleep(wait)

    def penalise(self, seconds: float) -> None:
        """The server said slow down: no request for `seconds`."""
        with self._lock:
            # the requests already made still count: a hold only ever adds to the wait
            self._hold_until = max(self._hold_until, self._clock() + max(0.0, seconds))


class BucketLimiter:
    """A leaky bucket of `capacity` draining `drain` a second; a request waits until it fits.

    `reserve` requests of headroom are kept free (the server's counter may hold requests this
    client does not know of, e.g. another integration on the same portal)."""

    def __init__(self, capacity: int = 50, drain: float = 2.0, *, reserve: int = 2,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if capacity < 1 or drain <= 0:
            raise ValueError("capacity must be at least 1 and drain positive")
        self.capacity = capacity
        self.drain = drain
        self.reserve = max(0, min(reserve, capacity - 1))
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._at = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def _leak(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self.drain)
        self._at = now

    @property
    def level(self) -> float:
        with self._lock:
            self._leak()
            return self._level

    def acquire(self) -> None:
        with self._lock:
            while True:
                self._leak()
                room = self.capacity - self.reserve
                if self._level + 1 <= room:
                    self._level += 1
                    return
                wait = (self._level + 1 - room) / self.drain
                self.waited += wait
                self._sleep(wait)

    def penalise(self, seconds: float) -> None:
        """The server said the bucket is full: treat it as full now (and wait `seconds` at least)."""
        with self._lock:
            self._leak()
            self._level = max(self._level, self.capacity - self.reserve + seconds * self.drain)


class OperatingBudget:
    """Bitrix24's second limit: per REST method, the portal's own run time (`time.operating` of each
    answer; `result_time` of each batch command) may add up to 480 s in 10 minutes, after which the
    method answers 429 for a while. Before a call, wait until the method's recent run time, plus
    the call about to be made, stays under `share` of the budget."""

    def __init__(self, limit: float = 480.0, period: float = 600.0, *, share: float = 0.85,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.limit = limit * share
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._spent: dict[str, deque[tuple[float, float]]] = {}
        self.waited = 0.0

    def _used(self, method: str, now: float) -> float:
        q = self._spent.setdefault(method, deque())
        while q and now - q[0][0] >= self.period:
            q.popleft()
        return sum(s for _, s in q)

    def acquire(self, method: str) -> None:
        while True:
            now = self._clock()
            q = self._spent.get(method)
            used = self._used(method, now)
            expected = max((s for _, s in q), default=0.0) if q else 0.0
            if used + expected <= self.limit or not q:
                return
            wait = max(0.01, self.period - (now - q[0][0]))
            self.waited += wait
            self._sleep(wait)

    def record(self, method: str, seconds: float) -> None:
        if seconds > 0:
            self._spent.setdefault(method, deque()).append((self._clock(), float(seconds)))
