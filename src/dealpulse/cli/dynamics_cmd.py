"""`dealpulse dynamics`: which segment or channel changed for the better or for the worse against its
own baseline — inflow, share of inflow, lead quality, win rate, deal size, cycle (docs/dynamics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, moment_doc, show_time, note, open_store, t)
from dealpulse.cli.funnel_cmd import PlaybookOption

CSV_COLUMNS = ("segment", "channel", "metric", "before", "after", "change", "unit", "direction", "good", "since", "q",
               "significant", "p_value", "recent_n", "baseline_n", "window_days", "recent_from", "recent_to",
               "baseline_from", "baseline_to", "test", "tested", "message")


def _method(settings: Any, window_weeks: float, tested: int, lang: str) -> str:
    from dealpulse.i18n import number

    g = lambda x: number(x, lang)  # noqa: E731 - 1,5 / 1.5, 12
    scan = "/".join(g(f * window_weeks) for f in sorted(settings.scan))
    return t("dynamics.method", lang, window=g(window_weeks), scan=scan, baseline=g(settings.baseline.days / 7),
             tested=tested, fdr=g(100 * settings.fdr), inflow=g(settings.min_inflow_ratio), share=g(settings.min_share_ratio),
             points=g(100 * settings.min_points), size=g(settings.min_size_ratio),
             cycle=g(settings.min_cycle_ratio), quality_days=settings.quality_days, win_days=settings.win_days)


def _q_text(q: Optional[float], lang: str = "en") -> str:
    if q is None:
        return "—"
    from babel.numbers import format_decimal

    return "<" + format_decimal(0.001, locale=lang) if q < 0.001 else format_decimal(float(f"{q:.2g}"), format="0.####", locale=lang)


@app.command("dynamics")
def dynamics(
    by: Optional[list[str]] = typer.Option(None, "--by", help="segment, channel, or segment,channel for the pairs; repeat for several groupings. Default: --by segment --by channel (each separately)."),
    window: str = typer.Option("12w", "--window", help="The recent window (e.g. 12w, 84d), compared with the 26 weeks before it."),
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    only_significant: bool = typer.Option(False, "--significant", help="Show only the significant changes."),
) -> None:
    """Changes for the better and for the worse per segment and channel: inflow, share, lead quality, win rate, deal size, cycle."""

    def run() -> None:
        from dealpulse.cli.metrics_cmd import parse_window
        from dealpulse.dynamics.compute import Settings, compute_dynamics, normalize_by
        from dealpulse.metrics.asof import snapshot, store_tz
        from dealpulse.playbook import playbook_for_store

        l = lang_of(lang)
        groupings = normalize_by(by or None, l)
        length = parse_window(window, l)
        settings = Settings()
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            tz = store_tz(store)
            snap = snapshot(store, as_of, pb)
            try:
                with err.status(t("common.computing", l, what=t("dynamics.what", l))):
                    rows = compute_dynamics(snap, by=groupings, window=length, settings=settings, lang=l)
            finally:
                snap.release()
        finally:
            store.close()
        tested = sum(1 for r in rows if r["q"] is not None)
        significant = [r for r in rows if r["significant"]]
        shown = significant if only_significant else rows
        weeks = length.total_seconds() / (7 * 86400)
        method = _method(settings, weeks, tested, l)
        if fmt == Format.json:
            doc = {"as_of": moment_doc(snap.as_of, tz), "zone": str(tz), "lang": l, "by": [list(g) for g in groupings],
                   "window_days": length.days, "baseline_days": settings.baseline.days, "fdr": settings.fdr,
                   "tested": tested, "significant": len(significant), "method": method}
            emit(shown, fmt, document=doc)
            return
        if fmt == Format.csv:
            flat = []
            for r in shown:
                ev = r["evidence"]
                flat.append({**{k: r[k] for k in ("metric", "before", "after", "change", "unit", "direction", "good",
                                                   "since", "q", "significant", "message")},
                             "segment": r["subject"].get("segment"), "channel": r["subject"].get("channel"),
                             **{k: ev.get(k) for k in ("p_value", "recent_n", "baseline_n", "window_days", "recent_from",
                                                       "recent_to", "baseline_from", "baseline_to", "test", "tested")}})
            emit(flat, fmt, columns=CSV_COLUMNS)
            return
        as_of_text = show_time(snap.as_of, tz, l)
        if not significant:
            note(t("dynamics.none", l, as_of=as_of_text, tested=tested))
            if only_significant or not rows:
                return
        from dealpulse.dynamics.compute import change_text, subject_text, value_text

        table = []
        untested = 0
        for r in shown:
            if not r["evidence"].get("tested"):
                untested += 1
                continue
            verdict = (t("dynamics.verdict.significant_good" if r["good"] else "dynamics.verdict.significant_bad", l)
                       if r["significant"] else "")
            table.append({"subject": subject_text(r["subject"], l), "metric": t(f"dynamics.metric.{r['metric']}", l),
                          "before": value_text(r["metric"], r["before"], l), "after": value_text(r["metric"], r["after"], l),
                          "change": change_text(r, l), "verdict": verdict, "since": r["since"] or "",
                          "q": _q_text(r["q"], l)})
        cols = ["subject", "metric", "before", "after", "change", "verdict", "since", "q"]
        good = sum(1 for r in significant if r["good"])
        emit(table, fmt, title=t("dynamics.title", l, as_of=as_of_text, zone=str(tz), count=len(significant), good=good,
                                 bad=len(significant) - good),
             columns=cols, headers={c: t(f"dynamics.col.{c}", l) for c in cols}, caption=method)
        if untested:
            note(t("dynamics.untested", l, n=untested))

    guarded(run)


__all__ = ["dynamics"]
