"""The statistics of `dealpulse alerts` against plain references (engine-independent)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats as st

from dealpulse.alerts.changepoint import binary_change, survival_change
from dealpulse.alerts.stats import km_median, logrank, rate_drop_p, weighted_bh
from dealpulse.metrics.survival import km_summary
from dealpulse.report.stats import adjust


def _midp_reference(k1, n1, k0, n0):
    """Sum the hypergeometric probabilities of every table with fewer successes in the recent row."""
    M, K = n1 + n0, k1 + k0

    def prob(x):
        return math.comb(K, x) * math.comb(M - K, n1 - x) / math.comb(M, n1)

    return sum(prob(x) for x in range(max(0, n1 - (M - K)), k1)) + 0.5 * prob(k1)


@pytest.mark.parametrize("k1,n1,k0,n0", [(0, 5, 18, 20), (2, 8, 30, 40), (5, 5, 10, 30), (3, 10, 3, 10), (1, 6, 0, 25)])
def test_rate_drop_p_is_fishers_mid_p(k1, n1, k0, n0):
    p = rate_drop_p([k1], [n1], [k0], [n0])[0]
    assert p == pytest.approx(_midp_reference(k1, n1, k0, n0), rel=1e-9)
    fisher = st.fisher_exact([[k1, n1 - k1], [k0, n0 - k0]], alternative="less").pvalue
    assert p <= fisher + 1e-12  # mid-p is never more conservative than the exact test


def test_rate_drop_p_empty_side_is_nan():
    assert np.isnan(rate_drop_p([0], [0], [3], [10])[0])


def test_logrank_matches_lifelines():
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(3)
    t0, t1 = rng.exponential(10, 60).round(1), rng.exponential(20, 25).round(1)
    e0, e1 = rng.random(60) < 0.8, rng.random(25) < 0.7
    d = np.concatenate([t0, t1])
    e = np.concatenate([e0, e1])
    g = np.r_[np.zeros(60, bool), np.ones(25, bool)]
    lr = logrank(d, e, g)
    ref = logrank_test(t1, t0, event_observed_A=e1, event_observed_B=e0)
    assert lr.z ** 2 == pytest.approx(ref.test_statistic, rel=1e-9)
    assert lr.z < 0 and lr.p_slower == pytest.approx(ref.p_value / 2, rel=1e-6)
    assert lr.hazard_ratio < 1


def test_weighted_bh_with_equal_weights_is_bh():
    p = [0.001, 0.2, 0.03, 0.04, 0.5, 0.011]
    assert list(weighted_bh(p, [1.0] * 6)) == pytest.approx(adjust(p))


def test_weighted_bh_gives_a_small_family_its_share():
    # 1 test of one kind and 99 of another: the lone test gets half the budget (weight 50)
    p = [0.0004] + [0.5] * 99
    w = [50.0] + [100 / (2 * 99)] * 99
    assert weighted_bh(p, w)[0] == pytest.approx(0.0004 / 50 * 100)
    assert adjust(p)[0] == pytest.approx(0.04)


def test_km_median_matches_lifelines():
    rng = np.random.default_rng(5)
    d = rng.gamma(2.0, 5.0, 80).round(2)
    e = rng.random(80) < 0.75
    assert km_median(d, e) == pytest.approx(km_summary(d, e).median)
    assert km_median(np.array([4.0, 5.0, 6.0]), np.array([True, False, False])) is None


def _days(n, start=datetime(2024, 1, 1)):
    return np.array([start + timedelta(days=i) for i in range(n)], dtype="datetime64[us]")


def test_binary_change_finds_the_drop():
    rng = np.random.default_rng(1)
    times = _days(200)
    good = np.r_[rng.random(150) < 0.9, rng.random(50) < 0.2]
    since = binary_change(times, good)
    assert abs((since - datetime(2024, 1, 1)).days - 150) <= 4


def test_binary_change_ignores_an_improvement():
    times = _days(60)
    good = np.r_[np.zeros(30, bool), np.ones(30, bool)]
    assert binary_change(times, good) is None


def test_survival_change_finds_the_slowdown():
    rng = np.random.default_rng(2)
    times = _days(160)
    dur = np.r_[rng.exponential(10, 120), rng.exponential(40, 40)]
    end = 160 - np.arange(160)  # followed until day 160
    obs = dur <= end
    since = survival_change(times, np.minimum(dur, end), obs)
    assert abs((since - datetime(2024, 1, 1)).days - 120) <= 12


def _exact_reference(d, e, g, mid=True):
    """Plain Python: the recent exits as a sum of independent hypergeometric draws, one per exit time."""
    d, e, g = list(map(float, d)), list(map(bool, e)), list(map(bool, g))
    times = sorted({t for t, ev in zip(d, e) if ev})
    dist = {0: 1.0}
    for u in times:
        n = sum(1 for t in d if t >= u)
        n1 = sum(1 for t, gg in zip(d, g) if t >= u and gg)
        k = sum(1 for t, ev in zip(d, e) if t == u and ev)
        step = {x: math.comb(n1, x) * math.comb(n - n1, k - x) / math.comb(n, k) for x in range(0, min(k, n1) + 1)}
        new: dict[int, float] = {}
        for a, pa in dist.items():
            for x, px in step.items():
                new[a + x] = new.get(a + x, 0.0) + pa * px
        dist = new
    o = sum(1 for ev, gg in zip(e, g) if ev and gg)
    return sum(p for a, p in dist.items() if a < o) + (0.5 if mid else 1.0) * dist.get(o, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logrank_exact_p_matches_a_plain_reference(seed):
    from dealpulse.alerts.stats import logrank_exact_p

    rng = np.random.default_rng(seed)
    n0, n1 = 25, 9
    d = np.r_[rng.gamma(3, 5, n0), rng.gamma(3, 9, n1)].round(0)  # rounded: tied exit times
    e = rng.random(n0 + n1) < 0.8
    g = np.r_[np.zeros(n0, bool), np.ones(n1, bool)]
    for mid in (True, False):
        assert logrank_exact_p(d, e, g, mid=mid) == pytest.approx(_exact_reference(d, e, g, mid), rel=1e-9)


def test_logrank_exact_p_no_recent_exit_is_the_product_of_the_chances_to_stay():
    from dealpulse.alerts.stats import logrank_exact_p

    base = np.array([3.0, 5.0, 8.0, 9.0, 12.0, 15.0, 20.0])
    recent = np.array([4.0, 10.0, 16.0])  # still in the stage (censored)
    d, e = np.r_[base, recent], np.r_[np.ones(7, bool), np.zeros(3, bool)]
    g = np.r_[np.zeros(7, bool), np.ones(3, bool)]
    at_risk = [(sum(d >= u), sum(recent >= u)) for u in base]
    stay = np.prod([1 - r / n for n, r in at_risk])
    assert logrank_exact_p(d, e, g, mid=False) == pytest.approx(stay)
    assert logrank_exact_p(d, e, g) == pytest.approx(stay / 2)


def test_logrank_exact_p_agrees_with_the_normal_test_on_large_samples():
    from dealpulse.alerts.stats import logrank_exact_p

    rng = np.random.default_rng(4)
    d = np.r_[rng.exponential(10, 400), rng.exponential(12, 300)]
    e = rng.random(700) < 0.85
    g = np.r_[np.zeros(400, bool), np.ones(300, bool)]
    assert logrank_exact_p(d, e, g) == pytest.approx(logrank(d, e, g).p_slower, abs=0.01)


def test_scan_p_is_bonferroni_over_the_windows_tried():
    from dealpulse.alerts.stats import scan_p

    assert scan_p([0.2, 0.001, np.nan, 0.01]) == (1, pytest.approx(0.003))
    assert scan_p([0.6, 0.9]) == (0, 1.0)
    i, p = scan_p([np.nan])
    assert i == -1 and np.isnan(p)


def test_the_window_scan_keeps_its_false_alarm_rate_without_a_change():
    """A stage with staggered entries, no change, open deals censored: the scanned p (exact mid-p per
    window, Bonferroni over the windows) is at most as often below 5% / 1% as it should be."""
    from dealpulse.alerts.stats import logrank_exact_p, scan_p

    rng = np.random.default_rng(11)
    windows, longest, baseline = (3, 5, 8, 12), 12, 26
    ps = []
    for _ in range(400):
        span = (longest + baseline) * 7
        n = rng.poisson(4 / 7 * span)
        entry = rng.uniform(0, span, n)
        dur = rng.gamma(3, 10, n)
        follow = span - entry
        obs, d = dur <= follow, np.minimum(dur, follow)
        base = entry <= span - longest * 7
        p_w = []
        for w in windows:
            r = entry > span - w * 7
            sel = r | base
            p_w.append(logrank_exact_p(d[sel], obs[sel], r[sel]) if r.sum() >= 3 else np.nan)
        ps.append(scan_p(p_w)[1])
    ps = np.array(ps)
    assert np.mean(ps <= 0.05) <= 0.05 + 0.02 and np.mean(ps <= 0.01) <= 0.01 + 0.01
