"""`dealpulse norms`: step and stage durations in won versus lost deals, suggested step deadlines,
where won and lost deals differ most; `--write FILE` emits the playbook with the learned deadlines."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.app.commands.norms import JSON_COLUMNS  # noqa: F401 - where it used to be
from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result,
                               guarded, lang_of, note, t, warn_all)
from dealpulse.cli.app import err, open_moment, show_time
from dealpulse.cli.funnel_cmd import PlaybookOption

DIFF_TOP = 5  # per kind: steps, then stages


def _num(x: Any) -> str:
    if x is None:
        return "—"
    from dealpulse.cli.app import _STATE
    from dealpulse.report import fmt

    return fmt.number(x, _STATE.get("lang") or "en", 1 if abs(x) < 10 else 0)


def _dist(r: dict, side: str) -> str:
    n = r[f"{side}_n"]
    if not n:
        return "0"
    text = f"{n} · {_num(r[f'{side}_median'])}"
    if r[f"{side}_ci_low"] is not None:
        text += f" ({_num(r[f'{side}_ci_low'])}–{_num(r[f'{side}_ci_high'])})"
    return text + f" · {_num(r[f'{side}_p75'])}"


def _days_text(days: float | None) -> str | None:
    """A deadline in words: `27 h` / `27 ч`, `5 d` / `5 дн.` (not the playbook's `27h`, `5d`)."""
    if days is None:
        return None
    from datetime import timedelta

    from dealpulse.cli.app import _STATE
    from dealpulse.report import fmt

    return fmt.duration(timedelta(days=days), _STATE.get("lang") or "en")


def _p(x: float | None) -> str | None:
    if x is None:
        return None
    from dealpulse.cli.app import _STATE
    from dealpulse.report import fmt

    lang = _STATE.get("lang") or "en"
    return "<" + fmt.number(0.001, lang, 3) if x < 0.001 else fmt.number(x, lang, 3)


@app.command("norms")
def norms(
    write: Optional[Path] = typer.Option(None, "--write", help="Write the playbook with the learned step deadlines to this YAML file."),
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    min_deals: int = typer.Option(20, "--min-deals", min=1, help="Suggest a deadline only where at least this many won deals did the step."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals (the same seed gives the same intervals)."),
) -> None:
    """Learn norms from history: durations in won vs lost deals, suggested deadlines, biggest differences."""

    def run() -> None:
        from dealpulse.app.commands.norms import norms as compute
        from dealpulse.labels import label
        from dealpulse.report import fmt as nf
        from dealpulse.playbook.norms import playbook_with_norms

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("common.computing", l, what=t("common.what.norms", l))):
                result = compute(m, lang=l, min_deals=min_deals, seed=seed)
            tz, pb, text, source = m.tz, m.playbook, m.session.playbook_text, m.session.playbook_source
        res = result.data
        warn_all(result)
        method_note, diff_note = result.head["method_note"], result.head["difference_note"]
        as_of_text = show_time(res.as_of, tz, l)
        if fmt == Format.table:
            rows = [{
                "kind": t(f"norms.kind.{r['kind']}", l), "name": label(r["name"], l, pb),
                "segment": r["segment"] if r["segment"] is not None else t("norms.all", l),
                "won": _dist(r, "won"), "lost": _dist(r, "lost"),
                "current": _days_text(r["current_days"]), "suggested": _days_text(r["suggested_days"]),
            } for r in res.rows]
            cols = ["kind", "name", "segment", "won", "lost", "current", "suggested"]
            emit(rows, fmt, title=t("norms.title", l, as_of=as_of_text, won=res.n_won, lost=res.n_lost), columns=cols,
                 headers={c: t(f"norms.col.{c}", l) for c in cols}, caption=method_note,
                 keep=["name", "segment", "won", "suggested"])
            diffs = res.differences("step")[:DIFF_TOP] + res.differences("stage")[:DIFF_TOP]
            if diffs:
                drows = [{
                    "rank": r["rank"], "kind": t(f"norms.kind.{r['kind']}", l), "name": label(r["name"], l, pb),
                    "segment": r["segment"] if r["segment"] is not None else t("norms.all", l),
                    "median_diff": _num(r["median_diff_days"]), "delta": ("+" if r["cliffs_delta"] > 0 else "") + nf.number(r["cliffs_delta"], l, 2),
                    "direction": t("norms.faster" if r["cliffs_delta"] < 0 else "norms.slower" if r["cliffs_delta"] > 0 else "norms.same", l),
                    "p": _p(r["p_value"]), "q": _p(r["q_value"]),
                } for r in diffs]
                dcols = ["rank", "kind", "name", "segment", "median_diff", "delta", "direction", "p", "q"]
                emit(drows, fmt, title=t("norms.title.diff", l, top=DIFF_TOP), columns=dcols,
                     headers={c: t(f"norms.col.{c}", l) for c in dcols}, caption=diff_note)
        else:
            emit_result(result, fmt)
        if write is not None:
            new_text = playbook_with_norms(res, text, source=source, lang=l, tz=tz)
            write.write_text(new_text, encoding="utf-8")
            learned = sum(1 for r in res.rows if r["kind"] == "step" and r["segment"] is None and r["suggested"])
            note(t("norms.written", l, path=str(write), learned=learned))

    guarded(run)


__all__ = ["norms"]
