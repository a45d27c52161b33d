"""When did it change? One change point, in the direction the test found, for each kind of series.

- `rate_change`: events (new deals of a subject) at times in (start, end]; the split time τ that
  maximises the likelihood of two Poisson rates, (start, τ) and [τ, end], with the later rate higher
  (or lower, `up=False`). With `weights` (amounts) the same contrast on the amount per unit of time.
- `binary_change`: outcomes (a new deal is the subject's, qualified, won) in time order; the split that
  maximises the likelihood of two Bernoulli rates with the later one higher (or lower) — the two-sided
  form of `alerts.changepoint.binary_change`.
- `survival_change`: cohorts in time order with censored durations; the split after which the cases
  have the event most slowly (or quickly) by the log-rank statistic.

Each side keeps at least `MIN_SIDE` cases; the estimate is the time of the first case after the split.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from dealpulse.alerts.stats import binomial_loglik, logrank

MIN_SIDE = 3
MAX_SURVIVAL_SPLITS = 40


def _when(t: np.ndarray, i: int) -> datetime:
    return pd.Timestamp(t[i]).to_pydatetime()


def rate_change(times: np.ndarray, start: np.datetime64, end: np.datetime64, up: bool,
                weights: np.ndarray | None = None, min_side: int = MIN_SIDE) -> datetime | None:
    """The start of the higher (`up`) or lower rate segment of events at `times` within (start, end]."""
    raw = np.asarray(times, dtype="datetime64[us]")
    order = np.argsort(raw, kind="stable")
    t = raw[order]
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=float)[order]
    n = len(t)
    if n < 2 * min_side:
        return None
    span = (np.datetime64(end, "us") - np.datetime64(start, "us")) / np.timedelta64(1, "s")
    if span <= 0:
        return None
    pos = (t - np.datetime64(start, "us")) / np.timedelta64(1, "s")
    idx = np.arange(min_side, n - min_side + 1)
    idx = idx[(t[idx] != t[idx - 1])]
    if idx.size == 0:
        return None
    cw = np.cumsum(w)
    s1 = cw[idx - 1]
    s2 = cw[-1] - s1
    len1 = np.maximum(pos[idx], 1.0)
    len2 = np.maximum(span - pos[idx], 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(s1 > 0, s1 * np.log(s1 / len1), 0.0) + np.where(s2 > 0, s2 * np.log(s2 / len2), 0.0)
    later_higher = s2 / len2 > s1 / len1
    ll = np.where(later_higher == up, ll, -np.inf)
    if not np.isfinite(ll).any():
        return None
    return _when(t, int(idx[int(np.argmax(ll))]))


def binary_change(times: np.ndarray, good: np.ndarray, up: bool, min_side: int = MIN_SIDE) -> datetime | None:
    """The start of the higher (`up`) or lower rate segment that best explains `good` over `times`."""
    order = np.argsort(np.asarray(times, dtype="datetime64[us]"), kind="stable")
    t, g = np.asarray(times, dtype="datetime64[us]")[order], np.asarray(good, dtype=float)[order]
    n = len(t)
    if n < 2 * min_side:
        return None
    k_cum = np.cumsum(g)
    idx = np.arange(min_side, n - min_side + 1)
    k_before, n_before = k_cum[idx - 1], idx.astype(float)
    k_after, n_after = k_cum[-1] - k_before, n - n_before
    ll = binomial_loglik(k_before, n_before) + binomial_loglik(k_after, n_after)
    higher = k_after / n_after > k_before / n_before
    ll = np.where((higher == up) & (k_after / n_after != k_before / n_before) & (t[idx] != t[idx - 1]), ll, -np.inf)
    if not np.isfinite(ll).any():
        return None
    return _when(t, int(idx[int(np.argmax(ll))]))


def survival_change(times: np.ndarray, durations: np.ndarray, observed: np.ndarray, later: bool,
                    min_side: int = MIN_SIDE) -> datetime | None:
    """The cohort time after which the event comes latest (`later`) or soonest, by the log-rank z."""
    order = np.argsort(np.asarray(times, dtype="datetime64[us]"), kind="stable")
    t = np.asarray(times, dtype="datetime64[us]")[order]
    d = np.asarray(durations, dtype=float)[order]
    e = np.asarray(observed, dtype=bool)[order]
    n = len(t)
    if n < 2 * min_side or not e.any():
        return None
    idx = np.arange(min_side, n - min_side + 1)
    idx = idx[t[idx] != t[idx - 1]]
    if idx.size > MAX_SURVIVAL_SPLITS:
        idx = np.unique(idx[np.linspace(0, idx.size - 1, MAX_SURVIVAL_SPLITS).round().astype(int)])
    sign = -1.0 if later else 1.0
    best, best_z = None, 0.0
    positions = np.arange(n)
    for i in idx:
        z = logrank(d, e, positions >= i).z
        if np.isfinite(z) and sign * z > best_z:
            best, best_z = int(i), sign * z
    return None if best is None else _when(t, best)


__all__ = ["rate_change", "binary_change", "survival_change"]
