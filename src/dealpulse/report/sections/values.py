"""Plain values out of what the metrics modules return: missing numbers, rows as dicts, optional modules."""

from __future__ import annotations

import importlib
from typing import Any


def missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)
    except (TypeError, ValueError):
        return False


def num(v: Any) -> float | None:
    if missing(v):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def to_int(v: Any) -> int | None:
    f = num(v)
    return None if f is None else int(round(f))


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


def need(module: str, name: str) -> Any:
    """A function from a sibling module; ImportError when the module or the name is not there (yet)."""
    mod = importlib.import_module(module)
    try:
        return getattr(mod, name)
    except AttributeError:
        raise ImportError(f"{module}.{name} is not available") from None


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


def rate_n(r: dict, prefix: str = "") -> tuple[float | None, int]:
    """(on-time rate, steps) of a metrics row: on time / (on time + late + missed); `prefix` "prev_" for the previous window."""
    ok = num(r.get(f"{prefix}steps_on_time")) or 0
    n = int(sum(num(r.get(f"{prefix}steps_{s}")) or 0 for s in ("on_time", "late", "missed")))
    return (ok / n if n else None), n
