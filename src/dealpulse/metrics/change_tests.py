"""When is a change between two windows more than chance? Small, explicit tests (the report's "what changed",
the dwell shifts; any surface that compares two windows).

Every test returns a `Verdict`: the p-value (None when there is too little data to judge) and the
number of cases behind each side. A change is highlighted only when the p-value survives the
Benjamini-Hochberg correction over all figures compared at once (`adjust`) and each side has at least
the minimum number of cases, so a manager moving from 1 of 2 to 2 of 2 is never "a 100% jump".

- rates (on-time rate, win rate, card completeness, share of stale deals): two-proportion z-test;
  Wilson intervals for the ± shown next to a rate;
- counts in equal windows (won, lost, overdue tasks): the exact conditional test for two Poisson
  counts (given the total, the current count is Binomial(total, 1/2));
- sums (revenue won): a compound-Poisson z-test, Var(sum) estimated by the sum of squared amounts;
- medians (cycle length): Mann-Whitney U.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats as _st

MIN_RATE_N = 20  # cases in EACH window before a rate is compared
MIN_COUNT_TOTAL = 10  # events in both windows together before counts are compared
MIN_SAMPLE_N = 10  # values in EACH window before medians or sums are compared
ALPHA = 0.05


@dataclass(frozen=True)
class Verdict:
    p: float | None  # None: not tested (too little data)
    n_cur: int
    n_prev: int
    test: str
    reason: str = ""  # why not tested


def wilson(k: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95% by default); (nan, nan) for n = 0."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportions(k_cur: float, n_cur: float, k_prev: float, n_prev: float, min_n: int = MIN_RATE_N) -> Verdict:
    n1, n0 = int(n_cur or 0), int(n_prev or 0)
    if n1 < min_n or n0 < min_n:
        return Verdict(None, n1, n0, "two_proportions", "small_n")
    p1, p0 = k_cur / n1, k_prev / n0
    pooled = (k_cur + k_prev) / (n1 + n0)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n0)
    if var <= 0:
        return Verdict(1.0 if p1 == p0 else 0.0, n1, n0, "two_proportions")
    z = (p1 - p0) / math.sqrt(var)
    return Verdict(float(2 * _st.norm.sf(abs(z))), n1, n0, "two_proportions")


def poisson_counts(x_cur: float, x_prev: float, min_total: int = MIN_COUNT_TOTAL) -> Verdict:
    x1, x0 = int(x_cur or 0), int(x_prev or 0)
    if x1 + x0 < min_total:
        return Verdict(None, x1, x0, "poisson_counts", "small_n")
    return Verdict(float(_st.binomtest(x1, x1 + x0, 0.5).pvalue), x1, x0, "poisson_counts")


def compound_sums(cur: Sequence[float], prev: Sequence[float], min_n: int = MIN_SAMPLE_N) -> Verdict:
    a1 = [float(v) for v in cur if v is not None and not math.isnan(float(v))]
    a0 = [float(v) for v in prev if v is not None and not math.isnan(float(v))]
    if len(a1) + len(a0) < min_n:
        return Verdict(None, len(a1), len(a0), "compound_sums", "small_n")
    var = sum(v * v for v in a1) + sum(v * v for v in a0)
    if var <= 0:
        return Verdict(1.0, len(a1), len(a0), "compound_sums")
    z = (sum(a1) - sum(a0)) / math.sqrt(var)
    return Verdict(float(2 * _st.norm.sf(abs(z))), len(a1), len(a0), "compound_sums")


def medians(cur: Sequence[float], prev: Sequence[float], min_n: int = MIN_SAMPLE_N) -> Verdict:
    a1 = [float(v) for v in cur if v is not None and not math.isnan(float(v))]
    a0 = [float(v) for v in prev if v is not None and not math.isnan(float(v))]
    if len(a1) < min_n or len(a0) < min_n:
        return Verdict(None, len(a1), len(a0), "mann_whitney", "small_n")
    if len(set(a1) | set(a0)) == 1:
        return Verdict(1.0, len(a1), len(a0), "mann_whitney")
    return Verdict(float(_st.mannwhitneyu(a1, a0, alternative="two-sided").pvalue), len(a1), len(a0), "mann_whitney")


def adjust(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values over the tested ones; None stays None."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    if not m:
        return out
    order = sorted(idx, key=lambda i: pvalues[i])  # type: ignore[arg-type, return-value]
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, float(pvalues[i]) * m / rank)  # type: ignore[arg-type]
        out[i] = running
    return out


__all__ = ["Verdict", "wilson", "two_proportions", "poisson_counts", "compound_sums", "medians", "adjust", "ALPHA",
           "MIN_RATE_N", "MIN_COUNT_TOTAL", "MIN_SAMPLE_N"]
