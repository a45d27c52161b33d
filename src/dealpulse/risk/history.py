"""What the risk model reads: the store's history as known at a snapshot's `as_of`, as Polars frames.

The heavy as-of logic (which stage events, tasks and field changes were known by then) is the
Snapshot's (Ibis, any engine); this module only pulls the cut history into memory once, so that
features can then be computed at many earlier moments of each deal's life (`features.py`).
Timestamps are naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.steps import step_instances
from dealpulse.playbook.model import TERMINAL_STAGES, Playbook

# deal fields whose changes the model follows (besides the client card)
TRACKED_FIELDS = ("owner", "segment", "channel", "amount", "expected_close", "forecast_category", "probability")


@dataclass
class History:
    as_of: datetime
    playbook: Playbook
    deals: pl.DataFrame  # deal_id, owner, team, segment, channel, amount, created_at, status, closed_at, stage, stage_entered_at
    stage_events: pl.DataFrame  # deal_id, stage, entered_at (non-terminal entries only)
    tasks: pl.DataFrame  # deal_id, type, created_at, due_at, completed_at (cancelled tasks dropped)
    steps: pl.DataFrame  # deal_id, step, anchor_at, deadline, completed_at
    fields: pl.DataFrame  # deal_id, field, value, changed_at (deal fields and card fields, changed by as_of)
    card_static: pl.DataFrame  # deal_id, field, value: card values with no history (the export's snapshot)
    managers: pl.DataFrame | None = None  # manager_id, team, name

    @property
    def closed(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("status").is_in(list(TERMINAL_STAGES)))

    @property
    def open(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("status") == "open")


def _frame(expr: Any) -> pl.DataFrame:
    return expr.to_polars()


def _naive(df: pl.DataFrame, cols: tuple[str, ...]) -> pl.DataFrame:
    """Timestamps as Datetime("us") without a zone, whatever the engine returned."""
    exprs = []
    for c in cols:
        if c in df.columns:
            dt = df.schema[c]
            e = pl.col(c)
            if isinstance(dt, pl.Datetime) and dt.time_zone is not None:
                e = e.dt.replace_time_zone(None)
            exprs.append(e.cast(pl.Datetime("us")))
    return df.with_columns(exprs) if exprs else df


def load_history(snap: Snapshot) -> History:
    """Everything the model needs, known at `snap.as_of`, in memory."""
    pb = snap.playbook
    d = snap.deals
    deals = _naive(_frame(d.select("deal_id", "owner", "team", "segment", "channel", "amount", "created_at",
                                   "status", "closed_at", "stage", "stage_entered_at")),
                   ("created_at", "closed_at", "stage_entered_at"))
    deals = deals.with_columns(pl.col("amount").cast(pl.Float64))
    ev = snap.stage_events
    ev = ev.filter(~ev.stage.isin(list(TERMINAL_STAGES)))
    stage_events = _naive(_frame(ev.select("deal_id", "stage", "entered_at")), ("entered_at",))
    tk = snap.tasks
    tk = tk.filter(tk.status != "cancelled")
    tasks = _naive(_frame(tk.select("deal_id", "type", "created_at", "due_at", "completed_at")),
                   ("created_at", "due_at", "completed_at"))
    si = step_instances(snap)
    steps = _naive(_frame(si.select("deal_id", "step", "anchor_at", "deadline", "completed_at")),
                   ("anchor_at", "deadline", "completed_at"))
    wanted = list(dict.fromkeys([*TRACKED_FIELDS, *pb.card_fields]))
    fh = snap.store.table("field_history")
    fh = fh.filter((fh.entity == "deal") & fh.field.isin(wanted) & (fh.changed_at <= snap.T)
                   & fh.entity_id.isin(d.deal_id))
    fields = _naive(_frame(fh.select(deal_id=fh.entity_id, field=fh.field, value=fh.value,
                                     changed_at=fh.changed_at.cast("timestamp"))), ("changed_at",))
    card_static = pl.DataFrame(schema={"deal_id": pl.Utf8, "field": pl.Utf8, "value": pl.Utf8})
    if pb.card_fields:
        at = snap.store.table("attributes")
        at = at.filter((at.entity == "deal") & at.field.isin(list(pb.card_fields)) & at.entity_id.isin(d.deal_id))
        card_static = _frame(at.select(deal_id=at.entity_id, field=at.field, value=at.value))
        with_hist = fields.select("deal_id", "field").unique()
        card_static = card_static.join(with_hist, on=["deal_id", "field"], how="anti")
    mg = snap.store.table("managers")
    managers = _frame(mg.select(manager_id=mg.manager_id, team=mg.team, name=mg.name)).unique("manager_id").sort("manager_id")
    # a fixed row order (engines return rows in any order): the same history gives the same model
    return History(as_of=snap.as_of, playbook=pb, deals=deals.sort("deal_id"),
                   stage_events=stage_events.sort("deal_id", "entered_at", "stage"),
                   tasks=tasks.sort("deal_id", "created_at", "type", "completed_at", nulls_last=True),
                   steps=steps.sort("deal_id", "step"),
                   fields=fields.sort("deal_id", "field", "changed_at", "value", nulls_last=True),
                   card_static=card_static.sort("deal_id", "field"), managers=managers)


__all__ = ["History", "load_history", "TRACKED_FIELDS"]
