"""Gather everything the report shows, as plain Python values (no HTML, no figures).

Each section is computed by the module that owns the numbers (metrics.kpis, metrics.funnel,
playbook.norms); this module only picks, compares and orders them. A section whose source is not
available (a module missing in this install, or one that fails) is marked so and the rest of the
report is still built; `ReportData.warnings` says what happened.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

import ibis

from dealpulse.metrics.asof import Snapshot, snapshot, store_tz, window_bounds
from dealpulse.playbook import Playbook, playbook_for_store
from dealpulse.report import stats

SECTIONS = ("header", "changes", "funnel", "dwell", "heatmap", "stale", "managers")
STALE_TOP = 50
HEATMAP_MIN_N = 5  # cells with fewer step instances are greyed out
NORMS_RESAMPLES = 100  # the report uses the norms' medians, not their bootstrap intervals
DWELL_RECENT_WINDOWS = 3  # "recent" stage entries: the last three windows...
DWELL_RECENT_MIN = timedelta(days=84)  # ...and at least twelve weeks

Progress = Callable[[str], None]


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
class Header:
    as_of: datetime
    tz: ZoneInfo
    window: timedelta
    prev_start: datetime
    start: datetime
    deals: int
    open_deals: int
    won: int
    lost: int
    managers: int
    first_at: datetime | None
    playbook_source: str
    stages: tuple[str, ...]
    steps: int
    currency: str | None = None  # the one currency of every amount, else None
    people: dict[str, str] = field(default_factory=dict)  # manager id -> the name to show
    teams: dict[str, str] = field(default_factory=dict)  # manager id -> team

    def who(self, manager_id: Any) -> str:
        if manager_id is None:
            return "—"
        return self.people.get(str(manager_id), str(manager_id))


@dataclass
class KpiRow:
    spec: KpiSpec
    cur: float | None
    prev: float | None
    n_cur: int | None = None  # the cases behind a rate / share
    n_prev: int | None = None
    ci: tuple[float, float] | None = None  # Wilson 95% of the current rate
    verdict: stats.Verdict | None = None
    p_adjusted: float | None = None
    highlighted: bool = False

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def delta(self) -> float | None:
        if _missing(self.cur) or _missing(self.prev):
            return None
        return float(self.cur) - float(self.prev)  # type: ignore[arg-type]

    @property
    def direction(self) -> str:
        """better | worse | same."""
        d = self.delta
        if not d:
            return "same"
        return "better" if (d > 0) == self.spec.higher_is_better else "worse"


@dataclass
class FunnelRow:
    stage: str
    entered: int
    advanced: int | None
    lost: int | None
    in_stage: int | None
    conv_next: float | None
    conv_won: float | None
    dwell_median_days: float | None
    dwell_p80_days: float | None
    few_deals: bool = False  # fewer deals than metrics.funnel trusts
    undecided_next: float | None = None  # share still without an outcome after the longest time observed
    undecided_won: float | None = None
    bound_share: float = 0.10  # above this undecided share a conversion is a lower bound

    @property
    def next_is_bound(self) -> bool:
        return (self.undecided_next or 0) > self.bound_share

    @property
    def won_is_bound(self) -> bool:
        return (self.undecided_won or 0) > self.bound_share


@dataclass
class StepDeadline:
    step: str
    days: float  # the default `within`
    after: str | None  # None: from entering the stage (or the deal's creation); else the step it follows
    by_segment: dict[str, float] = field(default_factory=dict)
    suggested_days: float | None = None  # learned from won deals (playbook.norms), if available


@dataclass
class DwellRow:
    """Days in one stage: deals that entered it recently against those that entered it before,
    next to the norms learned from won deals and the playbook's deadlines."""

    stage: str
    n_recent: int
    median_days: float | None  # recent entries, Kaplan-Meier (still in the stage = censored)
    p80_days: float | None
    n_before: int
    before_median_days: float | None
    before_p80_days: float | None
    norm_won_days: float | None  # median dwell of won deals (the learned norm)
    norm_lost_days: float | None
    norm_won_p75_days: float | None
    deadlines: list[StepDeadline]  # the playbook's steps of this stage
    stage_deadline_days: float | None = None  # when the stage's last step is due, from entering it
    shift: str = "same"  # slower | faster | same: recent against before, beyond chance (log-rank + BH)


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
class Heatmap:
    managers: list[str]  # worst first
    steps: list[str]
    rate: list[list[float | None]]
    n: list[list[int]]
    manager_rate: dict[str, float | None]
    min_n: int = HEATMAP_MIN_N


@dataclass
class StaleDeal:
    deal_id: str
    title: str | None
    owner: str | None
    segment: str | None
    stage: str | None
    amount: float | None
    currency: str | None
    days_since_touch: float
    stale_after_days: float
    last_touch_at: datetime | None = None


@dataclass
class ManagerRow:
    manager: str
    steps: int
    on_time_rate: float | None
    prev_on_time_rate: float | None
    overdue_tasks: int | None
    stale_deals: int | None
    won: int | None
    prev_won: int | None
    win_rate: float | None
    prev_win_rate: float | None
    significant: bool = False  # on-time rate changed beyond chance


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


# -- helpers ---------------------------------------------------------------------------------------
def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)
    except (TypeError, ValueError):
        return False


def _num(v: Any) -> float | None:
    if _missing(v):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _int(v: Any) -> int | None:
    f = _num(v)
    return None if f is None else int(round(f))


def _records(data: Any) -> list[dict]:
    """Rows as dicts from a pandas/polars frame, an Ibis table, a list of dicts or dataclasses."""
    if data is None:
        return []
    if hasattr(data, "execute") and hasattr(data, "schema") and not hasattr(data, "to_dict"):
        data = data.execute()
    if hasattr(data, "to_dicts"):
        return data.to_dicts()
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return data.to_dict(orient="records")
    rows = []
    for r in data:
        if isinstance(r, dict):
            rows.append(r)
        elif hasattr(r, "__dataclass_fields__"):
            rows.append({k: getattr(r, k) for k in r.__dataclass_fields__})
        else:
            rows.append(dict(r))
    return rows


def _need(module: str, name: str) -> Any:
    """A function from a sibling module; ImportError when the module or the name is not there (yet)."""
    mod = importlib.import_module(module)
    try:
        return getattr(mod, name)
    except AttributeError:
        raise ImportError(f"{module}.{name} is not available") from None


# -- sections -------------------------------------------------------------------------------------
def _people(store: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Manager names (unique: a shared name gets its id) and teams from the managers table."""
    rows = store.query("SELECT manager_id, name, team FROM managers")
    names = {str(i): str(n).strip() for i, n, _ in rows if n is not None and str(n).strip()}
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    people = {i: (n if counts[n] == 1 else f"{n} ({i})") for i, n in names.items()}
    teams = {str(i): str(t) for i, _, t in rows if t is not None and str(t).strip()}
    return people, teams


def _header(snap: Snapshot, deals: Any, window: timedelta) -> Header:
    prev_start, start, _ = window_bounds(snap.as_of, window)
    pb = snap.playbook
    first = deals["created_at"].min() if len(deals) else None
    currencies = sorted(str(c) for c in deals["currency"].dropna().unique()) if len(deals) else []
    people, teams = _people(snap.store)
    return Header(
        as_of=snap.as_of, tz=store_tz(snap.store), window=window, prev_start=prev_start, start=start,
        deals=len(deals), open_deals=int((deals["status"] == "open").sum()),
        won=int((deals["status"] == "won").sum()), lost=int((deals["status"] == "lost").sum()),
        managers=int(deals["owner"].dropna().nunique()),
        first_at=None if _missing(first) else first.to_pydatetime() if hasattr(first, "to_pydatetime") else first,
        playbook_source=pb.source, stages=tuple(pb.stages), steps=len(pb.steps),
        currency=currencies[0] if len(currencies) == 1 else None,
        people=people, teams=teams,
    )


def _won_values(deals: Any, lo: datetime, hi: datetime) -> tuple[list[float], list[float]]:
    """(amounts, cycle days) of the deals won in (lo, hi]."""
    won = deals[(deals["status"] == "won") & deals["closed_at"].notna()]
    won = won[(won["closed_at"] > lo) & (won["closed_at"] <= hi)]
    cycle = [(c - s).total_seconds() / 86400 for c, s in zip(won["closed_at"], won["created_at"])]
    return won["amount"].fillna(0).astype(float).tolist(), cycle


def _window_values(snap: Snapshot, deals: Any, window: timedelta) -> dict[str, Any]:
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
        cur, prev = _num(row.get(spec.key)), _num(row.get(f"prev_{spec.key}"))
        kr = KpiRow(spec, cur, prev)
        if spec.key == "on_time_rate":
            (r1, n1), (r0, n0) = _rate_n(row), _rate_n(row, "prev_")
            kr.n_cur, kr.n_prev = n1, n0
            kr.verdict = stats.two_proportions((r1 or 0) * n1, n1, (r0 or 0) * n0, n0)
        elif spec.key == "win_rate":
            w1, l1 = _num(row.get("won")) or 0, _num(row.get("lost")) or 0
            w0, l0 = _num(row.get("prev_won")) or 0, _num(row.get("prev_lost")) or 0
            kr.n_cur, kr.n_prev = int(w1 + l1), int(w0 + l0)
            kr.verdict = stats.two_proportions(w1, w1 + l1, w0, w0 + l0)
        elif spec.key == "card_complete_rate":
            n1, n0 = values.get("card_n", (None, None))
            kr.n_cur, kr.n_prev = n1, n0
            if n1 is not None and n0 is not None and cur is not None and prev is not None:
                kr.verdict = stats.two_proportions(round(cur * n1), n1, round(prev * n0), n0)
        elif spec.kind == "share":  # stale deals among open deals
            n1, n0 = _int(row.get("open_deals")), _int(row.get("prev_open_deals"))
            kr.n_cur, kr.n_prev = n1, n0
            if None not in (n1, n0, cur, prev):
                kr.verdict = stats.two_proportions(cur, n1, prev, n0)  # type: ignore[arg-type]
        elif spec.kind == "count":
            if cur is not None and prev is not None:
                kr.verdict = stats.poisson_counts(cur, prev)
        elif spec.kind == "sum":
            a1, a0 = values.get(spec.key, ([], []))
            kr.verdict = stats.compound_sums(a1, a0)
        elif spec.kind == "median":
            a1, a0 = values.get(spec.key, ([], []))
            kr.verdict = stats.medians(a1, a0)
        if spec.kind == "rate" and kr.n_cur and cur is not None:
            kr.ci = stats.wilson(cur * kr.n_cur, kr.n_cur)
        out.append(kr)
    adjusted = stats.adjust([k.verdict.p if k.verdict else None for k in out])
    for k, p in zip(out, adjusted):
        k.p_adjusted = p
        k.highlighted = p is not None and p < stats.ALPHA and k.direction != "same"
    return out


def _funnel(snap: Snapshot) -> tuple[list[FunnelRow], int]:
    """metrics.funnel's rows (survival-based conversions), in its stage order."""
    compute_funnel = _need("dealpulse.metrics.funnel", "compute_funnel")
    bound = float(getattr(importlib.import_module("dealpulse.metrics.funnel"), "UNDECIDED_MARK", 0.10))
    result = compute_funnel(snap)
    rows = [FunnelRow(
        stage=str(r["stage"]), entered=_int(r.get("entered")) or 0,
        advanced=_int(r.get("advanced")), lost=_int(r.get("lost")), in_stage=_int(r.get("in_stage")),
        conv_next=_num(r.get("conv_next")), conv_won=_num(r.get("conv_won")),
        dwell_median_days=_num(r.get("dwell_median_days")), dwell_p80_days=_num(r.get("dwell_p80_days")),
        few_deals=bool(r.get("few_deals")), undecided_next=_num(r.get("undecided_next")),
        undecided_won=_num(r.get("undecided_won")), bound_share=bound,
    ) for r in _records(getattr(result, "rows", result)) if r.get("stage") not in ("won", "lost")]
    order = {s: i for i, s in enumerate(getattr(result, "stages", snap.playbook.stages))}
    rows.sort(key=lambda r: order.get(r.stage, len(order)))
    return rows, int(getattr(result, "min_deals", 0) or 0)


def _norms(snap: Snapshot) -> dict[tuple[str, str], dict[str, float | None]]:
    """(kind, name) -> won median / p75, lost median, suggested deadline: the norms over all segments."""
    learn_norms = _need("dealpulse.playbook.norms", "learn_norms")
    try:  # the report shows medians, p75 and suggestions, not the bootstrap intervals: keep those cheap
        result = learn_norms(snap, n_resamples=NORMS_RESAMPLES)
    except TypeError:
        result = learn_norms(snap)
    out: dict[tuple[str, str], dict[str, float | None]] = {}
    for r in _records(getattr(result, "rows", result)):
        if r.get("segment") not in (None, "") or r.get("kind") not in ("stage", "step"):
            continue
        out[(str(r["kind"]), str(r["name"]))] = {
            "won": _num(r.get("won_median")), "won_p75": _num(r.get("won_p75")),
            "lost": _num(r.get("lost_median")), "suggested": _num(r.get("suggested_days")),
        }
    return out


def stage_deadlines(playbook: Playbook, stage: str) -> tuple[list[StepDeadline], float | None]:
    """The stage's steps with their deadlines, and when its last step is due counted from entering
    the stage (a step anchored on another step of the stage adds up; `deal_created` counts as the
    entry, which it is for the first stage)."""
    steps = [s for s in playbook.steps if s.stage == stage]
    due: dict[str, float] = {}

    def due_of(name: str, seen: tuple[str, ...] = ()) -> float:
        if name in due:
            return due[name]
        step = playbook.step(name)
        own = step.within.total_seconds() / 86400
        base = 0.0
        if step.anchor in {s.name for s in steps} and step.anchor not in seen:
            base = due_of(step.anchor, seen + (name,))
        due[name] = base + own
        return due[name]

    out = []
    names = {s.name for s in steps}
    for s in steps:
        due_of(s.name)
        out.append(StepDeadline(
            step=s.name, days=s.within.total_seconds() / 86400,
            after=s.anchor if s.anchor in names else None,
            by_segment={seg: td.total_seconds() / 86400 for seg, td in sorted(s.by_segment.items())},
        ))
    return out, max(due.values(), default=None)


def _km(part: Any) -> Any:
    from dealpulse.metrics.survival import km_summary

    return km_summary(part["dwell_days"].to_numpy(dtype=float), part["left"].to_numpy(dtype=bool))


def _logrank(a: Any, b: Any) -> float:
    from lifelines.statistics import logrank_test

    res = logrank_test(a["dwell_days"].to_numpy(dtype=float), b["dwell_days"].to_numpy(dtype=float),
                       event_observed_A=a["left"].to_numpy(dtype=bool), event_observed_B=b["left"].to_numpy(dtype=bool))
    return float(res.p_value)


def _direction(recent: Any, before: Any) -> str:
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


def _dwell(snap: Snapshot, window: timedelta, norms: dict[tuple[str, str], dict[str, float | None]]
           ) -> tuple[list[DwellRow], list[DwellShift], datetime]:
    """Per stage: dwell of the deals that entered it in the recent period (DWELL_RECENT_WINDOWS
    windows, at least DWELL_RECENT_MIN) against those that entered before, with the log-rank test
    per stage over all segments and per segment, Benjamini-Hochberg over all of them."""
    fetch_spells = _need("dealpulse.metrics.funnel", "fetch_spells")
    stage_order = _need("dealpulse.metrics.funnel", "stage_order")
    pb = snap.playbook
    order, _ = stage_order(snap)
    spells = fetch_spells(snap, order)
    since = snap.as_of - max(DWELL_RECENT_WINDOWS * window, DWELL_RECENT_MIN)
    is_recent = spells["entered_at"] > since if len(spells) else None
    segments = sorted(spells["segment"].dropna().unique().tolist(), key=str) if len(spells) else []
    rows: list[DwellRow] = []
    tests: list[tuple[str, str | None, Any, Any, int, int, float]] = []
    for stage in order:
        part = spells[spells["stage"] == stage] if len(spells) else spells
        if stage not in pb.stages and not len(part):
            continue
        for seg in [None, *segments]:
            sub = part if seg is None else part[part["segment"] == seg]
            recent, before = sub[is_recent.loc[sub.index]], sub[~is_recent.loc[sub.index]]
            km_r, km_b = _km(recent), _km(before)
            if seg is None:
                deadlines, last_due = stage_deadlines(pb, stage)
                for d in deadlines:
                    d.suggested_days = norms.get(("step", d.step), {}).get("suggested")
                n = norms.get(("stage", stage), {})
                rows.append(DwellRow(
                    stage, len(recent), km_r.median, km_r.p80, len(before), km_b.median, km_b.p80,
                    n.get("won"), n.get("lost"), n.get("won_p75"), deadlines, last_due,
                ))
            if len(recent) >= stats.MIN_SAMPLE_N and len(before) >= stats.MIN_SAMPLE_N and recent["left"].any():
                tests.append((stage, seg, km_r, km_b, len(recent), len(before), _logrank(recent, before)))
    shifts: list[DwellShift] = []
    for (stage, seg, km_r, km_b, n_r, n_b, _p), q in zip(tests, stats.adjust([t[-1] for t in tests])):
        direction = _direction(km_r, km_b)
        if q is None or q >= stats.ALPHA or direction == "same":
            continue
        shifts.append(DwellShift(stage, seg, direction, n_r, n_b, km_r.median, km_b.median, km_r.p80, km_b.p80, q))
        if seg is None:
            next(r for r in rows if r.stage == stage).shift = direction
    shifts.sort(key=lambda x: (x.direction != "slower", x.p_adjusted, order.index(x.stage), str(x.segment)))
    return rows, shifts, since


def _stale(snap: Snapshot, deals: Any) -> tuple[list[StaleDeal], int]:
    pb = snap.playbook
    open_ = deals[deals["status"] == "open"]
    out = []
    for r in open_.to_dict(orient="records"):
        touch = r.get("last_touch_at")
        if _missing(touch):
            continue
        since = (snap.as_of - touch).total_seconds() / 86400
        seg = None if _missing(r.get("segment")) else r.get("segment")
        limit = pb.stale_for(seg).total_seconds() / 86400
        if since > limit:
            out.append(StaleDeal(
                deal_id=str(r["deal_id"]), title=None if _missing(r.get("title")) else r.get("title"),
                owner=None if _missing(r.get("owner")) else r.get("owner"), segment=seg,
                stage=None if _missing(r.get("stage")) else r.get("stage"), amount=_num(r.get("amount")),
                currency=None if _missing(r.get("currency")) else r.get("currency"),
                days_since_touch=since, stale_after_days=limit,
                last_touch_at=touch.to_pydatetime() if hasattr(touch, "to_pydatetime") else touch,
            ))
    out.sort(key=lambda d: (-(d.amount or 0) * d.days_since_touch, -d.days_since_touch, d.deal_id))
    return out[:STALE_TOP], len(out), sum(d.amount or 0 for d in out)


def _metrics(snap: Snapshot, by: list[str], window: timedelta) -> list[dict]:
    compute_metrics = _need("dealpulse.metrics.kpis", "compute_metrics")
    return _records(compute_metrics(snap, by=by, window=window))


def _rate_n(r: dict, prefix: str = "") -> tuple[float | None, int]:
    ok = _num(r.get(f"{prefix}steps_on_time")) or 0
    n = int(sum(_num(r.get(f"{prefix}steps_{s}")) or 0 for s in ("on_time", "late", "missed")))
    return (ok / n if n else None), n


def _heatmap(rows: list[dict], manager_rows: list[dict], playbook: Playbook) -> Heatmap:
    """On-time rate per manager x step; managers worst first, steps in playbook order."""
    cells: dict[tuple[str, str], tuple[float | None, int]] = {}
    for r in rows:
        m, s = r.get("manager"), r.get("step")
        if not _missing(m) and not _missing(s):
            cells[(str(m), str(s))] = _rate_n(r)
    overall = {str(r["manager"]): _rate_n(r) for r in manager_rows if not _missing(r.get("manager"))}
    for m in {m for m, _ in cells} - set(overall):  # no per-manager row: pool the cells
        mine = [v for (mm, _), v in cells.items() if mm == m]
        n = sum(k for _, k in mine)
        ok = sum((r or 0) * k for r, k in mine)
        overall[m] = (ok / n if n else None, n)
    managers = sorted(m for m in overall if overall[m][1] or any(mm == m for mm, _ in cells))
    managers.sort(key=lambda m: (overall[m][0] if overall[m][0] is not None else 2.0, -overall[m][1], m))
    seen = {s for _, s in cells}
    steps = [s.name for s in playbook.steps if s.name in seen] + sorted(seen - {s.name for s in playbook.steps})
    return Heatmap(
        managers=managers, steps=steps,
        rate=[[cells.get((m, s), (None, 0))[0] for s in steps] for m in managers],
        n=[[cells.get((m, s), (None, 0))[1] for s in steps] for m in managers],
        manager_rate={m: overall[m][0] for m in managers},
    )


def _manager_rows(rows: list[dict]) -> list[ManagerRow]:
    out, pvalues = [], []
    for r in rows:
        if _missing(r.get("manager")):
            continue
        _, n1 = _rate_n(r)
        _, n0 = _rate_n(r, "prev_")
        v = stats.two_proportions(_num(r.get("steps_on_time")) or 0, n1, _num(r.get("prev_steps_on_time")) or 0, n0)
        out.append(ManagerRow(
            manager=str(r["manager"]), steps=n1,
            on_time_rate=_num(r.get("on_time_rate")), prev_on_time_rate=_num(r.get("prev_on_time_rate")),
            overdue_tasks=_int(r.get("overdue_tasks")), stale_deals=_int(r.get("stale_deals")),
            won=_int(r.get("won")), prev_won=_int(r.get("prev_won")),
            win_rate=_num(r.get("win_rate")), prev_win_rate=_num(r.get("prev_win_rate")),
        ))
        pvalues.append(v.p)
    for m, p in zip(out, stats.adjust(pvalues)):  # twenty managers: control false discoveries
        m.significant = p is not None and p < stats.ALPHA and m.on_time_rate != m.prev_on_time_rate
    out.sort(key=lambda m: (m.on_time_rate if m.on_time_rate is not None else 2.0, m.manager))
    return out


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
    data = ReportData(header=_header(snap, deals, window))

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
        data.kpis = attempt("changes", lambda: compare_kpis(total[0] if total else {}, _window_values(snap, deals, window)))

    tick("funnel")
    funnel = attempt("funnel", lambda: _funnel(snap))
    if funnel is not None:
        data.funnel, data.funnel_min_deals = funnel
    data.funnel_censored = data.header.open_deals

    tick("dwell")
    norms = attempt("norms", lambda: _norms(snap))
    dwell = attempt("dwell", lambda: _dwell(snap, window, norms or {}))
    if dwell is not None:
        data.dwell, data.dwell_shifts, data.dwell_since = dwell

    tick("heatmap")
    by_manager = attempt("managers", lambda: _metrics(snap, ["manager"], window))
    cells = attempt("heatmap", lambda: _metrics(snap, ["manager", "step"], window))
    if cells is not None:
        data.heatmap = _heatmap(cells, by_manager or [], pb)

    tick("stale")
    stale = attempt("stale", lambda: _stale(snap, deals))
    if stale is not None:
        data.stale, data.stale_total, data.stale_amount = stale

    tick("managers")
    if by_manager is not None:
        data.managers = _manager_rows(by_manager)
    return data
