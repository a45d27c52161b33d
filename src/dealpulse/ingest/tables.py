"""The native tables an export is read into: their columns, types, required columns and keys.

The store's schema (`dealpulse.store.schema`) is the source of truth for keys; this module adds
what the importer needs to check a file: which columns are required, which are timestamps or
numbers, and which values a column may take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dealpulse.store.schema import TABLE_KEYS

TEXT = "text"
NUMBER = "number"
TIMESTAMP = "timestamp"

DEAL_STATUSES = ("open", "won", "lost")
TASK_STATUSES = ("open", "done", "cancelled")
ENTITIES = ("deal", "account")


@dataclass(frozen=True)
class TableSpec:
    """One native table. `extra` columns are read but not stored as such (deals.stage feeds the
    derived stage history of a snapshot export); `entity` names the attributes entity of a
    table whose other columns go to `attributes`."""

    name: str
    columns: dict[str, str]
    required: tuple[str, ...]
    keys: tuple[str, ...]
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    entity: str | None = None

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every column a mapping may name for this table."""
        return tuple(self.columns) + self.extra

    def dtype(self, column: str) -> pl.DataType:
        return DTYPES[self.columns.get(column, TEXT)]


DTYPES: dict[str, pl.DataType] = {TEXT: pl.Utf8(), NUMBER: pl.Float64(), TIMESTAMP: pl.Datetime("us")}

_T, _N, _TS = TEXT, NUMBER, TIMESTAMP

TABLES: dict[str, TableSpec] = {
    "managers": TableSpec(
        "managers",
        {"manager_id": _T, "name": _T, "team": _T, "role": _T, "hired_at": _TS, "email": _T},
        required=("manager_id",), keys=TABLE_KEYS["managers"],
    ),
    "accounts": TableSpec(
        "accounts", {"account_id": _T, "name": _T, "segment": _T},
        required=("account_id",), keys=TABLE_KEYS["accounts"], entity="account",
    ),
    "deals": TableSpec(
        "deals",
        {"deal_id": _T, "account_id": _T, "title": _T, "owner": _T, "segment": _T, "channel": _T,
         "amount": _N, "currency": _T, "created_at": _TS, "status": _T, "closed_at": _TS, "lost_reason": _T},
        required=("deal_id", "owner", "created_at", "status"), keys=TABLE_KEYS["deals"],
        choices={"status": DEAL_STATUSES}, extra=("stage",), entity="deal",
    ),
    "stage_history": TableSpec(
        "stage_history", {"deal_id": _T, "stage": _T, "entered_at": _TS, "changed_by": _T},
        required=("deal_id", "stage", "entered_at"), keys=TABLE_KEYS["stage_history"],
    ),
    "tasks": TableSpec(
        "tasks",
        {"task_id": _T, "deal_id": _T, "type": _T, "owner": _T, "created_at": _TS, "due_at": _TS,
         "completed_at": _TS, "status": _T},
        required=("task_id", "deal_id", "type", "created_at"), keys=TABLE_KEYS["tasks"],
        choices={"status": TASK_STATUSES},
    ),
    "field_history": TableSpec(
        "field_history",
        {"entity": _T, "entity_id": _T, "field": _T, "value": _T, "changed_at": _TS, "changed_by": _T},
        required=("entity", "entity_id", "field", "changed_at"), keys=TABLE_KEYS["field_history"],
        choices={"entity": ENTITIES},
    ),
}

ATTRIBUTES_COLUMNS = ("entity", "entity_id", "field", "value")

# Tables whose rows name a deal: the column holding the deal id (field_history: rows of entity "deal").
DEAL_CHILDREN: dict[str, str] = {"stage_history": "deal_id", "tasks": "deal_id", "field_history": "entity_id"}


def native_schema(table: str) -> dict[str, pl.DataType]:
    spec = TABLES[table]
    return {c: spec.dtype(c) for c in spec.columns}


def constant(value: object, n: int, dtype: pl.DataType, name: str = "") -> pl.Series:
    """A Series of `n` times `value` (None included), built without a Python list."""
    return pl.repeat(value, n, dtype=dtype, eager=True).alias(name)


def columns_of(frame: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """The frame's columns `cols`, sharing their memory. (`DataFrame.select` would copy every column
    of a frame read in many chunks into one: hundreds of MB on a big export.)"""
    return pl.DataFrame([frame[c] for c in cols])
