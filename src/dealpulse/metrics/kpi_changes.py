"""What changed between two windows: the key figures of this window against the previous one, each judged by a
test that fits it (two proportions, Poisson counts, compound sums, medians; `metrics.change_tests`), with
Benjamini-Hochberg over all of them. The report's "what changed" section shows these; any surface can ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis

from dealpulse.metrics import change_tests as ct
from dealpulse.metrics.asof import Snapshot, window_bounds


def missing(v: Any) -> bool:
    """None or NaN."""
    if v is None:
        return True
    try:
        return bool(v != v)
    except (TypeError, ValueError):
        return False


def num(v: Any) -> float | None:
    if missing(v):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def to_int(v: Any) -> int | None:
    f = num(v)
    return None if f is None else int(round(f))


def rate_n(r: dict, prefix: str = "") -> tuple[float | None, int]:
    """(on-time rate, steps) of a metrics row: on time / (on time + late + missed); `prefix` "prev_" for the previous window."""
    ok = num(r.get(f"{prefix}steps_on_time")) or 0
    n = int(sum(num(r.get(f"{prefix}steps_{s}")) or 0 for s in ("on_time", "late", "missed")))
    return (ok / n if n else None), n


@dataclass(frozen=True)
class KpiSpec:
    key: str
    kind: str  # rate | count | share | sum | median: which test judges a change
    unit: str  # rate | int | money | days
    higher_is_better: bool
    group: str = "lagging"  # leading (the team's discipline) | lagging (results)


KPIS = (
    KpiSpec("on_time_rate", "rate", "rate", True, "leading"),
    KpiSpec("overdue_tasks", "count", "int", False, "leading"),
    KpiSpec("card_complete_rate", "rate", "rate", True, "leading"),
    KpiSpec("stale_deals", "share", "int", False, "leading"),
    KpiSpec("won", "count", "int", True),
    KpiSpec("lost", "count", "int", False),
    KpiSpec("win_rate", "rate", "rate", True),
    KpiSpec("revenue_won", "sum", "money", True),
    KpiSpec("median_cycle_days", "median", "days", False),
)


@dataclass
class KpiRow:
    spec: KpiSpec
    cur: float | None
    prev: float | None
    n_cur: int | None = None  # the cases behind a rate / share
    n_prev: int | None = None
    ci: tuple[float, float] | None = None  # Wilson 95% of the current rate
    verdict: ct.Verdict | None = None
    p_adjusted: float | None = None
    highlighted: bool = False

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def delta(self) -> float | None:
        if missing(self.cur) or missing(self.prev):
            return None
        return float(self.cur) - float(self.prev)  # type: ignore[arg-type]

    @property
    def direction(self) -> str:
        """better | worse | same."""
        d = self.delta
        if not d:
            return "same"
        return "better" if (d > 0) == self.spec.higher_is_better else "worse"


def _won_values(deals: Any, lo: datetime, hi: datetime) -> tuple[list[float], list[float]]:
    """(amounts, cycle days) of the deals won in (lo, hi]."""
    won = deals[(deals["status"] == "won") & deals["closed_at"].notna()]
    won = won[(won["closed_at"] > lo) & (won["closed_at"] <= hi)]
    cycle = [(c - s).total_seconds() / 86400 for c, s in zip(won["closed_at"], won["created_at"])]
    return won["amount"].fillna(0).astype(float).tolist(), cycle


def window_values(snap: Snapshot, deals: Any, window: timedelta) -> dict[str, Any]:
    """What the tests need beyond the figures of compute_metrics, each window as known at its end
    (as compute_metrics does): won amounts and cycle days; deals checked for a complete card."""
    prev_start, start, end = window_bounds(snap.as_of, window)
    prev_snap = snap.at(start)
    amounts1, cycle1 = _won_values(deals, start, end)
    amounts0, cycle0 = _won_values(prev_snap.deals.execute(), prev_start, start)
    out: dict[str, Any] = {"revenue_won": (amounts1, amounts0), "median_cycle_days": (cycle1, cycle0)}
    try:
        from dealpulse.metrics.kpis import card_entries
    except ImportError:
        return out

    def entered(s: Snapshot, lo: datetime, hi: datetime) -> int | None:
        e = card_entries(s, ibis.literal(lo, type="timestamp"), ibis.literal(hi, type="timestamp"))
        return None if e is None else int(e.count().execute())

    out["card_n"] = (entered(snap, start, end), entered(prev_snap, prev_start, start))
    return out


def compare_kpis(row: dict, values: dict[str, Any]) -> list[KpiRow]:
    """The key figures of this window against the previous one, with a verdict per figure."""
    out: list[KpiRow] = []
    for spec in KPIS:
        cur, prev = num(row.get(spec.key)), num(row.get(f"prev_{spec.key}"))
        kr = KpiRow(spec, cur, prev)
        if spec.key == "on_time_rate":
            (r1, n1), (r0, n0) = rate_n(row), rate_n(row, "prev_")
            kr.n_cur, kr.n_prev = n1, n0
            kr.verdict = ct.two_proportions((r1 or 0) * n1, n1, (r0 or 0) * n0, n0)
        elif spec.key == "win_rate":
            w1, l1 = num(row.get("won")) or 0, num(row.get("lost")) or 0
            w0, l0 = num(row.get("prev_won")) or 0, num(row.get("prev_lost")) or 0
            kr.n_cur, kr.n_prev = int(w1 + l1), int(w0 + l0)
            kr.verdict = ct.two_proportions(w1, w1 + l1, w0, w0 + l0)
        elif spec.key == "card_complete_rate":
            n1, n0 = values.get("card_n", (None, None))
            kr.n_cur, kr.n_prev = n1, n0
            if n1 is not None and n0 is not None and cur is not None and prev is not None:
                kr.verdict = ct.two_proportions(round(cur * n1), n1, round(prev * n0), n0)
        elif spec.kind == "share":  # stale deals among open deals
            n1, n0 = to_int(row.get("open_deals")), to_int(row.get("prev_open_deals"))
            kr.n_cur, kr.n_prev = n1, n0
            if None not in (n1, n0, cur, prev):
                kr.verdict = ct.two_proportions(cur, n1, prev, n0)  # type: ignore[arg-type]
        elif spec.kind == "count":
            if cur is not None and prev is not None:
                kr.verdict = ct.poisson_counts(cur, prev)
        elif spec.kind == "sum":
            a1, a0 = values.get(spec.key, ([], []))
            kr.verdict = ct.compound_sums(a1, a0)
        elif spec.kind == "median":
            a1, a0 = values.get(spec.key, ([], []))
            kr.verdict = ct.medians(a1, a0)
        if spec.kind == "rate" and kr.n_cur and cur is not None:
            kr.ci = ct.wilson(cur * kr.n_cur, kr.n_cur)
        out.append(kr)
    adjusted = ct.adjust([k.verdict.p if k.verdict else None for k in out])
    for k, p in zip(out, adjusted):
        k.p_adjusted = p
        k.highlighted = p is not None and p < ct.ALPHA and k.direction != "same"
    return out


def kpi_changes(snap: Snapshot, window: timedelta = timedelta(days=28), deals: Any = None) -> list[KpiRow]:
    """The key figures of the window ending at `snap.as_of` against the window before it, each with its verdict."""
    from dealpulse.metrics.kpis import compute_metrics

    frame = compute_metrics(snap, by=[], window=window)
    rows = frame.to_dict(orient="records") if hasattr(frame, "to_dict") else list(frame)
    deals = snap.deals.execute() if deals is None else deals
    return compare_kpis(rows[0] if rows else {}, window_values(snap, deals, window))


__all__ = ["KpiSpec", "KpiRow", "KPIS", "compare_kpis", "window_values", "kpi_changes", "missing", "num", "to_int",
           "rate_n"]
