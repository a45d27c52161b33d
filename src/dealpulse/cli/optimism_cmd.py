"""`dealpulse optimism`: per manager, how their `commit` / `best_case` calls turned out, against the
team and the model — who says "commit" on deals that do not close."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, local_time, moment_doc, note, open_store, t)
from dealpulse.cli.funnel_cmd import PlaybookOption


def _p(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _pp(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.0f}"


@app.command("optimism")
def optimism_cmd(
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    min_deals: int = typer.Option(5, "--min-deals", min=1, help="Give a verdict only for managers with at least this many closed commit deals."),
) -> None:
    """Optimism check: each manager's commit calls against what happened and what the model expected."""

    def run() -> None:
        from dealpulse.metrics.asof import snapshot, store_tz
        from dealpulse.playbook import playbook_for_store
        from dealpulse.risk.optimism import ROW_COLUMNS, optimism
        from dealpulse.risk.score import describe_model
        from dealpulse.risk.train import train

        l = lang_of(lang)
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            snap = snapshot(store, as_of, pb)
            tz = store_tz(store)
            with err.status(t("common.computing", l, what=t("optimism.what", l))):
                tr = train(snap)
                rows = optimism(tr, min_deals=min_deals)
            snap.release()
        finally:
            store.close()
        for r in rows:
            r["message"] = t(f"optimism.verdict.{r['verdict']}", l, manager=r["manager"], n=r["commit_deals"],
                             rate=_p(r["commit_win_rate"]), team=_p(r["team_commit_win_rate"]),
                             model=_p(r["model_p_win_on_commits"]))
        if fmt != Format.table:
            doc = {"as_of": moment_doc(snap.as_of, tz), "zone": str(tz), "method": t("optimism.method", l),
                   "model": describe_model(tr, l), "lang": l}
            emit(rows, fmt, columns=(*ROW_COLUMNS, "message"), document=doc)
            return
        if not rows:
            note(t("optimism.empty", l))
            return
        shown = [{
            "manager": r["manager"], "commits": r["commit_deals"], "won": _p(r["commit_win_rate"]),
            "model": _p(r["model_p_win_on_commits"]), "optimism": _pp(r["optimism"]),
            "best_case": _pp(r["best_case_optimism"]), "open": r["open_commits"],
            "open_model": _p(r["open_commits_model_p"]), "verdict": t(f"optimism.short.{r['verdict']}", l),
        } for r in rows]
        cols = list(shown[0])
        team = next((r["team_commit_win_rate"] for r in rows if r["team_commit_win_rate"] is not None), None)
        emit(shown, fmt, title=t("optimism.title", l, as_of=local_time(snap.as_of, tz), team=_p(team)), columns=cols,
             headers={c: t(f"optimism.col.{c}", l) for c in cols}, caption=t("optimism.method", l))

    guarded(run)


__all__ = ["optimism_cmd"]
