"""The statistics of the alarms: small, explicit, vectorised where they run for every subject.

- `rate_drop_p`: is a recent share lower than the baseline's? Fisher's exact test, one-sided, with
  the mid-p correction (half the probability of the observed table): the plain exact test is
  conservative for small counts — it would keep a real drop of one manager's 8 steps quiet.
- `logrank`: the two-sample log-rank test for right-censored durations (a deal still in a stage, a
  step not done yet) — observed vs expected "exits" of the recent group at every time an exit
  happened, so groups followed for different lengths of time are compared fairly. Returns the
  hazard ratio (recent / baseline, from O/E) and the one-sided p that the recent group is slower.
- `weighted_bh`: Benjamini–Hochberg q-values with weights (Genovese, Roeder & Wasserman 2006):
  each kind of alarm gets a share of the error budget that grows with the square root of its number of
  tests (`detect.test_all`), so 240 manager × step pairs do not drown a segment's pooled test, nor does
  it starve them; with weights averaging 1 the false discovery rate stays controlled at the chosen level.
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


# -- pooled (stratified) tests ------------------------------------------------------------------------
# A manager's steps, a segment's stages, a channel's stages: each stratum (a step in a segment, a stage)
# has its own usual level, and the question is whether the subject is worse in the recent window *at
# the same mix of strata*. Both tests below condition on each stratum's margins, so a recent window
# that happens to hold more of a hard step is not read as a decline.

EXACT_MAX_SUPPORT = 400  # exact convolution while the recent count can take at most this many values
EXACT_BELOW_Z = -1.28  # ... and only where it can matter: the normal tail is already below 10%


def hypergeom_sum_lower_p(M: np.ndarray, K: np.ndarray, n: np.ndarray, observed: int, *, mid: bool = True) -> float:
    """P(Σ X_s < o) + P(Σ X_s = o)/2 for independent X_s ~ Hypergeometric(M_s cases, K_s marked, n_s drawn):
    the exact conditional null of a stratified (Mantel–Haenszel / log-rank) count. NaN if nothing varies."""
    M, K, n = (np.asarray(a, dtype=np.int64) for a in (M, K, n))
    keep = M > 0  # a degenerate draw (all or none marked, all or none drawn) still adds its fixed value
    M, K, n = M[keep], K[keep], n[keep]
    lo = np.maximum(0, n + K - M)
    hi = np.minimum(n, K)
    o = int(observed) - int(lo.sum())  # shift every variable to start at 0
    width = int((hi - lo).sum())
    if width == 0:
        return math.nan
    if o < 0:
        return 0.0
    if o > width:
        return 1.0
    vary = hi > lo
    M, K, n, lo, width_s = M[vary], K[vary], n[vary], lo[vary], (hi - lo)[vary]
    x = lo[:, None] + np.arange(int(width_s.max()) + 1)[None, :]  # variables × their values (one scipy call)
    pmf = np.where(x <= (lo + width_s)[:, None], _st.hypergeom.pmf(x, M[:, None], K[:, None], n[:, None]), 0.0)
    dist = np.ones(1)
    for row, w in zip(pmf, width_s):
        dist = np.convolve(dist, row[: int(w) + 1])
    below, at = float(dist[:o].sum()), float(dist[o])
    return float(np.clip(below + (0.5 if mid else 1.0) * at, 0.0, 1.0))


@dataclass(frozen=True)
class Stratified:
    """A stratified one-sided comparison, recent vs baseline: observed and expected recent 'successes'
    (steps on time, deals moving on, exits) given each stratum's margins, the null variance, z, the
    one-sided p that the recent group is worse, and the size of the gap."""

    n_recent: int
    n_baseline: int
    observed: float
    expected: float
    variance: float
    z: float
    p_worse: float
    strata: int
    exact: bool


def cmh_worse(k1: np.ndarray, n1: np.ndarray, k0: np.ndarray, n0: np.ndarray) -> Stratified:
    """Cochran–Mantel–Haenszel, one-sided: is the recent share lower than the baseline's within strata?
    Per stratum s: k1 of n1 recent cases good, k0 of n0 baseline cases good. Exact conditional mid-p
    (a convolution of hypergeometrics) while the support is small, else the normal approximation."""
    k1, n1, k0, n0 = (np.asarray(a, dtype=np.int64) for a in (k1, n1, k0, n0))
    use = (n1 > 0) & (n0 > 0)
    k1, n1, k0, n0 = k1[use], n1[use], k0[use], n0[use]
    M, K = n1 + n0, k1 + k0
    E = float((n1 * K / np.maximum(M, 1)).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(M > 1, n1 * n0 * K * (M - K) / (M.astype(float) ** 2 * (M - 1)), 0.0)
    V, O = float(v.sum()), float(k1.sum())
    N1, N0 = int(n1.sum()), int(n0.sum())
    if V <= 0:
        return Stratified(N1, N0, O, E, V, math.nan, math.nan, int(use.sum()), False)
    z = (O - E) / math.sqrt(V)
    support = int((np.minimum(n1, K) - np.maximum(0, n1 + K - M)).sum())
    if support <= EXACT_MAX_SUPPORT and z < EXACT_BELOW_Z:
        p = hypergeom_sum_lower_p(M, K, n1, int(O))
        exact = True
    else:
        p, exact = float(_st.norm.cdf(z)), False
    return Stratified(N1, N0, O, E, V, z, p, int(use.sum()), exact)


def _risk_sets(t: np.ndarray, e: np.ndarray, g: np.ndarray):
    """At each distinct exit time of one stratum: at risk (all, recent) and exits (all, recent)."""
    times = np.unique(t[e])
    ts, ts1 = np.sort(t), np.sort(t[g])
    n = len(t) - np.searchsorted(ts, times, side="left")
    r = len(ts1) - np.searchsorted(ts1, times, side="left")
    te, te1 = np.sort(t[e]), np.sort(t[e & g])
    d = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    d1 = np.searchsorted(te1, times, side="right") - np.searchsorted(te1, times, side="left")
    return n, r, d, d1


def logrank_stratified(durations: np.ndarray, observed: np.ndarray, recent: np.ndarray, strata: np.ndarray) -> tuple[Stratified, float | None]:
    """Stratified log-rank, one-sided (the recent group leaves more slowly), and the pooled hazard ratio
    (O1/E1)/(O0/E0). Exact conditional mid-p (product of hypergeometric draws at every exit time of every
    stratum) while the recent exits can take few values, else the normal approximation. Strata without
    both groups or without an exit carry no information and are left out. Vectorised over all strata:
    one sort by (stratum, time)."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    g = np.asarray(recent, dtype=bool)
    codes = np.unique(np.asarray(strata), return_inverse=True)[1].astype(np.int64)
    N1, N0 = int(g.sum()), int((~g).sum())
    S = int(codes.max()) + 1 if codes.size else 0
    has_r = np.bincount(codes[g], minlength=S) > 0
    has_b = np.bincount(codes[~g], minlength=S) > 0
    has_e = np.bincount(codes[e], minlength=S) > 0
    keep = (has_r & has_b & has_e)[codes] if S else np.zeros(0, dtype=bool)
    n_strata = int((has_r & has_b & has_e).sum()) if S else 0
    if n_strata == 0:
        return Stratified(N1, N0, float((e & g).sum()), math.nan, 0.0, math.nan, math.nan, 0, False), None
    t, e, g, c = t[keep], e[keep], g[keep], codes[keep]
    span = float(t.max() - min(t.min(), 0.0)) + 1.0
    key = c * span + (t - min(t.min(), 0.0))
    order = np.argsort(key, kind="stable")
    key, e, g, c = key[order], e[order], g[order], c[order]
    ev_keys, inv = np.unique(key[e], return_inverse=True)  # every distinct exit time of every stratum
    first = np.searchsorted(key, ev_keys, side="left")  # the first case at risk at that time
    ends = np.searchsorted(c, c[first], side="right")  # the end of its stratum
    G = np.concatenate([[0], np.cumsum(g)])
    n = (ends - first).astype(float)
    r = (G[ends] - G[first]).astype(float)
    d = np.bincount(inv, minlength=len(ev_keys)).astype(float)
    d1 = np.bincount(inv, weights=g[e].astype(float), minlength=len(ev_keys))
    frac = np.where(n > 0, r / np.maximum(n, 1), 0.0)
    E1, O1 = float((d * frac).sum()), float(d1.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        V = float(np.where(n > 1, d * frac * (1 - frac) * (n - d) / (n - 1), 0.0).sum())
    O0, E0 = float(d.sum()) - O1, float(d.sum()) - E1
    hr = (O1 / E1) / (O0 / E0) if E1 > 0 and E0 > 0 and O0 > 0 else None
    if V <= 0:
        return Stratified(N1, N0, O1, E1, V, math.nan, math.nan, n_strata, False), hr
    z = (O1 - E1) / math.sqrt(V)
    use = r > 0
    support = int(np.minimum(r[use], d[use]).sum())
    if support <= EXACT_MAX_SUPPORT and z < EXACT_BELOW_Z:
        p = hypergeom_sum_lower_p(n[use].astype(np.int64), r[use].astype(np.int64), d[use].astype(np.int64), int(O1))
        exact = True
    else:
        p, exact = float(_st.norm.cdf(z)), False
    return Stratified(N1, N0, O1, E1, V, z, p, n_strata, exact), hr
