"""`compute_metrics`: every figure of the registry for a window and the previous one, per group.

Each figure is written once as an Ibis expression over a `Snapshot`; the whole table is one query
(so DuckDB, PostgreSQL or a warehouse computes it) and only the small result comes back as pandas.

Windows are half-open: the current one is (as_of - window, as_of], the previous one the same length
before it. Every figure of a window is computed as known at the window's end (a snapshot at that
moment): group attributes (owner, team, segment, channel, stage), task and step states, amounts.

Group keys (`by`): manager (the deal's owner), team, segment, channel, stage, step, cohort (YYYY-MM of
the deal's creation). The step family groups step instances (stage = the step's stage); the other
families are deal-level (stage = the deal's current stage, or the stage it closed from) and do not
apply when grouping by step (their figures are null then).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterable

import ibis
import pandas as pd

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.metrics.asof import Snapshot, window_bounds
from dealpulse.metrics.registry import (
    CARD, COUNT, FAMILIES, GROUP_KEYS, METRICS, MONEY, PIPELINE, PREV, STEPS, TASKS,
)
from dealpulse.metrics.steps import MISSED, LATE, ON_TIME, PENDING, days_between, step_instances

DEFAULT_WINDOW = timedelta(days=28)
CUR, PREV_TAG = "cur", "prev"

# Raw per-part columns (before rates), with their types. Each comes from exactly one part.
RAW: dict[str, str] = {
    "steps_on_time": "int64", "steps_late": "int64", "steps_missed": "int64",
    "overdue_tasks": "int64", "median_task_lateness_days": "float64",
    "card_entered": "int64", "card_complete": "int64",
    "open_deals": "int64", "stale_deals": "int64", "median_days_since_touch": "float64",
    "won": "int64", "lost": "int64", "revenue_won": "float64", "median_cycle_days": "float64",
}
_KEY_COLUMN = {"manager": "owner"}


def validate_by(by: Iterable[str]) -> list[str]:
    """The group keys in order, without repeats; an InputError names any unknown one."""
    out: list[str] = []
    for key in by:
        if key not in GROUP_KEYS:
            raise InputError(t("metrics.bad_by", "en", value=key, allowed=", ".join(GROUP_KEYS)),
                             suggestion=t("metrics.bad_by.suggestion", "en"))
        if key not in out:
            out.append(key)
    return out


def _group(table: Any, by: list[str], aggs: dict[str, Any]) -> Any:
    """Aggregate per group (keys named as in `by`, as text); drop groups with no rows."""
    aggs = {**aggs, "_n": table.count()}
    if by:
        keys = [table[_KEY_COLUMN.get(k, k)].cast("string").name(k) for k in by]
        out = table.group_by(keys).aggregate(**aggs)
    else:
        out = table.aggregate(**aggs)
    return out.filter(out._n > 0)


def _count(cond: Any) -> Any:
    return ibis.ifelse(cond, 1, 0).sum().cast("int64")


# -- the parts, one per set of rows ----------------------------------------------------------------
def _steps_part(snap: Snapshot, start: Any, end: Any, by: list[str]) -> list[Any]:
    if not snap.playbook.steps:
        return []
    inst = step_instances(snap)
    inst = inst.filter((inst.deadline > start) & (inst.deadline <= end) & (inst.status != PENDING))
    return [_group(inst, by, {
        "steps_on_time": _count(inst.status == ON_TIME),
        "steps_late": _count(inst.status == LATE),
        "steps_missed": _count(inst.status == MISSED),
    })]


def _deal_keys(snap: Snapshot) -> Any:
    d = snap.deals
    return d.select(k_id=d.deal_id, owner=d.owner, team=d.team, segment=d.segment, channel=d.channel,
                    stage=d.stage, cohort=d.cohort, k_open=d.status == "open")


def _tasks_parts(snap: Snapshot, start: Any, end: Any, by: list[str]) -> list[Any]:
    """Open tasks overdue at the window's end, on deals still open then (a task left open on a closed
    deal is the CRM's clutter, not work a manager can still do); tasks due in the window and done late."""
    tk = snap.tasks
    tk = tk.select("deal_id", "due_at", "completed_at", "status")  # the task's own owner is not the key
    keys = _deal_keys(snap)
    tk = tk.inner_join(keys, tk.deal_id == keys.k_id)
    overdue = (tk.status == "open") & tk.k_open & tk.due_at.notnull() & (tk.due_at <= snap.T)
    late = (tk.status == "done") & (tk.due_at > start) & (tk.due_at <= end) & (tk.completed_at > tk.due_at)
    tk = tk.mutate(_overdue=overdue.fill_null(False), _late=late.fill_null(False))
    tk = tk.filter(tk._overdue | tk._late)
    return [_group(tk, by, {
        "overdue_tasks": _count(tk._overdue),
        "median_task_lateness_days": days_between(tk.completed_at, tk.due_at).median(where=tk._late),
    })]


def card_entries(snap: Snapshot, start: Any, end: Any) -> Any | None:
    """deal_id, entry_at, complete: deals whose first entry into the playbook's `complete_by` stage
    falls in (start, end], and whether every client-card field was filled at that moment (its last
    field_history value by then; the `attributes` snapshot only for a field with no history at all
    for that deal). None when the playbook has no client card."""
    pb = snap.playbook
    if not pb.card_complete_by or not pb.card_fields:
        return None
    fse = snap.first_stage_entries
    fse = fse.filter((fse.stage == pb.card_complete_by) & (fse.entered_at > start) & (fse.entered_at <= end))
    entries = fse.select(deal_id=fse.deal_id, entry_at=fse.entered_at)
    pairs = None
    for f in pb.card_fields:
        p = entries.mutate(field=ibis.literal(f, type="string"))
        pairs = p if pairs is None else pairs.union(p)
    fh = snap.store.table("field_history")
    fh = fh.filter((fh.entity == "deal") & fh.field.isin(list(pb.card_fields)))
    fh = fh.select(h_id=fh.entity_id, h_field=fh.field, h_value=fh.value, h_at=fh.changed_at)
    hist = pairs.inner_join(fh, (pairs.deal_id == fh.h_id) & (pairs.field == fh.h_field) & (fh.h_at <= pairs.entry_at))
    w = ibis.window(group_by=[hist.deal_id, hist.field], order_by=[ibis.desc(hist.h_at)])
    hist = hist.mutate(_rn=ibis.row_number().over(w))
    hist = hist.filter(hist._rn == 0).select(v_id=hist.deal_id, v_field=hist.field, v_value=hist.h_value)
    pres = fh.select(p_id=fh.h_id, p_field=fh.h_field).distinct()
    at = snap.store.table("attributes")
    at = at.filter((at.entity == "deal") & at.field.isin(list(pb.card_fields)))
    at = at.select(a_id=at.entity_id, a_field=at.field, a_value=at.value)
    j = (pairs.left_join(hist, (pairs.deal_id == hist.v_id) & (pairs.field == hist.v_field))
         .left_join(pres, (pairs.deal_id == pres.p_id) & (pairs.field == pres.p_field))
         .left_join(at, (pairs.deal_id == at.a_id) & (pairs.field == at.a_field)))
    value = ibis.ifelse(j.p_id.notnull(), j.v_value, j.a_value)
    filled = value.notnull() & (value.strip() != "")
    j = j.mutate(_filled=ibis.ifelse(filled.fill_null(False), 1, 0))
    return j.group_by([j.deal_id, j.entry_at]).aggregate(complete=j._filled.min() == 1)


def _card_parts(snap: Snapshot, start: Any, end: Any, by: list[str]) -> list[Any]:
    entries = card_entries(snap, start, end)
    if entries is None:
        return []
    keys = _deal_keys(snap)
    e = entries.inner_join(keys, entries.deal_id == keys.k_id)
    return [_group(e, by, {"card_entered": e.count().cast("int64"), "card_complete": _count(e.complete)})]


def _stale_seconds(snap: Snapshot, segment: Any) -> Any:
    pb = snap.playbook
    cases = [(segment == seg, int(round(td.total_seconds()))) for seg, td in sorted(pb.stale_by_segment.items())]
    default = int(round(pb.stale_after.total_seconds()))
    return ibis.cases(*cases, else_=default) if cases else ibis.literal(default)


def _deals_parts(snap: Snapshot, start: Any, end: Any, by: list[str]) -> list[Any]:
    """Deals open at the window's end (pipeline) and deals closed in the window (outcomes)."""
    d = snap.deals
    is_open = d.status == "open"
    closed = d.status.isin(["won", "lost"]) & (d.closed_at > start) & (d.closed_at <= end)
    d = d.mutate(_open=is_open.fill_null(False), _won=(closed & (d.status == "won")).fill_null(False),
                 _lost=(closed & (d.status == "lost")).fill_null(False))
    d = d.filter(d._open | d._won | d._lost)
    idle_seconds = snap.T.epoch_seconds() - d.last_touch_at.epoch_seconds()
    return [_group(d, by, {
        "open_deals": _count(d._open),
        "stale_deals": _count(d._open & (idle_seconds > _stale_seconds(snap, d.segment))),
        "median_days_since_touch": days_between(snap.T, d.last_touch_at).median(where=d._open),
        "won": _count(d._won),
        "lost": _count(d._lost),
        "revenue_won": d.amount.sum(where=d._won).cast("float64"),
        "median_cycle_days": days_between(d.closed_at, d.created_at).median(where=d._won),
    })]


# The parts of each family (pipeline and outcomes share one pass over the deals).
_PARTS = {STEPS: _steps_part, TASKS: _tasks_parts, CARD: _card_parts, PIPELINE: _deals_parts}


def _conform(part: Any, by: list[str], tag: str) -> Any:
    cols = {k: part[k] for k in by}
    for name, dtype in RAW.items():
        cols[name] = part[name].cast(dtype) if name in part.columns else ibis.null(dtype)
    return part.select(**cols, _n=part._n.cast("int64"), _w=ibis.literal(tag, type="string"))


def families_for(by: list[str]) -> tuple[str, ...]:
    """The families computed for these group keys (grouping by step leaves only the step family)."""
    return (STEPS,) if "step" in by else FAMILIES


def metrics_expr(snap: Snapshot, *, by: Iterable[str] = (), window: timedelta = DEFAULT_WINDOW) -> Any:
    """The Ibis table behind `compute_metrics` (one query), e.g. for `ibis.to_sql`."""
    by = validate_by(by)
    if window <= timedelta(0):
        raise InputError(t("metrics.bad_window", "en", value=str(window)), suggestion=t("metrics.bad_window.suggestion", "en"))
    prev_start, start, end = window_bounds(snap.as_of, window)
    prev_snap = snap.at(start)
    families = families_for(by)
    tables = []
    for tag, s, lo, hi in ((CUR, snap, start, end), (PREV_TAG, prev_snap, prev_start, start)):
        lo_, hi_ = ibis.literal(lo, type="timestamp"), ibis.literal(hi, type="timestamp")
        for fam, part in _PARTS.items():
            if fam in families:
                tables += [_conform(p, by, tag) for p in part(s, lo_, hi_, by)]
    if not tables:  # nothing applies to this grouping (by step, and the playbook has no steps): no rows
        schema = {k: "string" for k in by}
        schema.update({p + m.name: ("float64" if m.unit != COUNT else "int64") for m in METRICS for p in ("", PREV)})
        return ibis.memtable({c: [] for c in schema}, schema=ibis.schema(schema))
    u = tables[0]
    for tb in tables[1:]:
        u = u.union(tb)
    aggs: dict[str, Any] = {"_present": u._n.max()}
    for name in RAW:
        aggs[name] = u[name].max(where=u._w == CUR)
        aggs[PREV + name] = u[name].max(where=u._w == PREV_TAG)
    g = u.group_by(by).aggregate(**aggs) if by else u.aggregate(**aggs)
    g = g.filter(g._present.notnull())
    out: dict[str, Any] = {k: g[k] for k in by}
    for m in METRICS:
        applies = m.family in families
        for p in ("", PREV):
            out[p + m.name] = _figure(g, m, p, applies)
    res = g.select(**out)
    return res.order_by([ibis.asc(k, nulls_first=False) for k in by]) if by else res


def _figure(g: Any, m: Any, p: str, applies: bool) -> Any:
    dtype = "float64" if m.unit != COUNT else "int64"
    if not applies:
        return ibis.null(dtype)

    def n(name: str) -> Any:
        return g[p + name].fill_null(0)

    def rate(num: Any, den: Any) -> Any:
        return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))

    if m.name == "on_time_rate":
        return rate(n("steps_on_time"), n("steps_on_time") + n("steps_late") + n("steps_missed"))
    if m.name == "win_rate":
        return rate(n("won"), n("won") + n("lost"))
    if m.name == "card_complete_rate":
        return rate(g[p + "card_complete"], g[p + "card_entered"])
    if m.unit in (COUNT, MONEY):
        return n(m.name).cast(dtype)
    return g[p + m.name].cast(dtype)


def compute_metrics(snap: Snapshot, *, by: Iterable[str] = (), window: timedelta = DEFAULT_WINDOW) -> pd.DataFrame:
    """One row per group with the group keys and every registry figure plus its `prev_` twin
    (see the module docstring). Rates are null where their denominator is 0; figures of a family
    that does not apply to the grouping are null; groups with nothing in either window are omitted."""
    by = validate_by(by)
    df = metrics_expr(snap, by=by, window=window).execute()
    for m in METRICS:
        for p in ("", PREV):
            col = p + m.name
            df[col] = df[col].astype("Int64") if m.unit == COUNT else df[col].astype("float64")
    for k in by:
        df[k] = df[k].astype(object).where(df[k].notna(), None)
    return df.reset_index(drop=True)


__all__ = ["DEFAULT_WINDOW", "compute_metrics", "metrics_expr", "validate_by", "card_entries", "families_for"]
