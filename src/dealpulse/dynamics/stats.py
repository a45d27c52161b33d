"""Two-sided tests of `dealpulse dynamics`: a change in either direction is a finding.

- `fisher_two_sided_p`: two shares k1/n1 (recent) and k0/n0 (baseline). Given both margins,
  k1 ~ Hypergeometric; the mid-p of each tail is P(X < k1) + P(X = k1)/2 (lower) and its complement
  (upper); the two-sided p is twice the smaller tail, at most 1.
- `rate_two_sided_p`: two Poisson counts with exposures t1 and t0 (weeks). Given the total
  n = k1 + k0, k1 ~ Binomial(n, t1 / (t1 + t0)) under "the same rate"; two-sided mid-p as above.
  (The conditional test: the unknown common rate drops out, seasons within a side do not matter.)
- `marked_rate_two_sided_p`: the same question for the amount that comes in per week. Given the
  deals (their amounts, not which side they fell on), each falls in the recent side with probability
  π = t1/(t1+t0) under "the same process", so the recent amount is S1 = Σ aᵢBᵢ with Bᵢ ~ Bernoulli(π)
  (the marked version of the conditional binomial test). Amounts are skewed (a few large deals), so
  the tails of S1 come from the Lugannani–Rice saddlepoint approximation, not the normal one (which
  understates the upper tail of a right-skewed sum: false rises).
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


def _bernoulli_sum_tails(a: np.ndarray, pi: float, x: float) -> tuple[float, float]:
    """(P(S ≥ x), P(S ≤ x)) for S = Σ aᵢBᵢ, Bᵢ ~ Bernoulli(π) independent, aᵢ > 0: the Lugannani–Rice
    saddlepoint approximation (accurate in the tails of a skewed sum, where the normal one is not)."""
    c = float(a.max())
    a = a / c
    x = x / c
    total = float(a.sum())
    lp, lq = math.log(pi), math.log1p(-pi)
    if x <= 0:
        return 1.0, math.exp(len(a) * lq)
    if x >= total:
        return math.exp(len(a) * lp), 1.0

    def K(s: float) -> float:
        return float(np.logaddexp(lq, lp + s * a).sum())

    def p_i(s: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(s * a + lp - lq)))

    def K1(s: float) -> float:
        return float((a * p_i(s)).sum())

    lo, hi = -1.0, 1.0
    while K1(lo) > x:
        lo *= 2
    while K1(hi) < x:
        hi *= 2
    from scipy.optimize import brentq

    sh = brentq(lambda s: K1(s) - x, lo, hi, xtol=1e-12)
    pr = p_i(sh)
    K2 = float((a * a * pr * (1 - pr)).sum())
    mean, var = pi * total, pi * (1 - pi) * float((a * a).sum())
    if abs(sh) < 1e-6 or K2 <= 0:  # at the mean: the normal approximation is exact enough
        z = (x - mean) / math.sqrt(var)
        return float(_st.norm.sf(z)), float(_st.norm.cdf(z))
    w = math.copysign(math.sqrt(max(2.0 * (sh * x - K(sh)), 0.0)), sh)
    u = sh * math.sqrt(K2)
    if abs(w) < 1e-8:
        z = (x - mean) / math.sqrt(var)
        return float(_st.norm.sf(z)), float(_st.norm.cdf(z))
    corr = float(_st.norm.pdf(w)) * (1.0 / u - 1.0 / w)
    upper = float(np.clip(_st.norm.sf(w) + corr, 0.0, 1.0))
    lower = float(np.clip(_st.norm.cdf(w) - corr, 0.0, 1.0))
    return upper, lower


def marked_rate_two_sided_p(recent: np.ndarray, baseline: np.ndarray, t1: float, t0: float) -> float:
    """Two-sided p that the amount per unit of time is the same on both sides (see the module docstring)."""
    a1 = np.asarray(recent, dtype=float)
    a0 = np.asarray(baseline, dtype=float)
    a1, a0 = a1[np.isfinite(a1) & (a1 > 0)], a0[np.isfinite(a0) & (a0 > 0)]
    if t1 <= 0 or t0 <= 0 or a1.size + a0.size == 0:
        return math.nan
    pi = t1 / (t1 + t0)
    upper, lower = _bernoulli_sum_tails(np.concatenate([a1, a0]), pi, float(a1.sum()))
    return float(min(1.0, 2.0 * min(upper, lower)))


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
