"""Vectorised parsing of the texts found in exports: timestamps and numbers.

Both work on whole Polars Series (no Python loop per value) and report which values did not
parse, so that the caller can quarantine those rows with a message. Other importers (the event
log one) use them too.

Timestamps: ISO 8601 (`2024-03-31`, `2024-03-31 10:00[:00[.123]]`, `T` or space, with or without an
offset such as `Z`, `+03:00`, `+0300`) and `DD.MM.YYYY[ HH:MM[:SS]]`. A value with an offset is
converted to UTC; one without is in the export's zone `tz`. The result is naive UTC, microseconds.

Numbers: spaces, no-break spaces, thin spaces and apostrophes are thousands separators; a single
comma is the decimal mark (`1 500 000,50`, and `1,234` is 1.234); commas or dots grouping digits by
three are thousands separators when the other mark or a second group shows it (`1,234,567.89`,
`1.234.567,89`); a currency sign (₽ $ € £ ¥, "руб.", "р.") before or after the number is dropped.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

# Tried in this order on the values not parsed yet; most exports use one format throughout, so
# usually the first or second pass parses everything.
NAIVE_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S%.f",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
)
OFFSET_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
)
_OFFSET_TAIL = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"

BAD = "timestamp"
GAP = "timestamp_gap"


def check_tz(tz: str | None) -> str:
    """The zone name if the system knows it, else ValueError."""
    name = tz or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(name) from None
    return name


def _scatter(target: pl.Series, mask: pl.Series, values: pl.Series) -> pl.Series:
    idx = mask.arg_true()
    return target.scatter(idx, values) if len(idx) else target


def parse_timestamps(values: pl.Series, tz: str | None = "UTC") -> tuple[pl.Series, pl.Series]:
    """(timestamps as naive UTC, problem) for a Utf8 Series. `problem` is null where the value is
    null or parsed, "timestamp" where it is not a date/time we read (31.02.2024 included), and
    "timestamp_gap" where a local time does not exist in `tz` (clocks moved forward)."""
    tz = tz or "UTC"
    s = values.cast(pl.Utf8).str.strip_chars()
    n = len(s)
    naive = pl.Series(values.name, [None] * n, dtype=pl.Datetime("us"))
    utc = pl.Series(values.name, [None] * n, dtype=pl.Datetime("us"))
    has_offset = s.str.contains(_OFFSET_TAIL).fill_null(False) & s.str.contains(r"\d[T ]?\d{1,2}:\d{2}").fill_null(False)
    todo = s.is_not_null() & ~has_offset
    for fmt in NAIVE_FORMATS:
        if not todo.any():
            break
        sub = s.filter(todo).str.to_datetime(fmt, strict=False, exact=True, time_unit="us")
        ok = sub.is_not_null()
        if ok.any():
            hit = todo.clone()
            hit = _scatter(hit, todo, ok)  # positions of `todo` that parsed
            naive = _scatter(naive, hit, sub.filter(ok))
            todo = todo & ~hit
    if has_offset.any():
        sub = s.filter(has_offset).str.replace(r"Z$", "+00:00").str.replace(r"([+-]\d{2})$", "${1}00")
        left = pl.Series([True] * len(sub))
        got = pl.Series([None] * len(sub), dtype=pl.Datetime("us"))
        for fmt in OFFSET_FORMATS:
            if not left.any():
                break
            part = sub.filter(left).str.to_datetime(fmt, strict=False, exact=True, time_unit="us")
            part = part.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            ok = part.is_not_null()
            if ok.any():
                hit = _scatter(left.clone(), left, ok)
                got = _scatter(got, hit, part.filter(ok))
                left = left & ~hit
        utc = _scatter(utc, has_offset, got)
    local_ok = naive.is_not_null()
    if tz != "UTC" and local_ok.any():
        localised = (
            naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        )
    else:
        localised = naive
    result = pl.select(pl.coalesce(utc, localised)).to_series().alias(values.name)
    problem = (
        pl.select(
            pl.when(s.is_null()).then(None)
            .when(local_ok & localised.is_null()).then(pl.lit(GAP))
            .when(result.is_null()).then(pl.lit(BAD))
            .otherwise(None)
        ).to_series().cast(pl.Utf8).alias(values.name)
    )
    return result, problem


_SPACES = r"[\s\u00a0\u202f\u2009\u2007']"
_CURRENCY = r"(?i)^(?:[₽$€£¥]|руб\.?|р\.)|(?:[₽$€£¥]|руб\.?|р\.)$"
_PLAIN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_GROUPED_COMMA = r"^[+-]?\d{1,3}(?:(?:,\d{3}){2,}|(?:,\d{3})+\.\d+)$"  # 1,234,567 or 1,234.5 (not 1,234)
_GROUPED_DOT = r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$"  # 1.234.567,89


def _plain(s: pl.Series) -> pl.Series:
    """Float64 of texts that are plain numbers with a dot decimal mark; null for the rest."""
    ok = s.str.contains(_PLAIN).fill_null(False)
    return pl.select(pl.when(ok).then(s.cast(pl.Float64, strict=False))).to_series()


def parse_numbers(values: pl.Series) -> pl.Series:
    """Float64 Series; null where the text is null or not a number."""
    s = values.cast(pl.Utf8).str.strip_chars()
    out = _plain(s)
    todo = s.is_not_null() & out.is_null()
    if todo.any():
        sub = s.filter(todo).str.replace_all(_SPACES, "").str.replace_all(_CURRENCY, "").str.strip_chars()
        comma_decimal = sub.str.replace(",", ".", literal=True)
        grouped_comma = sub.str.contains(_GROUPED_COMMA).fill_null(False)
        grouped_dot = sub.str.contains(_GROUPED_DOT).fill_null(False)
        fixed = pl.select(
            pl.when(grouped_comma).then(sub.str.replace_all(",", "", literal=True))
            .when(grouped_dot).then(sub.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
            .otherwise(comma_decimal)
        ).to_series()
        out = _scatter(out, todo, _plain(fixed))
    return out.alias(values.name)


def number_expr(col: pl.Expr) -> pl.Expr:
    """The same as `parse_numbers`, as an expression (runs it on the column's Series)."""
    return col.map_batches(parse_numbers, return_dtype=pl.Float64)
