"""Deal level: does a deal with the leading metric win more often than one without, among deals
closed (won or lost) by as_of?

Every metric is measured at a fixed point of the deal's life that comes before its outcome (a
landmark), and only deals still open at that point count, so a deal that simply lived longer does not
get more chances to "have" the metric (survivorship):

- `step_on_time:<step>`: the step done by its deadline. Deals whose step anchor happened and that
  were still open at the deadline (closed at or after it); the status is known at the deadline.
- `card_complete`: every client-card field filled when the deal first entered the playbook's
  `complete_by` stage (deals that entered it).
- `touch_gap`: at some moment of the first `gap_days` days the deal went longer than the playbook's
  stale limit (its segment's) without a touch (a done task or a stage change); deals still open at
  day `gap_days`, the gap up to that day included.
- `activities:<type>` / `activities:all`: at least k done activities (tasks that are not playbook
  steps) of that type in the first `activity_days` days, k = the median count of the eligible deals
  (at least 1); deals still open at that day.

Each metric becomes a 0/1 flag per eligible deal; the comparison is made within each manager (the
deal's owner as of as_of) and pooled (Mantel–Haenszel), so a good manager who also fills cards does
not make the card look decisive; the plain win rates with and without are reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import pandas as pd

from dealpulse.leading.stats import Estimate, mantel_haenszel_rd, newcombe
from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.kpis import card_entries
from dealpulse.metrics.steps import step_instances

GAP_DAYS = 30
ACTIVITY_DAYS = 14
MAX_ACTIVITY_TYPES = 4
_EPOCH = datetime(1900, 1, 1)


@dataclass
class DealMetric:
    """One deal-level metric: its code, what to fill the message with, and its 0/1 flag per deal."""
    metric: str
    kind: str  # step_on_time, card_complete, touch_gap, activities
    params: dict[str, Any] = field(default_factory=dict)
    flags: pd.DataFrame | None = None  # deal_id, flag (bool)


def closed_deals(snap: Snapshot) -> pd.DataFrame:
    """deal_id, owner, segment, won (bool), created_at, closed_at: deals won or lost by as_of."""
    d = snap.deals
    d = d.filter(d.status.isin(["won", "lost"]))
    df = d.select("deal_id", "owner", "segment", "created_at", "closed_at", won=d.status == "won").execute()
    df["deal_id"] = df["deal_id"].astype(str)
    return df


def _closed_expr(snap: Snapshot) -> Any:
    d = snap.deals
    d = d.filter(d.status.isin(["won", "lost"]))
    return d.select(c_id=d.deal_id, c_segment=d.segment, c_created=d.created_at, c_closed=d.closed_at)


def step_metrics(snap: Snapshot) -> list[DealMetric]:
    if not snap.playbook.steps:
        return []
    inst = step_instances(snap)
    c = _closed_expr(snap)
    j = inst.inner_join(c, inst.deal_id == c.c_id)
    j = j.filter(j.anchor_at.notnull() & (j.c_closed >= j.deadline))
    on_time = (j.completed_at.notnull() & (j.completed_at <= j.deadline)).fill_null(False)
    df = j.select(deal_id=j.deal_id.cast("string"), step=j.step, flag=on_time).execute()
    out = []
    for step in snap.playbook.steps:
        part = df[df["step"] == step.name][["deal_id", "flag"]].drop_duplicates("deal_id")
        out.append(DealMetric(f"step_on_time:{step.name}", "step_on_time", {"step": step.name},
                              part.reset_index(drop=True)))
    return out


def card_metric(snap: Snapshot) -> list[DealMetric]:
    entries = card_entries(snap, ibis.literal(_EPOCH, type="timestamp"), snap.T)
    if entries is None:
        return []
    c = _closed_expr(snap)
    j = entries.inner_join(c, entries.deal_id == c.c_id)
    df = j.select(deal_id=j.deal_id.cast("string"), flag=j.complete.fill_null(False)).execute()
    return [DealMetric("card_complete", "card_complete", {"stage": snap.playbook.card_complete_by},
                       df.drop_duplicates("deal_id").reset_index(drop=True))]


def _stale_seconds(snap: Snapshot, segment: Any) -> Any:
    pb = snap.playbook
    cases = [(segment == seg, int(round(td.total_seconds()))) for seg, td in sorted(pb.stale_by_segment.items())]
    default = int(round(pb.stale_after.total_seconds()))
    return ibis.cases(*cases, else_=default) if cases else ibis.literal(default)


def gap_metric(snap: Snapshot, days: int = GAP_DAYS) -> list[DealMetric]:
    c = _closed_expr(snap)
    c = c.mutate(c_mark=c.c_created + ibis.interval(days=days))
    c = c.filter(c.c_closed > c.c_mark)
    ev = snap.stage_events
    ev = ev.select(t_id=ev.deal_id.cast("string"), at=ev.entered_at.cast("timestamp"))
    tk = snap.tasks
    tk = tk.filter(tk.completed_at.notnull())
    tk = tk.select(t_id=tk.deal_id.cast("string"), at=tk.completed_at.cast("timestamp"))
    touches = ev.union(tk, distinct=False)
    inside = touches.inner_join(c, touches.t_id == c.c_id)
    inside = inside.filter((inside.at >= inside.c_created) & (inside.at <= inside.c_mark))
    inside = inside.select(g_id=inside.c_id, at=inside.at)
    starts = c.select(g_id=c.c_id, at=c.c_created.cast("timestamp"))
    ends = c.select(g_id=c.c_id, at=c.c_mark.cast("timestamp"))
    allev = inside.union(starts, distinct=False).union(ends, distinct=False)
    w = ibis.window(group_by="g_id", order_by="at")
    allev = allev.mutate(prev=allev.at.lag().over(w))
    allev = allev.mutate(gap=allev.at.epoch_seconds() - allev.prev.epoch_seconds())
    per = allev.group_by("g_id").aggregate(max_gap=allev.gap.max())
    j = per.inner_join(c, per.g_id == c.c_id)
    flag = (j.max_gap > _stale_seconds(snap, j.c_segment)).fill_null(False)
    df = j.select(deal_id=j.g_id.cast("string"), flag=flag).execute()
    return [DealMetric("touch_gap", "touch_gap", {"days": days}, df)]


def activity_metrics(snap: Snapshot, days: int = ACTIVITY_DAYS, max_types: int = MAX_ACTIVITY_TYPES) -> list[DealMetric]:
    step_types = sorted({s.task_type for s in snap.playbook.steps})
    c = _closed_expr(snap)
    c = c.mutate(c_mark=c.c_created + ibis.interval(days=days))
    c = c.filter(c.c_closed > c.c_mark)
    tk = snap.tasks
    tk = tk.filter(tk.completed_at.notnull() & tk.type.notnull())
    if step_types:
        tk = tk.filter(~tk.type.isin(step_types))
    j = tk.inner_join(c, tk.deal_id.cast("string") == c.c_id)
    j = j.filter((j.completed_at >= j.c_created) & (j.completed_at <= j.c_mark))
    top = j.group_by("type").aggregate(n=j.count()).order_by([ibis.desc("n"), "type"]).limit(max_types).execute()
    types = [str(x) for x in top["type"]]
    if not types:
        return []
    cols = {f"n{i}": j.count(where=j.type == ty) for i, ty in enumerate(types)}
    counts = j.group_by(a_id=j.c_id).aggregate(n_all=j.count(), **cols)
    base = c.select(deal_id=c.c_id)
    full = base.left_join(counts, base.deal_id == counts.a_id)
    df = full.select("deal_id", "n_all", *cols).execute()
    df["deal_id"] = df["deal_id"].astype(str)
    out = []
    for col, ty in [("n_all", None), *[(f"n{i}", ty) for i, ty in enumerate(types)]]:
        n = df[col].fillna(0).astype(int)
        k = max(1, int(n.median())) if len(n) else 1
        flags = pd.DataFrame({"deal_id": df["deal_id"], "flag": n >= k})
        name = "activities:all" if ty is None else f"activities:{ty}"
        out.append(DealMetric(name, "activities", {"type": ty, "k": k, "days": days}, flags))
    return out


def all_metrics(snap: Snapshot, *, gap_days: int = GAP_DAYS, activity_days: int = ACTIVITY_DAYS) -> list[DealMetric]:
    return [*step_metrics(snap), *card_metric(snap), *gap_metric(snap, gap_days), *activity_metrics(snap, activity_days)]


@dataclass
class DealResult:
    metric: DealMetric
    n: int
    n_with: int
    n_without: int
    won_with: int
    won_without: int
    raw: tuple[float, float, float] | None  # difference, low, high (Newcombe)
    within: Estimate  # within-manager (Mantel–Haenszel)
    managers: int  # managers with deals on both sides


def evaluate(metric: DealMetric, closed: pd.DataFrame) -> DealResult:
    """Win rates with and without the metric, plainly and within manager."""
    flags = metric.flags if metric.flags is not None else pd.DataFrame(columns=["deal_id", "flag"])
    df = flags.merge(closed[["deal_id", "owner", "won"]], on="deal_id", how="inner")
    df["flag"] = df["flag"].astype(bool)
    df["won"] = df["won"].astype(bool)
    df["owner"] = df["owner"].astype(object).where(df["owner"].notna(), "")
    w, wo = df[df["flag"]], df[~df["flag"]]
    k1, n1, k0, n0 = int(w["won"].sum()), len(w), int(wo["won"].sum()), len(wo)
    raw = newcombe(k1, n1, k0, n0) if n1 and n0 else None
    strata = []
    for _, g in df.groupby("owner", sort=True):
        gw, gwo = g[g["flag"]], g[~g["flag"]]
        strata.append((int(gw["won"].sum()), len(gw), int(gwo["won"].sum()), len(gwo)))
    within = mantel_haenszel_rd(strata)
    both = sum(1 for s in strata if s[1] > 0 and s[3] > 0)
    return DealResult(metric, len(df), n1, n0, k1, k0, raw, within, both)
