"""Manager-month level: in months when a manager's leading figure is higher than usual for them, is
their won revenue 3–5 months later higher too?

One row per manager and calendar month M (in the export's zone) whose revenue horizon ended by as_of.
Each figure is what was known at M's end (so the table is one query over the as_of snapshot, never
peeking past the month's end), attributed to the deal's owner at M's end:

- `on_time_rate`: step instances with their deadline in M: on time / (on time + late + missed), the
  status as it stood at M's end (a step not done whose deal closed before its deadline is excluded);
- `card_complete_rate`: deals that first entered the card's stage in M: share with the card complete then;
- `stale_share`: deals open at M's end: share with no touch (done task or stage change known then) for
  longer than the playbook's stale limit for their segment;
- `activities_per_deal`: done activities (tasks that are not playbook steps) completed in M (created
  by then) per deal open at M's end.

The outcome: the amounts of deals won in months M+3, M+4 and M+5, attributed to the owner at the win.
Deadlines and stale limits use the deal's segment as of as_of (a segment rarely changes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import ibis
import pandas as pd
import polars as pl

from dealpulse.leading.stats import Estimate, within_spearman
from dealpulse.metrics.asof import Snapshot, store_tz
from dealpulse.metrics.kpis import card_entries
from dealpulse.metrics.steps import step_instances

METRICS = ("on_time_rate", "card_complete_rate", "stale_share", "activities_per_deal")
LAG_FROM, LAG_TO = 3, 5  # months
_EPOCH = datetime(1900, 1, 1)


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    i = year * 12 + (month - 1) + k
    return i // 12, i % 12 + 1


def month_table(snap: Snapshot, first: datetime) -> pl.DataFrame:
    """month (YYYY-MM), m_start, m_end, r_start, r_end (naive UTC): every calendar month in the export's
    zone from `first`'s month whose revenue horizon (months +3..+5) ended by as_of."""
    from datetime import timezone

    tz = store_tz(snap.store)

    def start_of(y: int, m: int) -> datetime:
        return datetime.combine(datetime(y, m, 1).date(), time(), tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)

    local = first.replace(tzinfo=timezone.utc).astimezone(tz)
    y, m = local.year, local.month
    rows = []
    while True:
        r_end = start_of(*_add_months(y, m, LAG_TO + 1))
        if r_end > snap.as_of:
            break
        rows.append({"month": f"{y:04d}-{m:02d}", "m_start": start_of(y, m), "m_end": start_of(*_add_months(y, m, 1)),
                     "r_start": start_of(*_add_months(y, m, LAG_FROM)), "r_end": r_end})
        y, m = _add_months(y, m, 1)
    schema = {"month": pl.Utf8, "m_start": pl.Datetime("us"), "m_end": pl.Datetime("us"),
              "r_start": pl.Datetime("us"), "r_end": pl.Datetime("us")}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _owner_timeline(snap: Snapshot) -> Any:
    """o_id, o_owner, o_from, o_to: the deal's owner between changes (o_from null = since ever: before
    the first recorded change the owner is its earliest recorded value, as in the snapshot)."""
    fh = snap.store.table("field_history")
    fh = fh.filter((fh.entity == "deal") & (fh.field == "owner"))
    w = ibis.window(group_by="entity_id", order_by=[fh.changed_at])
    fh = fh.mutate(_rn=ibis.row_number().over(w), _next=fh.changed_at.lead().over(w))
    return fh.select(o_id=fh.entity_id.cast("string"), o_owner=fh.value.cast("string"),
                     o_from=ibis.ifelse(fh._rn == 0, ibis.null("timestamp"), fh.changed_at.cast("timestamp")),
                     o_to=fh._next.cast("timestamp"))


def _with_owner_at(snap: Snapshot, table: Any, id_col: str, moment_col: str) -> Any:
    """`table` plus `owner_at`: the deal's owner at `moment_col` (the export's owner where no history)."""
    ot = _owner_timeline(snap)
    cond = ((table[id_col] == ot.o_id) & (ot.o_from.isnull() | (ot.o_from <= table[moment_col]))
            & (ot.o_to.isnull() | (table[moment_col] < ot.o_to)))
    j = table.left_join(ot, cond)
    raw = snap.store.table("deals")
    raw = raw.select(x_id=raw.deal_id.cast("string"), x_owner=raw.owner.cast("string"))
    j = j.left_join(raw, j[id_col] == raw.x_id)
    keep = [c for c in table.columns]
    return j.select(*keep, owner_at=j.o_owner.fill_null(j.x_owner))


def panel(snap: Snapshot) -> pd.DataFrame:
    """One row per manager and month: manager, month, the figures of METRICS (NaN where undefined),
    open_deals, revenue (won in months +3..+5)."""
    d = snap.deals
    first = d.created_at.min().execute()
    if first is None or pd.isna(first):
        return pd.DataFrame(columns=["manager", "month", *METRICS, "open_deals", "revenue"])
    months_df = month_table(snap, pd.Timestamp(first).to_pydatetime())
    if months_df.height == 0:
        return pd.DataFrame(columns=["manager", "month", *METRICS, "open_deals", "revenue"])
    name = f"_dp_lead_months_{uuid.uuid4().hex[:12]}"
    snap.store.load_frame(name, months_df, temp=True)
    try:
        return _panel(snap, snap.store.table(name))
    finally:
        snap.store.execute(f'DROP TABLE IF EXISTS "{name}"')


def _stale_seconds(snap: Snapshot, segment: Any) -> Any:
    pb = snap.playbook
    cases = [(segment == seg, int(round(td.total_seconds()))) for seg, td in sorted(pb.stale_by_segment.items())]
    default = int(round(pb.stale_after.total_seconds()))
    return ibis.cases(*cases, else_=default) if cases else ibis.literal(default)


def _panel(snap: Snapshot, months: Any) -> pd.DataFrame:
    d = snap.deals
    deals = d.select(k_id=d.deal_id.cast("string"), k_segment=d.segment, k_created=d.created_at,
                     k_closed=d.closed_at, k_status=d.status, k_amount=d.amount)
    frames = []

    # deals open at each month's end, their last touch known then
    op = deals.inner_join(months, (deals.k_created <= months.m_end)
                          & (deals.k_closed.isnull() | (deals.k_closed > months.m_end)))
    op = op.select(o_deal=op.k_id, o_month=op.month, o_end=op.m_end, o_segment=op.k_segment, o_created=op.k_created)
    ev = snap.stage_events
    ev = ev.select(t_id=ev.deal_id.cast("string"), at=ev.entered_at.cast("timestamp"),
                   made=ev.entered_at.cast("timestamp"))
    tk = snap.tasks
    tk = tk.filter(tk.completed_at.notnull())
    tk = tk.select(t_id=tk.deal_id.cast("string"), at=tk.completed_at.cast("timestamp"),
                   made=ibis.greatest(tk.created_at, tk.completed_at).cast("timestamp"))
    touches = ev.union(tk, distinct=False)
    tj = op.left_join(touches, (op.o_deal == touches.t_id) & (touches.at <= op.o_end) & (touches.made <= op.o_end))
    last = tj.group_by(["o_deal", "o_month", "o_end", "o_segment", "o_created"]).aggregate(last_touch=tj.at.max())
    last = last.mutate(idle=last.o_end.epoch_seconds() - ibis.greatest(last.o_created, last.last_touch.fill_null(last.o_created)).epoch_seconds())
    last = last.mutate(stale=ibis.ifelse(last.idle > _stale_seconds(snap, last.o_segment), 1, 0))
    last = _with_owner_at(snap, last, "o_deal", "o_end")
    frames.append(last.group_by(manager=last.owner_at, month=last.o_month).aggregate(
        open_deals=last.count(), stale_deals=last.stale.sum()).execute())

    # step instances due in the month, as they stood at its end
    if snap.playbook.steps:
        inst = step_instances(snap)
        inst = inst.select(s_id=inst.deal_id.cast("string"), deadline=inst.deadline, completed_at=inst.completed_at)
        inst = inst.inner_join(deals, inst.s_id == deals.k_id)
        inst = inst.inner_join(months, (inst.deadline > months.m_start) & (inst.deadline <= months.m_end))
        on_time = (inst.completed_at.notnull() & (inst.completed_at <= inst.deadline)).fill_null(False)
        closed_before = (inst.k_closed.notnull() & (inst.k_closed < inst.deadline)).fill_null(False)
        inst = inst.mutate(on_time=ibis.ifelse(on_time, 1, 0), eligible=on_time | ~closed_before)
        inst = inst.filter(inst.eligible)
        inst = _with_owner_at(snap, inst.select("s_id", "month", "m_end", "on_time"), "s_id", "m_end")
        frames.append(inst.group_by(manager=inst.owner_at, month=inst.month).aggregate(
            steps_due=inst.count(), steps_on_time=inst.on_time.sum()).execute())

    # client cards at the entry into their stage
    entries = card_entries(snap, ibis.literal(_EPOCH, type="timestamp"), snap.T)
    if entries is not None:
        ce = entries.select(c_id=entries.deal_id.cast("string"), entry_at=entries.entry_at,
                            complete=ibis.ifelse(entries.complete.fill_null(False), 1, 0))
        ce = ce.inner_join(months, (ce.entry_at > months.m_start) & (ce.entry_at <= months.m_end))
        ce = _with_owner_at(snap, ce.select("c_id", "month", "m_end", "complete"), "c_id", "m_end")
        frames.append(ce.group_by(manager=ce.owner_at, month=ce.month).aggregate(
            cards=ce.count(), cards_complete=ce.complete.sum()).execute())

    # done activities in the month (known by its end)
    ta = snap.tasks
    ta = ta.filter(ta.completed_at.notnull())
    step_types = sorted({s.task_type for s in snap.playbook.steps})
    if step_types:
        ta = ta.filter(~ta.type.isin(step_types))
    ta = ta.select(a_id=ta.deal_id.cast("string"), completed_at=ta.completed_at, created_at=ta.created_at)
    ta = ta.inner_join(months, (ta.completed_at > months.m_start) & (ta.completed_at <= months.m_end)
                       & (ta.created_at <= months.m_end))
    ta = _with_owner_at(snap, ta.select("a_id", "month", "m_end"), "a_id", "m_end")
    frames.append(ta.group_by(manager=ta.owner_at, month=ta.month).aggregate(activities=ta.count()).execute())

    # revenue won in months +3..+5, by the owner at the win
    won = deals.filter(deals.k_status == "won")
    won = won.inner_join(months, (won.k_closed > months.r_start) & (won.k_closed <= months.r_end))
    won = _with_owner_at(snap, won.select("k_id", "month", "k_closed", "k_amount"), "k_id", "k_closed")
    frames.append(won.group_by(manager=won.owner_at, month=won.month).aggregate(
        revenue=won.k_amount.sum().cast("float64")).execute())

    base = frames[0]
    for f in frames[1:]:
        base = base.merge(f, on=["manager", "month"], how="left")
    base = base[base["manager"].notna() & (base["open_deals"] > 0)].copy()
    for col in ("steps_due", "steps_on_time", "cards", "cards_complete", "activities", "revenue"):
        if col not in base.columns:
            base[col] = 0
        base[col] = base[col].fillna(0).astype(float)
    base["open_deals"] = base["open_deals"].astype(float)
    rate = lambda num, den: (base[num] / base[den]).where(base[den] > 0)  # noqa: E731
    base["on_time_rate"] = rate("steps_on_time", "steps_due")
    base["card_complete_rate"] = rate("cards_complete", "cards")
    base["stale_share"] = rate("stale_deals", "open_deals")
    base["activities_per_deal"] = rate("activities", "open_deals")
    base["manager"] = base["manager"].astype(str)
    cols = ["manager", "month", *METRICS, "open_deals", "revenue", "steps_due", "cards"]
    return base[cols].sort_values(["manager", "month"]).reset_index(drop=True)


@dataclass
class MonthResult:
    metric: str
    n: int  # manager-months
    managers: int
    months: int
    within: Estimate
    pooled: float | None  # plain Spearman over all manager-months (no fixed effects), for context


MIN_POINTS = 5  # a manager-month enters a rate only with at least this many cases behind it


def evaluate(df: pd.DataFrame, metric: str, *, n_boot: int = 999, seed: int = 0) -> MonthResult:
    """Within-manager-and-month Spearman of `metric` against revenue 3–5 months later."""
    sub = df[df[metric].notna()]
    if metric == "on_time_rate":
        sub = sub[sub["steps_due"] >= MIN_POINTS]
    elif metric == "card_complete_rate":
        sub = sub[sub["cards"] >= MIN_POINTS]
    # a manager seen once has no within-manager variation
    counts = sub["manager"].value_counts()
    sub = sub[sub["manager"].isin(counts[counts >= 3].index)]
    n, g, m = len(sub), sub["manager"].nunique(), sub["month"].nunique()
    if n < 3 or g < 2:
        return MonthResult(metric, n, g, m, Estimate(None, None, None, None), None)
    from scipy import stats as _st

    # a constant column has no rank correlation (scipy would warn and give nan): say so with None
    constant = sub[metric].nunique() < 2 or sub["revenue"].nunique() < 2
    pooled = None if constant else _st.spearmanr(sub[metric], sub["revenue"]).statistic
    est = within_spearman(sub[metric].to_numpy(), sub["revenue"].to_numpy(), sub["manager"].to_numpy(),
                          sub["month"].to_numpy(), n_boot=n_boot, seed=seed)
    return MonthResult(metric, n, g, m, est, None if pd.isna(pooled) else float(pooled))
