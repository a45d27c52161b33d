"""The win-probability model: gradient boosting with calibrated probabilities, and what it falls back to.

`fit_win_model(X, y, groups)` picks by how much history there is:
- `boosting`: LightGBM; probabilities calibrated on out-of-fold predictions (folds by deal, so a
  deal's moments never sit on both sides), isotonic with plenty of data, else Platt; a probability is
  the mean over the fold models (no refit: the calibrator fits exactly their scores). Alone from
  `PLENTY` won and lost deals on;
- `logistic`: an L2-regularised logistic regression on standardised features, calibrated the same
  way — it needs far fewer deals. Below `MIN_WON` won or lost deals it is the only model tried;
  between `MIN_WON` and `PLENTY` both are cross-fitted and the lower out-of-fold Brier score wins;
- `rates` (a handful of closed deals): win rate by stage, shrunk towards the overall rate.

Also the baseline every model must beat: the win rate by current stage and segment (`StageRates`).
Inputs are pandas frames; categorical columns are pandas `category` dtype.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

MIN_WON = 50  # below this many won (or lost) deals, boosting is not tried
PLENTY = 200  # from this many won and lost deals on, boosting without a contest
MIN_RATES = 8  # below this many won or lost deals, only stage rates
FOLDS = 3
STOP_AFTER = 40  # early stopping: trees without improvement of the held-out log loss
P_FLOOR = 0.01  # no calibrated probability is more certain than 1% / 99%: the extremes rest on few deals
MAX_TREES = 800  # the number of trees is chosen by early stopping on the held-out folds
BOOSTING_PARAMS = dict(n_estimators=MAX_TREES, learning_rate=0.05, num_leaves=31, min_child_samples=60,
                       subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=5.0,
                       verbose=-1, n_jobs=1)  # one thread: OpenMP spin-waits badly on a busy 2-core machine


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def prepare(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Categorical columns with the training categories (unknown values become missing), numbers as float."""
    out = X.copy()
    for c in out.columns:
        if c in categories:
            out[c] = pd.Categorical(out[c].astype("object"), categories=categories[c])
        else:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out


def categories_of(X: pd.DataFrame, categorical: Sequence[str]) -> dict[str, list[str]]:
    return {c: sorted({str(v) for v in X[c].dropna().unique()}) for c in categorical if c in X.columns}


@dataclass
class Calibrator:
    kind: str  # isotonic | platt
    model: Any

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        p = self.model.predict(raw) if self.kind == "isotonic" else self.model.predict_proba(raw.reshape(-1, 1))[:, 1]
        return np.clip(p, P_FLOOR, 1 - P_FLOOR)


def fit_calibrator(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos >= 200 and neg >= 200:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(raw, y)
        return Calibrator("isotonic", iso)
    lr = LogisticRegression(C=1e4)
    lr.fit(raw.reshape(-1, 1), y)
    return Calibrator("platt", lr)


@dataclass
class WinModel:
    """The fitted model: the cross-fitted fold models and one calibrator fitted on their held-out scores.
    A probability is the mean over fold models of the calibrated score (each fold model's scores are
    exactly what the calibrator was fitted on — a model refit on everything would be sharper than that)."""

    kind: str  # boosting | logistic | rates
    columns: list[str]
    categories: dict[str, list[str]]
    calibrator: Calibrator | None = None
    oof: np.ndarray | None = None  # calibrated out-of-fold probabilities of the training rows
    n_rows: int = 0
    n_groups: int = 0
    n_won: int = 0
    n_lost: int = 0
    rates: "StageRates | None" = None
    folds: list = field(default_factory=list)  # (estimator, base log-odds of its training part) per fold
    fold_of: dict = field(default_factory=dict)  # training group (deal) -> its held-out fold
    notes: list[str] = field(default_factory=list)

    def _fold_raw(self, est: Any, base: float, Xp: pd.DataFrame) -> np.ndarray:
        if self.kind == "boosting":
            return est.predict(Xp, raw_score=True) - base
        return est.decision_function(_to_object_cats(Xp, self.categories)) - base

    def _live(self) -> list[tuple[Any, float]]:
        return [(est, base) for est, base in self.folds if est is not None]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.kind == "rates":
            return self.rates.predict(X)
        Xp = prepare(X[self.columns], self.categories)
        live = self._live()
        return np.mean([self.calibrator(self._fold_raw(est, base, Xp)) for est, base in live], axis=0)

    def predict_held_out(self, X: pd.DataFrame, groups: Sequence[Any]) -> np.ndarray:
        """Like `predict`, but a row of a training deal is scored by the fold model that did not see that
        deal (cross-fitted), so its own outcome never informs its probability."""
        p = self.predict(X)
        if self.kind == "rates" or not self.folds:
            return p
        fold = np.array([self.fold_of.get(g, -1) for g in np.asarray(groups)])
        Xp = prepare(X[self.columns], self.categories)
        for k, (est, base) in enumerate(self.folds):
            rows = fold == k
            if rows.any() and est is not None:
                p[rows] = self.calibrator(self._fold_raw(est, base, Xp[rows]))
        return p

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each input column's push on the log-odds of winning, for each row (boosting: exact tree SHAP of
        one fold model; logistic: coefficient × centred value, mean over the fold models); zeros for `rates`."""
        out = pd.DataFrame(0.0, columns=self.columns, index=X.index)
        if self.kind == "rates":
            return out
        Xp = prepare(X[self.columns], self.categories)
        live = self._live()
        if self.kind == "boosting":
            # exact tree SHAP is the slow part of scoring a big pipeline: one fold model explains (the
            # folds agree closely on what matters), on every core
            est = live[0][0]
            contrib = est.predict(Xp, pred_contrib=True, num_threads=os.cpu_count() or 1)
            return pd.DataFrame(contrib[:, :-1], columns=self.columns, index=X.index)
        for est, _ in live:
            pre, lr = est.named_steps["prep"], est.named_steps["lr"]
            Z = np.asarray(pre.transform(_to_object_cats(Xp, self.categories)))
            parts = (Z - getattr(est, "_dp_centre", 0.0)) * lr.coef_[0]
            for j, name in enumerate(pre.get_feature_names_out()):
                col = _source_column(str(name), self.columns)
                if col is not None:
                    out[col] += parts[:, j]
        return out / max(1, len(live))


def _source_column(name: str, columns: list[str]) -> str | None:
    """The input column a transformed feature came from (`num__x`, `missingindicator_x`, `cat__stage_new`)."""
    bare = name.split("__", 1)[-1]
    if bare.startswith("missingindicator_"):
        bare = bare[len("missingindicator_"):]
    best = None
    for c in columns:
        if bare == c or bare.startswith(c + "_"):
            if best is None or len(c) > len(best):
                best = c
    return best


class StageRates:
    """Win rate by (stage, segment) among training rows, shrunk towards the stage's rate and that
    towards the overall rate — the baseline ("what a stage-based forecast says")."""

    def __init__(self, prior: float = 20.0) -> None:
        self.prior = prior
        self.table: dict[tuple[Any, Any], float] = {}
        self.stage: dict[Any, float] = {}
        self.overall = 0.5

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "StageRates":
        df = pd.DataFrame({"stage": X["stage"].astype("object").values,
                           "segment": X.get("segment", pd.Series([None] * len(X))).astype("object").values, "y": y})
        self.overall = float((df.y.sum() + 1) / (len(df) + 2))
        for st, g in df.groupby("stage", dropna=False):
            self.stage[_key(st)] = float((g.y.sum() + self.prior * self.overall) / (len(g) + self.prior))
        for (st, seg), g in df.groupby(["stage", "segment"], dropna=False):
            base = self.stage.get(_key(st), self.overall)
            self.table[(_key(st), _key(seg))] = float((g.y.sum() + self.prior * base) / (len(g) + self.prior))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        stages = X["stage"].astype("object").values
        segs = X.get("segment", pd.Series([None] * len(X))).astype("object").values
        return np.array([self.table.get((_key(a), _key(b)), self.stage.get(_key(a), self.overall))
                         for a, b in zip(stages, segs)], dtype=float)


def _key(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _group_folds(groups: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold

    # integer codes: GroupKFold's shuffle compares groups with np.isin, which is quadratic-slow on strings
    codes = pd.factorize(pd.Series(groups, dtype="object"), sort=True)[0]
    k = max(2, min(k, int(codes.max()) + 1 if len(codes) else 2))
    return list(GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(codes)), groups=codes))


def _new_eval_api() -> bool:
    import inspect

    from lightgbm import LGBMClassifier

    return "eval_X" in inspect.signature(LGBMClassifier.fit).parameters


_NEW_EVAL_API = _new_eval_api()


def _boosting(seed: int) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(random_state=seed, **BOOSTING_PARAMS)


def _logistic(columns: list[str], categories: dict[str, list[str]]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = [c for c in columns if c in categories]
    nums = [c for c in columns if c not in categories]
    prep = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                          ("sc", StandardScaler())]), nums),
        ("cat", Pipeline([("imp", SimpleImputer(strategy="constant", fill_value="(none)", keep_empty_features=True)),
                          ("oh", OneHotEncoder(handle_unknown="ignore"))]), cats),
    ], sparse_threshold=0.0)
    return Pipeline([("prep", prep), ("lr", LogisticRegression(C=0.3, max_iter=3000))])


def _to_object_cats(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    out = X.copy()
    for c in categories:
        if c in out.columns:
            out[c] = out[c].astype("object")
    return out


def _cross_fit(kind: str, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, columns: list[str],
               categories: dict[str, list[str]], seed: int) -> tuple[np.ndarray, list, dict]:
    """Fold models (folds by deal) and their out-of-fold raw scores. Each fold's base rate is taken out
    of its scores, so that a held-out fold with more wins than the rest is not scored lower for it.
    Boosting stops adding trees when the held-out log loss stops improving."""
    make = (lambda: _boosting(seed)) if kind == "boosting" else (lambda: _logistic(columns, categories))
    fit_X = X if kind == "boosting" else _to_object_cats(X, categories)
    oof_raw = np.zeros(len(y))
    folds: list[tuple[Any, float]] = []
    fold_of: dict[Any, int] = {}
    for k, (train, test) in enumerate(_group_folds(groups, FOLDS, seed)):
        for g in np.unique(groups[test]):
            fold_of[g] = k
        if len(np.unique(y[train])) < 2:
            folds.append((None, 0.0))
            continue
        est = make()
        if kind == "boosting":
            from lightgbm import early_stopping

            held_out = fit_X.iloc[test], y[test]
            # LightGBM 4.6 renamed eval_set to eval_X / eval_y
            kw = {"eval_X": (held_out[0],), "eval_y": (held_out[1],)} if _NEW_EVAL_API else {"eval_set": [held_out]}
            est.fit(fit_X.iloc[train], y[train], callbacks=[early_stopping(STOP_AFTER, verbose=False)], **kw)
            raw = est.predict(fit_X.iloc[test], raw_score=True)
        else:
            est.fit(fit_X.iloc[train], y[train])
            est._dp_centre = np.asarray(est.named_steps["prep"].transform(fit_X.iloc[train])).mean(axis=0)
            raw = est.decision_function(fit_X.iloc[test])
        base = float(_logit(np.array([y[train].mean()]))[0])
        oof_raw[test] = raw - base
        folds.append((est, base))
    return oof_raw, folds, fold_of


def fit_win_model(X: pd.DataFrame, y: Sequence[int], groups: Sequence[Any], *, categorical: Sequence[str] = (),
                  seed: int = 0, min_won: int = MIN_WON) -> WinModel:
    """Fit the best model the history allows (see the module docstring). With little history (fewer
    than `PLENTY` won or lost deals) both boosting and the logistic model are cross-fitted and the one
    with the lower out-of-fold Brier score is kept."""
    y = np.asarray(y, dtype=int)
    groups = np.asarray(groups)
    columns = list(X.columns)
    categories = categories_of(X, categorical)
    gy = pd.DataFrame({"g": groups, "y": y}).groupby("g").y.max()
    n_won, n_lost = int(gy.sum()), int(len(gy) - gy.sum())
    rates = StageRates().fit(X, y) if "stage" in X.columns else None
    model = WinModel(kind="rates", columns=columns, categories=categories, n_rows=len(y), n_groups=len(gy),
                     n_won=n_won, n_lost=n_lost, rates=rates)
    if min(n_won, n_lost) < MIN_RATES or len(np.unique(y)) < 2:
        if rates is None:
            rates = StageRates()
            rates.overall = float((y.sum() + 1) / (len(y) + 2))
            model.rates = rates
        model.oof = model.rates.predict(X) if "stage" in X.columns else np.full(len(y), rates.overall)
        return model
    Xp = prepare(X, categories)
    few = min(n_won, n_lost)
    kinds = ["boosting"] if few >= PLENTY else (["logistic", "boosting"] if few >= min_won else ["logistic"])
    best = None
    for kind in kinds:
        oof_raw, folds, fold_of = _cross_fit(kind, Xp, y, groups, columns, categories, seed)
        cal = fit_calibrator(oof_raw, y)
        oof = cal(oof_raw)
        brier = float(np.mean((oof - y) ** 2))
        model.notes.append(f"{kind}: out-of-fold Brier {brier:.4f}")
        if best is None or brier < best[0]:
            best = (brier, kind, cal, oof, folds, fold_of)
    _, kind, cal, oof, folds, fold_of = best
    model.kind, model.calibrator, model.oof, model.folds, model.fold_of = kind, cal, oof, folds, fold_of
    return model


def auc(y: Sequence[int], p: Sequence[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(p)))


__all__ = ["WinModel", "StageRates", "fit_win_model", "prepare", "auc", "MIN_WON"]
