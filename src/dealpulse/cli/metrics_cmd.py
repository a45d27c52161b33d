"""`dealpulse metrics`: step compliance, tasks, client card, pipeline and outcomes for a window
and the previous one, per group; `--list` shows the registry, `--explain` the SQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (local_time, show_time, open_moment, AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit,
                               emit_result, err, guarded, lang_of, note, out, t)
from dealpulse.metrics.registry import (CARD, COUNT, DAYS, GROUP_KEYS, METRICS, MONEY, OUTCOMES, PIPELINE, PREV, SHARE,
                                       STEPS, TASKS, registry_rows)

BLOCKS = ((STEPS,), (TASKS, CARD), (PIPELINE,), (OUTCOMES,))  # the grouped table, one block per line of thought
PlaybookOption = typer.Option(None, "--playbook", help="Playbook YAML (default: the one saved in the store at import, else the built-in).")


def parse_by(values: list[str] | None, lang: str) -> list[str]:
    """Group keys from --by (repeatable, comma-separated); the check is the application layer's."""
    from dealpulse.app.commands.metrics import parse_by as check

    return check(values, lang)


def parse_window(text: str, lang: str) -> timedelta:
    from dealpulse.app.options import parse_window as check

    return check(text, lang)


# -- table cells: the value and its change vs the previous window -----------------------------------
def _lang() -> str:
    from dealpulse.cli.app import _STATE

    return _STATE.get("lang") or "en"


def _money(x: float) -> str:
    from dealpulse.report import fmt

    return fmt.money(x, _lang())


def _num(x: float, unit: str) -> str:
    from dealpulse.report import fmt

    if unit == SHARE:
        return fmt.pct(x, _lang())
    if unit == COUNT:
        return fmt.integer(x, _lang())
    if unit == MONEY:
        return _money(x)
    return fmt.number(x, _lang(), 1)


def _delta(now: float, then: float, unit: str) -> str:
    from dealpulse.report import fmt

    d = now - then
    if unit == SHARE:
        d, text = 100 * d, fmt.number(abs(100 * d), _lang(), 0)
    elif unit == COUNT:
        text = fmt.integer(abs(int(d)), _lang())
    elif unit == MONEY:
        text = _money(abs(d))
    else:
        text = fmt.number(abs(d), _lang(), 1)
    if not any(ch.isdigit() and ch != "0" for ch in text):
        return "="
    return ("↑" if d > 0 else "↓") + text


def cell(now: Any, then: Any, unit: str) -> str | None:
    """`81% (↑6)`: the value, and in brackets its change vs the previous window (points for rates)."""
    if now is None:
        return None
    text = _num(now, unit)
    if then is not None:
        text += f" ({_delta(now, then, unit)})"
    return text


@app.command("metrics")
def metrics(
    by: Optional[list[str]] = typer.Option(None, "--by", help=f"Group by (repeat for several): {', '.join(GROUP_KEYS)}. manager = the deal's owner."),
    window: str = typer.Option("28d", "--window", help="Window length, e.g. 28d, 4w, 7d; compared with the window before it."),
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    list_: bool = typer.Option(False, "--list", help="List the metrics (name, kind, unit, family, description) and exit."),
    explain: bool = typer.Option(False, "--explain", help="Print the SQL behind the figures instead of computing them."),
) -> None:
    """Step compliance, overdue tasks, client card, pipeline and outcomes, vs the previous window."""

    def run() -> None:
        l = lang_of(lang)
        if list_:
            show_list(fmt, l)
            return
        from dealpulse.app.commands.metrics import metrics as compute
        from dealpulse.labels import label, person

        with open_moment(db, playbook, as_of, l) as m:
            if explain:
                import ibis

                from dealpulse.metrics.kpis import metrics_expr

                groups, length = parse_by(by, l), parse_window(window, l)
                note(t("metrics.explain.title", l, engine=m.store.kind))
                out.print(ibis.to_sql(metrics_expr(m.snapshot, by=groups, window=length)), markup=False, highlight=False)
                return
            with err.status(t("metrics.computing", l, as_of=show_time(m.as_of, m.tz, l))):
                res = compute(m, lang=l, by=by, window=window)
            tz, people, pb = m.tz, m.session.people, m.playbook
        if fmt != Format.table:
            emit_result(res, fmt)
            return
        rows, groups = res.rows, res.data["groups"]
        start, prev_start, end = res.data["start"], res.data["prev_start"], res.data["end"]
        if not rows:
            note(t("metrics.empty", l))
            return
        from dealpulse.metrics.kpis import families_for

        title = t("metrics.title", l, start=local_time(start, tz), end=show_time(end, tz, l), prev_start=local_time(prev_start, tz), zone=str(tz))
        shown = [m for m in METRICS if m.family in families_for(groups)]
        if not groups:  # one group: a metric per line
            r = rows[0]
            lines = [{"metric": m.header(l), "value": cell(r[m.name], r[PREV + m.name], m.unit),
                      "previous": _num(r[PREV + m.name], m.unit) if r[PREV + m.name] is not None else None}
                     for m in shown]
            cols = ["metric", "value", "previous"]
            emit(lines, fmt, title=title, columns=cols, headers={c: t(f"metrics.col.{c}", l) for c in cols},
                 caption=t("metrics.caption", l))
            return
        # grouped: one narrow table per family block, the group keys repeated in each
        headers = {k: t(f"metrics.key.{k}", l) for k in groups}
        headers.update({m.name: m.header(l) for m in shown})
        out.print(title, markup=False, highlight=False)
        for block in BLOCKS:
            ms = [m for m in shown if m.family in block]
            if not ms:
                continue
            lines = [{**{k: person(r[k], people) if k == "manager" else label(r[k], l, pb) if k in ("stage", "step") else r[k]
                         for k in groups}, **{m.name: cell(r[m.name], r[PREV + m.name], m.unit) for m in ms}}
                     for r in rows]
            emit(lines, fmt, title=" · ".join(t(f"metrics.family.{f}", l) for f in block),
                 columns=groups + [m.name for m in ms], headers=headers)
        out.print(t("metrics.caption", l), markup=False, highlight=False)

    guarded(run)


def show_list(fmt: Format, lang: str) -> None:
    if fmt == Format.table:  # two columns, so the descriptions stay readable in 80 characters
        rows = [{"name": f"{r['name']}\n{r['kind']} · {r['unit']} · {r['family']}", "description": r["description"]}
                for r in registry_rows(lang, translate=True)]
        emit(rows, fmt, title=t("metrics.list.title", lang), columns=["name", "description"],
             headers={c: t(f"metrics.list.{c}", lang) for c in ("name", "description")})
        return
    from dealpulse.app.commands.metrics import metric_registry

    emit_result(metric_registry(lang), fmt)


__all__ = ["metrics", "cell", "parse_by", "parse_window", "DAYS"]
