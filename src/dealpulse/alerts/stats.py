"""The statistics of the alarms: small, explicit, vectorised where they run for every subject.

- `rate_drop_p`: is a recent share lower than the baseline's? Fisher's exact test, one-sided, with
  the mid-p correction (half the probability of the observed table): the plain exact test is
  conservative for small counts — it would keep a real drop of one manager's 8 steps quiet.
- `logrank`: the two-sample log-rank test for right-censored durations (a deal still in a stage, a
  step not done yet) — observed vs expected "exits" of the recent group at every time an exit
  happened, so groups followed for different lengths of time are compared fairly. Returns the
  hazard ratio (recent / baseline, from O/E) and the one-sided p that the recent group is slower.
- `weighted_bh`: Benjamini–Hochberg q-values with weights (Genovese, Roeder & Wasserman 2006):
  every kind of alarm gets the same share of the error budget, whether it tests 240 manager × step
  pairs or 15 segment × stage pairs; the false discovery rate stays controlled at the chosen level.
- `logrank_exact_p`: the same one-sided log-rank question answered without the normal
  approximation — the distribution of the recent group's exits given the risk sets (a product of
  hypergeometric draws, one per exit time), with the mid-p correction. With few expected exits (a
  fresh cohort in a slow stage: none left, 5 were expected) the normal tail is far too heavy
  (p 0.013 where the exact answer is 0.003); that is where an early alarm is decided.
- `scan_p`: the window scan — several recent windows are tried, the best one is kept, and its p
  is multiplied by the number of windows tried (Bonferroni), so choosing the window after seeing
  the data costs what it should.
- `km_median`: Kaplan–Meier median of a censored duration (None if not reached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st


def rate_drop_p(k1: np.ndarray, n1: np.ndarray, k0: np.ndarray, n0: np.ndarray) -> np.ndarray:
    """One-sided mid-p of Fisher's exact test that the recent share k1/n1 is below the baseline k0/n0.

    Given both margins, k1 ~ Hypergeometric(n1 + n0 cases, k1 + k0 successes, n1 drawn);
    p = P(X < k1) + P(X = k1) / 2. Vectorised over subjects; NaN where a side is empty."""
    k1, n1, k0, n0 = (np.asarray(a, dtype=np.int64) for a in (k1, n1, k0, n0))
    M, K = n1 + n0, k1 + k0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = _st.hypergeom.cdf(k1 - 1, M, K, n1) + 0.5 * _st.hypergeom.pmf(k1, M, K, n1)
    p = np.where((n1 > 0) & (n0 > 0), np.clip(p, 0.0, 1.0), np.nan)
    return p


@dataclass(frozen=True)
class LogRank:
    n_recent: int
    n_baseline: int
    observed: float  # exits of the recent group
    expected: float  # exits expected in the recent group if both groups left at the same rate
    variance: float
    z: float  # (O - E) / sqrt(V): negative = the recent group leaves more slowly
    p_slower: float  # one-sided
    hazard_ratio: float | None  # (O1/E1) / (O0/E0), recent vs baseline


def logrank(durations: np.ndarray, observed: np.ndarray, recent: np.ndarray) -> LogRank:
    """Two-sample log-rank test (events before censorings at a tied time, as usual)."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    g = np.asarray(recent, dtype=bool)
    n1, n0 = int(g.sum()), int((~g).sum())
    if n1 == 0 or n0 == 0 or not e.any():
        return LogRank(n1, n0, float((e & g).sum()), math.nan, 0.0, math.nan, math.nan, None)
    times = np.unique(t[e])
    # at risk at time u: duration >= u
    ts = np.sort(t)
    ts1 = np.sort(t[g])
    at_risk = len(t) - np.searchsorted(ts, times, side="left")
    at_risk1 = n1 - np.searchsorted(ts1, times, side="left")
    te = np.sort(t[e])
    te1 = np.sort(t[e & g])
    d = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    d1 = np.searchsorted(te1, times, side="right") - np.searchsorted(te1, times, side="left")
    n = at_risk.astype(float)
    frac = np.where(n > 0, at_risk1 / np.maximum(n, 1), 0.0)
    E1 = float((d * frac).sum())
    O1 = float(d1.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(n > 1, d * frac * (1 - frac) * (n - d) / (n - 1), 0.0)
    V = float(v.sum())
    O0, E0 = float(d.sum()) - O1, float(d.sum()) - E1
    hr = (O1 / E1) / (O0 / E0) if E1 > 0 and E0 > 0 and O0 > 0 else None
    if V <= 0:
        return LogRank(n1, n0, O1, E1, V, math.nan, math.nan, hr)
    z = (O1 - E1) / math.sqrt(V)
    return LogRank(n1, n0, O1, E1, V, z, float(_st.norm.cdf(z)), hr)


def logrank_exact_p(durations: np.ndarray, observed: np.ndarray, recent: np.ndarray, *, mid: bool = True) -> float:
    """One-sided p that the recent group leaves more slowly: P(O1 < o) + P(O1 = o) / 2 (mid-p) under
    the conditional null of the log-rank test — at every exit time the d exits are drawn from the n
    at risk, n1 of them recent (hypergeometric), independently given the risk sets. Its mean and
    variance are the log-rank E and V; only the tail differs from the normal approximation."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    g = np.asarray(recent, dtype=bool)
    n1 = int(g.sum())
    if n1 == 0 or n1 == len(t) or not e.any():
        return math.nan
    times = np.unique(t[e])
    ts, ts1 = np.sort(t), np.sort(t[g])
    n = len(t) - np.searchsorted(ts, times, side="left")
    r = n1 - np.searchsorted(ts1, times, side="left")
    te, te1 = np.sort(t[e]), np.sort(t[e & g])
    d = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    o = int(len(te1))
    keep = r > 0  # exit times with no recent case at risk cannot add a recent exit
    n, r, d = n[keep], r[keep], d[keep]
    x = np.arange(o + 1)
    pmf = _st.hypergeom.pmf(x[None, :], n[:, None], r[:, None], d[:, None])  # exit times × 0..o recent exits
    dist = np.zeros(o + 1)
    dist[0] = 1.0
    for row in pmf:
        dist = np.convolve(dist, row)[: o + 1]
    below, at = float(dist[:o].sum()), float(dist[o])
    return float(np.clip(below + (0.5 if mid else 1.0) * at, 0.0, 1.0))


def scan_p(pvalues: Sequence[float]) -> tuple[int, float]:
    """(index of the smallest p, that p times the number of finite ones — Bonferroni over the windows
    tried, at most 1). (-1, NaN) if none is finite."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.isfinite(p)
    if not ok.any():
        return -1, math.nan
    i = int(np.nanargmin(np.where(ok, p, np.inf)))
    return i, float(min(1.0, p[i] * int(ok.sum())))


def weighted_bh(pvalues: Sequence[float], weights: Sequence[float]) -> np.ndarray:
    """Weighted Benjamini–Hochberg q-values: BH applied to p / w (weights average 1)."""
    p = np.asarray(pvalues, dtype=float)
    w = np.asarray(weights, dtype=float)
    m = len(p)
    if m == 0:
        return np.zeros(0)
    r = np.minimum(p / w, np.inf)
    order = np.argsort(r, kind="stable")
    ranked = r[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def km_median(durations: np.ndarray, observed: np.ndarray) -> float | None:
    """The Kaplan–Meier median (first time the curve is at or below 1/2), None if never reached."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if t.size == 0 or not e.any():
        return None
    times = np.unique(t[e])
    ts = np.sort(t)
    te = np.sort(t[e])
    n = len(t) - np.searchsorted(ts, times, side="left")
    d = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    surv = np.cumprod(1 - d / n)
    hit = np.flatnonzero(surv <= 0.5 + 1e-9)
    return float(times[hit[0]]) if hit.size else None


def binomial_loglik(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The maximised Bernoulli log-likelihood of k successes in n (0 log 0 = 0)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / np.maximum(n, 1), 0.0)
        a = np.where(k > 0, k * np.log(np.where(p > 0, p, 1.0)), 0.0)
        b = np.where(n - k > 0, (n - k) * np.log(np.where(p < 1, 1 - p, 1.0)), 0.0)
    return a + b


__all__ = ["rate_drop_p", "logrank", "logrank_exact_p", "scan_p", "LogRank", "weighted_bh", "km_median", "binomial_loglik"]
