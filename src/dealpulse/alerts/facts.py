"""The facts the alarms are computed from, as they were known at a moment.

Three small frames come out of the engine (Ibis, so DuckDB and PostgreSQL run the same code):

- `instances`: one row per playbook step instance — deal_id, step, anchor_at, completed_at
  (the first `done` task of the step's type), as `metrics.steps.step_instances` defines them;
- `spells`: one row per (deal, stage on its forward path) — deal_id, stage, stage_index, entered_at,
  exit_at, exit_stage (a later stage, `won` or `lost`; null while still there), as
  `metrics.funnel.stage_spells` defines them;
- `deals`: the deal attributes as of the moment — deal_id, owner, segment, channel, amount,
  created_at, status, closed_at (`Snapshot.deals`).

`Facts.at(moment, deals)` cuts facts extracted at a later moment back to an earlier one, which is
what a weekly replay needs (one extraction instead of one per week). It is exact: every time in
`instances` and `spells` is the moment the thing happened and became known (a stage entry, the
first completion of a task type, a close), so "known at T" is "happened by T"; the attributes are
not cut but taken from a snapshot at T (`deal_attributes(snap.at(T))`), and the deadlines and
statuses are recomputed from them here. (One case is not reproduced: a deal closed before T and
reopened after it looks open at T in the cut; the test suite checks the cut against a fresh
extraction on the demo.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.funnel import stage_order, stage_spells
from dealpulse.metrics.steps import LATE, MISSED, ON_TIME, PENDING, step_instances
from dealpulse.playbook.model import Playbook

DAY = 86400.0
DEAL_COLUMNS = ("deal_id", "owner", "segment", "channel", "amount", "created_at", "status", "closed_at")
INSTANCE_COLUMNS = ("deal_id", "step", "anchor_at", "completed_at")
SPELL_COLUMNS = ("deal_id", "stage", "stage_index", "entered_at", "exit_at", "exit_stage")


def _times(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    for c in cols:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
    return df


def _as_us(values: pd.Series) -> np.ndarray:
    """Times as datetime64[us] (fast when they already are; object columns are parsed)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy(dtype="datetime64[us]")
    return pd.to_datetime(values).to_numpy(dtype="datetime64[us]")


def deal_attributes(snap: Snapshot) -> pd.DataFrame:
    """deal_id, owner, segment, channel, amount, created_at, status, closed_at as of `snap.as_of`."""
    d = snap.deals
    df = d.select(*DEAL_COLUMNS).execute()
    for c in ("deal_id", "owner", "segment", "channel", "status"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return _times(df, ("created_at", "closed_at"))


@dataclass
class Facts:
    """The facts known at `as_of` (see the module docstring). Frames are pandas, times naive UTC."""

    as_of: datetime
    playbook: Playbook
    stages: tuple[str, ...]
    deals: pd.DataFrame
    instances: pd.DataFrame  # + owner, segment, deadline, completed_at (null if after as_of), status, closed_at
    spells: pd.DataFrame  # + owner, segment, channel; exit_at/exit_stage null if after as_of

    def at(self, moment: datetime, deals: pd.DataFrame) -> "Facts":
        """These facts as known at an earlier `moment`, with `deals` = `deal_attributes(snap.at(moment))`."""
        return build_facts(moment, self.playbook, self.stages, deals, self.instances[list(INSTANCE_COLUMNS)],
                           self.spells[list(SPELL_COLUMNS)])


def extract(snap: Snapshot, deals: pd.DataFrame | None = None) -> Facts:
    """The facts known at `snap.as_of`, from the engine."""
    pb = snap.playbook
    if deals is None:
        deals = deal_attributes(snap)
    if pb.steps:
        inst = step_instances(snap)
        inst_df = _times(inst.select(*INSTANCE_COLUMNS).execute(), ("anchor_at", "completed_at"))
    else:
        inst_df = pd.DataFrame({c: pd.Series(dtype=object) for c in INSTANCE_COLUMNS})
    order, _ = stage_order(snap)
    sp = stage_spells(snap, order)
    spells_df = _times(sp.select(*SPELL_COLUMNS).execute(), ("entered_at", "exit_at"))
    return build_facts(snap.as_of, pb, tuple(order), deals, inst_df, spells_df)


def _within_seconds(pb: Playbook, steps: pd.Series, segments: pd.Series) -> np.ndarray:
    """Each instance's allowed time in seconds: the step's `within`, or its segment override."""
    out = np.zeros(len(steps), dtype=float)
    step_arr = steps.to_numpy(dtype=object)
    seg_arr = segments.to_numpy(dtype=object)
    for step in pb.steps:
        mask = step_arr == step.name
        if not mask.any():
            continue
        vals = np.full(int(mask.sum()), step.within.total_seconds())
        segs = seg_arr[mask]
        for seg, td in step.by_segment.items():
            vals[segs == seg] = td.total_seconds()
        out[mask] = vals
    return out


def build_facts(as_of: datetime, pb: Playbook, stages: tuple[str, ...], deals: pd.DataFrame,
                instances: pd.DataFrame, spells: pd.DataFrame) -> Facts:
    """Cut `instances` and `spells` at `as_of` and attach the attributes of `deals` (as of then)."""
    T = pd.Timestamp(as_of)
    deals = deals[deals["created_at"] <= T]
    attrs = deals.set_index("deal_id")
    # -- step instances: the definition of metrics/steps.py, recomputed on the cut
    inst = instances[instances["anchor_at"].notna() & (instances["anchor_at"] <= T)]
    inst = inst[inst["deal_id"].isin(attrs.index)].copy()
    inst["completed_at"] = inst["completed_at"].where(inst["completed_at"] <= T)
    for c in ("owner", "segment"):
        inst[c] = attrs[c].reindex(inst["deal_id"]).to_numpy()
    inst["closed_at"] = _as_us(attrs["closed_at"].reindex(inst["deal_id"]))
    within = _within_seconds(pb, inst["step"], inst["segment"])
    # the anchor column is object-typed when a playbook step has no anchor in the data (e.g. Olist)
    inst["anchor_at"] = _as_us(inst["anchor_at"])
    inst["deadline"] = inst["anchor_at"] + pd.to_timedelta(np.round(within), unit="s")
    done = inst["completed_at"].notna()
    closed_before = inst["closed_at"].notna() & (inst["closed_at"] < inst["deadline"])
    status = np.where(done & (inst["completed_at"] <= inst["deadline"]), ON_TIME,
                      np.where(done, LATE, np.where((inst["deadline"] <= T) & ~closed_before, MISSED, PENDING)))
    inst["status"] = status
    # -- stage spells: entries known by then; an exit after as_of is not known yet
    sp = spells[(spells["entered_at"] <= T) & spells["deal_id"].isin(attrs.index)].copy()
    later = sp["exit_at"].notna() & (sp["exit_at"] > T)
    sp.loc[later, "exit_at"] = pd.NaT
    sp["exit_stage"] = sp["exit_stage"].astype(object).where(~later.to_numpy() & sp["exit_stage"].notna().to_numpy(), None)
    for c in ("owner", "segment", "channel"):
        sp[c] = attrs[c].reindex(sp["deal_id"]).to_numpy()
    return Facts(as_of=as_of, playbook=pb, stages=stages, deals=deals.reset_index(drop=True),
                 instances=inst.reset_index(drop=True), spells=sp.reset_index(drop=True))


def days(delta: pd.Series | Any) -> Any:
    """A timedelta series (or scalar) in days, as floats."""
    if isinstance(delta, pd.Series):
        return delta.dt.total_seconds() / DAY
    return delta / timedelta(days=1)


__all__ = ["Facts", "extract", "deal_attributes", "build_facts", "days"]
