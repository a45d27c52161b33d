"""`dealpulse alerts`: which manager, stage or channel got significantly worse than its own baseline,
since when, by how much — with false-discovery control over everything tested (docs/alerts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, moment_doc, show_time, note, open_store, t)
from dealpulse.cli.funnel_cmd import PlaybookOption

CSV_COLUMNS = ("kind", "subject", "status", "opened", "resolved", "since", "severity", "message", "recent_value", "baseline_value", "recent_n",
               "baseline_n", "effect", "p_value", "q_value", "recent_from", "recent_to", "baseline_from", "baseline_to")


def _subject_text(subject: dict[str, Any], lang: str = "en", people: dict | None = None, playbook: Any = None) -> str:
    from dealpulse.alerts.explain import subject_words

    return " · ".join(f"{v}" for v in subject_words(subject, lang, people, playbook).values())


@app.command("alerts")
def alerts(
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    all_: bool = typer.Option(False, "--all", help="Also the alerts resolved in the last 12 weeks."),
) -> None:
    """Drift alarms: a manager's steps, a stage's conversion or dwell in a segment, a channel's inflow or
    quality got worse. An alert stays open while the subject stays off its baseline before the change."""

    def run() -> None:
        from datetime import timedelta

        from dealpulse.alerts.detect import Settings
        from dealpulse.alerts.facts import extract
        from dealpulse.alerts.lifecycle import HISTORY, WEEKLY, grid, rows as lifecycle_rows, track
        from dealpulse.metrics.asof import snapshot, store_tz
        from dealpulse.labels import people_of_store
        from dealpulse.playbook import playbook_for_store
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        l = lang_of(lang)
        settings = Settings()
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            snap = snapshot(store, as_of, pb)
            tz = store_tz(store)
            people = people_of_store(store)
            try:
                with err.status(t("common.computing", l, what=t("alerts.what", l))):
                    facts = extract(snap)
                dates = grid(facts, HISTORY, settings)
                with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                              TimeElapsedColumn(), console=err, transient=True) as bar:
                    job = bar.add_task(t("alerts.replaying", l), total=len(dates))
                    tracker = track(facts, settings=settings, progress=lambda done, total: bar.update(job, completed=done))
            finally:
                snap.release()
        finally:
            store.close()
        after = snap.as_of - timedelta(weeks=12) if all_ else None
        rows = lifecycle_rows(tracker, lang=l, include_resolved_after=after, people=people, playbook=pb)
        for r in rows:  # the id stays in the subject, the name beside it
            if "manager" in r["subject"]:
                r["manager_name"] = people.get(str(r["subject"]["manager"]), r["subject"]["manager"])
        tested = tracker.tested  # the subject tests of the last replay date, as_of itself
        as_of_text = show_time(snap.as_of, tz, l)
        method = t("alerts.method", l, recent=settings.recent.days // 7, cohort=settings.recent_cohort.days // 7,
                   baseline=settings.baseline.days // 7, tested=tested, fdr=f"{100 * settings.fdr:g}")
        lifecycle = t("alerts.lifecycle", l, weeks=WEEKLY.days // 7, dates=len(dates))
        if fmt == Format.json:
            doc = {"as_of": moment_doc(snap.as_of, tz), "zone": str(tz), "lang": l, "tested": tested,
                   "method": method, "lifecycle": lifecycle, "includes_resolved": all_,
                   "replay": {"dates": len(dates), "first": dates[0], "last": dates[-1]},
                   "settings": {"recent_days": settings.recent.days, "recent_cohort_days": settings.recent_cohort.days,
                                "baseline_days": settings.baseline.days, "fdr": settings.fdr}}
            emit(rows, fmt, document=doc)
            return
        if fmt == Format.csv:
            flat = [{**{k: r[k] for k in ("kind", "status", "opened", "resolved", "since", "severity", "message")},
                     "subject": r["subject"],
                     **{k: r["evidence"].get(k) for k in CSV_COLUMNS if k in r["evidence"]}} for r in rows]
            emit(flat, fmt, columns=CSV_COLUMNS)
            return
        if not rows:
            note(t("alerts.none", l, as_of=as_of_text, tested=tested))
            return
        table = [{"status": t(f"alerts.status.{r['status']}", l) + (f" {r['resolved']}" if r["resolved"] else ""),
                  "severity": t(f"alerts.severity.{r['severity']}", l), "kind": t(f"alerts.kind.{r['kind']}", l),
                  "subject": _subject_text(r["subject"], l, people, pb), "opened": r["opened"], "message": r["message"]} for r in rows]
        cols = ["status", "severity", "kind", "subject", "opened", "message"]
        n_open = sum(1 for r in rows if r["status"] == "open")
        emit(table, fmt, title=t("alerts.title", l, as_of=as_of_text, count=n_open), columns=cols,
             headers={c: t(f"alerts.col.{c}", l) for c in cols}, caption=method + " " + lifecycle)

    guarded(run)


__all__ = ["alerts"]
