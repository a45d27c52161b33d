"""Gather everything the report shows, as plain Python values (no HTML, no figures).

Each section is computed by the module that owns the numbers (metrics.kpis, metrics.funnel,
playbook.norms); this module only picks, compares and orders them. A section whose source is not
available (a module missing in this install, or one that fails) is marked so and the rest of the
report is still built; `ReportData.warnings` says what happened.

The sections live in `report/sections/` (header, kpis, funnel, dwell, heatmap, stale, managers, and the
early-warning ones: alerts, risk, optimism, review, leading); this module runs them and collects what they
return in `ReportData`.

Everything is computed on ONE `dealpulse.app` Moment (the snapshot as of the report's moment). The win model
(deals at risk, forecast calls, the week's movers) is the moment's: taken from this process or the store's
model cache when `dealpulse score`, `optimism`, `changes`, the web app or an earlier report trained it for
the same data, playbook and moment; otherwise its history is read from the store in the calling thread,
it is fitted in one worker thread while the other sections are computed (the slowest part of the report)
and then kept for the next command. Texts that the early-warning modules write themselves (reasons, alert
messages) are gathered for every language in `langs`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from dealpulse.playbook import Playbook
from dealpulse.report.sections.alerts import AlertItem, alert_items
from dealpulse.report.sections.dwell import (
    DWELL_RECENT_MIN, DWELL_RECENT_WINDOWS, NORMS_RESAMPLES, DwellRow, DwellShift, StepDeadline, dwell_rows,
    stage_deadlines,
)
from dealpulse.report.sections.dwell import learned_norms as _norms
from dealpulse.report.sections.dynamics import DynamicsSection, dynamics_section
from dealpulse.report.sections.funnel import FunnelRow
from dealpulse.report.sections.funnel import funnel_rows as _funnel
from dealpulse.report.sections.header import Header, build_header
from dealpulse.report.sections.heatmap import HEATMAP_MIN_N, Heatmap, build_heatmap
from dealpulse.report.sections.kpis import KPIS, KpiRow, KpiSpec, compare_kpis, window_values
from dealpulse.report.sections.kpis import metric_rows as _metrics
from dealpulse.report.sections.leading import LeadingSection, leading_section
from dealpulse.report.sections.managers import ManagerRow, manager_rows
from dealpulse.report.sections.optimism import OptimismRow, optimism_rows
from dealpulse.report.sections.review import ReviewSection, review_section
from dealpulse.report.sections.risk import RiskSection, fit_model, load_model_history, risk_section
from dealpulse.report.sections.stale import STALE_TOP, StaleDeal, stale_deals
from dealpulse.report.sections.week import WeekSection, week_alerts, week_facts, week_section

# `_funnel`, `_norms`, `_metrics`, `_alerts`, `_review`, `_leading`, `_fit`, `_cached_model` and `_optimism` are
# looked up here when `gather` runs, so that a test can make one of them missing or failing.
_alerts, _review, _leading, _fit, _optimism = alert_items, review_section, leading_section, fit_model, optimism_rows
_cached_model = lambda moment: moment.trained_if_cached()  # noqa: E731 - the model cache, a test hook too
_dynamics = dynamics_section
_week_alerts = week_alerts

__all__ = [
    "DWELL_RECENT_MIN", "DWELL_RECENT_WINDOWS", "HEATMAP_MIN_N", "KPIS", "NORMS_RESAMPLES", "SECTIONS", "STALE_TOP",
    "AlertItem", "DwellRow", "DwellShift", "FunnelRow", "Header", "Heatmap", "KpiRow", "KpiSpec", "LeadingSection",
    "ManagerRow", "OptimismRow", "ReportData", "ReviewSection", "RiskSection", "StaleDeal", "StepDeadline", "WeekSection", "compare_kpis", "gather", "stage_deadlines",
]

# the steps `gather` reports through `progress`, in order ("model": waiting for the win model)
SECTIONS = ("header", "week", "alerts", "dynamics", "review", "leading", "changes", "funnel", "dwell", "heatmap", "stale", "managers", "model")
LANGS = ("en", "ru")

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


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
    alerts: list[AlertItem] | None = None
    dynamics: DynamicsSection | None = None
    risk: RiskSection | None = None
    optimism: list[OptimismRow] | None = None
    review: ReviewSection | None = None
    leading: LeadingSection | None = None
    week: WeekSection | None = None  # what changed this week (movers None without the win model)
    langs: tuple[str, ...] = LANGS  # the languages of the texts the early-warning modules wrote
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
    langs: Sequence[str] = LANGS,
) -> ReportData:
    """Compute every section. `store`: a store (with `as_of` and `playbook`) or a `dealpulse.app` Moment (the
    CLI's; its model cache is shared with the other commands). `strict` re-raises a failing section instead
    of marking it unavailable; `langs`: the languages the page will be rendered in (texts written by the
    early-warning modules)."""
    from dealpulse.app import Moment, Session

    tick = progress or (lambda _name: None)
    langs = tuple(dict.fromkeys(langs)) or ("en",)
    moment = store if isinstance(store, Moment) else Session(store, playbook).at(as_of)
    pb = moment.playbook
    tick("header")
    snap = moment.snapshot
    deals = snap.deals.execute()
    data = ReportData(header=build_header(snap, deals, window), langs=langs)
    titles = {str(d): str(t) for d, t in zip(deals["deal_id"], deals["title"]) if t is not None and t == t}

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
            log.info("report section %s failed", section, exc_info=True)  # the CLI says it; a log keeps the trace
        return None

    # the win model: the moment's if it is cached; else history read here (the store is not shared with the
    # worker), fitted in the worker, and kept (in this thread) for the next command
    cached = attempt("risk", lambda: _cached_model(moment))
    history = None if cached is not None or "risk" in data.unavailable else attempt("risk", lambda: load_model_history(snap))
    tick("week")  # the week's waterfall and history are read here, its deals scored in the worker
    facts = attempt("week", lambda: week_facts(snap))
    if facts is not None:
        facts.alerts = attempt("week_alerts", lambda: _week_alerts(snap, facts.start, langs))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dealpulse-report-model") as worker:
        trained = risk = forecast = week = None
        if cached is not None or history is not None:
            trained = worker.submit(lambda: cached) if cached is not None else worker.submit(_fit, history)
            risk = worker.submit(lambda: risk_section(trained.result(), langs, titles, pb.stages))
            forecast = worker.submit(lambda: _optimism(trained.result()))
            if facts is not None:
                week = worker.submit(lambda: week_section(facts, trained.result(), langs, titles))
        try:
            _sections(data, snap, deals, window, pb, titles, tick, attempt)
        except BaseException:
            for f in (risk, forecast, week):
                if f is not None:
                    f.cancel()
            raise
        tick("model")
        if trained is not None and attempt("risk", trained.result) is not None:
            if cached is None:
                try:
                    moment.adopt_trained(trained.result())
                except Exception:  # noqa: BLE001 - not kept: the next command trains it again, no more
                    log.info("report: the win model was not kept", exc_info=True)
            data.risk = attempt("risk", risk.result)
            data.optimism = attempt("optimism", forecast.result)
            if week is not None:
                data.week = attempt("week", week.result)
    if facts is not None and data.week is None and "week" not in data.unavailable:  # no model: no movers
        data.week = attempt("week", lambda: week_section(facts, None, langs, titles))
    if data.optimism is None and "optimism" not in data.unavailable:  # no model: no forecast calls either
        data.unavailable["optimism"] = data.unavailable.get("risk", "failed")
        why = next((w.split(": ", 1)[1] for w in data.warnings if w.startswith("risk: ")), "")
        data.warnings.append(f"optimism: {why}")
    return data


def _sections(data: ReportData, snap: Any, deals: Any, window: timedelta, pb: Playbook, titles: dict[str, str],
              tick: Progress, attempt: Callable[[str, Callable[[], Any]], Any]) -> None:
    langs = data.langs
    tick("alerts")
    data.alerts = attempt("alerts", lambda: _alerts(snap, langs))
    tick("dynamics")
    data.dynamics = attempt("dynamics", lambda: _dynamics(snap, langs))
    tick("review")
    data.review = attempt("review", lambda: _review(snap, langs, titles))
    tick("leading")
    data.leading = attempt("leading", lambda: _leading(snap, langs))

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
