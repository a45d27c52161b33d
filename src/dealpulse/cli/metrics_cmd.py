"""`dealpulse metrics`: step compliance, tasks, client card, pipeline and outcomes for a window
and the previous one, per group; `--list` shows the registry, `--explain` the SQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (local_time, moment_doc, show_time, open_store, AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, note, out, t)
from dealpulse.errors import InputError
from dealpulse.metrics.registry import (CARD, COUNT, DAYS, GROUP_KEYS, METRICS, MONEY, OUTCOMES, PIPELINE, PREV, SHARE,
                                       STEPS, TASKS, registry_rows)

BLOCKS = ((STEPS,), (TASKS, CARD), (PIPELINE,), (OUTCOMES,))  # the grouped table, one block per line of thought
PlaybookOption = typer.Option(None, "--playbook", help="Playbook YAML (default: the one saved in the store at import, else the built-in).")


def parse_by(values: list[str] | None, lang: str) -> list[str]:
    out_: list[str] = []
    for raw in values or []:
        for v in raw.split(","):  # --by manager,segment works too
            v = v.strip()
            if not v:
                continue
            if v not in GROUP_KEYS:
                raise InputError(t("metrics.bad_by", lang, value=v, allowed=", ".join(GROUP_KEYS)),
                                 suggestion=t("metrics.bad_by.suggestion", lang))
            if v not in out_:
                out_.append(v)
    return out_


def parse_window(text: str, lang: str) -> timedelta:
    from dealpulse.playbook.durations import parse_duration

    try:
        td = parse_duration(text)
    except InputError:
        td = None
    if td is None or td <= timedelta(0):
        raise InputError(t("metrics.bad_window", lang, value=text), suggestion=t("metrics.bad_window.suggestion", lang))
    return td


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


def _clean(v: Any) -> Any:
    """pandas NA/NaN to None, numpy scalars to Python numbers."""
    try:
        import pandas as pd

        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            return None
    except ImportError:  # pragma: no cover
        pass
    return v.item() if hasattr(v, "item") else v


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
        groups = parse_by(by, l)
        length = parse_window(window, l)
        from dealpulse.metrics.asof import snapshot, store_tz, window_bounds
        from dealpulse.metrics.kpis import compute_metrics, families_for, metrics_expr
        from dealpulse.labels import people_of_store, person
        from dealpulse.playbook import playbook_for_store

        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            snap = snapshot(store, as_of, pb)
            tz = store_tz(store)
            people = people_of_store(store)
            if explain:
                import ibis

                note(t("metrics.explain.title", l, engine=store.kind))
                out.print(ibis.to_sql(metrics_expr(snap, by=groups, window=length)), markup=False, highlight=False)
                return
            with err.status(t("metrics.computing", l, as_of=show_time(snap.as_of, tz, l))):
                df = compute_metrics(snap, by=groups, window=length)
        finally:
            store.close()
        prev_start, start, end = window_bounds(snap.as_of, length)
        rows = [{k: _clean(v) for k, v in r.items()} for r in df.to_dict("records")]
        fields = [c for c in df.columns if c not in groups]
        if fmt != Format.table:
            from dealpulse.playbook.durations import format_duration

            doc = {
                "as_of": moment_doc(end, tz), "zone": str(tz),
                "window": {"length": format_duration(length), "start": moment_doc(start, tz), "end": moment_doc(end, tz)},
                "previous_window": {"start": moment_doc(prev_start, tz), "end": moment_doc(start, tz)},
                "by": groups, "playbook": pb.source, "metrics": [m.name for m in METRICS],
            }
            if "manager" in groups:  # the id stays under "manager", the name beside it
                rows = [{k: v for k, v in r.items() if k in groups} | {"manager_name": person(r["manager"], people)} | r for r in rows]
                fields = ["manager_name"] + fields
            emit(rows, fmt, columns=groups + fields, document=doc)
            return
        if not rows:
            note(t("metrics.empty", l))
            return
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
            lines = [{**{k: person(r[k], people) if k == "manager" else r[k] for k in groups}, **{m.name: cell(r[m.name], r[PREV + m.name], m.unit) for m in ms}}
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
    rows = registry_rows(lang)
    for r, m in zip(rows, METRICS):
        r["descriptions"] = m.descriptions
    emit(rows, fmt, columns=["name", "kind", "unit", "family", "description"], document={"lang": lang})


__all__ = ["metrics", "cell", "parse_by", "parse_window", "DAYS"]
