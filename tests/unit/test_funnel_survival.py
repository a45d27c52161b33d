"""Survival helpers of the funnel: Aalen–Johansen against lifelines, Kaplan–Meier quantiles."""

import warnings

import numpy as np
import pytest

from dealpulse.metrics.survival import aalen_johansen, km_quantile, km_summary


def test_aalen_johansen_matches_lifelines_without_ties():
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(7)
    durations = rng.permutation(np.arange(1, 61)) + rng.uniform(0, 0.5, 60)  # no ties
    events = rng.choice([0, 1, 2], size=60, p=[0.3, 0.4, 0.3])
    ours = aalen_johansen(durations, events)
    for kind in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ajf = AalenJohansenFitter(calculate_variance=False).fit(durations, events, event_of_interest=kind)
        assert ours.cif[kind] == pytest.approx(float(ajf.cumulative_density_.iloc[-1, 0]), abs=1e-12)
    assert ours.cif[1] + ours.cif[2] + ours.remaining == pytest.approx(1.0)


def test_aalen_johansen_handles_ties_exactly_and_ignores_row_order():
    d = np.array([1, 1, 1, 2, 2, 3], dtype=float)
    e = np.array([1, 2, 0, 1, 0, 2])
    # t=1: 6 at risk, one of each outcome: CIF1 = 1/6, CIF2 = 1/6, S = 4/6; t=2: 3 at risk, one
    # advances: CIF1 += 4/6 * 1/3; S = 4/9; t=3: 1 at risk, lost: CIF2 += 4/9
    res = aalen_johansen(d, e)
    assert res.cif[1] == pytest.approx(1 / 6 + 4 / 18)
    assert res.cif[2] == pytest.approx(1 / 6 + 4 / 9)
    assert res.remaining == pytest.approx(0.0)
    perm = np.array([5, 3, 0, 4, 2, 1])
    assert aalen_johansen(d[perm], e[perm]) == res


def test_km_quantiles_are_robust_to_float_rounding_at_exact_levels():
    # lifelines computes S in log space: with 3 events out of 6, S = 0.5000000000000001 there
    s = km_summary(np.arange(1, 7, dtype=float), np.array([1, 1, 1, 0, 0, 0], dtype=bool))
    assert s.median == 3.0
    assert s.p80 is None
    assert km_summary(np.array([]), np.array([], dtype=bool)).median is None
    assert km_summary(np.array([1.0, 2.0]), np.array([False, False])).median is None
    assert km_quantile(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.6, 0.1]), 0.8) == 2.0
