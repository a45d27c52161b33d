"""`dealpulse optimism`: per manager, how honest the pipeline is against the team — late bad news,
zombie deals, commit calls and the deals committed now — as one ranked headline with an interval, a
verdict and the reasons in words."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, moment_doc, show_time, note, open_store, out, t)
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
    """The verdict in one sentence with the main reason (ru/en)."""
    reason = r["reasons"][0] if r["reasons"] else t("optimism.reason.close_to_team", lang)
    return t(f"optimism.verdict.{r['verdict']}", lang, manager=r.get("manager_name") or r["manager"], optimism=_n(r["optimism"]),
             low=_n(r["optimism_low"]), high=_n(r["optimism_high"]), reason=reason)


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
        from dealpulse.metrics.asof import snapshot, store_tz
        from dealpulse.labels import people_of_store, person
        from dealpulse.playbook import playbook_for_store
        from dealpulse.risk.honesty import WINDOW
        from dealpulse.risk.optimism import NULL_SD, OVERSTATES, ROW_COLUMNS, optimism
        from dealpulse.risk.score import describe_model
        from dealpulse.risk.train import train

        l = lang_of(lang)
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            snap = snapshot(store, as_of, pb)
            tz = store_tz(store)
            people = people_of_store(store)
            with err.status(t("common.computing", l, what=t("optimism.what", l))):
                tr = train(snap)
                rows = optimism(tr, min_deals=min_deals, lang=l)
            snap.release()
        finally:
            store.close()
        for r in rows:
            r["manager_name"] = person(r["manager"], people)  # the id stays under "manager"
            r["message"] = message(r, l)
        weeks = round(WINDOW.days / 7)
        threshold = rows[0]["optimism_threshold"] if rows else OVERSTATES * NULL_SD
        method = t("optimism.method", l, weeks=weeks, threshold=_num2(threshold))
        if fmt != Format.table:
            doc = {"as_of": moment_doc(snap.as_of, tz), "zone": str(tz), "method": method,
                   "model": describe_model(tr, l), "lang": l}
            emit(rows, fmt, columns=(ROW_COLUMNS[0], "manager_name", *ROW_COLUMNS[1:], "message"), document=doc)
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
        title = t("optimism.title", l, as_of=show_time(snap.as_of, tz, l), team=_p(first["team_commit_win_rate"]),
                  team_late=_d(first["team_late_bad_news_days"]), team_zombies=_p(first["team_zombie_share"]), weeks=weeks)
        emit(shown, fmt, title=title, columns=cols, headers={c: t(f"optimism.col.{c}", l) for c in cols}, caption=method)
        out.print(t("optimism.reasons_title", l))
        for r in rows:
            out.print(f"{r['rank']:>3}. {message(r, l)}", soft_wrap=False)

    guarded(run)


__all__ = ["optimism_cmd", "headline_text", "message"]
