"""Replay the deal-risk model as of past dates and grade it against what happened afterwards.

At each date d the model is trained on deals closed by d, and every deal open at d is scored with
what was known at d. The label is the deal's outcome in the latest data (won = 1, lost = 0); deals
still open at the end of the data are left out (their outcome is unknown). Reported, pooled over
dates: ROC AUC and Brier score of the model and of the baseline (win rate by stage and segment
among the same training deals), a reliability table (predicted vs observed win rate per decile of
p_win), and AUC by share of the deal's cycle elapsed at d (how early the risk is visible).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl

from dealpulse.metrics.asof import Snapshot
from dealpulse.risk.model import auc
from dealpulse.risk.score import open_features
from dealpulse.risk.train import train

CYCLE_BUCKETS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0001))


def outcomes(final: Snapshot) -> pl.DataFrame:
    """deal_id, status, created_at, closed_at as of the latest data."""
    d = final.deals
    out = d.select("deal_id", "status", "created_at", "closed_at").to_polars()
    return out.with_columns(pl.col("created_at").cast(pl.Datetime("us")), pl.col("closed_at").cast(pl.Datetime("us")))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(np.mean((p - y) ** 2)) if len(y) else None


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Predicted versus observed win rate in bins of p_win (equal width, empty bins left out)."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.sum() == 0:
            continue
        rows.append({"p_from": round(float(edges[b]), 2), "p_to": round(float(edges[b + 1]), 2), "n": int(m.sum()),
                     "predicted": round(float(p[m].mean()), 4), "observed": round(float(y[m].mean()), 4)})
    return rows


def calibration_error(table: list[dict]) -> float | None:
    """Expected calibration error: |predicted − observed| weighted by the bins' sizes."""
    n = sum(r["n"] for r in table)
    return round(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in table) / n, 4) if n else None


def _grade(y: np.ndarray, p: np.ndarray, b: np.ndarray) -> dict:
    return {"n": int(len(y)), "won": int(y.sum()), "auc": _r(auc(y, p)), "baseline_auc": _r(auc(y, b)),
            "brier": _r(brier(y, p)), "baseline_brier": _r(brier(y, b))}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def backtest_risk(final: Snapshot, dates: Sequence[datetime], *, progress: Callable[[int, int], Any] | None = None) -> dict:
    """Replay as of each date (see the module docstring). `final` is the snapshot of the latest data."""
    truth = outcomes(final)
    scored = []
    per_date = []
    for i, d in enumerate(dates):
        snap = final.at(d)
        tr = train(snap)
        x = open_features(tr)
        if x.height:
            p, b = tr.predict(x), tr.predict_baseline(x)
            f = x.select("deal_id", "age_days").with_columns(p=pl.Series(p), b=pl.Series(b), date=pl.lit(d))
            f = f.join(truth, on="deal_id", how="left").filter(pl.col("status").is_in(["won", "lost"]))
            f = f.with_columns(y=(pl.col("status") == "won").cast(pl.Int8),
                               cycle=(pl.col("closed_at") - pl.col("created_at")).dt.total_seconds() / 86400)
            f = f.with_columns(share=(pl.col("age_days") / pl.col("cycle").clip(lower_bound=1e-6)).clip(0, 1))
            scored.append(f.select("deal_id", "date", "p", "b", "y", "share"))
            g = _grade(f["y"].to_numpy(), f["p"].to_numpy(), f["b"].to_numpy())
        else:
            g = _grade(np.array([]), np.array([]), np.array([]))
        per_date.append({"date": d, "model": tr.model.kind, "trained_on_won": tr.model.n_won,
                         "trained_on_lost": tr.model.n_lost, "open": x.height, **g})
        snap.release()
        if progress:
            progress(i + 1, len(dates))
    allf = pl.concat(scored) if scored else pl.DataFrame(schema={"p": pl.Float64, "b": pl.Float64, "y": pl.Int8, "share": pl.Float64})
    y, p, b = allf["y"].to_numpy().astype(float), allf["p"].to_numpy(), allf["b"].to_numpy()
    table = reliability(y, p)
    by_share = []
    for lo, hi in CYCLE_BUCKETS:
        m = (allf["share"] >= lo) & (allf["share"] < hi)
        sub = allf.filter(m)
        by_share.append({"share_from": lo, "share_to": min(hi, 1.0),
                         **_grade(sub["y"].to_numpy().astype(float), sub["p"].to_numpy(), sub["b"].to_numpy())})
    return {
        "pooled": {**_grade(y, p, b), "calibration_error": calibration_error(table),
                   "baseline_calibration_error": calibration_error(reliability(y, b))},
        "reliability": table,
        "by_cycle_share": by_share,
        "by_date": per_date,
    }


__all__ = ["backtest_risk", "reliability", "calibration_error", "outcomes"]
