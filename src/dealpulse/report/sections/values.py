"""Plain values out of what the metrics modules return: missing numbers, rows as dicts."""

from __future__ import annotations

from typing import Any

from dealpulse.metrics.kpi_changes import missing, num, rate_n, to_int  # noqa: F401 - the domain's, one copy


def records(data: Any) -> list[dict]:
    """Rows as dicts from a pandas/polars frame, an Ibis table, a list of dicts or dataclasses."""
    if data is None:
        return []
    if hasattr(data, "execute") and hasattr(data, "schema") and not hasattr(data, "to_dict"):
        data = data.execute()
    if hasattr(data, "to_dicts"):
        return data.to_dicts()
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return data.to_dict(orient="records")
    rows = []
    for r in data:
        if isinstance(r, dict):
            rows.append(r)
        elif hasattr(r, "__dataclass_fields__"):
            rows.append({k: getattr(r, k) for k in r.__dataclass_fields__})
        else:
            rows.append(dict(r))
    return rows


def rows_of(result: Any) -> list[dict]:
    """The rows of a result object (its `.rows`) or of a plain table."""
    return records(getattr(result, "rows", result))


def optional(v: Any) -> Any:
    """The value, or None when it is missing (None or NaN)."""
    return None if missing(v) else v


def pydatetime(v: Any) -> Any:
    """A pandas timestamp as a datetime; anything else as it is."""
    return v.to_pydatetime() if hasattr(v, "to_pydatetime") else v


def in_days(td: Any) -> float:
    """A timedelta in (fractional) days."""
    return td.total_seconds() / 86400
