"""Gather everything the report shows, as plain Python values (no HTML, no figures).

Each section is computed by the module that owns the numbers (metrics.kpis, metrics.funnel,
playbook.norms); this module only picks, compares and orders them. A section whose source is not
available (a module missing in this install, or one that fails) is marked so and the rest of the
report is still built; `ReportData.warnings` says what happened.

The sections live in `report/sections/` (header, kpis, funnel, dwell, heatmap, stale, managers);
this module runs them in order and collects what they return in `ReportData`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import Playbook, playbook_for_store
from dealpulse.report.sections.dwell import (
    DWELL_RECENT_MIN, DWELL_RECENT_WINDOWS, NORMS_RESAMPLES, DwellRow, DwellShift, StepDeadline, dwell_rows,
    stage_deadlines,
)
from dealpulse.report.sections.dwell import learned_norms as _norms
from dealpulse.report.sections.funnel import FunnelRow
from dealpulse.report.sections.funnel import funnel_rows as _funnel
from dealpulse.report.sections.header import Header, build_header
from dealpulse.report.sections.heatmap import HEATMAP_MIN_N, Heatmap, build_heatmap
from dealpulse.report.sections.kpis import KPIS, KpiRow, KpiSpec, compare_kpis, window_values
from dealpulse.report.sections.kpis import metric_rows as _metrics
from dealpulse.report.sections.managers import ManagerRow, manager_rows
from dealpulse.report.sections.stale import STALE_TOP, StaleDeal, stale_deals

# `_funnel`, `_norms` and `_metrics` are looked up here when `gather` runs, so that a test can make
# one of them missing or failing.
__all__ = [
    "DWELL_RECENT_MIN", "DWELL_RECENT_WINDOWS", "HEATMAP_MIN_N", "KPIS", "NORMS_RESAMPLES", "SECTIONS", "STALE_TOP",
    "DwellRow", "DwellShift", "FunnelRow", "Header", "Heatmap", "KpiRow", "KpiSpec", "ManagerRow", "ReportData",
    "StaleDeal", "StepDeadline", "compare_kpis", "gather", "stage_deadlines",
]

SECTIONS = ("header", "changes", "funnel", "dwell", "heatmap", "stale", "managers")

Progress = Callable[[str], None]


@dataclass
class ReportData:
    header: Header
    kpis: list[KpiRow] | None = None
    funnel: list[FunnelRow] | None = None
    funnel_censored: int = 0  # open deals (right-censored)
    funnel_min_deals: int = 0  # rows with fewer entries are marked
    dwell: list[DwellRow] | None = None
    dwell_shifts: list[DwellShift] = field(default_factory=list)
    dwell_since: datetime | None = None  # "recent" = entered the stage after this moment
    heatmap: Heatmap | None = None
    stale: list[StaleDeal] | None = None
    stale_total: int = 0
    stale_amount: float = 0.0  # the amount of every stale deal, not only the listed ones
    managers: list[ManagerRow] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # section -> reason
    warnings: list[str] = field(default_factory=list)


# -- the whole report -----------------------------------------------------------------------------
def gather(
    store: Any,
    *,
    as_of: Any = None,
    window: timedelta = timedelta(days=28),
    playbook: Playbook | str | None = None,
    progress: Progress | None = None,
    strict: bool = False,
) -> ReportData:
    """Compute every section. `strict` re-raises a failing section instead of marking it unavailable."""
    tick = progress or (lambda _name: None)
    pb = playbook if isinstance(playbook, Playbook) else playbook_for_store(store, playbook)
    tick("header")
    snap = snapshot(store, as_of, pb)
    deals = snap.deals.execute()
    data = ReportData(header=build_header(snap, deals, window))

    def attempt(section: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ImportError as exc:
            data.unavailable[section] = "missing"
            data.warnings.append(f"{section}: {exc}")
        except Exception as exc:  # noqa: BLE001 - one failing section must not sink the report
            if strict:
                raise
            data.unavailable[section] = "failed"
            data.warnings.append(f"{section}: {type(exc).__name__}: {exc}")
        return None

    tick("changes")
    total = attempt("changes", lambda: _metrics(snap, [], window))
    if total is not None:
        data.kpis = attempt("changes", lambda: compare_kpis(total[0] if total else {}, window_values(snap, deals, window)))

    tick("funnel")
    funnel = attempt("funnel", lambda: _funnel(snap))
    if funnel is not None:
        data.funnel, data.funnel_min_deals = funnel
    data.funnel_censored = data.header.open_deals

    tick("dwell")
    norms = attempt("norms", lambda: _norms(snap))
    dwell = attempt("dwell", lambda: dwell_rows(snap, window, norms or {}))
    if dwell is not None:
        data.dwell, data.dwell_shifts, data.dwell_since = dwell

    tick("heatmap")
    by_manager = attempt("managers", lambda: _metrics(snap, ["manager"], window))
    cells = attempt("heatmap", lambda: _metrics(snap, ["manager", "step"], window))
    if cells is not None:
        data.heatmap = build_heatmap(cells, by_manager or [], pb)

    tick("stale")
    stale = attempt("stale", lambda: stale_deals(snap, deals))
    if stale is not None:
        data.stale, data.stale_total, data.stale_amount = stale

    tick("managers")
    if by_manager is not None:
        data.managers = manager_rows(by_manager)
    return data
