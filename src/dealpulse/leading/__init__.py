"""`validate_metrics`: which leading metrics predict the lagging outcome in this company's data.

Two levels (see deal_level.py and manager_month.py for the exact definitions):
- deal: among deals closed by as_of, the win rate of deals with vs without the metric, each metric
  measured at a landmark before the outcome (survivorship handled); the effect is the difference
  within the same manager (Mantel–Haenszel), the plain rates beside it;
- manager-month: the leading figure of a manager's month vs their revenue won 3–5 months later,
  Spearman's rho within manager and month (fixed effects removed), interval from a bootstrap over managers.
p-values of all rows get one Benjamini–Hochberg correction; rank.py gives the verdicts and the order.
"""

from __future__ import annotations

from typing import Any, Sequence

from dealpulse.i18n import t
from dealpulse.leading import deal_level, manager_month
from dealpulse.leading.rank import (DEAL, MANAGER_MONTH, MEANINGFUL, MIN_DEALS, MIN_MANAGERS, MIN_MONTHS, NOT_ENOUGH,
                                    VERDICTS, sort_rows, verdict)
from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.change_tests import adjust

ROW_COLUMNS = ("rank", "metric", "level", "n", "effect", "ci_low", "ci_high", "p", "q", "verdict", "message",
               "rate_with", "rate_without", "n_with", "n_without", "raw_effect", "raw_ci_low", "raw_ci_high",
               "pooled_rho", "managers", "months")


def _pp(x: float | None) -> str:
    if x is None:
        return "—"
    return "0" if round(100 * x) == 0 else f"{100 * x:+.0f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def _rho(x: float | None, lang: str = "en") -> str:
    if x is None:
        return "—"
    from dealpulse.report import fmt

    return fmt.number(0, lang, 2) if round(x, 2) == 0 else ("+" if x > 0 else "") + fmt.number(x, lang, 2)


def deal_label(m: deal_level.DealMetric, lang: str) -> str:
    if m.kind == "activities" and m.params.get("type") is None:
        return t("leading.label.activities_all", lang, k=m.params["k"], days=m.params["days"])
    from dealpulse.labels import label

    params = {k: label(v, lang) if k in ("step", "stage", "type") else v for k, v in m.params.items()}
    return t(f"leading.label.{m.kind}", lang, **params)


def _deal_row(res: deal_level.DealResult) -> dict[str, Any]:
    w = res.within
    enough = res.n_with >= MIN_DEALS and res.n_without >= MIN_DEALS and res.managers >= 1
    return {
        "metric": res.metric.metric, "level": DEAL, "n": res.n, "effect": w.effect, "ci_low": w.ci_low,
        "ci_high": w.ci_high, "p": w.p if enough else None, "_enough": enough,
        "rate_with": res.won_with / res.n_with if res.n_with else None,
        "rate_without": res.won_without / res.n_without if res.n_without else None,
        "n_with": res.n_with, "n_without": res.n_without,
        "raw_effect": res.raw[0] if res.raw else None, "raw_ci_low": res.raw[1] if res.raw else None,
        "raw_ci_high": res.raw[2] if res.raw else None, "pooled_rho": None, "managers": res.managers, "months": None,
        "_metric": res.metric,
    }


def _month_row(res: manager_month.MonthResult) -> dict[str, Any]:
    w = res.within
    enough = res.n >= MIN_MONTHS and res.managers >= MIN_MANAGERS
    return {
        "metric": res.metric, "level": MANAGER_MONTH, "n": res.n, "effect": w.effect, "ci_low": w.ci_low,
        "ci_high": w.ci_high, "p": w.p if enough else None, "_enough": enough,
        "rate_with": None, "rate_without": None, "n_with": None, "n_without": None,
        "raw_effect": None, "raw_ci_low": None, "raw_ci_high": None,
        "pooled_rho": res.pooled, "managers": res.managers, "months": res.months,
    }


def _message(r: dict[str, Any], lang: str) -> str:
    if r["level"] == DEAL:
        label = deal_label(r["_metric"], lang)
        if r["verdict"] == NOT_ENOUGH and (r["n_with"] < MIN_DEALS or r["n_without"] < MIN_DEALS):
            return t("leading.msg.deal.few", lang, label=label, n_with=r["n_with"], n_without=r["n_without"],
                     min=MIN_DEALS)
        return t("leading.msg.deal", lang, label=label, with_rate=_pct(r["rate_with"]),
                 without_rate=_pct(r["rate_without"]), n_with=r["n_with"], n_without=r["n_without"],
                 effect=_pp(r["effect"]), low=_pp(r["ci_low"]), high=_pp(r["ci_high"]))
    label = t(f"leading.label.{r['metric']}", lang)
    if not r["_enough"] or r["effect"] is None:
        return t("leading.msg.month.few", lang, label=label, n=r["n"], managers=r["managers"],
                 min=MIN_MONTHS, min_managers=MIN_MANAGERS)
    return t("leading.msg.month", lang, label=label, effect=_rho(r["effect"], lang), low=_rho(r["ci_low"], lang),
             high=_rho(r["ci_high"], lang), n=r["n"], managers=r["managers"], pooled=_rho(r["pooled_rho"], lang),
             lag_from=manager_month.LAG_FROM, lag_to=manager_month.LAG_TO)


def method_text(lang: str, *, gap_days: int = deal_level.GAP_DAYS, activity_days: int = deal_level.ACTIVITY_DAYS) -> str:
    return t("leading.method", lang, gap_days=gap_days, activity_days=activity_days,
             lag_from=manager_month.LAG_FROM, lag_to=manager_month.LAG_TO, min_deals=MIN_DEALS,
             pp=round(100 * MEANINGFUL[DEAL]), rho=MEANINGFUL[MANAGER_MONTH])


def validate_metrics(snap: Snapshot, *, lang: str = "en", n_boot: int = 999, seed: int = 0,
                     gap_days: int = deal_level.GAP_DAYS, activity_days: int = deal_level.ACTIVITY_DAYS,
                     levels: tuple[str, ...] = (DEAL, MANAGER_MONTH)) -> dict[str, Any]:
    """The document of `dealpulse validate-metrics`: as_of, method (text in `lang`), counts and rows
    (ROW_COLUMNS; effects are fractions: a win-rate difference, or Spearman's rho), ranked."""
    return validate_metrics_in(snap, (lang,), n_boot=n_boot, seed=seed, gap_days=gap_days,
                               activity_days=activity_days, levels=levels)[lang]


def validate_metrics_in(snap: Snapshot, langs: Sequence[str], *, n_boot: int = 999, seed: int = 0,
                        gap_days: int = deal_level.GAP_DAYS, activity_days: int = deal_level.ACTIVITY_DAYS,
                        levels: tuple[str, ...] = (DEAL, MANAGER_MONTH)) -> dict[str, dict[str, Any]]:
    """`validate_metrics` in several languages: the metrics are evaluated once, only the texts differ."""
    rows: list[dict[str, Any]] = []
    closed = deal_level.closed_deals(snap)
    if DEAL in levels:
        for m in deal_level.all_metrics(snap, gap_days=gap_days, activity_days=activity_days):
            rows.append(_deal_row(deal_level.evaluate(m, closed)))
    n_months = 0
    if MANAGER_MONTH in levels:
        panel = manager_month.panel(snap)
        n_months = int(panel["month"].nunique()) if len(panel) else 0
        for name in manager_month.METRICS:
            res = manager_month.evaluate(panel, name, n_boot=n_boot, seed=seed) if len(panel) else \
                manager_month.MonthResult(name, 0, 0, 0, manager_month.Estimate(None, None, None, None), None)
            rows.append(_month_row(res))
    qs = adjust([r["p"] for r in rows])
    for r, q in zip(rows, qs):
        r["q"] = q
        r["verdict"] = verdict(r["level"], r["effect"], r["ci_low"], r["ci_high"], q, r["_enough"])
    rows = sort_rows(rows)
    docs: dict[str, dict[str, Any]] = {}
    for lang in dict.fromkeys(langs):
        out_rows = [{c: _message(r, lang) if c == "message" else r.get(c) for c in ROW_COLUMNS} for r in rows]
        counts = {v: sum(1 for r in out_rows if r["verdict"] == v) for v in VERDICTS}
        docs[lang] = {
            "as_of": snap.as_of,
            "method": method_text(lang, gap_days=gap_days, activity_days=activity_days),
            "closed_deals": int(len(closed)),
            "won_deals": int(closed["won"].sum()) if len(closed) else 0,
            "manager_months_horizon": n_months,
            "verdicts": counts,
            "rows": out_rows,
        }
    return docs


__all__ = ["validate_metrics", "validate_metrics_in", "method_text", "ROW_COLUMNS"]
