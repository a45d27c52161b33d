"""Survival statistics for right-censored durations: Kaplan–Meier quantiles and Aalen–Johansen
cumulative incidence of competing outcomes.

An open deal has not finished its stage yet: its duration is only known to exceed the time it has
spent so far (right-censored at as_of). Dropping open deals ("closed deals only") keeps the fast
ones and biases dwell down; counting them as failures biases conversion down. These estimators use
every deal for as long as it was observed.

- Kaplan–Meier comes from lifelines (`KaplanMeierFitter`).
- Aalen–Johansen is computed here exactly, ties included: lifelines' `AalenJohansenFitter` breaks
  tied times by random jitter, which makes a result depend on a seed and on row order, and day-level
  CRM timestamps tie often. `tests/unit/test_funnel_survival.py` checks this one against lifelines
  on tie-free data.

At a tied time, events are counted before censorings (the usual convention, as in lifelines).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KMSummary:
    """Quantiles of a Kaplan–Meier curve. A quantile the curve never reaches is None."""

    n: int
    events: int
    median: float | None
    p80: float | None
    p75: float | None


def km_summary(durations: np.ndarray, observed: np.ndarray) -> KMSummary:
    """Median, 75th and 80th percentile of a duration under right-censoring (Kaplan–Meier).

    The q-th percentile is the first time where the survival curve drops to 1 - q or below. The
    curve comes from lifelines; the quantile is read here with a 1e-9 tolerance, because lifelines
    computes the curve in log space and an exact 0.5 can come out as 0.5000000000000001, which
    makes its own `median_survival_time_` jump to the next time or to infinity."""
    d = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if d.size == 0 or not e.any():
        return KMSummary(int(d.size), int(e.sum()), None, None, None)
    from lifelines import KaplanMeierFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf = KaplanMeierFitter().fit(d, event_observed=e)
    curve = kmf.survival_function_.iloc[:, 0]
    times, surv = curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float)
    return KMSummary(n=int(d.size), events=int(e.sum()), median=km_quantile(times, surv, 0.5),
                     p80=km_quantile(times, surv, 0.8), p75=km_quantile(times, surv, 0.75))


def km_quantile(times: np.ndarray, surv: np.ndarray, q: float, tol: float = 1e-9) -> float | None:
    """The first time where the survival curve is at or below 1 - q; None if it never gets there."""
    hit = np.nonzero(surv <= (1.0 - q) + tol)[0]
    return float(times[hit[0]]) if hit.size else None


@dataclass(frozen=True)
class CompetingRisks:
    """Aalen–Johansen estimate at the last observed time: `cif[k]` is the probability that outcome
    k happens (eventually, within the follow-up); `remaining` is the estimated share for which no
    outcome has happened by then (still in progress beyond the longest observed exit)."""

    n: int
    cif: dict[int, float]
    remaining: float


def aalen_johansen(durations: np.ndarray, events: np.ndarray, kinds: tuple[int, ...] = (1, 2)) -> CompetingRisks:
    """Cumulative incidence of each outcome kind (events: 0 = censored, k = outcome k)."""
    d = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=int)
    n = int(d.size)
    if n == 0:
        return CompetingRisks(0, {k: math.nan for k in kinds}, math.nan)
    times, inv = np.unique(d, return_inverse=True)
    count = np.bincount(inv, minlength=times.size)
    at_risk = n - np.cumsum(count) + count  # subjects with duration >= t
    d_k = {k: np.bincount(inv[ev == k], minlength=times.size) for k in kinds}
    d_all = np.bincount(inv[ev != 0], minlength=times.size)
    surv_after = np.cumprod(1.0 - d_all / at_risk)
    surv_before = np.concatenate(([1.0], surv_after[:-1]))
    cif = {k: float(np.sum(surv_before * d_k[k] / at_risk)) for k in kinds}
    return CompetingRisks(n, cif, float(surv_after[-1]))


__all__ = ["KMSummary", "km_summary", "km_quantile", "CompetingRisks", "aalen_johansen"]
