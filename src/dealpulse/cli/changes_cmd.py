"""`dealpulse changes`: what changed since last week — the pipeline waterfall from S to T (it reconciles
exactly), the live deals whose chance of winning moved most and why, the deals that slipped, and the
alerts opened and resolved in the window (docs/changes.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.app.commands.changes import MOVER_KEYS, WATERFALL_COLUMNS  # noqa: F401 - where they used to be
from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result, err,
                               guarded, lang_of, local_time, show_time, note, open_moment, out, t, warn_all)
from dealpulse.cli.funnel_cmd import PlaybookOption

WHY_LINES = 3


def stage_label(stage: Any) -> str:
    """A playbook stage as people read it (the playbook has no separate labels: its names, unsnaked)."""
    from dealpulse.labels import label
    from dealpulse.cli.app import _STATE

    return label(stage, _STATE.get("lang") or "en")


def _subject(subject: Any, people: dict[str, str]) -> str:
    from dealpulse.app.commands.changes import subject_text

    return subject_text(subject, people)


def _known(key: str, lang: str, raw: Any) -> str:
    """The catalogue's text for `key`, else the raw machine value in words (a kind added since)."""
    text = t(key, lang)
    return str(raw or "—").replace("_", " ") if text == key else text


def _why(r: dict) -> str:
    """At most WHY_LINES lines: reasons that appeared (+), then reasons that went away (−)."""
    lines = [f"+ {x['text']}" for x in r["reasons_added"][:WHY_LINES - 1]]
    lines += [f"− {x['text']}" for x in r["reasons_removed"][:WHY_LINES - len(lines)]]
    return "\n".join(lines) or "—"


@app.command("changes")
def changes_cmd(
    since: str = typer.Option("7d", "--since", help="The start: a span before as_of (7d, 2w) or a date (2024-06-01, in the export's zone)."),
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    limit: int = typer.Option(10, "--limit", min=1, help="How many deals to list whose chance rose / fell most."),
) -> None:
    """What changed since last week: pipeline waterfall, deals whose chance moved, deals that slipped, alerts."""

    def run() -> None:
        from dealpulse.app.commands.changes import changes
        from dealpulse.app.options import OptionError
        from dealpulse.changes.movers import MIN_DELTA

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            try:
                with err.status(t("common.computing", l, what=t("changes.what", l))):
                    result = changes(m, lang=l, since=since, limit=limit)
            except OptionError as exc:  # the suggestion's example is a whole command line
                raise exc.naming("--" + exc.option.replace("_", "-"), "dealpulse changes ") from None
            tz, people = m.tz, m.session.people
        warn_all(result)
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        _tables(result.data["res"], result.data["movers"], people, l, tz, result.head["currency"], MIN_DELTA)

    guarded(run)


def _tables(res: dict, movers: dict, people: dict[str, str], l: str, tz: Any, cur: str | None, min_delta: float) -> None:
    from dealpulse.report import fmt as f

    zone = str(tz)
    start, end = local_time(res["start"], tz), show_time(res["as_of"], tz, l)
    wf = res["waterfall"]
    first, last = wf[0], wf[-1]
    shown = []
    for b in wf:
        total = b["bucket"] in ("open_start", "open_end")
        shown.append({
            "label": b["label"], "deals": f.integer(b["deals"], l),
            "count": f.integer(b["count"], l) if total else (f.signed(b["count"], l, "int") if b["count"] else "·"),
            "amount": f.money(b["amount"], l) if total else (f.signed(b["amount"], l, "money") if b["amount"] else "·"),
        })
    caption = t("changes.reconciles" if res["reconciles"] else "changes.reconciles.not", l,
                start=f.integer(first["count"], l), end=f.integer(last["count"], l))
    if res["no_amount"]["start"] or res["no_amount"]["end"]:
        caption += " " + t("changes.no_amount", l, **res["no_amount"])
    caption += "\n" + res["bucket_rule"]
    cols = ["label", "deals", "count", "amount"]
    headers = {"label": t("changes.col.bucket", l), "deals": t("changes.col.deals", l), "count": t("changes.col.count", l),
               "amount": t("changes.col.amount_cur", l, currency=cur) if cur else t("changes.col.amount", l)}
    emit(shown, Format.table, title=t("changes.title.waterfall", l, start=start, end=end, zone=zone), columns=cols,
         headers=headers, caption=caption)

    live = res["movers"]["live"]
    mcols = ["deal", "owner", "stage", "amount", "p", "why"]
    amount_now = t("changes.col.amount_now_cur", l, currency=cur) if cur else t("changes.col.amount_now", l)
    mheaders = {"deal": t("changes.col.deal", l), "owner": t("changes.col.owner", l), "stage": t("changes.col.stage", l),
                "amount": amount_now, "p": t("changes.col.p", l), "why": t("changes.col.why", l)}
    for key in ("down", "up"):
        rows = movers[key]
        src = res["movers"][key]
        if not rows:
            out.print(t("changes.movers.none", l, points=f.integer(100 * min_delta, l)))
            continue
        table = [{
            "deal": r["deal_id"], "owner": r["owner_name"] or "—",
            "stage": r["stage_label"], "amount": f.money(r["amount"], l),
            "p": f"{f.pct(r['p_before'], l)} → {f.pct(r['p_after'], l)}\n{f.signed(r['delta'], l, 'rate')}",
            "why": _why(s),
        } for r, s in zip(rows, src)]
        emit(table, Format.table, title=t(f"changes.{key}.title", l, n=len(rows), live=live), columns=mcols, headers=mheaders)

    slipped = movers["slipped"]
    if slipped:
        table = [{
            "deal": r["deal_id"], "owner": r["owner_name"] or "—",
            "stage": r["stage_label"], "amount": f.money(r["amount"], l),
            "p": f"{f.pct(r['p_before'], l)} → {f.pct(r['p_after'], l)}",
            "why": f"{t('changes.state.' + r['state_before'], l)} → {t('changes.state.' + r['state_after'], l)}",
        } for r in slipped]
        emit(table, Format.table, title=t("changes.slipped.title", l, n=len(slipped), total=res["movers"]["slipped_total"]),
             columns=mcols, headers={**mheaders, "why": t("changes.col.state", l)})
    else:
        out.print(t("changes.slipped.none", l))

    acols = ["severity", "kind", "subject", "since", "message"]
    for key in ("opened", "resolved"):
        rows = res["alerts"][key]
        title = t(f"changes.alerts.{key}.title", l, n=len(rows))
        if not rows:
            out.print(f"{title}: {t('changes.alerts.none', l)}")
            continue
        table = [{"severity": _known(f"alerts.severity.{a.get('severity')}", l, a.get("severity")),
                  "kind": _known(f"alerts.kind.{a.get('kind')}", l, a.get("kind")),
                  "subject": _subject(a.get("subject"), people), "since": a.get("since"), "message": a.get("message")}
                 for a in rows]
        emit(table, Format.table, title=title, columns=acols, headers={c: t(f"changes.col.{c}", l) for c in acols})
    note(res["method"])


__all__ = ["changes_cmd", "stage_label"]
