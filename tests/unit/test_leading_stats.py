"""The statistics of validate-metrics against known values and plain formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from dealpulse.leading.rank import MATTERS, NOT_ENOUGH, VANITY, WEAK, sort_rows, verdict
from dealpulse.leading.stats import demean, mantel_haenszel_rd, newcombe, within_spearman


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, Table II example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    d, lo, hi = newcombe(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=5e-4)
    assert hi == pytest.approx(0.3339, abs=5e-4)


def test_mantel_haenszel_one_stratum_is_the_plain_difference_and_weights_pool():
    e = mantel_haenszel_rd([(30, 50, 10, 50)])
    assert e.effect == pytest.approx(0.4)
    se = np.sqrt(0.6 * 0.4 / 50 + 0.2 * 0.8 / 50)
    assert e.ci_low == pytest.approx(0.4 - 1.959964 * se)
    # two strata: weighted by n1*n0/N; a stratum with one side empty carries nothing
    e2 = mantel_haenszel_rd([(30, 50, 10, 50), (5, 10, 9, 30), (3, 3, 0, 0)])
    w1, w2 = 50 * 50 / 100, 10 * 30 / 40
    assert e2.effect == pytest.approx((w1 * 0.4 + w2 * (0.5 - 0.3)) / (w1 + w2))
    assert mantel_haenszel_rd([(3, 3, 0, 0)]).effect is None


def test_confounding_by_manager_disappears_within_manager():
    # the good manager does the step more often and wins more, but within each manager it makes no difference
    strata = [(80, 100, 8, 10), (2, 10, 20, 100)]
    pooled = (80 + 2) / 110 - (8 + 20) / 110
    assert pooled > 0.4
    assert mantel_haenszel_rd(strata).effect == pytest.approx(0.0, abs=1e-12)


def test_demean_one_way_is_exact_and_two_way_converges():
    v = np.array([1.0, 2.0, 3.0, 10.0, 12.0])
    g = np.array([0, 0, 0, 1, 1])
    assert np.allclose(demean(v, [g]), [-1, 0, 1, -1, 1])
    t = np.array([0, 1, 2, 0, 1])
    d = demean(v, [g, t])
    for codes in (g, t):
        for k in np.unique(codes):
            assert abs(d[codes == k].mean()) < 1e-8


def test_within_spearman_with_one_period_and_cluster_is_spearman():
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    est = within_spearman(x, y, ["m"] * 30 + ["n"] * 30, ["p"] * 60, n_boot=50)
    # one-way demeaning of ranks inside two clusters; compare with the plain formula
    rx, ry = st.rankdata(x), st.rankdata(y)
    g = np.array([0] * 30 + [1] * 30)
    dx, dy = demean(rx, [g]), demean(ry, [g])
    assert est.effect == pytest.approx(float(np.dot(dx, dy) / np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))))
    assert est.effect > 0.5


def test_within_spearman_ignores_manager_levels():
    # managers differ in level of both x and y (between-manager correlation), no within-manager link
    rng = np.random.default_rng(2)
    rows = [(m, t, m + rng.normal(), m * 3 + rng.normal()) for m in range(12) for t in range(15)]
    m, t, x, y = map(np.array, zip(*rows))
    assert st.spearmanr(x, y).statistic > 0.8
    est = within_spearman(x, y, m, t, n_boot=200, seed=3)
    assert abs(est.effect) < 0.2 and est.ci_low < 0 < est.ci_high and est.p > 0.05


def test_verdicts():
    assert verdict("deal", 0.2, 0.15, 0.25, 0.001, True) == MATTERS
    assert verdict("deal", 0.02, 0.01, 0.03, 0.01, True) == WEAK
    assert verdict("deal", 0.01, -0.02, 0.04, 0.5, True) == VANITY
    assert verdict("deal", 0.01, -0.2, 0.22, 0.9, True) == NOT_ENOUGH
    assert verdict("deal", 0.3, 0.2, 0.4, 0.001, False) == NOT_ENOUGH
    assert verdict("manager_month", 0.3, 0.1, 0.5, 0.01, True) == MATTERS
    rows = sort_rows([{"metric": "a", "level": "deal", "effect": 0.06, "verdict": MATTERS},
                      {"metric": "b", "level": "manager_month", "effect": 0.5, "verdict": MATTERS},
                      {"metric": "c", "level": "deal", "effect": None, "verdict": NOT_ENOUGH}])
    assert [r["metric"] for r in rows] == ["b", "a", "c"] and rows[0]["rank"] == 1
