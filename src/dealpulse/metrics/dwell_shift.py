"""Do deals stay in a stage longer than they used to? Per stage (over all segments and per segment): the
dwell of the deals that entered it recently against those that entered before, Kaplan-Meier on each side
(a deal still in the stage is censored), the log-rank test, Benjamini-Hochberg over every stage and
segment tested. The report's dwell section shows it; any surface can ask `dwell_comparison(snap, since)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dealpulse.metrics import change_tests as ct
from dealpulse.metrics.asof import Snapshot


@dataclass
class DwellShift:
    """A stage (in a segment, or over all) where recent deals stay longer or shorter beyond chance."""

    stage: str
    segment: str | None
    direction: str  # slower | faster
    n_recent: int
    n_before: int
    median_days: float | None
    before_median_days: float | None
    p80_days: float | None
    before_p80_days: float | None
    p_adjusted: float


@dataclass
class StageDwell:
    """One stage in one segment (None: all segments): Kaplan-Meier summaries of recent and earlier entries."""

    stage: str
    segment: str | None
    n_recent: int
    recent: Any  # metrics.survival.km_summary (median, p80)
    n_before: int
    before: Any


@dataclass
class DwellComparison:
    since: datetime  # "recent" = entered the stage after this moment
    order: list[str]  # the stages in the funnel's order
    groups: list[StageDwell] = field(default_factory=list)  # per stage: all segments first, then each segment
    shifts: list[DwellShift] = field(default_factory=list)  # beyond chance; slower first, then by q


def km(part: Any) -> Any:
    from dealpulse.metrics.survival import km_summary

    return km_summary(part["dwell_days"].to_numpy(dtype=float), part["left"].to_numpy(dtype=bool))


def logrank(a: Any, b: Any) -> float:
    from lifelines.statistics import logrank_test

    res = logrank_test(a["dwell_days"].to_numpy(dtype=float), b["dwell_days"].to_numpy(dtype=float),
                       event_observed_A=a["left"].to_numpy(dtype=bool), event_observed_B=b["left"].to_numpy(dtype=bool))
    return float(res.p_value)


def direction(recent: Any, before: Any) -> str:
    """slower when recent deals stay longer: a later median (or one not reached yet), else a later p80."""
    for q in ("median", "p80"):
        r, b = getattr(recent, q), getattr(before, q)
        if r is None and b is not None:
            return "slower"
        if r is not None and b is None:
            return "faster"
        if r is not None and b is not None and r != b:
            return "slower" if r > b else "faster"
    return "same"


def dwell_comparison(snap: Snapshot, since: datetime) -> DwellComparison:
    """Recent (entered after `since`) against earlier stage entries, per stage and segment, as of `snap.as_of`."""
    from dealpulse.metrics.funnel import fetch_spells, stage_order

    pb = snap.playbook
    order, _ = stage_order(snap)
    spells = fetch_spells(snap, order)
    out = DwellComparison(since=since, order=list(order))
    if not len(spells):  # no deal spent time in a stage (a closed-only export without dates): nothing to compare
        return out
    is_recent = spells["entered_at"] > since
    segments = sorted(spells["segment"].dropna().unique().tolist(), key=str)
    tests: list[tuple[StageDwell, float]] = []
    for stage in order:
        part = spells[spells["stage"] == stage]
        if stage not in pb.stages and not len(part):
            continue
        for seg in [None, *segments]:
            sub = part if seg is None else part[part["segment"] == seg]
            recent, before = sub[is_recent.loc[sub.index]], sub[~is_recent.loc[sub.index]]
            g = StageDwell(stage, seg, len(recent), km(recent), len(before), km(before))
            out.groups.append(g)
            if len(recent) >= ct.MIN_SAMPLE_N and len(before) >= ct.MIN_SAMPLE_N and recent["left"].any():
                tests.append((g, logrank(recent, before)))
    for (g, _p), q in zip(tests, ct.adjust([p for _, p in tests])):
        way = direction(g.recent, g.before)
        if q is None or q >= ct.ALPHA or way == "same":
            continue
        out.shifts.append(DwellShift(g.stage, g.segment, way, g.n_recent, g.n_before, g.recent.median, g.before.median,
                                     g.recent.p80, g.before.p80, q))
    out.shifts.sort(key=lambda x: (x.direction != "slower", x.p_adjusted, order.index(x.stage), str(x.segment)))
    return out


__all__ = ["DwellShift", "StageDwell", "DwellComparison", "dwell_comparison", "km", "logrank", "direction"]
