"""The tests behind "what changed beyond chance", against textbook numbers."""

import math

import pytest

from dealpulse.report import stats


def test_wilson_interval_matches_the_textbook():
    # Newcombe (1998), Table I: 0/10 -> 0.0000-0.2775; 1/29 -> 0.0061-0.1718 (95%)
    lo, hi = stats.wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson(1, 29)
    assert (lo, hi) == (pytest.approx(0.0061, abs=1e-4), pytest.approx(0.1718, abs=1e-4))
    assert all(math.isnan(x) for x in stats.wilson(0, 0))


def test_two_proportions_is_the_pooled_z_test():
    # 60/100 vs 40/100: pooled p = 0.5, z = 0.2 / sqrt(0.25 * 0.02) = 2.828, p = 0.00468
    v = stats.two_proportions(60, 100, 40, 100)
    assert v.p == pytest.approx(0.004678, rel=1e-3)
    assert (v.n_cur, v.n_prev) == (100, 100)
    assert stats.two_proportions(30, 30, 30, 30).p == 1.0


def test_small_samples_are_not_judged():
    # 2 of 2 against 1 of 2 is a "100% jump" on nothing
    assert stats.two_proportions(2, 2, 1, 2).p is None
    assert stats.two_proportions(2, 2, 1, 2).reason == "small_n"
    assert stats.poisson_counts(2, 0).p is None
    assert stats.medians([1, 2, 3], [4, 5, 6]).p is None
    assert stats.compound_sums([1.0] * 4, [2.0] * 4).p is None


def test_poisson_counts_is_the_exact_conditional_test():
    # 25 vs 3: given 28 events, 25 or more (or 3 or fewer) in one window under Binomial(28, 1/2)
    tail = sum(math.comb(28, k) for k in range(0, 4)) / 2 ** 28
    assert stats.poisson_counts(25, 3).p == pytest.approx(2 * tail, rel=1e-9)
    assert stats.poisson_counts(10, 10).p == pytest.approx(1.0)


def test_compound_sums_and_medians():
    same = [100.0] * 12
    assert stats.compound_sums(same, same).p == pytest.approx(1.0)
    assert stats.compound_sums([100.0] * 30, [100.0] * 5).p < 0.001
    assert stats.medians(list(range(20, 40)), list(range(0, 20))).p < 0.001
    assert stats.medians([5.0] * 10, [5.0] * 10).p == 1.0


def test_benjamini_hochberg_adjustment():
    # p = (0.01, 0.04, 0.03, 0.005): adjusted = (0.02, 0.04, 0.04, 0.02)
    out = stats.adjust([0.01, 0.04, None, 0.03, 0.005])
    assert out[2] is None
    assert [round(x, 6) for x in (out[0], out[1], out[3], out[4])] == [0.02, 0.04, 0.04, 0.02]
    assert stats.adjust([None, None]) == [None, None]
