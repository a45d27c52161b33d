"""Dynamics: the significant changes, for the better and for the worse, of every segment and channel
(`dealpulse.dynamics`), with the weekly inflow behind them (new deals and their amount per week over
the last 52 weeks) for small multiples. The messages are written in every language of the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Sequence

import numpy as np

from dealpulse.metrics.asof import Snapshot, store_tz

HISTORY_WEEKS = 52
INFLOW_METRICS = ("inflow_count", "inflow_amount", "inflow_share")


@dataclass
class DynamicsRow:
    subject: dict[str, str]
    metric: str
    before: float | None
    after: float | None
    change: float | None
    unit: str
    direction: str | None
    good: bool | None
    since: date | None
    q: float | None
    message: dict[str, str] = field(default_factory=dict)  # lang -> text


@dataclass
class InflowSeries:
    """One subject's new deals per week: `week_ends[k]` ends week k (the last one ends at as_of)."""

    dimension: str  # segment | channel
    value: str
    counts: list[int]
    amounts: list[float]
    change: str | None = None  # up | down: a significant change of this subject's inflow
    good: bool | None = None


@dataclass
class DynamicsSection:
    as_of: datetime
    window_weeks: float
    baseline_weeks: float
    recent_from: datetime
    week_ends: list[datetime]
    tested: int
    rows: list[DynamicsRow]  # the significant ones, in the order `dynamics` gives (most certain first)
    series: list[InflowSeries]
    enough: bool  # was anything testable at all
    tz: Any = None  # the export's zone (times are shown in it)


def _since(v: Any) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def weekly_inflow(deals: Any, as_of: datetime, dimension: str, weeks: int = HISTORY_WEEKS) -> tuple[list[datetime], list[InflowSeries]]:
    """New deals and their amount per week, per value of `dimension`, for the `weeks` weeks up to as_of."""
    T = np.datetime64(as_of, "us")
    edges = [T - np.timedelta64(7 * 86400 * k, "s") for k in range(weeks, -1, -1)]
    created = deals["created_at"].to_numpy(dtype="datetime64[us]")
    amount = deals["amount"].to_numpy(dtype=float)
    values = deals[dimension].to_numpy(dtype=object)
    out = []
    for v in sorted({str(x) for x in values if x is not None and x == x}):
        m = np.array([x is not None and str(x) == v for x in values])
        counts, sums = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            w = m & (created > lo) & (created <= hi)
            counts.append(int(w.sum()))
            sums.append(float(np.nansum(amount[w])))
        if sum(counts):
            out.append(InflowSeries(dimension=dimension, value=v, counts=counts, amounts=sums))
    ends = [np.datetime64(e, "us").astype(datetime) for e in edges[1:]]
    return ends, out


def dynamics_section(snap: Snapshot, langs: Sequence[str]) -> DynamicsSection:
    """The dynamics as of `snap.as_of` (segments and channels, each separately; the default window)."""
    from dealpulse.dynamics.compute import dynamics_from_facts as compute
    from dealpulse.dynamics.compute import extract_facts as extract
    from dealpulse.dynamics.compute import WINDOW, Settings

    settings = Settings()
    tz = store_tz(snap.store)
    facts = extract(snap)
    rows: list[DynamicsRow] = []
    tested = 0
    by_key: dict[tuple, DynamicsRow] = {}
    for i, lang in enumerate(langs):
        found = compute(facts, window=WINDOW, settings=settings, lang=lang, tz=tz)
        if i == 0:
            tested = sum(1 for r in found if r["q"] is not None)
            for r in found:
                if not r["significant"]:
                    continue
                row = DynamicsRow(subject=dict(r["subject"]), metric=r["metric"], before=r["before"], after=r["after"],
                                  change=r["change"], unit=r["unit"], direction=r["direction"], good=r["good"],
                                  since=_since(r["since"]), q=r["q"])
                rows.append(row)
                by_key[(r["metric"], tuple(sorted(r["subject"].items())))] = row
        for r in found:
            row = by_key.get((r["metric"], tuple(sorted(r["subject"].items()))))
            if row is not None:
                row.message[lang] = r["message"]
    series: list[InflowSeries] = []
    ends: list[datetime] = []
    for dim in ("segment", "channel"):
        ends, part = weekly_inflow(facts.deals, facts.as_of, dim)
        for s in part:
            hit = [r for r in rows if r.subject == {dim: s.value} and r.metric in INFLOW_METRICS]
            if hit:
                s.change, s.good = hit[0].direction, hit[0].good
        series += part
    return DynamicsSection(as_of=facts.as_of, window_weeks=WINDOW / timedelta(weeks=1),
                           baseline_weeks=settings.baseline / timedelta(weeks=1), recent_from=facts.as_of - WINDOW,
                           week_ends=ends, tested=tested, rows=rows, series=series, enough=tested > 0, tz=tz)


__all__ = ["DynamicsSection", "DynamicsRow", "InflowSeries", "dynamics_section", "weekly_inflow", "HISTORY_WEEKS"]
