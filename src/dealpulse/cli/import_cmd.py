"""`dealpulse import PATH` and `dealpulse quarantine`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from dealpulse.cli.app import open_store, open_store_for_import, DbOption, Format, FormatOption, Lang, LangOption, _jsonable, app, emit, err, guarded, lang_of, note, t
from dealpulse.errors import InputError, NoData

PROBLEMS_SHOWN = 10


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A folder of exported tables (deals.csv, stage_history.csv, ...) or one file (CSV, .csv.gz, XLSX, Parquet, JSON, Bitrix24's HTML .xls, XES)."),
    playbook: Optional[Path] = typer.Option(None, "--playbook", help="A playbook YAML to check and keep in the store with the data."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="mapping.yaml: the CRM's headers and values -> native ones (default: mapping.yaml beside the files)."),
    tz: Optional[str] = typer.Option(None, "--tz", help="The zone of timestamps written without one, e.g. Europe/Moscow (default: the mapping's, else the store's, else UTC)."),
    source: Optional[str] = typer.Option(None, "--source", help="Read PATH as this CRM exports it: amocrm (UI export CSV/XLSX or an API v4 dump folder) or bitrix24. --mapping is then the short account.yaml (default: account.yaml beside the data)."),
    explore: bool = typer.Option(False, "--explore", help="With --source: list the pipelines, stages, task types, custom fields and their values with counts, and write a starter account.yaml; import nothing."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="With --explore: where to write the starter account.yaml (default: account.yaml beside the data)."),
    max_quarantine: float = typer.Option(0.5, "--max-quarantine", min=0.0, max=1.0, help="The share of a table's rows that may go to quarantine; above it the import stops and changes nothing (default 0.5; 1: import the rows that pass whatever the rest)."),
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Import a CRM export: check every row, quarantine bad ones, update the store all or nothing."""
    def run() -> None:
        from dealpulse.ingest import import_path

        l = lang_of(lang)
        if explore or out_path is not None:
            if source is None:
                raise InputError(t("presets.err.explore_needs_source", l), suggestion=t("presets.err.explore_needs_source.suggestion", l))
            if not explore:
                raise InputError(t("presets.err.out_needs_explore", l))
            _explore(path, source, out_path, playbook, fmt, l)
            return
        store, discard = open_store_for_import(db, lang=l)
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
                                     progress=progress, lang=l, source=source, max_quarantine=max_quarantine)
        except BaseException:
            discard()  # a failed import leaves no new store behind (an existing one is unchanged)
            raise
        finally:
            store.close()
        _print_report(report, fmt, l)
    guarded(run)


def _starter_target(path: Path, out_path: Optional[Path]) -> Path:
    if out_path is not None:
        return out_path / "account.yaml" if out_path.is_dir() else out_path
    folder = path if path.is_dir() else path.parent
    target = folder / "account.yaml"
    return target if not target.exists() else folder / "account.starter.yaml"  # never overwrite the user's own


def _explore(path: Path, source: str, out_path: Optional[Path], playbook: Optional[Path], fmt: Format, lang: str) -> None:
    """`import PATH --source S --explore`: what the export holds, and a starter account.yaml."""
    from dealpulse.ingest.presets import get_preset
    from dealpulse.playbook import load_playbook

    if not path.exists():
        raise InputError(t("ingest.err.no_path", lang, path=str(path)), suggestion=t("ingest.err.no_path.suggestion", lang))
    preset = get_preset(source, lang)
    found = preset.explore(path, lang)
    starter = preset.starter_account(found, playbook=load_playbook(playbook), lang=lang)
    target = _starter_target(path, out_path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(starter, encoding="utf-8")
    except OSError as exc:
        raise InputError(t("presets.err.cannot_write", lang, path=str(target), error=exc.strerror or str(exc))) from None
    if fmt == Format.json:
        doc = {**found.to_dict(), "starter_account": str(target)}
        sys.stdout.write(json.dumps(_jsonable(doc), ensure_ascii=False, indent=2) + "\n")
        return
    rows = [{"pipeline": p.name or p.id, "stage": s.name, "id": s.id, "deals": s.count,
             "kind": t(f"presets.explore.kind.{s.kind}", lang) if s.kind else ""}
            for p in found.pipelines for s in p.stages]
    heads = {c: t(f"presets.explore.col.{c}", lang) for c in ("pipeline", "stage", "id", "deals", "kind", "task_type",
                                                              "tasks", "field", "values", "user")}
    emit(rows, fmt, columns=["pipeline", "stage", "id", "deals", "kind"], headers=heads,
         title=t("presets.explore.stages", lang, source=source, n=found.deals))
    emit([{"task_type": x.name, "id": x.id, "tasks": x.count} for x in found.task_types], fmt,
         columns=["task_type", "id", "tasks"], headers=heads, title=t("presets.explore.task_types", lang))
    emit([{"field": x.name, "id": x.id, "deals": x.count,
           "values": ", ".join(f"{v.name} ({v.count})" for v in x.values[:8]) + (" …" if len(x.values) > 8 else "")}
          for x in found.fields], fmt, columns=["field", "id", "deals", "values"], headers=heads,
         title=t("presets.explore.fields", lang))
    emit([{"user": x.name, "id": x.id, "deals": x.count} for x in found.users], fmt,
         columns=["user", "id", "deals"], headers=heads, title=t("presets.explore.users", lang))
    for n in found.notes:
        note(f"[yellow]{t('ingest.warning', lang)}:[/] {n}" if fmt == Format.table else f"{t('ingest.warning', lang)}: {n}")
    note(t("presets.explore.wrote", lang, path=str(target), source=source))


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
        from dealpulse.timefmt import show_moment

        note(t("ingest.summary.range", lang, start=show_moment(lo, report.tz, lang), end=show_moment(hi, report.tz, lang)))
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
        try:  # a read command: it creates no store (a missing folder is an error naming it)
            store = open_store(db, lang=l)
        except NoData:
            store = None  # no store yet: nothing was ever quarantined
        try:
            if table is not None:
                known = set(TABLES) | ({r[0] for r in store.query("SELECT DISTINCT table_name FROM quarantine")} if store else set())
                if table not in known:
                    raise InputError(t("ingest.err.unknown_table_option", l, table=table, expected=", ".join(sorted(known))))
            rows = list_quarantine(store, table, lang=l) if store else []
        finally:
            if store is not None:
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
