"""Which subjects changed: every subject's recent past against its own baseline, then one
false-discovery control over everything tested at that moment.

Windows (half-open, ending at as_of T). A **window scan**: several recent windows (T − w, T] are tried
— shares over the last 6 or 12 weeks, durations over the cohorts of the last 3, 5, 8 or 12 weeks — each
against the 26 weeks right before it, except the longest, whose baseline ends a guard of 8 weeks
earlier: (T − 12w − 8w − 26w, T − 12w − 8w]. A fresh change is seen in a short window that holds
little else (not diluted by older cases); an ongoing one is still seen whole in the longest window, and
stays out of its baseline for 20 weeks (it is not absorbed within weeks). The window with the
smallest p is kept and its p multiplied by the number of windows tried (Bonferroni): the choice made
after seeing the data is paid for. Each kind of alarm asks one one-sided question — did it get *worse*?
(An improvement is not an alarm.)

| kind | subject | unit, window by | question | test | effect (minimum to alarm) |
|---|---|---|---|---|---|
| step_on_time | manager × step | step instance, its deadline | is the share done by the deadline lower? | Fisher mid-p | drop in points (15) |
| step_lateness | manager × step | instance not done on time, its deadline | once late, is the step done later? (open ones censored: "overdue by now") | exact log-rank mid-p | slowdown = 1 / hazard ratio (1.5×) |
| stage_conversion | segment × stage | deal leaving the stage, exit time | is the share moving forward (vs lost) lower? | Fisher mid-p | drop in points (10) |
| stage_dwell | segment × stage | deal entering the stage, entry time | do deals leave it more slowly? (deals still in it censored) | exact log-rank mid-p | slowdown (1.5×) |
| channel_inflow | channel | new deal, creation time | is the channel's share of new deals lower? (seasons and growth of the whole inflow cancel out; one 6-week window) | Fisher mid-p | relative drop (30%) |
| channel_quality | channel | deal leaving the first stage, exit time | is the share qualified (moving forward) lower? | Fisher mid-p | drop in points (10) |

The exact log-rank p (`stats.logrank_exact_p`) is what makes a slow stage visible early: a fresh
cohort of which nobody has left yet, where a few exits were expected, is judged by the chance of that
(the normal approximation would wait for twice as many expected exits).

A window is tried only with enough cases on both sides (`Settings.min_*`). The p-values of every
test at that moment get weighted Benjamini–Hochberg q-values, every kind the same share of the budget
(`stats.weighted_bh`); an alarm needs q ≤ `fdr` and an effect at least the minimum, so a large
subject does not alarm over a trivial drift. Everything is computed from `Facts` known at T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import numpy as np
import pandas as pd

from dealpulse.alerts.facts import Facts, days
from dealpulse.alerts.stats import LogRank, km_median, logrank, logrank_exact_p, rate_drop_p, scan_p, weighted_bh
from dealpulse.metrics.steps import LATE, MISSED, ON_TIME

KINDS = ("step_on_time", "step_lateness", "stage_conversion", "stage_dwell", "channel_inflow", "channel_quality")


@dataclass(frozen=True)
class Settings:
    """How alarms decide. The defaults were chosen by replaying the demo (docs/alerts.md,
    benchmarks/alerts_detection.py)."""

    # recent windows tried (the window scan): shares — cases in the last 6 or 12 weeks; durations —
    # deals (or late steps) that started in the last 3, 5, 8 or 12 weeks (a fresh cohort is not
    # diluted by older cases, an older change is still seen whole)
    share_windows: tuple[timedelta, ...] = (timedelta(weeks=6), timedelta(weeks=12))
    cohort_windows: tuple[timedelta, ...] = (timedelta(weeks=3), timedelta(weeks=5), timedelta(weeks=8),
                                             timedelta(weeks=12))
    # the baseline: the 26 weeks before each window; for the longest window, before a guard gap —
    # an ongoing change stays out of that baseline for 12 + 8 weeks
    baseline: timedelta = timedelta(weeks=26)
    guard: timedelta = timedelta(weeks=8)
    inflow_recent: timedelta = timedelta(weeks=6)  # a channel's share of new deals: one window
    exact_survival: bool = True  # the exact conditional log-rank p (False: the normal approximation)
    fdr: float = 0.05  # false discovery rate across everything tested at one moment
    min_on_time_drop: float = 0.15  # points of on-time share
    min_slowdown: float = 1.5  # times slower (1 / hazard ratio)
    min_conversion_drop: float = 0.10
    min_inflow_drop: float = 0.30  # relative drop of the channel's share of new deals
    min_quality_drop: float = 0.10
    min_recent_steps: int = 5  # in the window tried
    min_baseline_steps: int = 20
    min_recent_late: int = 4
    min_baseline_late: int = 15
    min_recent_exits: int = 15
    min_baseline_exits: int = 40
    min_recent_entries: int = 3  # in the window tried; the exact test needs no more to be valid
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
        return {"step_on_time": self.min_on_time_drop, "step_lateness": self.min_slowdown,
                "stage_conversion": self.min_conversion_drop, "stage_dwell": self.min_slowdown,
                "channel_inflow": self.min_inflow_drop, "channel_quality": self.min_quality_drop}[kind]


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
    """One recent window (T − w, T] and its baseline (baseline_from, baseline_to]: the B weeks right
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
        t = times.to_numpy(dtype="datetime64[us]")
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


def _since_chosen(w: Windows, kind: str, times: np.ndarray, *values: np.ndarray) -> tuple:
    """The change-point series: the cases from the chosen window's baseline start to T (gap included)."""
    keep = times > np.datetime64(w.baseline_from, "us")
    return (kind, times[keep], *(v[keep] for v in values))


def _scan_evidence(windows: list[Windows], chosen: int, p_window: float, tried: int) -> dict[str, Any]:
    w = windows[chosen]
    return {**w.evidence(), "window_days": (w.end - w.recent_from).days, "p_window": p_window, "windows_tried": tried,
            "windows_days": [(x.end - x.recent_from).days for x in windows]}


def _key_dicts(keys: tuple, names: tuple[str, ...]) -> dict[str, str]:
    return {n: str(k) for n, k in zip(names, keys)}


# -- shares (Fisher mid-p, window scan) ------------------------------------------------------------
def _share_family(kind: str, frame: pd.DataFrame, group: list[str], names: tuple[str, ...], time_col: str,
                  good_col: str, windows: list[Windows], min_recent: int, min_base: int, value_name: str) -> list[Candidate]:
    if frame.empty:
        return []
    W = len(windows)
    flags = [w.flags(frame[time_col]) for w in windows]
    f = frame.assign(_good=frame[good_col].astype(bool), **{f"_r{i}": r for i, (r, _) in enumerate(flags)},
                     **{f"_b{i}": b for i, (_, b) in enumerate(flags)})
    cols = [f"_r{i}" for i in range(W)] + [f"_b{i}" for i in range(W)]
    f = f[f[cols].any(axis=1) & f[group].notna().all(axis=1)]
    if f.empty:
        return []
    f = f.assign(**{f"{c}k": f[c] & f._good for c in cols})
    agg = f.groupby(group, sort=True)[cols + [f"{c}k" for c in cols]].sum()
    if agg.empty:
        return []
    n1 = agg[[f"_r{i}" for i in range(W)]].to_numpy()
    k1 = agg[[f"_r{i}k" for i in range(W)]].to_numpy()
    n0 = agg[[f"_b{i}" for i in range(W)]].to_numpy()
    k0 = agg[[f"_b{i}k" for i in range(W)]].to_numpy()
    p = rate_drop_p(k1.ravel(), n1.ravel(), k0.ravel(), n0.ravel()).reshape(n1.shape)
    p = np.where((n1 >= min_recent) & (n0 >= min_base), p, np.nan)
    out = []
    groups = {(k if isinstance(k, tuple) else (k,)): part for k, part in f.groupby(group, sort=True)}
    for row_i, keys in enumerate(agg.index):
        keys = keys if isinstance(keys, tuple) else (keys,)
        j, pv = scan_p(p[row_i])
        if j < 0:
            continue
        r_n, r_k, b_n, b_k = int(n1[row_i, j]), int(k1[row_i, j]), int(n0[row_i, j]), int(k0[row_i, j])
        r_rate, b_rate = r_k / r_n, b_k / b_n
        part = groups[keys]
        out.append(Candidate(
            kind=kind, subject=_key_dicts(keys, names), p=pv, effect=float(b_rate - r_rate),
            evidence={**_scan_evidence(windows, j, float(p[row_i, j]), int(np.isfinite(p[row_i]).sum())),
                      "metric": value_name, "unit": "share", "recent_value": float(r_rate), "baseline_value": float(b_rate),
                      "recent_n": r_n, "baseline_n": b_n, "recent_k": r_k, "baseline_k": b_k,
                      "test": "fisher_mid_p_one_sided_window_scan_bonferroni"},
            series=_since_chosen(windows[j], "binary", part[time_col].to_numpy(dtype="datetime64[us]"),
                                 part["_good"].to_numpy(dtype=bool)),
        ))
    return out


# -- durations (log-rank, window scan) -------------------------------------------------------------
def _survival_family(kind: str, frame: pd.DataFrame, group: list[str], names: tuple[str, ...], time_col: str,
                     windows: list[Windows], min_recent: int, min_base: int, value_name: str,
                     min_base_events: int = 10, exact: bool = True) -> list[Candidate]:
    if frame.empty:
        return []
    W = len(windows)
    flags = [w.flags(frame[time_col]) for w in windows]
    f = frame.assign(**{f"_r{i}": r for i, (r, _) in enumerate(flags)}, **{f"_b{i}": b for i, (_, b) in enumerate(flags)})
    cols = [f"_r{i}" for i in range(W)] + [f"_b{i}" for i in range(W)]
    f = f[f[cols].any(axis=1) & f[group].notna().all(axis=1)]
    out = []
    for keys, part in f.groupby(group, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        ev = part["_observed"].to_numpy(dtype=bool)
        dur = part["_duration"].to_numpy(dtype=float)
        tests: list[tuple[LogRank, float, np.ndarray, np.ndarray] | None] = []
        for i in range(W):
            r, b = part[f"_r{i}"].to_numpy(), part[f"_b{i}"].to_numpy()
            if int(r.sum()) < min_recent or int(b.sum()) < min_base or int(ev[b].sum()) < min_base_events:
                tests.append(None)
                continue
            sel = r | b
            lr = logrank(dur[sel], ev[sel], r[sel])
            pw = lr.p_slower
            if exact and np.isfinite(pw) and pw < 0.5:
                pw = logrank_exact_p(dur[sel], ev[sel], r[sel])
            tests.append((lr, pw, r, b) if np.isfinite(pw) else None)
        j, pv = scan_p([x[1] if x else np.nan for x in tests])
        if j < 0:
            continue
        lr, pw, r, b = tests[j]
        n1, n0 = int(r.sum()), int(b.sum())
        slowdown = (1.0 / lr.hazard_ratio) if lr.hazard_ratio else float("inf")
        out.append(Candidate(
            kind=kind, subject=_key_dicts(keys, names), p=pv, effect=float(slowdown),
            evidence={**_scan_evidence(windows, j, float(pw), sum(x is not None for x in tests)),
                      "metric": value_name, "unit": "days",
                      "recent_value": km_median(dur[r], ev[r]), "baseline_value": km_median(dur[b], ev[b]),
                      "recent_n": n1, "baseline_n": n0, "recent_events": int(ev[r].sum()),
                      "baseline_events": int(ev[b].sum()), "recent_expected_events": round(lr.expected, 2),
                      "hazard_ratio": lr.hazard_ratio,
                      "test": "log_rank_exact_mid_p_one_sided_window_scan_bonferroni" if exact
                      else "log_rank_one_sided_window_scan_bonferroni"},
            series=_since_chosen(windows[j], "survival", part[time_col].to_numpy(dtype="datetime64[us]"), dur, ev),
        ))
    return out


# -- the kinds ---------------------------------------------------------------------------------------
def step_candidates(facts: Facts, s: Settings) -> list[Candidate]:
    w, wc = windows_for(facts.as_of, s), windows_for(facts.as_of, s, cohort=True)
    inst = facts.instances
    if inst.empty:
        return []
    judged = inst[inst["status"].isin([ON_TIME, LATE, MISSED])].assign(on_time=lambda d: d["status"] == ON_TIME)
    out = _share_family("step_on_time", judged, ["owner", "step"], ("manager", "step"), "deadline", "on_time", w,
                        s.min_recent_steps, s.min_baseline_steps, "on_time_share")
    late = judged[~judged["on_time"]].copy()
    if not late.empty:
        T = pd.Timestamp(facts.as_of)
        # not done: censored at the close (if the deal closed after its deadline) or now
        stop = late["closed_at"].where(late["closed_at"].notna() & (late["closed_at"] <= T), T)
        end = late["completed_at"].fillna(stop)
        late["_duration"] = days(end - late["deadline"]).clip(lower=0.0)
        late["_observed"] = late["completed_at"].notna()
        out += _survival_family("step_lateness", late, ["owner", "step"], ("manager", "step"), "deadline", wc,
                                s.min_recent_late, s.min_baseline_late, "days_late_median", exact=s.exact_survival)
    return out


def stage_candidates(facts: Facts, s: Settings) -> list[Candidate]:
    w, wc = windows_for(facts.as_of, s), windows_for(facts.as_of, s, cohort=True)
    sp = facts.spells
    if sp.empty:
        return []
    sp = sp[sp["stage"].isin(facts.playbook.stages or facts.stages)]
    exits = sp[sp["exit_stage"].notna()].assign(advanced=lambda d: d["exit_stage"] != "lost")
    out = _share_family("stage_conversion", exits, ["segment", "stage"], ("segment", "stage"), "exit_at", "advanced",
                        w, s.min_recent_exits, s.min_baseline_exits, "conversion_to_next")
    T = pd.Timestamp(facts.as_of)
    dw = sp.copy()
    dw["_duration"] = days(dw["exit_at"].fillna(T) - dw["entered_at"]).clip(lower=0.0)
    dw["_observed"] = dw["exit_at"].notna()
    out += _survival_family("stage_dwell", dw, ["segment", "stage"], ("segment", "stage"), "entered_at", wc,
                            s.min_recent_entries, s.min_baseline_entries, "dwell_median_days", min_base_events=20,
                            exact=s.exact_survival)
    return out


def channel_candidates(facts: Facts, s: Settings) -> list[Candidate]:
    w = windows_for(facts.as_of, s)
    d = facts.deals
    out: list[Candidate] = []
    if not d.empty:
        # one window, the baseline right before it: a share of the whole inflow needs no cohort
        iw = Windows(recent_from=facts.as_of - s.inflow_recent, baseline_from=facts.as_of - s.inflow_recent - s.baseline,
                     end=facts.as_of)
        recent, base = iw.flags(d["created_at"])
        K1, K0 = int(recent.sum()), int(base.sum())
        weeks_r, weeks_b = s.inflow_recent / timedelta(weeks=1), s.baseline / timedelta(weeks=1)
        inflow = d[recent | base]
        for channel in sorted(inflow["channel"].dropna().unique()):
            is_c = (d["channel"] == channel).to_numpy()
            k1, k0 = int((recent & is_c).sum()), int((base & is_c).sum())
            if k0 < s.min_baseline_deals or K1 == 0:
                continue
            p = float(rate_drop_p([k1], [K1], [k0], [K0])[0])
            share1, share0 = k1 / K1, k0 / K0
            out.append(Candidate(
                kind="channel_inflow", subject={"channel": str(channel)}, p=p, effect=1.0 - share1 / share0,
                evidence={**iw.evidence(), "metric": "new_deals_per_week", "unit": "per_week", "recent_value": k1 / weeks_r,
                          "baseline_value": k0 / weeks_b, "recent_n": k1, "baseline_n": k0,
                          "recent_share": share1, "baseline_share": share0, "recent_all": K1, "baseline_all": K0,
                          "test": "fisher_mid_p_one_sided"},
                series=("binary", inflow["created_at"].to_numpy(dtype="datetime64[us]"),
                        (inflow["channel"] == channel).to_numpy(dtype=bool)),
            ))
    sp = facts.spells
    first = (facts.playbook.stages or facts.stages or (None,))[0]
    if not sp.empty and first is not None:
        exits = sp[(sp["stage"] == first) & sp["exit_stage"].notna()].assign(advanced=lambda x: x["exit_stage"] != "lost")
        out += _share_family("channel_quality", exits, ["channel"], ("channel",), "exit_at", "advanced", w,
                             s.min_recent_exits, s.min_baseline_exits, "qualified_share")
    return out


FAMILIES: tuple[Callable[[Facts, Settings], list[Candidate]], ...] = (
    step_candidates, stage_candidates, channel_candidates)


def test_all(facts: Facts, settings: Settings | None = None) -> list[Candidate]:
    """Every subject tested at `facts.as_of`, with weighted-BH q-values set."""
    s = settings or Settings()
    cands = [c for fam in FAMILIES for c in fam(facts, s)]
    cands = [c for c in cands if np.isfinite(c.p)]
    if not cands:
        return []
    per_kind: dict[str, int] = {}
    for c in cands:
        per_kind[c.kind] = per_kind.get(c.kind, 0) + 1
    m, F = len(cands), len(per_kind)
    weights = [m / (F * per_kind[c.kind]) for c in cands]
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


__all__ = ["Settings", "Candidate", "Windows", "windows_for", "test_all", "firing", "severity", "KINDS"]
