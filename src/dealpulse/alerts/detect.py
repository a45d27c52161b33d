"""Which subjects changed: every subject's recent past against its own baseline, then one
false-discovery control over everything tested at that moment.

Windows (half-open, ending at as_of T). A **window scan**: several recent windows (T − w, T] are tried
— shares over the last 6 or 12 weeks, durations over the cohorts of the last 3, 5, 8 or 12 weeks — each
against the 26 weeks right before it, except the longest, whose baseline ends a guard of 8 weeks
earlier: (T − 12w − 8w − 26w, T − 12w − 8w]. A fresh change is seen in a short window that holds
little else (not diluted by older cases); an ongoing one is still seen whole in the longest window, and
stays out of its baseline for 20 weeks. The window with the smallest p is kept and its p multiplied by
the number of windows tried (Bonferroni): the choice made after seeing the data is paid for. Each kind
of alarm asks one one-sided question — did it get *worse*? (Changes both ways: `dealpulse dynamics`.)

Two levels of subject. A single cell (one manager's one step, one stage in one segment) catches a sharp
change there; a **pooled** test reads all of a subject's cells together — a manager across all their
steps, a segment across its stages, a channel across every stage — *stratified*, so each cell is
compared with its own past (Cochran–Mantel–Haenszel for shares, the stratified log-rank for durations)
and a recent window that happens to hold more of a hard step is not read as a decline. A manager a
little slower at everything is invisible cell by cell and plain in the pooled test.

| kind | subject | cases (`cases.py`), window by | question | test | effect (minimum) |
|---|---|---|---|---|---|
| step_on_time | manager × step | judged step, deadline | share done by the deadline lower? | Fisher mid-p | drop in points (15) |
| step_lateness | manager × step | late step, deadline | once late, done later? (open: censored) | exact log-rank mid-p | slowdown (1.5×) |
| manager_on_time | manager (strata: step × segment) | judged step, deadline | share on time lower, step for step? | CMH, exact mid-p | drop in points vs own rates (10) |
| manager_pace | manager (strata: step × segment) | step from its anchor, anchor time | steps done more slowly? (not done: censored) | stratified log-rank | slowdown (1.25×) |
| stage_conversion | segment × stage | deal leaving the stage, exit time | share moving forward lower? | Fisher mid-p | drop in points (10) |
| stage_dwell | segment × stage | deal entering the stage, entry time | leave it more slowly? (still in it: censored) | exact log-rank mid-p | slowdown (1.5×) |
| segment_conversion | segment (strata: stage) | deal leaving a stage, exit time | fewer move forward, stage for stage? | CMH | drop in points (7) |
| segment_dwell | segment (strata: stage) | deal entering a stage, entry time | slower through the stages? | stratified log-rank | slowdown (1.3×) |
| channel_inflow | channel | new deal, creation time | channel's share of new deals lower? (one 6-week window) | Fisher mid-p | relative drop (30%) |
| channel_quality | channel | deal leaving the first stage, exit time | share qualified lower? | Fisher mid-p | drop in points (10) |
| channel_conversion | channel (strata: stage × segment) | deal leaving a stage, exit time | its deals move forward less, everywhere? | CMH | drop in points (7) |

The exact conditional p (`stats.logrank_exact_p`, `stats.hypergeom_sum_lower_p`) is what makes a slow
stage visible early: a fresh cohort of which nobody has left yet, where a few exits were expected, is
judged by the chance of that. A window is tried only with enough cases on both sides (`Settings`).
The p-values of every test at that moment get weighted Benjamini–Hochberg q-values (`stats.weighted_bh`), a
kind's share of the budget ∝ the square root of its number of tests (between "every kind the same share",
which starves the many manager × step cells of a big department, and plain BH, which starves the few
pooled tests); an alarm needs q ≤ `fdr` and an effect at least the minimum,
so a large subject does not alarm over a trivial drift. Everything is computed from `Facts` known at T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from dealpulse.alerts.cases import CaseCache
from dealpulse.alerts.facts import Facts
from dealpulse.alerts.stats import (cmh_worse, km_median, logrank, logrank_exact_p, logrank_stratified, rate_drop_p,
                                    scan_p, weighted_bh)


@dataclass(frozen=True)
class Kind:
    """One kind of alarm: which cases, which subject, which question (see the module table)."""

    name: str
    cases: str  # a `cases.CASES` frame
    columns: tuple[str, ...]  # the subject's columns in that frame
    names: tuple[str, ...]  # their names in the alert's `subject`
    time: str  # the column that puts a case in a window
    unit: str  # "share" or "days"
    metric: str
    strata: tuple[str, ...] = ()  # pooled: compared cell by cell within these
    min_effect: str = ""  # the Settings field with the minimum effect
    min_recent: str = ""  # ... with the fewest recent cases
    min_base: str = ""  # ... with the fewest baseline cases
    min_base_events: int = 10  # durations: the fewest baseline exits

    @property
    def pooled(self) -> bool:
        return bool(self.strata)


KIND_SPECS: tuple[Kind, ...] = (
    Kind("step_on_time", "judged_steps", ("owner", "step"), ("manager", "step"), "deadline", "share", "on_time_share",
         min_effect="min_on_time_drop", min_recent="min_recent_steps", min_base="min_baseline_steps"),
    Kind("step_lateness", "late_steps", ("owner", "step"), ("manager", "step"), "deadline", "days", "days_late_median",
         min_effect="min_slowdown", min_recent="min_recent_late", min_base="min_baseline_late"),
    Kind("manager_on_time", "judged_steps", ("owner",), ("manager",), "deadline", "share", "on_time_share",
         strata=("step", "segment"), min_effect="min_pooled_on_time_drop", min_recent="min_recent_pooled_steps",
         min_base="min_baseline_pooled_steps"),
    Kind("manager_pace", "step_pace", ("owner",), ("manager",), "anchor_at", "days", "step_days",
         strata=("step", "segment"), min_effect="min_pace_slowdown", min_recent="min_recent_pooled_steps",
         min_base="min_baseline_pooled_steps", min_base_events=20),
    Kind("stage_conversion", "stage_exits", ("segment", "stage"), ("segment", "stage"), "exit_at", "share",
         "conversion_to_next", min_effect="min_conversion_drop", min_recent="min_recent_exits",
         min_base="min_baseline_exits"),
    Kind("stage_dwell", "stage_dwell", ("segment", "stage"), ("segment", "stage"), "entered_at", "days",
         "dwell_median_days", min_effect="min_slowdown", min_recent="min_recent_entries",
         min_base="min_baseline_entries", min_base_events=20),
    Kind("segment_conversion", "stage_exits", ("segment",), ("segment",), "exit_at", "share", "conversion_to_next",
         strata=("stage",), min_effect="min_pooled_conversion_drop", min_recent="min_recent_exits",
         min_base="min_baseline_exits"),
    Kind("segment_dwell", "stage_dwell", ("segment",), ("segment",), "entered_at", "days", "dwell_days",
         strata=("stage",), min_effect="min_pooled_slowdown", min_recent="min_recent_pooled_entries",
         min_base="min_baseline_entries", min_base_events=20),
    Kind("channel_quality", "first_stage_exits", ("channel",), ("channel",), "exit_at", "share", "qualified_share",
         min_effect="min_quality_drop", min_recent="min_recent_exits", min_base="min_baseline_exits"),
    Kind("channel_conversion", "stage_exits", ("channel",), ("channel",), "exit_at", "share", "conversion_to_next",
         strata=("stage", "segment"), min_effect="min_pooled_conversion_drop", min_recent="min_recent_exits",
         min_base="min_baseline_exits"),
)
SPECS = {k.name: k for k in KIND_SPECS}
EXACT_BELOW_P = 0.1  # the exact log-rank p only where it can matter (the normal tail is below 10%)
KINDS = ("step_on_time", "step_lateness", "manager_on_time", "manager_pace", "stage_conversion", "stage_dwell",
         "segment_conversion", "segment_dwell", "channel_inflow", "channel_quality", "channel_conversion")


@dataclass(frozen=True)
class Settings:
    """How alarms decide. The defaults were chosen by replaying generated departments of many shapes
    (docs/alerts.md, benchmarks/alerts_detection.py, benchmarks/plants.py)."""

    share_windows: tuple[timedelta, ...] = (timedelta(weeks=6), timedelta(weeks=12))
    cohort_windows: tuple[timedelta, ...] = (timedelta(weeks=3), timedelta(weeks=5), timedelta(weeks=8),
                                             timedelta(weeks=12))
    baseline: timedelta = timedelta(weeks=26)
    guard: timedelta = timedelta(weeks=8)
    inflow_recent: timedelta = timedelta(weeks=6)  # a channel's share of new deals: one window
    exact_survival: bool = True  # the exact conditional log-rank p (False: the normal approximation)
    fdr: float = 0.05  # false discovery rate across everything tested at one moment
    kind_share_power: float = 0.5  # see test_all: a kind's share of the budget ∝ sqrt(its number of tests)
    min_on_time_drop: float = 0.15  # points of on-time share
    min_slowdown: float = 1.5  # times slower (1 / hazard ratio)
    min_conversion_drop: float = 0.10
    min_inflow_drop: float = 0.30  # relative drop of the channel's share of new deals
    min_quality_drop: float = 0.10
    min_pooled_on_time_drop: float = 0.10  # a manager across all steps, against their own rates step by step
    min_pace_slowdown: float = 1.25
    min_pooled_conversion_drop: float = 0.07
    min_pooled_slowdown: float = 1.3
    min_recent_steps: int = 5  # in the window tried
    min_baseline_steps: int = 20
    min_recent_pooled_steps: int = 10
    min_baseline_pooled_steps: int = 40
    min_recent_late: int = 4
    min_baseline_late: int = 15
    min_recent_exits: int = 15
    min_baseline_exits: int = 40
    min_recent_entries: int = 3  # in the window tried; the exact test needs no more to be valid
    min_recent_pooled_entries: int = 5
    min_baseline_entries: int = 30
    min_baseline_deals: int = 40

    @property
    def recent(self) -> timedelta:
        """The longest recent window of shares."""
        return max(self.share_windows)

    @property
    def recent_cohort(self) -> timedelta:
        """The longest recent window of durations."""
        return max(self.cohort_windows)

    def min_effect(self, kind: str) -> float:
        if kind == "channel_inflow":
            return self.min_inflow_drop
        return float(getattr(self, SPECS[kind].min_effect))


@dataclass
class Candidate:
    """One subject tested for one kind of change."""

    kind: str
    subject: dict[str, str]
    p: float
    effect: float
    evidence: dict[str, Any]
    # what the change-point search needs: ("binary", times, good) or ("survival", times, durations, observed)
    series: tuple = field(default=(), repr=False)
    q: float = float("nan")


@dataclass(frozen=True)
class Windows:
    """One recent window (recent_from, end] and its baseline (baseline_from, baseline_to]: the B weeks right
    before the window, or (the longest window of a scan) before a guard gap."""

    recent_from: datetime
    baseline_from: datetime
    end: datetime
    baseline_to: datetime | None = None  # default: recent_from (no gap)

    @property
    def base_to(self) -> datetime:
        return self.baseline_to if self.baseline_to is not None else self.recent_from

    def flags(self, times: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(in recent, in baseline) for a series of times (NaT in neither)."""
        return self.flags_array(times.to_numpy(dtype="datetime64[us]"))

    def flags_array(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`flags` for datetime64[us] values."""
        rf, bf, bt, end = (np.datetime64(x, "us") for x in (self.recent_from, self.baseline_from, self.base_to, self.end))
        recent = (t > rf) & (t <= end)
        base = (t > bf) & (t <= bt)
        return recent, base

    def evidence(self) -> dict[str, Any]:
        return {"recent_from": self.recent_from, "recent_to": self.end,
                "baseline_from": self.baseline_from, "baseline_to": self.base_to}


def windows_for(as_of: datetime, settings: Settings, cohort: bool = False) -> list[Windows]:
    """The windows the scan tries for share kinds, or (`cohort`) duration kinds, shortest first: each
    recent window with the baseline right before it, except the longest, whose baseline ends
    `settings.guard` earlier (an ongoing change stays out of it for longest + guard)."""
    lengths = sorted(settings.cohort_windows if cohort else settings.share_windows)
    out = []
    for i, w in enumerate(lengths):
        bt = as_of - w - (settings.guard if i == len(lengths) - 1 else timedelta(0))
        out.append(Windows(recent_from=as_of - w, baseline_from=bt - settings.baseline, end=as_of, baseline_to=bt))
    return out


# -- one comparison: recent cases of a subject against its baseline cases --------------------------------
@dataclass(frozen=True)
class Comparison:
    p: float  # one-sided: the recent cases are worse
    effect: float  # points of share lost, or times slower
    evidence: dict[str, Any]


def _codes(part: pd.DataFrame, strata: tuple[str, ...]) -> np.ndarray:
    """One integer per stratum (cell); 0 everywhere for a kind that is not pooled."""
    if not strata or part.empty:
        return np.zeros(len(part), dtype=np.int64)
    return part.groupby(list(strata), sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)


def medians(part: pd.DataFrame, recent: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    """Durations: the Kaplan–Meier medians of the recent and baseline cases (for the chosen comparison only)."""
    return _medians(part["_duration"].to_numpy(dtype=float), part["_observed"].to_numpy(dtype=bool), recent, base)


def _medians(dur: np.ndarray, ev: np.ndarray, recent: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    return {"recent_value": km_median(dur[recent], ev[recent]), "baseline_value": km_median(dur[base], ev[base])}


def compare(kind: Kind, part: pd.DataFrame, recent: np.ndarray, base: np.ndarray, settings: Settings,
            codes: np.ndarray | None = None) -> Comparison | None:
    """Recent vs baseline cases of one subject (boolean masks over `part`); None where there are too few.
    Durations: the medians are not included (`medians`)."""
    codes = _codes(part, kind.strata) if codes is None else codes
    if kind.unit == "share":
        return _compare(kind, part["_good"].to_numpy(dtype=bool), None, None, codes, recent, base, settings)
    return _compare(kind, None, part["_duration"].to_numpy(dtype=float), part["_observed"].to_numpy(dtype=bool), codes,
                    recent, base, settings)


def _compare(kind: Kind, good: np.ndarray | None, dur: np.ndarray | None, ev: np.ndarray | None, codes: np.ndarray,
             recent: np.ndarray, base: np.ndarray, settings: Settings) -> Comparison | None:
    n1, n0 = int(recent.sum()), int(base.sum())
    if n1 < getattr(settings, kind.min_recent) or n0 < getattr(settings, kind.min_base):
        return None
    if kind.unit == "share":
        return _compare_share(kind, good, recent, base, codes)
    return _compare_days(kind, dur, ev, recent, base, codes, settings)


def _compare_share(kind: Kind, good: np.ndarray, recent: np.ndarray, base: np.ndarray, codes: np.ndarray) -> Comparison | None:
    S = int(codes.max()) + 1 if codes.size else 0
    if not kind.pooled:
        codes = np.zeros_like(codes)
        S = 1
    n1 = np.bincount(codes[recent], minlength=S)
    k1 = np.bincount(codes[recent & good], minlength=S)
    n0 = np.bincount(codes[base], minlength=S)
    k0 = np.bincount(codes[base & good], minlength=S)
    if not kind.pooled:
        p = float(rate_drop_p(k1, n1, k0, n0)[0])
        if not np.isfinite(p):
            return None
        r_rate, b_rate = k1[0] / n1[0], k0[0] / n0[0]
        return Comparison(p, float(b_rate - r_rate), {
            "metric": kind.metric, "unit": "share", "recent_value": float(r_rate), "baseline_value": float(b_rate),
            "recent_n": int(n1[0]), "baseline_n": int(n0[0]), "recent_k": int(k1[0]), "baseline_k": int(k0[0]),
            "test": "fisher_mid_p_one_sided"})
    both = (n1 > 0) & (n0 > 0)
    if not both.any():
        return None
    res = cmh_worse(k1[both], n1[both], k0[both], n0[both])
    if not np.isfinite(res.p_worse):
        return None
    N1 = int(n1[both].sum())
    own = float((n1[both] * k0[both] / n0[both]).sum() / N1)  # the recent mix at the subject's own earlier rates
    r_rate = float(k1[both].sum() / N1)
    return Comparison(res.p_worse, own - r_rate, {
        "metric": kind.metric, "unit": "share", "recent_value": r_rate, "baseline_value": own,
        "recent_n": N1, "baseline_n": int(n0[both].sum()), "recent_k": int(k1[both].sum()),
        "baseline_k": int(k0[both].sum()), "strata": int(both.sum()), "z": res.z,
        "test": "cmh_exact_mid_p_one_sided" if res.exact else "cmh_one_sided"})


def _compare_days(kind: Kind, dur: np.ndarray, ev: np.ndarray, recent: np.ndarray, base: np.ndarray,
                  codes: np.ndarray, settings: Settings) -> Comparison | None:
    if int(ev[base].sum()) < kind.min_base_events:
        return None
    sel = recent | base
    if kind.pooled:
        res, hr = logrank_stratified(dur[sel], ev[sel], recent[sel], codes[sel])
        p, expected = res.p_worse, res.expected
        test = "log_rank_stratified_exact_mid_p_one_sided" if res.exact else "log_rank_stratified_one_sided"
    else:
        lr = logrank(dur[sel], ev[sel], recent[sel])
        p, expected, hr = lr.p_slower, lr.expected, lr.hazard_ratio
        if settings.exact_survival and np.isfinite(p) and p < EXACT_BELOW_P:
            p = logrank_exact_p(dur[sel], ev[sel], recent[sel])
        test = "log_rank_exact_mid_p_one_sided" if settings.exact_survival else "log_rank_one_sided"
    if not np.isfinite(p):
        return None
    slowdown = (1.0 / hr) if hr else float("inf")
    return Comparison(float(p), float(slowdown), {
        "metric": kind.metric, "unit": "days",
        "recent_n": int(recent.sum()), "baseline_n": int(base.sum()), "recent_events": int(ev[recent].sum()),
        "baseline_events": int(ev[base].sum()), "recent_expected_events": round(float(expected), 2),
        "hazard_ratio": hr, "test": test})


# -- a family: every subject of one kind, window scan ------------------------------------------------------
def _scan_evidence(windows: list[Windows], chosen: int, p_window: float, tried: int) -> dict[str, Any]:
    w = windows[chosen]
    return {**w.evidence(), "window_days": (w.end - w.recent_from).days, "p_window": p_window, "windows_tried": tried,
            "windows_days": [(x.end - x.recent_from).days for x in windows]}


def _series(times: np.ndarray, good: np.ndarray | None, dur: np.ndarray | None, ev: np.ndarray | None,
            after: datetime) -> tuple:
    keep = times > np.datetime64(after, "us")
    if good is not None:
        return ("binary", times[keep], good[keep])
    return ("survival", times[keep], dur[keep], ev[keep])


def family(kind: Kind, frame: pd.DataFrame, as_of: datetime, settings: Settings) -> list[Candidate]:
    """Every subject of `kind` in the case frame, window scan; numpy arrays sliced per subject."""
    if frame.empty:
        return []
    windows = windows_for(as_of, settings, cohort=kind.unit == "days")
    first = np.datetime64(min(w.baseline_from for w in windows), "us")
    t_all = frame[kind.time].to_numpy(dtype="datetime64[us]")
    frame = frame[t_all > first]
    if frame.empty:
        return []
    t = frame[kind.time].to_numpy(dtype="datetime64[us]")
    share = kind.unit == "share"
    good = frame["_good"].to_numpy(dtype=bool) if share else None
    dur = None if share else frame["_duration"].to_numpy(dtype=float)
    ev = None if share else frame["_observed"].to_numpy(dtype=bool)
    codes = _codes(frame, kind.strata)
    flags = [w.flags_array(t) for w in windows]
    groups = frame.groupby(list(kind.columns), sort=True, dropna=True).indices
    out = []
    for keys, idx in groups.items():
        keys = keys if isinstance(keys, tuple) else (keys,)
        subject = {n: str(k) for n, k in zip(kind.names, keys)}
        c_idx = codes[idx]
        g, d, e = (good[idx] if share else None), (None if share else dur[idx]), (None if share else ev[idx])
        tests = [_compare(kind, g, d, e, c_idx, r[idx], b[idx], settings) for r, b in flags]
        j, pv = scan_p([c.p if c else np.nan for c in tests])
        if j < 0:
            continue
        c = tests[j]
        extra = {} if share else _medians(d, e, flags[j][0][idx], flags[j][1][idx])
        out.append(Candidate(
            kind=kind.name, subject=subject, p=pv, effect=c.effect,
            evidence={**_scan_evidence(windows, j, c.p, sum(x is not None for x in tests)), **c.evidence, **extra,
                      "test": c.evidence["test"] + "_window_scan_bonferroni"},
            series=_series(t[idx], g, d, e, windows[j].baseline_from)))
    return out


def inflow_comparison(deals: pd.DataFrame, channel: str, w: Windows, s: Settings) -> Comparison | None:
    """A channel's share of the new deals created in w's recent window against its share in w's baseline
    (Fisher mid-p, one-sided); None with too few baseline deals of the channel or no recent deal at all."""
    recent, base = w.flags(deals["created_at"])
    K1, K0 = int(recent.sum()), int(base.sum())
    is_c = (deals["channel"] == channel).to_numpy()
    k1, k0 = int((recent & is_c).sum()), int((base & is_c).sum())
    if k0 < s.min_baseline_deals or K1 == 0:
        return None
    p = float(rate_drop_p([k1], [K1], [k0], [K0])[0])
    share1, share0 = k1 / K1, k0 / K0
    weeks_r, weeks_b = (w.end - w.recent_from) / timedelta(weeks=1), (w.base_to - w.baseline_from) / timedelta(weeks=1)
    return Comparison(p, 1.0 - share1 / share0, {
        **w.evidence(), "metric": "new_deals_per_week", "unit": "per_week", "recent_value": k1 / weeks_r,
        "baseline_value": k0 / weeks_b, "recent_n": k1, "baseline_n": k0, "recent_share": share1,
        "baseline_share": share0, "recent_all": K1, "baseline_all": K0, "test": "fisher_mid_p_one_sided"})


def channel_inflow(facts: Facts, s: Settings) -> list[Candidate]:
    """A channel's share of new deals: one window, the baseline right before it (a share of the whole
    inflow needs no cohort; seasons and the growth of the whole inflow cancel out)."""
    d = facts.deals
    out: list[Candidate] = []
    if d.empty:
        return out
    iw = Windows(recent_from=facts.as_of - s.inflow_recent, baseline_from=facts.as_of - s.inflow_recent - s.baseline,
                 end=facts.as_of)
    recent, base = iw.flags(d["created_at"])
    inflow = d[recent | base]
    for channel in sorted(inflow["channel"].dropna().unique()):
        c = inflow_comparison(d, channel, iw, s)
        if c is None:
            continue
        out.append(Candidate(
            kind="channel_inflow", subject={"channel": str(channel)}, p=c.p, effect=c.effect, evidence=c.evidence,
            series=("binary", inflow["created_at"].to_numpy(dtype="datetime64[us]"),
                    (inflow["channel"] == channel).to_numpy(dtype=bool)),
        ))
    return out


def test_all(facts: Facts, settings: Settings | None = None, cache: CaseCache | None = None) -> list[Candidate]:
    """Every subject tested at `facts.as_of`, with weighted-BH q-values set."""
    s = settings or Settings()
    cache = cache or CaseCache(facts)
    cands = channel_inflow(facts, s)
    for kind in KIND_SPECS:
        cands += family(kind, cache[kind.cases], facts.as_of, s)
    cands = [c for c in cands if np.isfinite(c.p)]
    if not cands:
        return []
    per_kind: dict[str, int] = {}
    for c in cands:
        per_kind[c.kind] = per_kind.get(c.kind, 0) + 1
    m = len(cands)
    # a kind's share of the error budget grows with its number of tests to the power 1 - kind_share_power:
    # 1 = every kind the same share (a kind with 3 subjects gets 80× the weight per test of one with 240),
    # 0 = plain BH (every test the same weight)
    share = {k: n ** (1.0 - s.kind_share_power) for k, n in per_kind.items()}
    total = sum(share.values())
    weights = [m * share[c.kind] / (total * per_kind[c.kind]) for c in cands]
    q = weighted_bh([c.p for c in cands], weights)
    for c, qv, wt in zip(cands, q, weights):
        c.q = float(qv)
        c.evidence.update(p_value=c.p, q_value=c.q, weight=wt, effect=c.effect,
                          min_effect=s.min_effect(c.kind), tested=m)
    return cands


def firing(cands: list[Candidate], settings: Settings | None = None) -> list[Candidate]:
    s = settings or Settings()
    return [c for c in cands if c.q <= s.fdr and c.effect >= s.min_effect(c.kind)]


def severity(c: Candidate, settings: Settings | None = None) -> str:
    """high: very unlikely by chance (q ≤ 0.001) and at least twice the minimum effect; medium: q ≤ 0.01
    and 1.5× the minimum; low: the rest."""
    s = settings or Settings()
    strength = c.effect / s.min_effect(c.kind)
    if c.q <= 0.001 and strength >= 2:
        return "high"
    if c.q <= 0.01 and strength >= 1.5:
        return "medium"
    return "low"


__all__ = ["Settings", "Candidate", "Comparison", "Kind", "KIND_SPECS", "SPECS", "Windows", "windows_for", "compare",
           "family", "medians", "inflow_comparison", "test_all", "firing", "severity", "KINDS"]
