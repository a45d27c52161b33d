"""Business time: the demo's clock runs on working days (Mon-Fri, 09:00-19:00).

A business time `b` is a float number of working days since the epoch Monday: day `floor(b)`, and
the fraction of its ten working hours. `to_seconds` maps it to calendar seconds since the epoch
Monday (strictly increasing, so the order of events is kept); `from_seconds` maps a calendar moment
back (a weekend or a night moves to the next working moment). Durations drawn in business days
keep every stage entry, touch and field change inside office hours.
"""

from __future__ import annotations

from datetime import date

import numpy as np

DAY = 86_400.0
OPEN_HOUR = 9.0
WORK_HOURS = 10.0
BUSINESS_PER_CALENDAR = 5.0 / 7.0  # working days in a calendar day, on average


def to_seconds(b: np.ndarray) -> np.ndarray:
    """Calendar seconds since the epoch Monday 00:00 for business times `b` (working days);
    infinities stay infinite."""
    b = np.asarray(b, dtype=np.float64)
    finite = np.isfinite(b)
    bf = np.where(finite, b, 0.0)
    k = np.floor(bf)
    week, dow = np.divmod(k, 5.0)
    seconds = (week * 7.0 + dow) * DAY + (OPEN_HOUR + (bf - k) * WORK_HOURS) * 3600.0
    return np.where(finite, seconds, b)


def from_seconds(s: np.ndarray) -> np.ndarray:
    """Business time of calendar seconds `s`; weekends and nights map to the next opening."""
    s = np.asarray(s, dtype=np.float64)
    c = np.floor(s / DAY)
    hours = (s - c * DAY) / 3600.0
    week, dow = np.divmod(c, 7.0)
    frac = np.clip((hours - OPEN_HOUR) / WORK_HOURS, 0.0, 1.0)
    weekend = dow >= 5
    return np.where(weekend, week * 5.0 + 5.0, week * 5.0 + np.minimum(dow, 4.0) + frac)


def calendar_days(days: float | np.ndarray) -> float | np.ndarray:
    """Business days in a span of calendar days (on average)."""
    return np.asarray(days) * BUSINESS_PER_CALENDAR


def add_months(d: date, n: int) -> date:
    """The same day `n` calendar months later (the 1st when the day is past the 28th)."""
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1 if d.day > 28 else d.day)
