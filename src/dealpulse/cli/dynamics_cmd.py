"""`dealpulse dynamics`: which segment or channel changed for the better or for the worse against its
own baseline — inflow, share of inflow, lead quality, win rate, deal size, cycle (docs/dynamics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result, err,
                               guarded, lang_of, show_time, note, open_moment, t)
from dealpulse.cli.funnel_cmd import PlaybookOption

from dealpulse.app.commands.dynamics import CSV_COLUMNS  # noqa: F401,E402 - where it used to be


def _method(settings: Any, window_weeks: float, tested: int, lang: str) -> str:
    from dealpulse.app.commands.dynamics import method_text

    return method_text(settings, window_weeks, tested, lang)


def _q_text(q: Optional[float], lang: str = "en") -> str:
    if q is None:
        return "—"
    from babel.numbers import format_decimal

    return "<" + format_decimal(0.001, locale=lang) if q < 0.001 else format_decimal(float(f"{q:.2g}"), format="0.####", locale=lang)


@app.command("dynamics")
def dynamics(
    by: Optional[list[str]] = typer.Option(None, "--by", help="segment, channel, or segment,channel for the pairs; repeat for several groupings. Default: --by segment --by channel (each separately)."),
    window: str = typer.Option("12w", "--window", help="The recent window (e.g. 12w, 84d), compared with the 26 weeks before it."),
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    only_significant: bool = typer.Option(False, "--significant", help="Show only the significant changes."),
) -> None:
    """Changes for the better and for the worse per segment and channel: inflow, share, lead quality, win rate, deal size, cycle."""

    def run() -> None:
        from dealpulse.app.commands.dynamics import dynamics as compute

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("common.computing", l, what=t("dynamics.what", l))):
                result = compute(m, lang=l, by=by or None, window=window, significant=only_significant)
            tz, moment = m.tz, m.as_of
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        rows, significant, method = result.data["rows"], result.data["significant"], result.head["method"]
        shown, tested = result.rows, result.head["tested"]
        as_of_text = show_time(moment, tz, l)
        if not significant:
            note(t("dynamics.none", l, as_of=as_of_text, tested=tested))
            if only_significant or not rows:
                return
        from dealpulse.dynamics.compute import change_text, subject_text, value_text

        table = []
        untested = 0
        for r in shown:
            if not r["evidence"].get("tested"):
                untested += 1
                continue
            verdict = (t("dynamics.verdict.significant_good" if r["good"] else "dynamics.verdict.significant_bad", l)
                       if r["significant"] else "")
            table.append({"subject": subject_text(r["subject"], l), "metric": t(f"dynamics.metric.{r['metric']}", l),
                          "before": value_text(r["metric"], r["before"], l), "after": value_text(r["metric"], r["after"], l),
                          "change": change_text(r, l), "verdict": verdict, "since": r["since"] or "",
                          "q": _q_text(r["q"], l)})
        cols = ["subject", "metric", "before", "after", "change", "verdict", "since", "q"]
        good = sum(1 for r in significant if r["good"])
        emit(table, fmt, title=t("dynamics.title", l, as_of=as_of_text, zone=str(tz), count=len(significant), good=good,
                                 bad=len(significant) - good),
             columns=cols, headers={c: t(f"dynamics.col.{c}", l) for c in cols}, caption=method)
        if untested:
            note(t("dynamics.untested", l, n=untested))

    guarded(run)


__all__ = ["dynamics"]
