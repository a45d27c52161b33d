"""`dealpulse score`: for every open deal, the calibrated probability of winning, the expected close
and the reasons in plain words, from a model trained only on deals closed by as_of."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dealpulse.app.commands.score import SORTS, sort_rows as _sort  # noqa: F401 - where they used to be
from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result, err,
                               guarded, lang_of, show_time, note, open_moment, t, warn_all)
from dealpulse.cli.funnel_cmd import PlaybookOption

@app.command("score")
def score_cmd(
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    sort: str = typer.Option("value", "--sort", help="Order: value (amount × chance of losing, largest first), p_win (lowest first), amount, close."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Show only the first N deals."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Only this manager's deals."),
) -> None:
    """Deal risk: p_win of every open deal, expected close and why (trained on deals closed by as_of)."""

    def run() -> None:
        from dealpulse.app.commands.score import score
        from dealpulse.labels import label, person
        from dealpulse.report import fmt as nf

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("common.computing", l, what=t("score.what", l))):
                result = score(m, lang=l, sort=sort, limit=limit, owner=owner)
            tz, people, pb = m.tz, m.session.people, m.playbook
        warn_all(result)
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        rows, md = result.rows, result.head["model"]
        if not rows:
            note(t("score.empty", l))
            return
        shown = [{
            "deal_id": r["deal_id"], "owner": person(r["owner"], people), "stage": label(r["stage"], l, pb),
            "amount": nf.money(r["amount"], l),
            "p_win": nf.pct(r["p_win"], l),
            "baseline": nf.pct(r["baseline_p_win"], l),
            "expected_close": r["expected_close"], "reasons": "\n".join(r["reasons"][:3]) or "—",
        } for r in rows]
        cols = ["deal_id", "owner", "stage", "amount", "p_win", "baseline", "expected_close", "reasons"]
        emit(shown, fmt, title=t("score.title", l, as_of=show_time(m.as_of, tz, l), n=len(rows)), columns=cols,
             headers={c: t(f"score.col.{c}", l) for c in cols}, caption=md["notice"]["text"] if md["notice"] else md["note"],
             keep=["deal_id", "amount", "p_win", "reasons"])

    guarded(run)


__all__ = ["score_cmd"]
