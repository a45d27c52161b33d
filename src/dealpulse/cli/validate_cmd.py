"""`dealpulse validate-metrics`: which leading metrics predict the outcome in this company's data
(deal level: win rate with vs without; manager-month level: correlation with revenue 3–5 months
later), ranked — the metrics that matter versus vanity."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result, err,
                               guarded, lang_of, open_moment, show_time, t, warn_all)
from dealpulse.cli.funnel_cmd import PlaybookOption

TABLE_COLUMNS = ("rank", "metric", "level", "n", "effect", "ci", "q", "verdict", "message")


def _signed(x: float, lang: str, digits: int) -> str:
    from dealpulse.report import fmt

    return ("+" if x > 0 else "") + fmt.number(x, lang, digits)


def _effect(r: dict, lang: str) -> str:
    x = r["effect"]
    if x is None:
        return "—"
    return t("leading.unit.pp", lang, value=_signed(100 * x, lang, 0)) if r["level"] == "deal" else f"ρ {_signed(x, lang, 2)}"


def _ci(r: dict, lang: str = "en") -> str:
    lo, hi = r["ci_low"], r["ci_high"]
    if lo is None or hi is None:
        return "—"
    if r["level"] == "deal":
        return f"{_signed(100 * lo, lang, 0)}…{_signed(100 * hi, lang, 0)}"
    return f"{_signed(lo, lang, 2)}…{_signed(hi, lang, 2)}"


def _q(x: Any, lang: str = "en") -> str:
    from dealpulse.report import fmt

    if x is None:
        return "—"
    return "<" + fmt.number(0.001, lang, 3) if x < 0.001 else fmt.number(x, lang, 3)


@app.command("validate-metrics")
def validate_metrics_cmd(
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals (the same seed gives the same intervals)."),
) -> None:
    """Which leading metrics predict win rate and revenue here, and which are vanity."""

    def run() -> None:
        from dealpulse.app.commands.validate_metrics import validate_metrics
        from dealpulse.labels import metric_label

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("leading.computing", l)):
                result = validate_metrics(m, lang=l, seed=seed)
            tz, pb = m.tz, m.playbook
        doc = result.data
        warn_all(result)
        as_of_text = show_time(doc["as_of"], tz, l)
        if fmt == Format.table:
            rows = [{
                "rank": r["rank"], "metric": metric_label(r["metric"], l, pb), "level": t(f"leading.level.{r['level']}", l), "n": r["n"],
                "effect": _effect(r, l), "ci": _ci(r, l), "q": _q(r["q"], l),
                "verdict": t(f"leading.verdict.{r['verdict']}", l), "message": r["message"],
            } for r in doc["rows"]]
            emit(rows, fmt, title=t("leading.title", l, as_of=as_of_text, closed=doc["closed_deals"], won=doc["won_deals"]),
                 columns=TABLE_COLUMNS, headers={c: t(f"leading.col.{c}", l) for c in TABLE_COLUMNS},
                 caption=doc["method"])
            return
        emit_result(result, fmt)

    guarded(run)


__all__ = ["validate_metrics_cmd"]
