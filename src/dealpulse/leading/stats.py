"""The statistics behind `validate-metrics`: small, explicit, plain Python and numpy.

Deal level (a yes/no leading metric vs won/lost):
- `newcombe`: the difference of two proportions with Newcombe's hybrid score (Wilson) interval;
- `mantel_haenszel_rd`: the win-rate difference *within the same manager* (Mantel–Haenszel risk
  difference over managers as strata), its large-strata (Greenland–Robins) variance, interval and p.

Manager-month level (a leading figure vs revenue months later):
- `within_spearman`: Spearman's rho with manager and month fixed effects removed (ranks taken over
  all manager-months, then demeaned within manager and within month by alternating projections);
  p from a cluster-robust (by manager) t test, interval from a bootstrap over managers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st

from dealpulse.metrics.change_tests import wilson

Z95 = 1.959964


@dataclass(frozen=True)
class Estimate:
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None


def newcombe(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float, float]:
    """(p1 - p0, low, high): Newcombe's method 10 (hybrid Wilson score) 95% interval."""
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson(k1, n1)
    l0, u0 = wilson(k0, n0)
    d = p1 - p0
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return d, max(-1.0, low), min(1.0, high)


def mantel_haenszel_rd(strata: Sequence[tuple[int, int, int, int]]) -> Estimate:
    """The Mantel–Haenszel risk difference over strata (k1, n1, k0, n0): wins and deals with and
    without the metric. Strata lacking either side carry no weight. Greenland–Robins large-strata
    variance; normal 95% interval and two-sided p."""
    num = den = var_num = 0.0
    for k1, n1, k0, n0 in strata:
        if n1 <= 0 or n0 <= 0:
            continue
        w = n1 * n0 / (n1 + n0)
        p1, p0 = k1 / n1, k0 / n0
        num += w * (p1 - p0)
        den += w
        var_num += w * w * (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    if den <= 0:
        return Estimate(None, None, None, None)
    rd = num / den
    se = math.sqrt(var_num) / den
    if se <= 0:
        return Estimate(rd, rd, rd, 1.0 if rd == 0 else 0.0)
    p = float(2 * _st.norm.sf(abs(rd) / se))
    return Estimate(rd, max(-1.0, rd - Z95 * se), min(1.0, rd + Z95 * se), p)


def _ranks(x: np.ndarray) -> np.ndarray:
    return _st.rankdata(x).astype(float)


def demean(values: np.ndarray, groups: Sequence[np.ndarray], *, iterations: int = 200, tol: float = 1e-10) -> np.ndarray:
    """`values` with the group means of every grouping removed (alternating projections: exact for one
    grouping, converging to the two-way fixed-effects residual for unbalanced panels)."""
    v = np.asarray(values, dtype=float).copy()
    codes = [np.asarray(g, dtype=np.int64) for g in groups]
    counts = [np.bincount(c) for c in codes]
    for _ in range(iterations):
        change = 0.0
        for c, n in zip(codes, counts):
            means = np.bincount(c, weights=v, minlength=n.size) / np.maximum(n, 1)
            step = means[c]
            v -= step
            change = max(change, float(np.max(np.abs(step))) if step.size else 0.0)
        if change < tol or len(codes) == 1:
            break
    return v


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    sa, sb = float(np.dot(a, a)), float(np.dot(b, b))
    if sa <= 1e-12 or sb <= 1e-12:
        return None
    return float(np.dot(a, b) / math.sqrt(sa * sb))


def _codes(labels: Sequence) -> np.ndarray:
    _, inv = np.unique(np.asarray([str(v) for v in labels]), return_inverse=True)
    return inv.astype(np.int64)


def within_spearman(x: Sequence[float], y: Sequence[float], cluster: Sequence, period: Sequence, *,
                    n_boot: int = 999, seed: int = 0) -> Estimate:
    """Spearman's rho of x and y within cluster (manager) and period (month): pooled ranks, demeaned
    by both; p from a cluster-robust t test of the slope (G - 1 degrees of freedom), 95% interval from
    a bootstrap that resamples whole clusters (percentile)."""
    xr, yr = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    g, t = _codes(cluster), _codes(period)
    xd, yd = demean(xr, [g, t]), demean(yr, [g, t])
    rho = _corr(xd, yd)
    if rho is None:
        return Estimate(None, None, None, None)
    n_g = int(g.max()) + 1
    sxx = float(np.dot(xd, xd))
    beta = float(np.dot(xd, yd)) / sxx
    resid = yd - beta * xd
    score = np.bincount(g, weights=xd * resid, minlength=n_g)
    var = float(np.dot(score, score)) / sxx ** 2 * n_g / max(n_g - 1, 1)
    if var <= 0:
        p = 0.0 if beta != 0 else 1.0
    else:
        p = float(2 * _st.t.sf(abs(beta) / math.sqrt(var), df=max(n_g - 1, 1)))
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(g == k) for k in range(n_g)]
    boots = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_g, n_g)
        idx = np.concatenate([members[k] for k in pick])
        new_g = np.repeat(np.arange(n_g), [members[k].size for k in pick])
        bx, by = demean(xr[idx], [new_g, t[idx]]), demean(yr[idx], [new_g, t[idx]])
        r = _corr(bx, by)
        if r is not None:
            boots.append(r)
    if len(boots) < max(10, n_boot // 2):
        return Estimate(rho, None, None, p)
    low, high = np.quantile(boots, [0.025, 0.975])
    return Estimate(rho, float(low), float(high), p)
