"""Who says "commit" on deals that do not close: each manager's forecast calls against what happened
and against the model.

For every deal closed by as_of that its owner marked `commit` (or `best_case`) before the close, we
take the first moment of that mark and ask three questions:
- what does the call mean here? the whole team's win rate on deals called `commit` (that is what a
  commit is worth in this company, whatever the label says);
- what did the model say at that moment? cross-fitted: the deal's own outcome never trained the model
  that scored it — a manager who commits weak deals shows a low model p_win on their commits;
- what happened? the manager's win rate on those deals, with a Wilson interval.
`optimism` = team's commit win rate − the manager's commit win rate shrunk towards the model's
expectation for those very deals (so 3 commits are not judged on 3 coin flips, and a small sample leans
on what the deals looked like), in probability points: positive = the manager's "commit" is worth less
than the team's, i.e. they overstate; comparable across managers (one scale, one prior). The manager's
own `probability` at the call, where the CRM has one, is shown as `claimed_p_on_commits`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from dealpulse.report.stats import wilson
from dealpulse.risk.features import features
from dealpulse.risk.train import Trained

NOMINAL = {"commit": 0.9, "best_case": 0.6}  # what the calls claim where the CRM has no own probability
PRIOR = 8.0  # pseudo-deals pulling a manager's commit win rate towards the team's
ROW_COLUMNS = ("manager", "commit_deals", "commit_won", "commit_win_rate", "commit_win_rate_low", "commit_win_rate_high",
               "team_commit_win_rate", "claimed_p_on_commits", "model_p_win_on_commits", "optimism", "best_case_deals", "best_case_win_rate",
               "model_p_win_on_best_case", "best_case_optimism", "open_commits", "open_commits_model_p", "verdict")


def _first_marks(tr: Trained) -> pl.DataFrame:
    """deal_id, category, t: the first moment each deal was marked with each category, before its close."""
    h = tr.history
    f = h.fields.filter((pl.col("field") == "forecast_category") & pl.col("value").is_in(list(NOMINAL)))
    closed = h.closed.select("deal_id", "closed_at", "owner", won=(pl.col("status") == "won").cast(pl.Int8))
    f = f.join(closed, on="deal_id", how="inner").filter(pl.col("changed_at") < pl.col("closed_at"))
    return f.group_by("deal_id", "value").agg(t=pl.col("changed_at").min(), owner=pl.col("owner").first(),
                                                won=pl.col("won").first()).rename({"value": "category"})


def cross_predict(tr: Trained, x: pl.DataFrame) -> np.ndarray:
    """p_win for rows of (possibly training) deals from models that did not see those deals."""
    if x.height == 0:
        return np.array([])
    return tr.model.predict_held_out(tr.frame(x), x["deal_id"].to_numpy())


def optimism(tr: Trained, *, nominal: dict[str, float] | None = None, min_deals: int = 5) -> list[dict]:
    """One row per manager with any commit or best-case call (see the module docstring)."""
    nominal = {**NOMINAL, **(nominal or {})}
    marks = _first_marks(tr)
    h = tr.history
    rows: dict[str, dict[str, Any]] = {}
    if marks.height:
        x = features(h, marks.select("deal_id", "t"), tr.ref)
        p = cross_predict(tr, x)
        stated = x["manager_probability"].to_numpy()
        nom = np.array([nominal[c] for c in marks["category"].to_list()])
        claimed = np.where(np.isnan(stated.astype(float)), nom, stated.astype(float))
        m = marks.with_columns(p=pl.Series(p), claimed=pl.Series(claimed))
        for cat in ("commit", "best_case"):
            c = m.filter(pl.col("category") == cat)
            if c.height == 0:
                continue
            team = float(c["won"].mean())
            for g in c.group_by("owner").agg(n=pl.len(), won=pl.col("won").sum(), p=pl.col("p").mean(),
                                              claimed=pl.col("claimed").mean()).iter_rows(named=True):
                r = rows.setdefault(g["owner"], {"manager": g["owner"]})
                shrunk = (g["won"] + PRIOR * g["p"]) / (g["n"] + PRIOR)
                lo, hi = wilson(g["won"], g["n"])
                if cat == "commit":
                    r.update(commit_deals=g["n"], commit_won=int(g["won"]), commit_win_rate=g["won"] / g["n"],
                             commit_win_rate_low=lo, commit_win_rate_high=hi, claimed_p_on_commits=g["claimed"],
                             model_p_win_on_commits=g["p"], optimism=team - shrunk, team_commit_win_rate=team)
                else:
                    r.update(best_case_deals=g["n"], best_case_win_rate=g["won"] / g["n"],
                             model_p_win_on_best_case=g["p"], best_case_optimism=team - shrunk)
    # deals committed now
    from dealpulse.risk.score import open_features

    xo = open_features(tr)
    xo = xo.filter(pl.col("forecast_category") == "commit")
    if xo.height:
        po = tr.predict(xo)
        o = xo.select("owner").with_columns(p=pl.Series(po))
        for g in o.group_by("owner").agg(n=pl.len(), p=pl.col("p").mean()).iter_rows(named=True):
            r = rows.setdefault(g["owner"], {"manager": g["owner"]})
            r.update(open_commits=g["n"], open_commits_model_p=g["p"])
    out = []
    for r in rows.values():
        full = {c: r.get(c) for c in ROW_COLUMNS}
        full["commit_deals"] = full["commit_deals"] or 0
        full["open_commits"] = full["open_commits"] or 0
        full["verdict"] = _verdict(r, min_deals)
        out.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in full.items()})
    out.sort(key=lambda r: (r["optimism"] is None, -(r["optimism"] or 0)))
    return out


def _verdict(r: dict, min_deals: int) -> str:
    n = r.get("commit_deals") or 0
    if n < min_deals:
        return "not_enough_data"
    team, hi, lo = r["team_commit_win_rate"], r["commit_win_rate_high"], r["commit_win_rate_low"]
    if team > hi:
        return "overstates"
    if team < lo:
        return "understates"
    return "fair"


__all__ = ["optimism", "cross_predict", "ROW_COLUMNS", "NOMINAL"]
