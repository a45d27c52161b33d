"""One way to show a moment to a person, everywhere: the CLI's titles and notes, JSON and the report.

Moments are stored as naive UTC. A person reads them in the export's zone (the store's `meta.tz`),
with the zone named: `2024-03-31 18:00 (Europe/Moscow)`. JSON carries the same moment three ways:
`{"local": "2024-03-31T18:00:00+03:00", "utc": "2024-03-31T15:00:00Z", "tz": "Europe/Moscow"}`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo


def zone_of(tz: Any) -> ZoneInfo:
    """A ZoneInfo from a ZoneInfo, a zone name or None (UTC)."""
    if isinstance(tz, ZoneInfo):
        return tz
    if tz is None or str(tz) in ("", "None"):
        return ZoneInfo("UTC")
    if hasattr(tz, "utcoffset"):
        return tz  # another tzinfo; used as it is
    return ZoneInfo(str(tz))


def _aware_utc(ts: Any) -> datetime | None:
    if ts is None:
        return None
    if hasattr(ts, "to_pydatetime"):  # pandas Timestamp
        ts = ts.to_pydatetime()
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if not isinstance(ts, datetime) and isinstance(ts, date):
        ts = datetime(ts.year, ts.month, ts.day)
    if not isinstance(ts, datetime):
        return None
    if ts != ts:  # NaT
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def zone_name(tz: Any) -> str:
    return str(zone_of(tz))


def local_text(ts: Any, tz: Any) -> str:
    """`2024-03-31 18:00` in the zone, without naming it (for the second end of a range)."""
    at = _aware_utc(ts)
    return "—" if at is None else at.astimezone(zone_of(tz)).strftime("%Y-%m-%d %H:%M")


def show_moment(ts: Any, tz: Any, lang: str = "en") -> str:
    """A moment (naive UTC) for people: `2024-03-31 18:00 (Europe/Moscow)`, the same in ru and en."""
    at = _aware_utc(ts)
    if at is None:
        return "—"
    return f"{local_text(at, tz)} ({zone_name(tz)})"


def moment_json(ts: Any, tz: Any) -> dict[str, str] | None:
    """A moment (naive UTC) for JSON: in the export's zone, in UTC, and the zone's name."""
    at = _aware_utc(ts)
    if at is None:
        return None
    local = at.astimezone(zone_of(tz)).replace(microsecond=0)
    return {"local": local.isoformat(), "utc": at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "tz": zone_name(tz)}


__all__ = ["show_moment", "moment_json", "local_text", "zone_name", "zone_of"]
