"""Put small hand-made data straight into a store (no importer), for metric tests.

    fill(store, deals=[dict(deal_id="d1", owner="m1", created_at="2024-01-01", status="open")],
         stage_history=[("d1", "new", "2024-01-01")], tasks=[...], field_history=[...])

Timestamps may be ISO texts or datetimes (naive UTC). Missing optional columns are null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

import polars as pl

from dealpulse.store.cut import SCHEMAS

# The native format's columns and types, as the product defines them.
COLUMNS = {name: list(schema) for name, schema in SCHEMAS.items()}
TIMESTAMPS = {c for schema in SCHEMAS.values() for c, dtype in schema.items() if dtype == pl.Datetime("us")}


def _ts(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(str(v))


def frame(table: str, rows: Iterable[Any]) -> pl.DataFrame:
    cols = COLUMNS[table]
    dicts = []
    for r in rows:
        d = dict(zip(cols, r)) if isinstance(r, (tuple, list)) else dict(r)
        unknown = set(d) - set(cols)
        if unknown:
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        dicts.append({c: (_ts(d.get(c)) if c in TIMESTAMPS else d.get(c)) for c in cols})
    schema = SCHEMAS[table]
    return pl.DataFrame(dicts, schema=schema, orient="row") if dicts else pl.DataFrame(schema=schema)


def fill(store: Any, **tables: Iterable[Any]) -> None:
    """Insert rows into each named table. Tasks get status 'done'/'open' from completed_at when absent."""
    for table, rows in tables.items():
        df = frame(table, rows)
        if table == "tasks":
            df = df.with_columns(
                pl.when(pl.col("status").is_not_null()).then(pl.col("status"))
                .when(pl.col("completed_at").is_not_null()).then(pl.lit("done")).otherwise(pl.lit("open")).alias("status")
            )
        if df.height == 0:
            continue
        store.load_frame("_fill", df)
        cols = ", ".join(df.columns)
        store.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _fill")
