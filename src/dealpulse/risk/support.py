"""Can the data support a chance of winning? When it cannot, say what is missing instead of a number.

A model trained on what the data holds can still give numbers the data does not support:
- `no_closed_history`: deals were closed, but none lived before its close (created and closed at one
  moment, as in an export without dates): there is no moment of a deal's life to learn from;
- `no_lost_deals` / `no_won_deals` / `no_closed_deals`: one outcome never recorded by as_of (a funnel
  where leads never won just stay open: every open deal would look certain to win). The playbook's
  `lost_after` is the usual cure (a deal untouched that long counts as lost);
- `model_no_better`: on the closed deals' moments, the model's held-out ranking (AUC) is not above the
  stage-and-segment win rate's by NO_BETTER_MARGIN: its per-deal chances add nothing the baseline does
  not say, so only the baseline is shown;
- `stage_not_in_history` (per deal): the deal's stage was never seen at a training moment (a snapshot
  export whose closed deals carry no stage history): neither the model nor the baseline knows it.

`model_notice(trained)` and `deal_notice(trained, stage)` return a `Notice` (code + params) or None;
`notice_text(notice, lang)` the sentence and its suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dealpulse.i18n import t

NO_BETTER_MARGIN = 0.01  # the model's held-out AUC must beat the baseline's by at least this much
MODEL_CODES = ("no_closed_deals", "no_closed_history", "no_lost_deals", "no_won_deals", "model_no_better")
DEAL_CODES = ("stage_not_in_history",)


@dataclass
class Notice:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        text, suggestion = notice_text(self, lang)
        return {"code": self.code, "params": dict(self.params), "text": text, "suggestion": suggestion}


def _lost_after(tr: Any) -> str | None:
    from dealpulse.playbook.durations import format_duration

    pb = tr.history.playbook
    return format_duration(pb.lost_after) if getattr(pb, "lost_after", None) else None


def model_notice(tr: Any) -> Notice | None:
    """A notice when no per-deal chance of this model is supported (cached on the trained model)."""
    cached = tr.__dict__.get("_dp_model_notice", False)
    if cached is not False:
        return cached
    m = tr.model
    notice = None
    if m.n_won == 0 and m.n_lost == 0:
        closed = tr.history.closed.height if hasattr(tr.history, "closed") else 0
        # closed deals, but none with a moment of its life before its close (created and closed at once)
        notice = Notice("no_closed_history", {"closed": closed}) if closed else Notice("no_closed_deals", {})
    elif m.n_lost == 0:
        notice = Notice("no_lost_deals", {"won": m.n_won, "lost_after": _lost_after(tr)})
    elif m.n_won == 0:
        notice = Notice("no_won_deals", {"lost": m.n_lost})
    elif m.kind != "rates" and m.oof is not None and tr.train is not None and tr.train.height:
        from dealpulse.risk.model import auc

        y = tr.train["won"].to_numpy()
        model_auc = auc(y, m.oof)
        base_auc = auc(y, tr.baseline.predict(tr.frame(tr.train)))
        if model_auc is not None and base_auc is not None and model_auc < base_auc + NO_BETTER_MARGIN:
            notice = Notice("model_no_better", {"model_auc": round(model_auc, 3), "baseline_auc": round(base_auc, 3)})
    tr.__dict__["_dp_model_notice"] = notice
    return notice


def trained_stages(tr: Any) -> set[str]:
    """The stages the training moments were in."""
    cached = tr.__dict__.get("_dp_stages")
    if cached is None:
        x = tr.train
        cached = set(x["stage"].drop_nulls().cast(str).to_list()) if x is not None and "stage" in x.columns else set()
        tr.__dict__["_dp_stages"] = cached
    return cached


def deal_notice(tr: Any, stage: Any) -> Notice | None:
    """A notice for one open deal whose chance is not supported (the model's notice first)."""
    notice = model_notice(tr)
    if notice is not None:
        return notice
    if stage is not None and trained_stages(tr) and str(stage) not in trained_stages(tr):
        return Notice("stage_not_in_history", {"stage": str(stage)})
    return None


def summarise(tr: Any, rows: list[dict]) -> list[Notice]:
    """The notices behind scored rows (their `notice` codes): the model's, else one per kind of deal notice
    with the number of deals and their stages."""
    notice = model_notice(tr)
    if notice is not None:
        return [notice]
    stages: dict[str, int] = {}
    for r in rows:
        if r.get("notice") == "stage_not_in_history":
            stages[str(r.get("stage"))] = stages.get(str(r.get("stage")), 0) + 1
    if not stages:
        return []
    known = sorted(trained_stages(tr))
    return [Notice("stage_not_in_history", {"deals": sum(stages.values()), "stages": ", ".join(sorted(stages)),
                                            "known": ", ".join(known) or "—"})]


def notice_text(notice: Notice, lang: str = "en") -> tuple[str, str]:
    """(what is missing, what to do) in `lang`."""
    p = dict(notice.params)
    code = notice.code
    for k in ("model_auc", "baseline_auc"):  # 0.62 / 0,62
        if isinstance(p.get(k), float):
            p[k] = f"{p[k]:.2f}".replace(".", "," if lang == "ru" else ".")
    if code == "no_lost_deals" and p.get("lost_after"):
        return (t("risk.notice.no_lost_deals", lang, **p), t("risk.notice.no_lost_deals.suggestion_set", lang, **p))
    if code == "stage_not_in_history" and "deals" not in p:
        return (t("risk.notice.stage_not_in_history.deal", lang, **p), t("risk.notice.stage_not_in_history.suggestion", lang))
    return t(f"risk.notice.{code}", lang, **p), t(f"risk.notice.{code}.suggestion", lang, **p)


__all__ = ["Notice", "model_notice", "deal_notice", "summarise", "notice_text", "trained_stages", "NO_BETTER_MARGIN",
           "MODEL_CODES", "DEAL_CODES"]
