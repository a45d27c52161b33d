"""Win prediction on IBM Sales Win-Loss with dealpulse's win model (`fit_win_model`).

    python benchmarks/outcome_ibm.py                  # writes benchmarks/results/outcome_ibm.json

78,025 closed opportunities, no dates: random stratified 5-fold cross-validation (folds grouped by
Opportunity Number, which repeats on a few rows, so a repeated opportunity never sits on both sides).
Two column sets (../shared/design/benchmarks.md):
- `creation`: what is known when the opportunity is created — see CREATION below. Competitor Type
  is borderline (it may be learnt during the deal); the figure without it is reported too.
- `all` (LEAKY): adds the columns that summarise the deal's whole life (days in stage, stage changes,
  days identified-to-closing/qualified and the three time ratios). Never an early-warning figure.
Opportunity Number is never a feature (an id; it may encode time). Reference: XGBoost ≈ 0.835 with
creation-time columns, ≈ 0.90 with all columns (public notebooks).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ibm_sales_win_loss" / "WA_Fn-UseC_-Sales-Win-Loss.csv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "outcome_ibm.json"

CREATION = ["Opportunity Amount USD", "Deal Size Category", "Region", "Route To Market", "Supplies Group",
            "Supplies Subgroup", "Client Size By Revenue", "Client Size By Employee Count",
            "Revenue From Client Past Two Years", "Competitor Type"]
LIFE = ["Elapsed Days In Sales Stage", "Sales Stage Change Count", "Total Days Identified Through Closing",
        "Total Days Identified Through Qualified", "Ratio Days Identified To Total Days",
        "Ratio Days Validated To Total Days", "Ratio Days Qualified To Total Days"]
CATEGORICAL = ["Region", "Route To Market", "Supplies Group", "Supplies Subgroup", "Competitor Type"]
SETS = {
    "creation": CREATION,
    "creation_no_competitor": [c for c in CREATION if c != "Competitor Type"],
    "all (leaky)": CREATION + LIFE,
}
REFERENCE = {"creation": 0.835, "all (leaky)": 0.90}
FOLDS = 5


def load(path: Path = DATA) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    d = pd.read_csv(path)
    y = (d["Opportunity Result"] == "Won").astype(int).to_numpy()
    for c in CATEGORICAL:
        d[c] = d[c].astype("category")
    return d, y, d["Opportunity Number"].to_numpy()


def cross_validate(d: pd.DataFrame, y: np.ndarray, groups: np.ndarray, columns: list[str], seed: int = 0) -> dict:
    from sklearn.model_selection import StratifiedGroupKFold

    from dealpulse.risk.backtest import brier, calibration_error, reliability
    from dealpulse.risk.model import auc, fit_win_model

    p = np.zeros(len(y))
    fold_auc = []
    kinds = set()
    cats = [c for c in columns if c in CATEGORICAL]
    for train, test in StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed).split(d, y, groups):
        m = fit_win_model(d.iloc[train][columns], y[train], groups[train], categorical=cats, seed=seed)
        kinds.add(m.kind)
        p[test] = m.predict(d.iloc[test][columns])
        fold_auc.append(auc(y[test], p[test]))
    rel = reliability(y, p)
    return {"auc": round(auc(y, p), 4), "auc_folds": [round(a, 4) for a in fold_auc],
            "auc_fold_sd": round(float(np.std(fold_auc)), 4), "brier": round(brier(y, p), 4),
            "brier_prior": round(float(np.mean((y.mean() - y) ** 2)), 4), "ece": calibration_error(rel),
            "reliability": rel, "model_kind": sorted(kinds), "columns": columns}


def run(sets: dict[str, list[str]] = SETS, log=print) -> dict:
    t0 = time.perf_counter()
    d, y, groups = load()
    out = {"rows": int(len(y)), "won_share": round(float(y.mean()), 4),
           "cv": f"stratified {FOLDS}-fold, grouped by Opportunity Number, shuffled (seed 0); no dates",
           "sets": {}, "reference_xgboost_auc": REFERENCE}
    for name, cols in sets.items():
        out["sets"][name] = r = cross_validate(d, y, groups, cols)
        log(f"{name:<24} AUC {r['auc']:.3f} (folds ±{r['auc_fold_sd']:.3f})  Brier {r['brier']:.3f} "
            f"(prior {r['brier_prior']:.3f})  ECE {r['ece']:.3f}  reference {REFERENCE.get(name, '-')}")
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=str(RESULTS), help="where to write the figures ('' for nowhere)")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"IBM Sales Win-Loss is absent: {DATA}", file=sys.stderr)
        return 2
    print(f"IBM Sales Win-Loss: dealpulse fit_win_model (LightGBM + calibration), {FOLDS}-fold CV")
    res = run()
    for name in ("creation",):
        print(f"reliability ({name}): " + "  ".join(
            f"[{b['p_from']:.1f},{b['p_to']:.1f}) n={b['n']} pred {b['predicted']:.2f} obs {b['observed']:.2f}"
            for b in res["sets"][name]["reliability"]))
    print(f"time {res['seconds']} s; peak memory {res['peak_rss_mb']} MB (max RSS)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
