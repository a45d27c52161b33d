"""`dealpulse optimism`: per manager, how honest the pipeline is against the team — late bad news,
zombie deals, commit calls and the deals committed now — as one ranked headline with an interval, a
verdict and the reasons in words."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result, err,
                               guarded, lang_of, show_time, note, open_moment, out, t)
from dealpulse.cli.funnel_cmd import PlaybookOption


def _lang() -> str:
    from dealpulse.cli.app import _STATE

    return _STATE.get("lang") or "en"


def _p(x: float | None) -> str:
    from dealpulse.report import fmt

    return "—" if x is None else fmt.pct(x, _lang())


def _n(x: float | None, digits: int = 1) -> str:
    from dealpulse.report import fmt

    return "—" if x is None else ("+" if x >= 0 else "") + fmt.number(x, _lang(), digits)


def _d(x: float | None) -> str:
    from dealpulse.report import fmt

    return "—" if x is None else fmt.number(x, _lang(), 0)


def _num2(x: float) -> str:
    from dealpulse.report import fmt

    return fmt.number(x, _lang(), 2)


def headline_text(r: dict) -> str:
    """"+1.6 (0.9…2.3)": the headline and its 90% interval."""
    from dealpulse.report import fmt

    return f"{_n(r['optimism'])} ({fmt.number(r['optimism_low'], _lang(), 1)}…{fmt.number(r['optimism_high'], _lang(), 1)})"


def message(r: dict, lang: str) -> str:
    """The verdict in one sentence with the main reason (ru/en; the application layer's)."""
    from dealpulse.app.commands.optimism import message as verdict

    return verdict(r, lang)


@app.command("optimism")
def optimism_cmd(
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    min_deals: int = typer.Option(5, "--min-deals", min=1, help="Give a verdict only for managers with at least this many closed commit deals, recent lost deals or open deals."),
) -> None:
    """Optimism check: late bad news, zombie deals and commit calls of each manager against the team, ranked."""

    def run() -> None:
        from dealpulse.app.commands.optimism import optimism
        from dealpulse.risk.honesty import WINDOW

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("common.computing", l, what=t("optimism.what", l))):
                result = optimism(m, lang=l, min_deals=min_deals)
            tz, as_of_moment = m.tz, m.as_of
        rows, method = result.rows, result.head["method"]
        weeks = round(WINDOW.days / 7)
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        if not rows:
            note(t("optimism.empty", l))
            return
        shown = [{
            "rank": r["rank"], "manager": r["manager_name"], "optimism": headline_text(r),
            "late": f"{r['late_lost_deals']}/{r['lost_deals_recent']} ({_d(r['late_bad_news_days'])})" if r["lost_deals_recent"] else "—",
            "zombies": f"{r['zombie_deals']}/{r['open_deals']} ({r['zombie_commits']})",
            "commits": f"{_p(r['commit_win_rate'])} ({r['commit_deals']})" if r["commit_deals"] else "—",
            "verdict": t(f"optimism.short.{r['verdict']}", l),
        } for r in rows]
        cols = list(shown[0])
        first = rows[0]
        title = t("optimism.title", l, as_of=show_time(as_of_moment, tz, l), team=_p(first["team_commit_win_rate"]),
                  team_late=_d(first["team_late_bad_news_days"]), team_zombies=_p(first["team_zombie_share"]), weeks=weeks)
        emit(shown, fmt, title=title, columns=cols, headers={c: t(f"optimism.col.{c}", l) for c in cols}, caption=method)
        out.print(t("optimism.reasons_title", l))
        for r in rows:
            out.print(f"{r['rank']:>3}. {r['message']}", soft_wrap=False)

    guarded(run)


__all__ = ["optimism_cmd", "headline_text", "message"]
