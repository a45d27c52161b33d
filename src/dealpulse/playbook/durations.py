"""Durations as written in a playbook: `12h`, `3d`, `2w`, `90m`, `1.5d`."""

from __future__ import annotations

import re
from datetime import timedelta

from dealpulse.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: object) -> timedelta:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(days=float(text))
    m = _DURATION.match(str(text)) if text is not None else None
    if not m:
        raise InputError(f"expected a duration such as 12h, 3d or 2w, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def format_duration(td: timedelta) -> str:
    """The shortest exact text for a duration: whole weeks, days or hours, else days with a decimal."""
    seconds = td.total_seconds()
    if seconds % (7 * 86400) == 0 and seconds >= 7 * 86400:
        return f"{int(seconds // (7 * 86400))}w"
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return f"{seconds / 86400:.2f}d"
