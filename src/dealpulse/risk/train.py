"""Train the win model as of a snapshot: only deals closed by then, at moments of their lives before
the close, with features computed exactly as a live score computes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from dealpulse.metrics.asof import Snapshot
from dealpulse.risk.features import CATEGORICAL, Reference, build_reference, feature_columns, features, training_moments
from dealpulse.risk.history import History, load_history
from dealpulse.risk.model import StageRates, WinModel, fit_win_model

EVERY = timedelta(days=7)


@dataclass
class Trained:
    """A fitted model with what explains it: the history it saw, the norms, the baseline, lookup rates."""

    history: History
    ref: Reference
    model: WinModel
    baseline: StageRates
    train: pl.DataFrame  # features + deal_id, t, won, close_in_days
    remaining: dict[tuple[str, str], float] = field(default_factory=dict)  # (segment, stage) -> median days to a win
    remaining_stage: dict[str, float] = field(default_factory=dict)
    rates: dict[str, dict[Any, tuple[float, int]]] = field(default_factory=dict)  # lookup win rates for reasons

    @property
    def columns(self) -> list[str]:
        return self.model.columns

    def frame(self, x: pl.DataFrame) -> pd.DataFrame:
        return x.select(self.columns).to_pandas()

    def predict(self, x: pl.DataFrame) -> np.ndarray:
        return self.model.predict(self.frame(x))

    def predict_baseline(self, x: pl.DataFrame) -> np.ndarray:
        return self.baseline.predict(self.frame(x))


def _rate_table(df: pl.DataFrame, keys: list[str], prior: float = 10.0) -> dict[Any, tuple[float, int]]:
    overall = float(df["won"].mean() or 0.0) if df.height else 0.0
    g = df.group_by(keys).agg(w=pl.col("won").sum(), n=pl.len())
    out = {}
    for r in g.iter_rows(named=True):
        key = tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]
        out[key] = ((r["w"] + prior * overall) / (r["n"] + prior), int(r["n"]))
    return out


def train_from_history(h: History, *, every: timedelta = EVERY, seed: int = 0) -> Trained:
    moments = training_moments(h, every=every)
    ref = build_reference(h, moments["deal_id"].unique())
    x = features(h, moments.select("deal_id", "t"), ref)
    x = x.with_columns(won=moments["won"], close_in_days=moments["close_in_days"])
    cols = feature_columns(x)
    X = x.select(cols).to_pandas()
    model = fit_win_model(X, x["won"].to_numpy(), x["deal_id"].to_numpy(), categorical=CATEGORICAL, seed=seed)
    baseline = StageRates().fit(X, x["won"].to_numpy()) if "stage" in X else StageRates()
    tr = Trained(history=h, ref=ref, model=model, baseline=baseline, train=x)
    won = x.filter(pl.col("won") == 1)
    for r in won.group_by(pl.col("segment").fill_null(""), "stage").agg(pl.col("close_in_days").median(), pl.len()).iter_rows(named=True):
        if r["len"] >= 5:
            tr.remaining[(r["segment"], r["stage"])] = float(r["close_in_days"])
    for r in won.group_by("stage").agg(pl.col("close_in_days").median()).iter_rows(named=True):
        tr.remaining_stage[r["stage"]] = float(r["close_in_days"])
    tr.rates["forecast"] = _rate_table(x, ["stage", "forecast_category"])
    tr.rates["channel"] = _rate_table(x, ["channel"])
    tr.rates["stage"] = _rate_table(x, ["stage"])
    return tr


def train(snap: Snapshot, *, every: timedelta = EVERY, seed: int = 0) -> Trained:
    """The model as of `snap.as_of` (trained on deals closed by then)."""
    return train_from_history(load_history(snap), every=every, seed=seed)


__all__ = ["Trained", "train", "train_from_history", "EVERY"]
