"""`dealpulse alerts`: which manager, stage or channel got significantly worse than its own baseline,
since when, by how much — with false-discovery control over everything tested (docs/alerts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, emit_result, err,
                               guarded, lang_of, show_time, note, open_moment, t)
from dealpulse.cli.funnel_cmd import PlaybookOption

from dealpulse.app.commands.alerts import CSV_COLUMNS  # noqa: F401,E402 - where it used to be


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
        from dealpulse.app.commands.alerts import alerts as compute
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=err, transient=True) as bar:
                job = bar.add_task(t("common.computing", l, what=t("alerts.what", l)), total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(job, completed=done, total=total, description=t("alerts.replaying", l))

                result = compute(m, lang=l, all=all_, progress=progress)
            tz, people, pb = m.tz, m.session.people, m.playbook
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        rows, tested = result.rows, result.head["tested"]
        method, lifecycle = result.head["method"], result.head["lifecycle"]
        as_of_text = show_time(m.as_of, tz, l)
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
