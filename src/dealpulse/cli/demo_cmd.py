"""`dealpulse demo`: generate a realistic sales department, import it, write the report, say what next."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dealpulse.cli.app import Lang, LangOption, app, err, guarded, lang_of, note, t


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("dealpulse-demo"), "--out", help="Folder for the generated export, the store and the report."),
    db: Optional[str] = typer.Option(None, "--db", help="Store to import into (default: OUT/dealpulse.duckdb, made anew)."),
    deals: int = typer.Option(5000, "--deals", min=100, help="How many deals to generate."),
    seed: int = typer.Option(42, "--seed", help="Random seed: the same seed gives the same department."),
    lang: Optional[Lang] = LangOption,
) -> None:
    """Generate a demo department (20 managers, two years), import it and write the HTML report."""

    def run() -> None:
        from dealpulse.demo import generate
        from dealpulse.ingest import import_path
        from dealpulse.report import write_report
        from dealpulse.store import connect

        l = lang_of(lang)
        out.mkdir(parents=True, exist_ok=True)
        export_dir = out / "export"
        if export_dir.exists():
            shutil.rmtree(export_dir)
        db_url = db
        if db_url is None:
            db_path = out / "dealpulse.duckdb"
            for leftover in (db_path, Path(str(db_path) + ".wal")):
                leftover.unlink(missing_ok=True)
            db_url = str(db_path)
        report_path = out / "report.html"
        started = time.perf_counter()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            task = progress.add_task(t("demo.step.generate", l, deals=deals), total=3)
            summary = generate(export_dir, deals=deals, seed=seed)
            progress.update(task, advance=1, description=t("demo.step.import", l))
            store = connect(db_url)
            try:
                playbook_file = export_dir / "playbook.yaml"
                report = import_path(store, export_dir, playbook_path=playbook_file if playbook_file.exists() else None)
                progress.update(task, advance=1, description=t("demo.step.report", l))
                write_report(store, report_path, lang=l)
                progress.update(task, advance=1)
            finally:
                store.close()
        imported = {name: counts.get("imported", 0) for name, counts in report.to_dict()["tables"].items()}
        note(t("demo.done", l, seconds=round(time.perf_counter() - started, 1), folder=str(out),
               deals=imported.get("deals", 0), events=imported.get("stage_history", 0),
               tasks=imported.get("tasks", 0), report=str(report_path)))
        if getattr(summary, "planted", None):
            note(t("demo.planted", l, planted="; ".join(str(p) for p in summary.planted)))
        db_opt = f"--db {db_url}"
        note(t("demo.next", l, db=db_opt, report=str(report_path)))

    guarded(run)
