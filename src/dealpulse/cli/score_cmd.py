"""`dealpulse score`: for every open deal, the calibrated probability of winning, the expected close
and the reasons in plain words, from a model trained only on deals closed by as_of."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, moment_doc, show_time, note, open_store, t)
from dealpulse.cli.funnel_cmd import PlaybookOption

SORTS = ("value", "p_win", "amount", "close")


def _sort(rows: list[dict], by: str) -> list[dict]:
    if by == "p_win":
        return sorted(rows, key=lambda r: (r["p_win"] is None, r["p_win"] or 0.0))
    if by == "amount":
        return sorted(rows, key=lambda r: -(r["amount"] or 0))
    if by == "close":
        return sorted(rows, key=lambda r: r["expected_close"] or "9999")
    return sorted(rows, key=lambda r: -(r["value_at_risk"] or 0))


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
        from dealpulse.errors import InputError
        from dealpulse.metrics.asof import snapshot, store_tz
        from dealpulse.labels import label, people_of_store, person
        from dealpulse.report import fmt as nf
        from dealpulse.playbook import playbook_for_store
        from dealpulse.risk.score import ROW_COLUMNS, describe_model, notices_doc, score

        l = lang_of(lang)
        if sort not in SORTS:
            raise InputError(t("score.bad_sort", l, got=sort, choices=", ".join(SORTS)))
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            snap = snapshot(store, as_of, pb)
            tz = store_tz(store)
            people = people_of_store(store)
            with err.status(t("common.computing", l, what=t("score.what", l))):
                tr, rows = score(snap, lang=l)
            snap.release()
        finally:
            store.close()
        notices = notices_doc(tr, rows, l)  # chances the data cannot support: why, and what to do (all deals)
        rows = _sort(rows, sort)
        if owner:
            rows = [r for r in rows if owner in (r["owner"], people.get(str(r["owner"])))]
        if limit:
            rows = rows[:limit]
        md = describe_model(tr, l)
        if tr.model.kind != "boosting" and not md["notice"]:
            note(f"[yellow]![/] {md['note']}")
        for n in notices:
            note(f"[yellow]![/] {n['text']}\n  {n['suggestion']}")
        if fmt != Format.table:
            doc = {"as_of": moment_doc(snap.as_of, tz), "zone": str(tz), "playbook": pb.source, "model": md, "lang": l,
                   "notices": notices}
            rows = [{**r, "manager_name": person(r["owner"], people)} for r in rows]
            cols = list(ROW_COLUMNS)
            cols.insert(cols.index("owner") + 1 if "owner" in cols else len(cols), "manager_name")
            emit(rows, fmt, columns=cols, document=doc)
            return
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
        emit(shown, fmt, title=t("score.title", l, as_of=show_time(snap.as_of, tz, l), n=len(rows)), columns=cols,
             headers={c: t(f"score.col.{c}", l) for c in cols}, caption=md["notice"]["text"] if md["notice"] else md["note"],
             keep=["deal_id", "amount", "p_win", "reasons"])

    guarded(run)


__all__ = ["score_cmd"]
