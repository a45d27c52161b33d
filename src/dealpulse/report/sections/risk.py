"""Deals at risk: the open deals with the most amount at stake (amount × chance of losing), each with
the model's p_win against the stage-and-segment baseline, the expected close and the reasons; what
the model is and what it was trained on; the open pipeline by stage (amount, expected won amount:
`risk.pipeline`).
Split in two (`risk.state`): the alive (or only stale) deals that are slipping, and the dead ones —
no client touch for well beyond the stale limit and past the won deals' norm of their stage — to
close or revive.

The model is trained ONCE per report (`fit_model`) and shared with the optimism section. Training
reads the store only in `load_model_history` (the caller's thread); fitting and scoring work on
in-memory frames, so the report can run them in a worker thread while it computes other sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Sequence

from dealpulse.metrics.asof import Snapshot
from dealpulse.risk.pipeline import StageOutlook, expected_amount, pipeline_by_stage
from dealpulse.report.sections.values import num, optional

RISK_TOP = 15


@dataclass
class RiskDeal:
    deal_id: str
    title: str | None
    owner: str | None
    segment: str | None
    stage: str | None
    amount: float | None
    p_win: float | None  # None: the data cannot support a chance for this deal (`notice` says why)
    baseline_p_win: float | None
    expected_close: date | None
    crm_expected_close: date | None
    days_in_stage: float | None
    value_at_risk: float | None
    reasons: dict[str, list[str]] = field(default_factory=dict)  # lang -> texts (what lowers the chance)
    state: str = "alive"  # alive | stale | dead (risk.state)
    days_since_touch: float | None = None
    notice: str | None = None  # risk.support code when p_win is None


@dataclass
class RiskSection:
    kind: str  # boosting | logistic | rates
    calibration: str | None
    won: int
    lost: int
    deals: int  # closed deals trained on
    moments: int  # (deal, moment) rows trained on
    first_at: datetime | None  # the earliest moment trained on
    open_deals: int
    open_amount: float
    expected_amount: float
    deals_at_risk: list[RiskDeal]
    by_stage: list[StageOutlook]
    note: dict[str, str] = field(default_factory=dict)  # lang -> what kind of model it is
    dead: list[RiskDeal] = field(default_factory=list)  # the dead deals, the largest amount first (top `top`)
    dead_total: int = 0
    dead_amount: float = 0.0
    # chances the data cannot support: lang -> [(what is missing, what to do)]; `unsupported` when none is
    notices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    unsupported: bool = False


def load_model_history(snap: Snapshot) -> Any:
    """What the model reads, as known at `snap.as_of`, in memory (reads the store: call it in the store's thread)."""
    from dealpulse.risk.history import load_history

    return load_history(snap)


def fit_model(history: Any) -> Any:
    """The win model trained on `history` (no store access)."""
    from dealpulse.risk.train import train_from_history

    return train_from_history(history)


def _day(v: Any) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def risk_section(trained: Any, langs: Sequence[str], titles: dict[str, str] | None = None,
                 stages: Sequence[str] = (), top: int = RISK_TOP) -> RiskSection:
    """Score every open deal (no store access) and keep the top `top` by value at risk."""
    from dealpulse.risk.score import describe_model as model_doc
    from dealpulse.risk.score import open_features, score_frame_in

    x = open_features(trained)
    touch = {str(d): v for d, v in zip(x["deal_id"], x["days_since_touch"])} if x.height else {}
    scored = score_frame_in(trained, x, langs)  # predicted once, the reasons written in every language
    rows = scored[langs[0]]
    reasons = {lang: {r["deal_id"]: list(r["reasons"]) for r in rs} for lang, rs in scored.items()}
    titles = titles or {}
    deals = []
    for r in rows:
        deals.append(RiskDeal(
            deal_id=str(r["deal_id"]), title=titles.get(str(r["deal_id"])), owner=optional(r.get("owner")),
            segment=optional(r.get("segment")), stage=optional(r.get("stage")), amount=num(r.get("amount")),
            p_win=num(r["p_win"]), baseline_p_win=num(r["baseline_p_win"]), notice=r.get("notice"),
            expected_close=_day(r.get("expected_close")), crm_expected_close=_day(r.get("crm_expected_close")),
            days_in_stage=num(r.get("days_in_stage")), value_at_risk=num(r.get("value_at_risk")),
            reasons={lang: reasons[lang].get(r["deal_id"], []) for lang in langs},
            state=str(r.get("state") or "alive"), days_since_touch=num(touch.get(str(r["deal_id"]))),
        ))
    by_stage = pipeline_by_stage(deals, stages)
    doc = {lang: model_doc(trained, lang) for lang in langs}
    from dealpulse.risk.support import model_notice, notice_text
    from dealpulse.risk.support import summarise as support

    notices = support(trained, rows)
    first = doc[langs[0]]
    t_col = trained.train["t"] if trained.train is not None and "t" in trained.train.columns else None
    first_at = t_col.min() if t_col is not None and len(t_col) else None
    alive = [d for d in deals if d.state != "dead"]
    dead = [d for d in deals if d.state == "dead"]
    ranked = sorted([d for d in alive if d.p_win is not None], key=lambda d: (-(d.value_at_risk or 0.0), d.p_win, d.deal_id))
    dead.sort(key=lambda d: (-(d.amount or 0.0), d.deal_id))
    return RiskSection(
        kind=first["kind"], calibration=first.get("calibration"),
        won=int(first["trained_on"]["won"]), lost=int(first["trained_on"]["lost"]),
        deals=int(first["trained_on"]["deals"]), moments=int(first["trained_on"]["moments"]),
        first_at=first_at if isinstance(first_at, datetime) else None,
        open_deals=len(deals), open_amount=sum(d.amount or 0.0 for d in deals),
        expected_amount=expected_amount(deals),
        deals_at_risk=ranked[:top], by_stage=by_stage, note={lang: doc[lang]["note"] for lang in langs},
        dead=dead[:top], dead_total=len(dead), dead_amount=sum(d.amount or 0.0 for d in dead),
        notices={lang: [notice_text(n, lang) for n in notices] for lang in langs},
        unsupported=model_notice(trained) is not None or (bool(deals) and all(d.p_win is None for d in deals)),
    )
