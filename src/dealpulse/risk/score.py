"""Score the open deals as of a moment: calibrated p_win, expected close, reasons in plain words."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Sequence

import polars as pl

from dealpulse.metrics.asof import Snapshot
from dealpulse.risk.features import features
from dealpulse.risk.reasons import Explainer
from dealpulse.risk.state import state_of
from dealpulse.risk.support import deal_notice, model_notice, summarise
from dealpulse.risk.train import Trained, train

ROW_COLUMNS = ("deal_id", "owner", "segment", "stage", "amount", "p_win", "baseline_p_win", "expected_close",
               "crm_expected_close", "days_in_stage", "state", "value_at_risk", "reasons", "in_favour", "reason_codes",
               "notice")


def open_features(tr: Trained) -> pl.DataFrame:
    """Features of every deal open at the history's as_of, at that moment."""
    pairs = tr.history.open.select("deal_id").with_columns(t=pl.lit(tr.history.as_of).cast(pl.Datetime("us")))
    return features(tr.history, pairs, tr.ref)


def expected_close(tr: Trained, segment: str | None, stage: str | None, at: datetime) -> datetime | None:
    days = tr.remaining.get((segment or "", stage), tr.remaining_stage.get(stage))
    if days is None or math.isnan(days):
        return None
    return at + timedelta(days=float(days))


def score_frame(tr: Trained, x: pl.DataFrame, *, lang: str = "en", top: int = 3) -> list[dict]:
    """Rows for the deals in the features frame `x` (one moment per deal)."""
    return score_frame_in(tr, x, (lang,), top=top)[lang]


def score_frame_in(tr: Trained, x: pl.DataFrame, langs: Sequence[str], *, top: int = 3) -> dict[str, list[dict]]:
    """`score_frame` in several languages: the deals are predicted and their pushes computed once; only the
    reasons' texts are written per language."""
    langs = tuple(dict.fromkeys(langs))
    if x.height == 0:
        return {lang: [] for lang in langs}
    X = tr.frame(x)
    p = tr.model.predict(X)
    base = tr.baseline.predict(X)
    pushes = tr.model.contributions(X)
    explainers = {lang: Explainer(tr, lang) for lang in langs}
    out: dict[str, list[dict]] = {lang: [] for lang in langs}
    for i, r in enumerate(x.iter_rows(named=True)):
        # a chance the data cannot support is not shown as one: p_win (and what rests on it) is None and
        # `notice` says why (risk/support.py); the baseline stays where it is supported
        notice = deal_notice(tr, r.get("stage"))
        amount = r.get("amount_now")
        crm_close = r.get("expected_close")
        p_win = None if notice is not None else round(float(p[i]), 4)
        baseline = round(float(base[i]), 4) if notice is None or notice.code == "model_no_better" else None
        no_amount = amount is None or (isinstance(amount, float) and math.isnan(amount))
        common = {
            "deal_id": r["deal_id"], "owner": r.get("owner"), "segment": r.get("segment"), "stage": r.get("stage"),
            "amount": amount, "p_win": p_win, "baseline_p_win": baseline,
            "expected_close": _date(expected_close(tr, r.get("segment"), r.get("stage"), r["t"])) if notice is None else None,
            "crm_expected_close": _date(crm_close),
            "days_in_stage": None if r.get("days_in_stage") is None else round(r["days_in_stage"], 1),
            "state": state_of(r, tr.ref, tr.history.playbook),  # alive | stale | dead (risk/state.py)
            "value_at_risk": None if no_amount or p_win is None else round(amount * (1 - p_win), 0),
        }
        for lang, ex in explainers.items():
            against, favour = ex.explain(r, pushes.iloc[i], top=top) if notice is None else ([], [])
            out[lang].append({
                **common,
                "reasons": [a["text"] for a in against],
                "in_favour": [f["text"] for f in favour],
                "reason_codes": [{"code": a["code"], "impact": a["impact"]} for a in against + favour],
                "notice": None if notice is None else notice.code,
            })
    return out


def _date(v: Any) -> str | None:
    if v is None:
        return None
    return v.date().isoformat() if isinstance(v, datetime) else str(v)


def describe_model(tr: Trained, lang: str = "en") -> dict:
    """What model scored the deals and on how much history, with a plain-words note (ru/en)."""
    from dealpulse.i18n import t

    m = tr.model
    notice = model_notice(tr)
    return {
        "kind": m.kind, "trained_on": {"won": m.n_won, "lost": m.n_lost, "deals": m.n_groups, "moments": m.n_rows},
        "calibration": m.calibrator.kind if m.calibrator else None,
        "note": t(f"score.model.{m.kind}", lang, won=m.n_won, lost=m.n_lost),
        "notice": None if notice is None else notice.to_dict(lang),  # no per-deal chance is supported: why
    }


def notices_doc(tr: Trained, rows: list[dict], lang: str = "en") -> list[dict]:
    """What the scored rows' notices mean: code, params, text and suggestion (risk/support.py)."""
    return [n.to_dict(lang) for n in summarise(tr, rows)]


def score(snap: Snapshot, *, lang: str = "en", trained: Trained | None = None) -> tuple[Trained, list[dict]]:
    """Train as of the snapshot (unless given) and score every deal open then."""
    tr = trained or train(snap)
    return tr, score_frame(tr, open_features(tr), lang=lang)


__all__ = ["score", "score_frame", "score_frame_in", "open_features", "expected_close", "describe_model", "notices_doc", "ROW_COLUMNS"]
