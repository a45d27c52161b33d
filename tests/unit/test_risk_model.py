"""The win model: the right kind for the amount of history, calibrated probabilities, honest baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dealpulse.risk.backtest import calibration_error, reliability
from dealpulse.risk.model import StageRates, auc, fit_win_model


def _data(n_deals: int, seed: int = 0, rows_per_deal: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    deal = np.repeat(np.arange(n_deals), rows_per_deal)
    n = deal.size
    stage = rng.choice(["new", "proposal", "contract"], n)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    quality = rng.normal(size=n_deals)[deal]
    logit = -0.8 + 1.2 * x1 + 0.8 * quality + np.select([stage == "contract", stage == "proposal"], [1.5, 0.3], -0.7)
    p = 1 / (1 + np.exp(-logit))
    won = (rng.random(n_deals) < np.array([p[deal == d].mean() for d in range(n_deals)])).astype(int)
    X = pd.DataFrame({"stage": stage, "segment": rng.choice(["a", "b"], n), "x1": x1, "x2": x2, "q": quality + rng.normal(0, 0.5, n)})
    return X, won[deal], deal, p


def test_the_model_kind_follows_the_history():
    X, y, g, _ = _data(1200)
    assert fit_win_model(X, y, g, categorical=["stage", "segment"]).kind == "boosting"
    few = np.isin(g, np.arange(100))
    m = fit_win_model(X[few], y[few], g[few], categorical=["stage", "segment"])
    assert m.kind == "logistic" and m.n_won < 50
    tiny = np.isin(g, np.arange(12))
    r = fit_win_model(X[tiny], y[tiny], g[tiny], categorical=["stage", "segment"])
    assert r.kind == "rates"
    assert ((r.predict(X) > 0) & (r.predict(X) < 1)).all()


def test_probabilities_are_calibrated_and_beat_the_stage_baseline():
    X, y, g, _ = _data(3000, seed=1, rows_per_deal=1)
    Xt, yt, _, _ = _data(1500, seed=2, rows_per_deal=1)
    for kind_deals in (3000, 250):  # boosting, then the logistic fallback
        keep = g < kind_deals
        m = fit_win_model(X[keep], y[keep], g[keep], categorical=["stage", "segment"])
        p = m.predict(Xt)
        assert calibration_error(reliability(yt, p)) < 0.05, m.kind
        base = StageRates().fit(X[keep], y[keep]).predict(Xt)
        assert auc(yt, p) > auc(yt, base) + 0.05, m.kind
        contrib = m.contributions(Xt.iloc[:50])
        assert list(contrib.columns) == list(X.columns) and np.isfinite(contrib.to_numpy()).all()
        # x1 drives the outcome, x2 is noise: the pushes say so
        assert contrib["x1"].abs().mean() > 3 * contrib["x2"].abs().mean(), m.kind


def test_out_of_fold_probabilities_never_saw_their_deal():
    X, y, g, _ = _data(600, seed=3)
    m = fit_win_model(X, y, g, categorical=["stage", "segment"])
    # in-sample predictions of a boosted model are sharper than honest out-of-fold ones
    assert auc(y, m.oof) < auc(y, m.predict(X))
