"""What a command returns to every surface: a `Result` (rows, columns, the document's other fields and the
domain result itself), and `jsonable`, the one way a document becomes plain JSON values.

`Result.document()` is exactly what `dealpulse <command> --format json` prints and what the web API serves:
the head fields, then `rows`. Surfaces render tables and CSV from the same result; none computes anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """A value as plain JSON: dates ISO, NaN/inf as null, numpy scalars as Python numbers, tuples/sets as lists."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@dataclass
class Result:
    """One command's answer at one moment.

    `head`: the document's fields other than `rows` (as_of, zone, lang, method, ...); `rows`: the rows of the
    JSON document; `columns`: the columns a CSV writes (None: every key of the first row); `csv_rows`: rows
    for CSV when they differ from the document's (flattened); `warnings`: [{code, message}] a surface shows
    beside the result; `data`: the domain result, for the surfaces' own tables (never in the document)."""

    name: str
    head: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] | None = None
    csv_rows: list[dict[str, Any]] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    data: Any = None

    def document(self) -> dict[str, Any]:
        """The JSON document (plain values): the head, then `rows` (unless the head has its own)."""
        doc = dict(self.head)
        doc.setdefault("rows", self.rows)
        return jsonable(doc)


__all__ = ["Result", "jsonable"]
