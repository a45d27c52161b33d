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


def _locale(lang: str) -> str:
    return lang if lang in ("en", "ru") else "en"


def number(value: Any, lang: str, digits: int = 0) -> str:
    """`1 234,5` (ru: non-breaking space and a decimal comma) / `1,234.5` (en), by Babel."""
    if missing(value):
        return "—"
    from babel.numbers import format_decimal

    return format_decimal(float(value), format="#,##0" + ("." + "0" * digits if digits else ""), locale=_locale(lang))


def integer(value: Any, lang: str) -> str:
    return number(value, lang, 0)


def pct(value: Any, lang: str, digits: int = 0) -> str:
    """A share as percent: `25 %` (ru, non-breaking space) / `25%` (en), by Babel."""
    if missing(value):
        return "—"
    from babel import Locale
    from babel.numbers import format_percent

    pattern = Locale.parse(_locale(lang)).percent_formats[None].pattern  # ru "#,##0\u00a0%", en "#,##0%"
    if digits:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
    return format_percent(float(value), format=pattern, locale=_locale(lang))


def days(value: Any, lang: str) -> str:
    if missing(value):
        return "—"
    v = float(value)
    return number(v, lang, 1 if abs(v) < 10 and round(v, 1) != round(v) else 0)


def money(value: Any, lang: str) -> str:
    """Compact money, by Babel: 1.2M / 1,2 млн; 350K / 350 тыс."""
    if missing(value):
        return "—"
    from babel.numbers import format_compact_decimal

    v = float(value)
    if abs(v) < 1000:
        return number(v, lang, 0)
    scaled = abs(v)
    while scaled >= 1000:
        scaled /= 1000
    digits = 1 if scaled < 100 else 0
    return format_compact_decimal(v, format_type="short", locale=_locale(lang), fraction_digits=digits)


def duration(td: Any, lang: str) -> str:
    """A deadline or a duration as words: `27 h` / `27 ч`, `5 d` / `5 дн.`, `2 w` / `2 нед.`."""
    if td is None or missing(td):
        return "—"
    seconds = td.total_seconds() if hasattr(td, "total_seconds") else float(td) * 86400
    hours = seconds / 3600
    if hours < 48 and hours != int(hours / 24) * 24:
        return number(hours, lang, 0) + (f"{_NBSP}ч" if lang == "ru" else " h")
    d = hours / 24
    if d >= 14 and d % 7 == 0:
        return number(d / 7, lang, 0) + (f"{_NBSP}нед." if lang == "ru" else " w")
    return days(d, lang) + (f"{_NBSP}дн." if lang == "ru" else " d")


def signed(value: Any, lang: str, kind: str) -> str:
    """A difference with its sign: +3 pp, −12, +1.5 d."""
    if missing(value):
        return "—"
    v = float(value)
    sign = "+" if v > 0 else ("−" if v < 0 else "±")
    if kind == "rate":
        return sign + number(abs(100 * v), lang, 0) + (f"{_NBSP}п.{_NBSP}п." if lang == "ru" else " pp")
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
