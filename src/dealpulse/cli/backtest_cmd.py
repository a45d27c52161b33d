"""`dealpulse backtest`: replay history as of past dates, using only what was known then, and grade
the deal risk (AUC, Brier, reliability, earliness) and the alerts (lead time, share followed by a
real change)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from dealpulse.cli.app import (DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded, lang_of,
                               moment_doc, show_time, note, open_store, t)
from dealpulse.cli.funnel_cmd import PlaybookOption


def replay_dates(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    out, d = [], start
    while d <= end:
        out.append(d)
        d += every
    return out


def _pct(x: float | None) -> str:
    """A score (AUC, Brier, ECE) with 3 decimals as the reader writes them: 0,839 / 0.839."""
    from dealpulse.cli.app import _STATE
    from dealpulse.report import fmt as nf

    return "—" if x is None else nf.number(x, _STATE.get("lang") or "en", 3)


@app.command("backtest")
def backtest_cmd(
    date_from: str = typer.Option(..., "--from", help="First replay date (a date or time in the export's zone)."),
    date_to: str = typer.Option(..., "--to", help="Last replay date."),
    every: str = typer.Option("30d", "--every", help="Step between replay dates for the deal risk (e.g. 30d, 2w)."),
    alerts_every: str = typer.Option("7d", "--alerts-every", help="Step between replay dates for the alerts (they are about weeks)."),
    no_alerts: bool = typer.Option(False, "--no-alerts", help="Grade the deal risk only."),
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Replay as of past dates: how well and how early deal risk and alerts worked (JSON: --format json)."""

    def run() -> None:
        from dealpulse.errors import InputError
        from dealpulse.metrics.asof import check_within_data, parse_moment, snapshot, store_tz
        from dealpulse.playbook import playbook_for_store
        from dealpulse.playbook.durations import parse_duration
        from dealpulse.risk.backtest import backtest_risk

        l = lang_of(lang)
        def option(name: str, text: str, parse: Callable[[str], object], key: str) -> object:
            """The parsed value, or an error that names the option the user typed."""
            try:
                return parse(text)
            except InputError:
                raise InputError(t(key, l, option=name, got=text)) from None

        step = option("--every", every, parse_duration, "backtest.bad_duration")
        astep = option("--alerts-every", alerts_every, parse_duration, "backtest.bad_duration")
        if step < timedelta(days=1) or astep < timedelta(days=1):
            raise InputError(t("backtest.bad_every", l))
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            tz = store_tz(store)
            start = option("--from", date_from, lambda x: parse_moment(x, tz), "backtest.bad_moment")
            end = option("--to", date_to, lambda x: parse_moment(x, tz), "backtest.bad_moment")
            if start > end:  # the dates reversed: say so, naming both
                raise InputError(t("backtest.reversed", l, start=date_from, end=date_to))
            final = snapshot(store, None, pb)
            if end > final.as_of:
                check_within_data(store, end, option="--to")  # far after the data: refused like --as-of
                end = final.as_of
            if start > end:
                raise InputError(t("backtest.bad_range", l, start=date_from, end=date_to, last=show_time(final.as_of, tz, l)))
            dates = replay_dates(start, end, step)
            with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task(t("backtest.progress.risk", l), total=len(dates))
                risk = backtest_risk(final, dates, progress=lambda i, n: bar.update(task, completed=i))
                alerts = None
                if not no_alerts:
                    from dealpulse.alerts.backtest import backtest_alerts

                    adates = replay_dates(start, end, astep)
                    task2 = bar.add_task(t("backtest.progress.alerts", l), total=len(adates))
                    alerts = backtest_alerts(store, pb, adates, lang=l,
                                             progress=lambda i, n: bar.update(task2, completed=i))
            final.release()
        finally:
            store.close()
        doc = {"data_until": moment_doc(final.as_of, tz), "zone": str(tz), "playbook": pb.source,
               "dates": [moment_doc(d, tz) for d in dates], "every": every, "method": t("backtest.method", l),
               "risk": risk, "alerts": alerts, "lang": l}
        if fmt == Format.json:
            emit([], fmt, document=doc)
            return
        if fmt == Format.csv:  # the per-date table: one row per replay date
            emit([{**r, "date": r["date"].date().isoformat()} for r in risk["by_date"]], fmt)
            return
        pooled = risk["pooled"]
        emit([{"what": t("backtest.row.model", l), "auc": _pct(pooled["auc"]), "brier": _pct(pooled["brier"]),
               "ece": _pct(pooled["calibration_error"])},
              {"what": t("backtest.row.baseline", l), "auc": _pct(pooled["baseline_auc"]), "brier": _pct(pooled["baseline_brier"]),
               "ece": _pct(pooled["baseline_calibration_error"])}],
             fmt, title=t("backtest.title", l, n=pooled["n"], dates=len(dates),
                          start=dates[0].date().isoformat(), end=dates[-1].date().isoformat()),
             columns=["what", "auc", "brier", "ece"], headers={c: t(f"backtest.col.{c}", l) for c in ("what", "auc", "brier", "ece")},
             caption=t("backtest.method", l))
        emit(risk["reliability"], fmt, title=t("backtest.title.reliability", l),
             columns=["p_from", "p_to", "n", "predicted", "observed"],
             headers={c: t(f"backtest.col.{c}", l) for c in ("p_from", "p_to", "n", "predicted", "observed")})
        from dealpulse.report import fmt as nf

        emit([{"share": f"{nf.number(100 * r['share_from'], l)}–{nf.pct(r['share_to'], l)}", "n": r["n"], "auc": _pct(r["auc"]),
               "baseline_auc": _pct(r["baseline_auc"])} for r in risk["by_cycle_share"]], fmt,
             title=t("backtest.title.earliness", l), columns=["share", "n", "auc", "baseline_auc"],
             headers={c: t(f"backtest.col.{c}", l) for c in ("share", "n", "auc", "baseline_auc")})
        if alerts is not None:
            summary = alerts.get("summary", {})
            def fmt_num(v: object, digits: int = 2) -> str:
                return "—" if v is None else (nf.number(v, l, digits) if isinstance(v, float) else str(v))

            note(t("backtest.alerts_summary", l, dates=summary.get("dates", 0), episodes=summary.get("episodes", 0),
                   precision=fmt_num(summary.get("precision")), lead=fmt_num(summary.get("lead_days_median"), 0),
                   lead_min=fmt_num(summary.get("lead_days_min"), 0), lead_max=fmt_num(summary.get("lead_days_max"), 0),
                   per_month=fmt_num(summary.get("episodes_per_month"))))

    guarded(run)


__all__ = ["backtest_cmd", "replay_dates"]
