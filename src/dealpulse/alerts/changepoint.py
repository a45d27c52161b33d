"""When did it start? One change point in the subject's baseline + recent span.

- shares (a step on time, a deal moving forward, a new deal from the channel): the split of the
  cases, in time order, that maximises the likelihood of "one rate before, a lower one after"
  (two Bernoulli segments; the classic single change-point likelihood ratio);
- durations (dwell, days late): the split of the cases by entry (or deadline) that makes the
  later cases look slowest by the log-rank statistic.

The estimate is the time of the first case after the split, as a date. Each side keeps at least a
few cases (`MIN_SIDE`), so the change is never put on the very last case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import numpy as np
import pandas as pd

from dealpulse.alerts.stats import binomial_loglik, logrank

MIN_SIDE = 3
MAX_SURVIVAL_SPLITS = 60


def binary_change(times: np.ndarray, good: np.ndarray, min_side: int = MIN_SIDE) -> datetime | None:
    """The start of the lower-rate segment that best explains `good` over `times`."""
    order = np.argsort(times, kind="stable")
    t, g = times[order], good[order].astype(float)
    n = len(t)
    if n < 2 * min_side:
        return None
    k_cum = np.cumsum(g)
    idx = np.arange(min_side, n - min_side + 1)  # split before position idx
    k_before, n_before = k_cum[idx - 1], idx.astype(float)
    k_after, n_after = k_cum[-1] - k_before, n - n_before
    ll = binomial_loglik(k_before, n_before) + binomial_loglik(k_after, n_after)
    worse = k_after / n_after < k_before / n_before
    # only splits between cases at different moments
    distinct = t[idx] != t[idx - 1]
    ll = np.where(worse & distinct, ll, -np.inf)
    if not np.isfinite(ll).any():
        return None
    best = idx[int(np.argmax(ll))]
    return pd.Timestamp(t[best]).to_pydatetime()


def survival_change(times: np.ndarray, durations: np.ndarray, observed: np.ndarray,
                    min_side: int = MIN_SIDE) -> datetime | None:
    """The entry time after which the cases leave most slowly (most negative log-rank z)."""
    order = np.argsort(times, kind="stable")
    t, d, e = times[order], durations[order], observed[order]
    n = len(t)
    if n < 2 * min_side:
        return None
    idx = np.arange(min_side, n - min_side + 1)
    idx = idx[t[idx] != t[idx - 1]]
    if idx.size > MAX_SURVIVAL_SPLITS:
        idx = np.unique(idx[np.linspace(0, idx.size - 1, MAX_SURVIVAL_SPLITS).round().astype(int)])
    best, best_z = None, 0.0
    for i in idx:
        later = np.arange(n) >= i
        z = logrank(d, e, later).z
        if np.isfinite(z) and z < best_z:
            best, best_z = i, z
    return None if best is None else pd.Timestamp(t[best]).to_pydatetime()


def estimate(series: Sequence) -> datetime | None:
    """The change date from a `Candidate.series`."""
    if not series:
        return None
    if series[0] == "binary":
        return binary_change(series[1], series[2])
    return survival_change(series[1], series[2], series[3])


__all__ = ["binary_change", "survival_change", "estimate"]
