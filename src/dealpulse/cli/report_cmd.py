"""`dealpulse report`: one self-contained HTML file for the head of sales (works offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dealpulse.cli.app import open_moment, AsOfOption, DbOption, Lang, LangOption, app, err, guarded, lang_of, note, t
from dealpulse.errors import InputError

SECTION_NAMES = {"changes": "report.changes.title", "funnel": "report.funnel.title", "dwell": "report.dwell.title",
                 "norms": "report.dwell.title", "heatmap": "report.heatmap.title", "stale": "report.stale.title",
                 "managers": "report.managers.title", "alerts": "report.alerts.title", "risk": "report.risk.title",
                 "optimism": "report.optimism.title", "review": "report.review.title", "leading": "report.leading.title"}


def _size(n: int, lang: str) -> str:
    units = ("B", "KB", "MB", "GB") if lang == "en" else ("Б", "КБ", "МБ", "ГБ")
    value = float(n)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            text = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
            return f"{text.replace('.', ',') if lang == 'ru' else text} {unit}"
        value /= 1024
    return str(n)  # pragma: no cover


@app.command("report")
def report(
    out_path: Path = typer.Option(Path("report.html"), "--out", "-o", help="Where to write the HTML file."),
    as_of: Optional[str] = AsOfOption,
    window: str = typer.Option("28d", "--window", help="The window to compare with the one before it: 7d, 4w, 28d..."),
    playbook: Optional[Path] = typer.Option(None, "--playbook", help="Playbook YAML (default: the one saved in the store at import, else the built-in)."),
    db: Optional[str] = DbOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Build the HTML report (one file, opens offline): alerts, changes, deals at risk, funnel, dwell, heat map, review queue, forecast calls, which metrics matter."""

    def run() -> None:
        from dealpulse.playbook.durations import parse_duration
        from dealpulse.report.build import SECTIONS, gather
        from dealpulse.report.html import render_report

        l = lang_of(lang)
        try:
            span = parse_duration(window)
        except InputError as exc:
            raise InputError(f"--window: {exc}") from None
        if span.total_seconds() <= 0:
            raise InputError(f"--window: expected a positive duration such as 28d, got {window!r}")
        with open_moment(db, playbook, as_of, l) as m:
            pb = m.playbook
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                          console=err, transient=True) as progress:
                task = progress.add_task(t("report.cli.progress", l), total=len(SECTIONS) + 1)
                done = {"n": 0}

                def tick(section: str) -> None:
                    progress.update(task, completed=done["n"],
                                    description=f"{t('report.cli.progress', l)}: {t(f'report.cli.section.{section}', l)}")
                    done["n"] += 1

                data = gather(m, window=span, progress=tick, langs=(l,))
                progress.update(task, completed=len(SECTIONS), description=t("report.cli.progress", l))
                html = render_report(data, l, pb)
                progress.update(task, completed=len(SECTIONS) + 1)
        for section, why in data.unavailable.items():
            detail = next((w for w in data.warnings if w.startswith(section + ":")), section)
            note(t("report.cli.section_missing", l, section=t(SECTION_NAMES.get(section, section), l), reason=detail))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(html, encoding="utf-8")
        note(t("report.cli.written", l, path=str(out_path), size=_size(out_path.stat().st_size, l)))

    guarded(run)
