"""Plain-language reasons for a deal's probability: the model's per-feature pushes on the log-odds,
summed by family (all columns of one step, of the client card, ...), the strongest rendered as text
with the deal's own numbers and the norm of won deals (ru/en)."""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from dealpulse.i18n import t
from dealpulse.report import fmt
from dealpulse.playbook.model import ANCHOR_DEAL_CREATED, ANCHOR_STAGE_ENTERED
from dealpulse.risk.features import STATE_LATE, STATE_ON_TIME, STATE_OVERDUE, STATE_PENDING

MIN_PUSH = 0.08  # log-odds: weaker pushes are not worth a line
TOP = 3


def family(column: str) -> str:
    if column.startswith("s_") and column.rsplit("_", 1)[-1] in ("state", "took", "late"):
        return "step:" + column[2:].rsplit("_", 1)[0]
    if column.startswith("c_") or column == "card_filled_share":
        return "card"
    if column.startswith("n_task_"):
        return "activity"
    if column.startswith("n_entered_"):
        return "stage"
    return {
        "days_in_stage": "dwell", "dwell_ratio": "dwell",
        "steps_due": "steps", "steps_overdue": "steps", "steps_on_time_share": "steps",
        "days_since_touch": "touch", "activities_total": "activity", "activities_14d": "activity",
        "overdue_tasks": "overdue_tasks", "close_pushes": "pushes", "days_to_expected_close": "expected_close",
        "amount_log": "amount", "amount_vs_segment": "amount", "amount_change": "amount_change",
        "forecast_category": "forecast", "manager_probability": "forecast",
        "owner_win_rate": "owner", "owner_closed": "owner", "team_win_rate": "owner", "team": "owner",
        "owner_open_deals": "workload", "last_activity": "last_activity",
        "stage": "stage", "stage_order": "stage", "n_stage_entries": "stage", "n_back_moves": "back",
        "age_days": "age", "segment": "segment", "channel": "channel",
    }.get(column, column)


def _d(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.1f}" if abs(x) < 2 else f"{x:.0f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _money(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:,.0f}".replace(",", " ")


def _human(name: str | None) -> str:
    return (name or "—").replace("_", " ")


def _people(history: Any) -> dict[str, str]:
    from dealpulse.labels import people_from_rows

    mg = getattr(history, "managers", None)
    if mg is None or "name" not in mg.columns:
        return {}
    return people_from_rows(mg.select("manager_id", "name").iter_rows())


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


class Explainer:
    """Turns a row of features and its pushes into reason texts for one trained model."""

    def __init__(self, trained: Any, lang: str = "en") -> None:
        self.tr = trained
        self.lang = lang
        self.pb = trained.history.playbook
        self.people = _people(trained.history)

    def _label(self, name: Any) -> str:
        """A stage's, step's or field's label in the reader's language (dealpulse.labels)."""
        from dealpulse.labels import label

        return label(name, self.lang, self.pb) if name else "—"

    def _d(self, x: Any) -> str:
        """Days as the reader writes numbers: 1,9 / 1.9; 12."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        return fmt.number(x, self.lang, 1 if abs(x) < 2 else 0)

    def _pct(self, x: float | None) -> str:
        return "—" if x is None else fmt.pct(x, self.lang)

    def _money(self, x: Any) -> str:
        return fmt.money(x, self.lang)

    def _who(self, owner: Any) -> str:
        from dealpulse.labels import person

        return person(owner, self.people)

    def explain(self, row: dict, pushes: pd.Series, top: int = TOP) -> tuple[list[dict], list[dict]]:
        """(against, in_favour): lists of {code, impact, text}, strongest first."""
        fam: dict[str, float] = {}
        for col, v in pushes.items():
            fam[family(str(col))] = fam.get(family(str(col)), 0.0) + float(v)
        against, favour = [], []
        for name, push in sorted(fam.items(), key=lambda kv: kv[1]):
            if abs(push) < MIN_PUSH:
                continue
            text = self.text(name, row, push)
            if not text:
                continue
            # a fact that reads as good news is never given as a reason against, nor bad news in favour
            tone = self.tone(name, row)
            if (push < 0 and tone == "good") or (push > 0 and tone == "bad"):
                continue
            item = {"code": name, "impact": round(push, 3), "text": text}
            (against if push < 0 else favour).append(item)
        favour.sort(key=lambda r: -r["impact"])
        return against[:top], favour[:top]

    def tone(self, name: str, r: dict) -> str:
        """How the fact reads to a person: good, bad or neutral news."""
        if name.startswith("step:"):
            state = r.get(f"s_{name[5:]}_state")
            return "good" if state == STATE_ON_TIME else "bad" if state in (STATE_LATE, STATE_OVERDUE) else "neutral"
        if name == "card":
            return "good" if not [f for f in self.pb.card_fields if r.get(f"c_{f}") == 0] else "bad"
        if name == "pushes":
            return "bad" if r.get("close_pushes") else "good"
        if name == "overdue_tasks" or name == "back":
            return "bad"
        if name == "activity" and not r.get("activities_14d"):
            return "bad"
        if name == "expected_close":
            days = r.get("days_to_expected_close")
            return "bad" if not _present(days) or days < 0 else "neutral"
        return "neutral"

    def text(self, name: str, r: dict, push: float) -> str | None:
        L = self.lang
        seg = r.get("segment") or ""
        if name.startswith("step:"):
            return self._step(name[5:], r)
        handlers: dict[str, Callable[[], str | None]] = {
            "dwell": lambda: t("risk.reason.dwell", L, stage=self._label(r.get("stage")), days=self._d(r.get("days_in_stage")),
                               segment=seg or "—", norm=self._d(self.tr.ref.dwell_won.get((seg, r.get("stage")),
                                                                                   self.tr.ref.dwell_won_stage.get(r.get("stage"))))),
            "touch": lambda: t("risk.reason.touch", L, days=self._d(r.get("days_since_touch"))),
            "activity": lambda: (t("risk.reason.activity_none", L) if not r.get("activities_14d")
                                 else t("risk.reason.activity", L, n=int(r.get("activities_14d") or 0))),
            "overdue_tasks": lambda: (t("risk.reason.overdue_tasks", L, n=int(r["overdue_tasks"]))
                                      if r.get("overdue_tasks") else None),
            "pushes": lambda: (t("risk.reason.pushes", L, n=int(r["close_pushes"])) if r.get("close_pushes")
                               else t("risk.reason.no_pushes", L)),
            "expected_close": lambda: self._expected(r),
            "amount": lambda: self._amount(r),
            "amount_change": lambda: self._amount_change(r),
            "forecast": lambda: self._forecast(r),
            "owner": lambda: t("risk.reason.owner", L, owner=self._who(r.get("owner")), rate=self._pct(r.get("owner_win_rate")),
                               team=self._pct(r.get("team_win_rate")), n=int(r.get("owner_closed") or 0)),
            "stage": lambda: t("risk.reason.stage", L, stage=self._label(r.get("stage")),
                               rate=self._pct(self._rate("stage", r.get("stage")))),
            "workload": lambda: t("risk.reason.workload", L, owner=self._who(r.get("owner")), n=int(r.get("owner_open_deals") or 0)),
            "last_activity": lambda: (t("risk.reason.last_activity", L, type=self._label(r["last_activity"]), days=self._d(r.get("days_since_touch")))
                                      if r.get("last_activity") else None),
            "back": lambda: (t("risk.reason.back", L, n=int(r["n_back_moves"])) if r.get("n_back_moves") else None),
            "age": lambda: t("risk.reason.age", L, days=self._d(r.get("age_days"))),
            "segment": lambda: t("risk.reason.segment", L, segment=seg or "—"),
            "channel": lambda: t("risk.reason.channel", L, channel=r.get("channel") or "—",
                                 rate=self._pct(self._rate("channel", r.get("channel")))),
            "steps": lambda: (t("risk.reason.steps", L, share=self._pct(r.get("steps_on_time_share")), due=int(r.get("steps_due") or 0))
                              if r.get("steps_due") else None),
            "card": lambda: self._card(r),
        }
        fn = handlers.get(name)
        return fn() if fn else None

    def _rate(self, table: str, key: Any) -> float | None:
        v = self.tr.rates.get(table, {}).get(key)
        return v[0] if v else None

    def _step(self, step_name: str, r: dict) -> str | None:
        L = self.lang
        try:
            step = self.pb.step(step_name)
        except KeyError:
            return None
        state = r.get(f"s_{step_name}_state")
        took, late = r.get(f"s_{step_name}_took"), r.get(f"s_{step_name}_late")
        seg = r.get("segment") or ""
        norm = self.tr.ref.step_took_won.get((seg, step_name), self.tr.ref.step_took_won_all.get(step_name))
        if step.anchor == ANCHOR_DEAL_CREATED:
            anchor = t("risk.anchor.created", L)
        elif step.anchor == ANCHOR_STAGE_ENTERED:
            anchor = t("risk.anchor.stage", L, stage=self._label(step.stage))
        else:
            anchor = self._label(step.anchor)
        kw = dict(step=self._label(step_name), anchor=anchor, days=self._d(took), norm=self._d(norm), late=self._d(late), segment=seg or "—")
        if state not in (STATE_LATE, STATE_ON_TIME) and self._passed(step.stage, r.get("stage")):
            # never done, and the deal is already past the step's stage: skipped, not "not reached yet"
            return t("risk.reason.step_skipped", L, step=kw["step"], stage=self._label(step.stage),
                     now=self._label(r.get("stage")))
        if state == STATE_LATE:
            return t("risk.reason.step_late", L, **kw)
        if state == STATE_OVERDUE:
            return t("risk.reason.step_overdue", L, **kw)
        if state == STATE_ON_TIME:
            return t("risk.reason.step_on_time", L, **kw)
        if state == STATE_PENDING:
            return t("risk.reason.step_pending", L, **kw)
        return t("risk.reason.step_not_started", L, **kw)

    def _passed(self, step_stage: str, current: Any) -> bool:
        """Is the deal's current stage later in the playbook than the step's stage?"""
        here, there = self.pb.stage_index(str(current)) if current else None, self.pb.stage_index(step_stage)
        return here is not None and there is not None and here > there

    def _expected(self, r: dict) -> str | None:
        days = r.get("days_to_expected_close")
        if not _present(days):
            return t("risk.reason.no_expected_close", self.lang)
        if days < 0:
            return t("risk.reason.expected_passed", self.lang, days=self._d(-days))
        return t("risk.reason.expected_in", self.lang, days=self._d(days))

    def _amount(self, r: dict) -> str | None:
        ratio = r.get("amount_vs_segment")
        if not _present(ratio):
            return None
        return t("risk.reason.amount", self.lang, amount=self._money(r.get("amount_now")), ratio=fmt.number(math.exp(ratio), self.lang, 1),
                 segment=r.get("segment") or "—")

    def _amount_change(self, r: dict) -> str | None:
        ch = r.get("amount_change")
        if not _present(ch) or abs(ch) < 0.01:
            return t("risk.reason.amount_same", self.lang)
        key = "risk.reason.amount_cut" if ch < 0 else "risk.reason.amount_raised"
        return t(key, self.lang, pct=f"{abs(ch) * 100:.0f}")

    def _forecast(self, r: dict) -> str | None:
        cat = r.get("forecast_category")
        if not cat:
            return None
        rate = self.tr.rates.get("forecast", {}).get((r.get("stage"), cat))
        return t("risk.reason.forecast", self.lang, category=self._label(cat), stage=self._label(r.get("stage")),
                 rate=self._pct(rate[0] if rate else None))

    def _card(self, r: dict) -> str | None:
        missing = [f for f in self.pb.card_fields if r.get(f"c_{f}") == 0]
        if not missing:
            return t("risk.reason.card_full", self.lang)
        if missing == ["decision_maker"]:
            return t("risk.reason.no_decision_maker", self.lang)
        return t("risk.reason.card_missing", self.lang, fields=", ".join(self._label(f) for f in missing))


__all__ = ["Explainer", "family"]
