"""Which subjects changed: every subject's recent window against its own baseline, then one
false-discovery control over everything tested at that moment.

Windows (half-open, ending at as_of T): recent = (T − recent, T], baseline = (T − recent − baseline,
T − recent]. Each kind of alarm compares the same subject in the two windows and asks one
one-sided question — did it get *worse*? (An improvement is not an alarm.)

| kind | subject | unit, window by | question | test | effect (minimum to alarm) |
|---|---|---|---|---|---|
| step_on_time | manager × step | step instance, its deadline | is the share done by the deadline lower? | Fisher mid-p | drop in points (15) |
| step_lateness | manager × step | instance not done on time, its deadline | once late, is the step done later? (open ones censored: "overdue by now") | log-rank | slowdown = 1 / hazard ratio (1.5×) |
| stage_conversion | segment × stage | deal leaving the stage, exit time | is the share moving forward (vs lost) lower? | Fisher mid-p | drop in points (10) |
| stage_dwell | segment × stage | deal entering the stage, entry time | do deals leave it more slowly? (deals still in it censored) | log-rank | slowdown (1.5×) |
| channel_inflow | channel | new deal, creation time | is the channel's share of new deals lower? (seasons and growth of the whole inflow cancel out) | Fisher mid-p | relative drop (30%) |
| channel_quality | channel | deal leaving the first stage, exit time | is the share qualified (moving forward) lower? | Fisher mid-p | drop in points (10) |

A subject is tested only with enough cases on both sides (`Settings.min_*`). The p-values of every
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
from dealpulse.alerts.stats import LogRank, logrank, rate_drop_p, weighted_bh
from dealpulse.metrics.steps import LATE, MISSED, ON_TIME

KINDS = ("step_on_time", "step_lateness", "stage_conversion", "stage_dwell", "channel_inflow", "channel_quality")


@dataclass(frozen=True)
class Settings:
    """How alarms decide. The defaults were chosen by replaying the demo (docs/alerts.md)."""

    recent: timedelta = timedelta(weeks=6)  # shares and counts: cases in the last six weeks
    # durations: deals (or late steps) that started in the last twelve weeks — a duration tells
    # something only once the case has been followed for a while, so the cohort must be longer
    recent_cohort: timedelta = timedelta(weeks=12)
    baseline: timedelta = timedelta(weeks=26)
    fdr: float = 0.05  # false discovery rate across everything tested at one moment
    min_on_time_drop: float = 0.15  # points of on-time share
    min_slowdown: float = 1.5  # times slower (1 / hazard ratio)
    min_conversion_drop: float = 0.10
    min_inflow_drop: float = 0.30  # relative drop of the channel's share of new deals
    min_quality_drop: float = 0.10
    min_recent_steps: int = 5
    min_baseline_steps: int = 20
    min_recent_late: int = 4
    min_baseline_late: int = 15
    min_recent_exits: int = 15
    min_baseline_exits: int = 40
    min_recent_entries: int = 8
    min_baseline_entries: int = 30
    min_baseline_deals: int = 40

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
    recent_from: datetime
    baseline_from: datetime
    end: datetime

    def flags(self, times: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(in recent, in baseline) for a series of times (NaT in neither)."""
        t = times.to_numpy(dtype="datetime64[us]")
        rf, bf, end = (np.datetime64(x, "us") for x in (self.recent_from, self.baseline_from, self.end))
        recent = (t > rf) & (t <= end)
        base = (t > bf) & (t <= rf)
        return recent, base

    def evidence(self) -> dict[str, Any]:
        return {"recent_from": self.recent_from, "recent_to": self.end,
                "baseline_from": self.baseline_from, "baseline_to": self.recent_from}


def windows_for(as_of: datetime, settings: Settings, cohort: bool = False) -> Windows:
    """The windows of share kinds, or (`cohort`) of duration kinds."""
    rf = as_of - (settings.recent_cohort if cohort else settings.recent)
    return Windows(recent_from=rf, baseline_from=rf - settings.baseline, end=as_of)


def _key_dicts(keys: tuple, names: tuple[str, ...]) -> dict[str, str]:
    return {n: str(k) for n, k in zip(names, keys)}


# -- shares (Fisher mid-p) ---------------------------------------------------------------------------
def _share_family(kind: str, frame: pd.DataFrame, group: list[str], names: tuple[str, ...], time_col: str,
                  good_col: str, w: Windows, min_recent: int, min_base: int, value_name: str) -> list[Candidate]:
    if frame.empty:
        return []
    recent, base = w.flags(frame[time_col])
    f = frame.assign(_r=recent, _b=base, _good=frame[good_col].astype(bool))
    f = f[(f._r | f._b) & f[group].notna().all(axis=1)]
    if f.empty:
        return []
    f = f.assign(_rk=f._r & f._good, _bk=f._b & f._good)
    agg = f.groupby(group, sort=True)[["_r", "_b", "_rk", "_bk"]].sum()
    agg = agg[(agg._r >= min_recent) & (agg._b >= min_base)]
    if agg.empty:
        return []
    p = rate_drop_p(agg._rk, agg._r, agg._bk, agg._b)
    out = []
    groups = {(k if isinstance(k, tuple) else (k,)): part for k, part in f.groupby(group, sort=True)}
    for (keys, row), pv in zip(agg.iterrows(), p):
        keys = keys if isinstance(keys, tuple) else (keys,)
        r_rate, b_rate = row._rk / row._r, row._bk / row._b
        part = groups[keys]
        out.append(Candidate(
            kind=kind, subject=_key_dicts(keys, names), p=float(pv), effect=float(b_rate - r_rate),
            evidence={**w.evidence(), "metric": value_name, "unit": "share", "recent_value": float(r_rate), "baseline_value": float(b_rate),
                      "recent_n": int(row._r), "baseline_n": int(row._b), "recent_k": int(row._rk), "baseline_k": int(row._bk),
                      "test": "fisher_mid_p_one_sided"},
            series=("binary", part[time_col].to_numpy(dtype="datetime64[us]"), part["_good"].to_numpy(dtype=bool)),
        ))
    return out


# -- durations (log-rank) ----------------------------------------------------------------------------
def _survival_family(kind: str, frame: pd.DataFrame, group: list[str], names: tuple[str, ...], time_col: str,
                     w: Windows, min_recent: int, min_base: int, value_name: str,
                     min_base_events: int = 10) -> list[Candidate]:
    if frame.empty:
        return []
    recent, base = w.flags(frame[time_col])
    f = frame.assign(_r=recent, _b=base)
    f = f[(f._r | f._b) & f[group].notna().all(axis=1)]
    out = []
    for keys, part in f.groupby(group, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        r = part._r.to_numpy()
        n1, n0 = int(r.sum()), int((~r).sum())
        ev = part["_observed"].to_numpy(dtype=bool)
        if n1 < min_recent or n0 < min_base or int(ev[~r].sum()) < min_base_events:
            continue
        dur = part["_duration"].to_numpy(dtype=float)
        lr: LogRank = logrank(dur, ev, r)
        if not np.isfinite(lr.p_slower):
            continue
        slowdown = (1.0 / lr.hazard_ratio) if lr.hazard_ratio else float("inf")
        from dealpulse.alerts.stats import km_median
        out.append(Candidate(
            kind=kind, subject=_key_dicts(keys, names), p=lr.p_slower, effect=float(slowdown),
            evidence={**w.evidence(), "metric": value_name, "unit": "days",
                      "recent_value": km_median(dur[r], ev[r]), "baseline_value": km_median(dur[~r], ev[~r]),
                      "recent_n": n1, "baseline_n": n0, "recent_events": int(ev[r].sum()),
                      "baseline_events": int(ev[~r].sum()), "recent_expected_events": round(lr.expected, 2),
                      "hazard_ratio": lr.hazard_ratio, "test": "log_rank_one_sided"},
            series=("survival", part[time_col].to_numpy(dtype="datetime64[us]"), dur, ev),
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
                                s.min_recent_late, s.min_baseline_late, "days_late_median")
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
                            s.min_recent_entries, s.min_baseline_entries, "dwell_median_days", min_base_events=20)
    return out


def channel_candidates(facts: Facts, s: Settings) -> list[Candidate]:
    w = windows_for(facts.as_of, s)
    d = facts.deals
    out: list[Candidate] = []
    if not d.empty:
        recent, base = w.flags(d["created_at"])
        K1, K0 = int(recent.sum()), int(base.sum())
        weeks_r, weeks_b = s.recent / timedelta(weeks=1), s.baseline / timedelta(weeks=1)
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
                evidence={**w.evidence(), "metric": "new_deals_per_week", "unit": "per_week", "recent_value": k1 / weeks_r,
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
