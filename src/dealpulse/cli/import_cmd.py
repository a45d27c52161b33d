"""`dealpulse import PATH` and `dealpulse quarantine`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from dealpulse.cli.app import open_store, DbOption, Format, FormatOption, Lang, LangOption, _jsonable, app, emit, err, guarded, lang_of, note, t
from dealpulse.errors import InputError

PROBLEMS_SHOWN = 10


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A folder of exported tables (deals.csv, stage_history.csv, ...) or one file (CSV, XLSX, Parquet, XES)."),
    playbook: Optional[Path] = typer.Option(None, "--playbook", help="A playbook YAML to check and keep in the store with the data."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="mapping.yaml: the CRM's headers and values -> native ones (default: mapping.yaml beside the files)."),
    tz: Optional[str] = typer.Option(None, "--tz", help="The zone of timestamps written without one, e.g. Europe/Moscow (default: the mapping's, else the store's, else UTC)."),
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Import a CRM export: check every row, quarantine bad ones, update the store all or nothing."""
    def run() -> None:
        from dealpulse.ingest import import_path

        l = lang_of(lang)
        store = open_store(db, create=True, lang=l)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task(t("ingest.progress.read", l, name=path.name), total=None)

                def progress(label: str, done: int, total: int) -> None:
                    kind, _, name = label.partition(":")
                    key = f"ingest.progress.{kind}"
                    text = t(key, l, name=name)
                    bar.update(task, description=label if text == key else text, completed=done, total=total)

                report = import_path(store, path, playbook_path=playbook, mapping_path=mapping, tz=tz,
                                     progress=progress, lang=l)
        finally:
            store.close()
        _print_report(report, fmt, l)
    guarded(run)


def _print_report(report, fmt: Format, lang: str) -> None:
    if fmt == Format.json:
        sys.stdout.write(json.dumps(_jsonable(report.to_dict()), ensure_ascii=False, indent=2) + "\n")
    else:
        rows = [{"table": name, "file": report.files.get(name, ""), **counts} for name, counts in report.tables.items()]
        cols = ["table", "file", "rows_read", "imported", "duplicates", "quarantined"]
        emit(rows, fmt, columns=cols, title=t("ingest.title", lang, source=report.source, tz=report.tz),
             headers={c: t(f"ingest.col.{c}", lang) for c in cols})
    lo, hi = report.as_of_range
    if lo is not None:
        note(t("ingest.summary.range", lang, start=lo.isoformat(sep=" "), end=hi.isoformat(sep=" ")))
    if report.attributes.get("written") or report.attributes.get("cleared"):
        note(t("ingest.summary.attributes", lang, **report.attributes))
    for w in report.warnings:
        note(f"[yellow]{t('ingest.warning', lang)}:[/] {w}" if fmt == Format.table else f"{t('ingest.warning', lang)}: {w}")
    if report.quarantined:
        note(t("ingest.summary.quarantined", lang, n=report.quarantined))
        for p in report.problems[:PROBLEMS_SHOWN]:
            note(f"  {p}")
        if report.quarantined > min(len(report.problems), PROBLEMS_SHOWN):
            note(t("ingest.summary.more", lang))
    if report.imported == 0 and not report.attributes.get("written") and not report.attributes.get("cleared") and report.tables:
        note(t("ingest.summary.nothing", lang))


@app.command("quarantine")
def quarantine(
    table: Optional[str] = typer.Option(None, "--table", help="Only this table's rows (deals, stage_history, tasks, ...)."),
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """List the rows imports put in quarantine: file, row, column and the reason."""
    def run() -> None:
        from dealpulse.ingest import list_quarantine
        from dealpulse.ingest.tables import TABLES

        l = lang_of(lang)
        store = open_store(db, create=True, lang=l)
        try:
            if table is not None:
                known = set(TABLES) | {r[0] for r in store.query("SELECT DISTINCT table_name FROM quarantine")}
                if table not in known:
                    raise InputError(t("ingest.err.unknown_table_option", l, table=table, expected=", ".join(sorted(known))))
            rows = list_quarantine(store, table, lang=l)
        finally:
            store.close()
        cols = ["table", "file", "row", "column", "reason"]
        headers = {"table": t("ingest.col.table", l), "file": t("ingest.col.file", l),
                   "row": t("ingest.quarantine.col.row", l), "column": t("ingest.quarantine.col.column", l),
                   "reason": t("ingest.quarantine.col.reason", l)}
        if fmt == Format.json:
            sys.stdout.write(json.dumps({"rows": _jsonable(rows)}, ensure_ascii=False, indent=2) + "\n")
            return
        if not rows and fmt == Format.table:
            note(t("ingest.quarantine.none", l))
            return
        emit(rows, fmt, columns=cols + (["found"] if fmt == Format.csv else []), title=t("ingest.quarantine.title", l), headers=headers)
    guarded(run)
