"""Two-sided tests of `dealpulse dynamics`: a change in either direction is a finding.

- `fisher_two_sided_p`: two shares k1/n1 (recent) and k0/n0 (baseline). Given both margins,
  k1 ~ Hypergeometric; the mid-p of each tail is P(X < k1) + P(X = k1)/2 (lower) and its complement
  (upper); the two-sided p is twice the smaller tail, at most 1.
- `rate_two_sided_p`: two Poisson counts with exposures t1 and t0 (weeks). Given the total
  n = k1 + k0, k1 ~ Binomial(n, t1 / (t1 + t0)) under "the same rate"; two-sided mid-p as above.
  (The conditional test: the unknown common rate drops out, seasons within a side do not matter.)
- `marked_rate_two_sided_p`: the same question for the amount that comes in per week. Given the
  deals (their times' split aside) each falls in the recent side with probability π = t1/(t1+t0),
  so the recent amount S1 = Σ aᵢBᵢ has mean πS and variance π(1−π)Σaᵢ²; two-sided normal p of
  z = (S1 − πS) / sqrt(π(1−π)Σaᵢ²). (The marked version of the conditional binomial test.)
- `mann_whitney_two_sided_p`: two samples of amounts (scipy's Mann–Whitney U, two-sided).
- `logrank_two_sided`: the log-rank test of `alerts.stats.logrank`, two-sided: the exact
  conditional distribution (`alerts.stats.logrank_exact_p`, mid-p) when few recent events are
  involved, the normal approximation otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

from dealpulse.alerts.stats import LogRank, logrank, logrank_exact_p

EXACT_LOGRANK_MAX_EVENTS = 60  # recent events up to which the exact log-rank p is computed


def _two_sided(lower_mid: float) -> float:
    if not math.isfinite(lower_mid):
        return math.nan
    return float(min(1.0, 2.0 * min(lower_mid, 1.0 - lower_mid)))


def fisher_two_sided_p(k1: int, n1: int, k0: int, n0: int) -> float:
    """Two-sided mid-p of Fisher's exact test of k1/n1 against k0/n0 (NaN if a side is empty)."""
    if n1 <= 0 or n0 <= 0:
        return math.nan
    M, K = n1 + n0, k1 + k0
    lower = _st.hypergeom.cdf(k1 - 1, M, K, n1) + 0.5 * _st.hypergeom.pmf(k1, M, K, n1)
    return _two_sided(float(np.clip(lower, 0.0, 1.0)))


def rate_two_sided_p(k1: int, t1: float, k0: int, t0: float) -> float:
    """Two-sided mid-p that two Poisson counts (exposures t1, t0) have the same rate (conditional binomial)."""
    n = k1 + k0
    if n <= 0 or t1 <= 0 or t0 <= 0:
        return math.nan
    pi = t1 / (t1 + t0)
    lower = _st.binom.cdf(k1 - 1, n, pi) + 0.5 * _st.binom.pmf(k1, n, pi)
    return _two_sided(float(np.clip(lower, 0.0, 1.0)))


def marked_rate_two_sided_p(recent: np.ndarray, baseline: np.ndarray, t1: float, t0: float) -> float:
    """Two-sided p that the amount per unit of time is the same on both sides (see the module docstring)."""
    a1 = np.asarray(recent, dtype=float)
    a0 = np.asarray(baseline, dtype=float)
    if t1 <= 0 or t0 <= 0 or a1.size + a0.size == 0:
        return math.nan
    pi = t1 / (t1 + t0)
    S = float(a1.sum() + a0.sum())
    Q = float((a1 ** 2).sum() + (a0 ** 2).sum())
    if Q <= 0:
        return math.nan
    z = (float(a1.sum()) - pi * S) / math.sqrt(pi * (1 - pi) * Q)
    return float(min(1.0, 2.0 * _st.norm.sf(abs(z))))


def mann_whitney_two_sided_p(recent: np.ndarray, baseline: np.ndarray) -> float:
    x = np.asarray(recent, dtype=float)
    y = np.asarray(baseline, dtype=float)
    if x.size == 0 or y.size == 0:
        return math.nan
    if np.all(x == x[0]) and np.all(y == x[0]):
        return 1.0
    return float(_st.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def logrank_two_sided(durations: np.ndarray, observed: np.ndarray, recent: np.ndarray) -> tuple[LogRank, float]:
    """(the log-rank statistics, the two-sided p): z < 0 means the recent group has the event later."""
    lr = logrank(durations, observed, recent)
    if not math.isfinite(lr.z):
        return lr, math.nan
    e = np.asarray(observed, dtype=bool)
    g = np.asarray(recent, dtype=bool)
    if int((e & g).sum()) <= EXACT_LOGRANK_MAX_EVENTS:
        lower = logrank_exact_p(durations, observed, recent, mid=True)
        if math.isfinite(lower):
            return lr, _two_sided(lower)
    return lr, float(min(1.0, 2.0 * _st.norm.sf(abs(lr.z))))


__all__ = ["fisher_two_sided_p", "rate_two_sided_p", "marked_rate_two_sided_p", "mann_whitney_two_sided_p",
           "logrank_two_sided"]
