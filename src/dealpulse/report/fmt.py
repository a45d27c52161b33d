"""Numbers, money, days and moments written the way a reader of `lang` expects."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

_NBSP = "\u00a0"
_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "ru": ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
}


def missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and math.isnan(value) or bool(value != value)
    except (TypeError, ValueError):
        return False


def number(value: Any, lang: str, digits: int = 0) -> str:
    if missing(value):
        return "—"
    text = f"{float(value):,.{digits}f}"
    if lang == "ru":
        text = text.replace(",", " ").replace(".", ",").replace(" ", _NBSP)
    return text


def integer(value: Any, lang: str) -> str:
    return number(value, lang, 0)


def pct(value: Any, lang: str, digits: int = 0) -> str:
    if missing(value):
        return "—"
    return number(100 * float(value), lang, digits) + ("\u00a0%" if lang == "ru" else "%")


def days(value: Any, lang: str) -> str:
    if missing(value):
        return "—"
    v = float(value)
    return number(v, lang, 1 if abs(v) < 10 and round(v, 1) != round(v) else 0)


def money(value: Any, lang: str) -> str:
    """Compact money: 1.2M / 1,2 млн; 350K / 350 тыс."""
    if missing(value):
        return "—"
    v = float(value)
    units = [(1e9, "B", "млрд"), (1e6, "M", "млн"), (1e3, "K", "тыс.")]
    for size, en, ru in units:
        if abs(v) >= size:
            scaled = v / size
            digits = 1 if abs(scaled) < 100 else 0
            return number(scaled, lang, digits) + (f"{_NBSP}{ru}" if lang == "ru" else en)
    return number(v, lang, 0)


def signed(value: Any, lang: str, kind: str) -> str:
    """A difference with its sign: +3 pp, −12, +1.5 d."""
    if missing(value):
        return "—"
    v = float(value)
    sign = "+" if v > 0 else ("−" if v < 0 else "±")
    if kind == "rate":
        return sign + number(abs(100 * v), lang, 0) + (f"{_NBSP}п.п." if lang == "ru" else " pp")
    if kind == "money":
        return sign + money(abs(v), lang)
    if kind == "days":
        return sign + days(abs(v), lang)
    return sign + integer(abs(v), lang)


def coef(value: Any, lang: str, digits: int = 2) -> str:
    """A signed coefficient such as a correlation: +0.25 / +0,25 (− for negatives)."""
    if missing(value):
        return "—"
    v = float(value)
    sign = "+" if v > 0 else ("−" if v < 0 else "")
    return sign + number(abs(v), lang, digits)


def calendar_day(value: Any, lang: str) -> str:
    """A calendar date (a `date`, or ISO text) as it is, without a zone: `27 May 2025` / `27 мая 2025`."""
    if missing(value):
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
    return f"{value.day} {_MONTHS[lang][value.month - 1]} {value.year}"


def moment(at: datetime | None, lang: str, tz: ZoneInfo, with_time: bool = True) -> str:
    """A naive-UTC moment in the export's zone: `14 Apr 2025, 18:00` / `14 апр 2025, 18:00`."""
    if at is None or missing(at):
        return "—"
    if hasattr(at, "to_pydatetime"):
        at = at.to_pydatetime()
    local = at.replace(tzinfo=timezone.utc).astimezone(tz)
    text = f"{local.day} {_MONTHS[lang][local.month - 1]} {local.year}"
    if with_time:
        text += f", {local:%H:%M}"
    return text


def day(at: datetime | None, lang: str, tz: ZoneInfo) -> str:
    return moment(at, lang, tz, with_time=False)
