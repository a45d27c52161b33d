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
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S%.f",
)
OFFSET_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
)
_OFFSET_TAIL = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"
_SAMPLE = 200

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


def _ordered(s: pl.Series, formats: tuple[str, ...]) -> list[str]:
    """The formats, those that read most of a sample first (an export usually keeps to one)."""
    sample = s.drop_nulls().head(_SAMPLE)
    hits = {f: int(sample.str.to_datetime(f, strict=False, exact=True, time_unit="us", cache=False).is_not_null().sum())
            for f in formats}
    return sorted(formats, key=lambda f: -hits[f])


def _parse(s: pl.Series, formats: tuple[str, ...]) -> pl.Series:
    """Each value read by the first format that reads it; null where none does."""
    out = pl.repeat(None, len(s), dtype=pl.Datetime("us"), eager=True).alias(s.name)
    todo = s.is_not_null()
    for fmt in _ordered(s, formats):
        if not todo.any():
            break
        whole = bool(todo.all())
        sub = (s if whole else s.filter(todo)).str.to_datetime(fmt, strict=False, exact=True, time_unit="us", cache=False)
        if sub.dtype.time_zone if isinstance(sub.dtype, pl.Datetime) else False:
            sub = sub.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        ok = sub.is_not_null()
        if whole and bool(ok.all()):
            return sub.alias(s.name)
        if ok.any():
            hit = _scatter(todo.clone(), todo, ok)  # the positions of `todo` this format read
            out = _scatter(out, hit, sub.filter(ok))
            todo = todo & ~hit
    if todo.any():  # values with spaces around them (the readers trim; other callers may not)
        rest = s.filter(todo)
        trimmed = rest.str.strip_chars()
        if bool((trimmed != rest).any()):
            out = _scatter(out, todo, _parse(trimmed, formats))
    return out


def parse_timestamps(values: pl.Series, tz: str | None = "UTC") -> tuple[pl.Series, pl.Series]:
    """(timestamps as naive UTC, problem) for a Utf8 Series. `problem` is null where the value is
    null or parsed, "timestamp" where it is not a date/time we read (31.02.2024 included), and
    "timestamp_gap" where a local time does not exist in `tz` (clocks moved forward)."""
    tz = tz or "UTC"
    s = values.cast(pl.Utf8)
    has_offset = s.str.contains(_OFFSET_TAIL).fill_null(False)
    any_offset = bool(has_offset.any())
    naive = _parse(s.set(has_offset, None) if any_offset else s, NAIVE_FORMATS)
    if tz != "UTC" and naive.is_not_null().any():
        localised = (
            naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        )
        gap = naive.is_not_null() & localised.is_null()
    else:
        localised, gap = naive, None
    result = localised
    if any_offset:
        sub = s.filter(has_offset).str.strip_chars().str.replace(r"\s*Z$", "+00:00").str.replace(r"\s*([+-]\d{2})$", "${1}00").str.replace(r"\s+([+-]\d)", "$1")
        result = _scatter(result, has_offset, _parse(sub, OFFSET_FORMATS))
    bad = s.is_not_null() & result.is_null() & (s.str.strip_chars() != "")
    problem = pl.repeat(None, len(s), dtype=pl.Utf8, eager=True).alias(values.name)
    if bad.any():
        problem = problem.set(bad, BAD)
        if gap is not None and gap.any():
            problem = problem.set(gap, GAP)
    return result.alias(values.name), problem


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
