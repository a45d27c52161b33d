"""`import_path`: read an export (a folder of tables or one file), check it, write it to the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import polars as pl
import yaml

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.ingest.checks import Checked, check_table
from dealpulse.ingest.derive import derive_stage_history
from dealpulse.ingest.mapping import Mapping, Resolution, load_mapping, resolve, table_of_name
from dealpulse.ingest.parse import check_tz
from dealpulse.ingest.readers import SUPPORTED_SUFFIXES, XLSX_SUFFIXES, RawFile, file_suffix, read_file, sheet_names
from dealpulse.ingest.report import ImportReport
from dealpulse.ingest.tables import TABLES
from dealpulse.ingest.write import DEFAULT_MAX_QUARANTINE, write_tables

Progress = Callable[[str, int, int], None]
MAPPING_NAMES = ("mapping.yaml", "mapping.yml")
EVENTLOG_SUFFIXES = (".xes", ".xes.gz")


def _is_eventlog_path(path: Path) -> bool:
    return path.name.lower().endswith(EVENTLOG_SUFFIXES)


def _yaml_top(mapping_file: Path | None) -> dict:
    if mapping_file is None or not mapping_file.is_file():
        return {}
    try:
        data = yaml.safe_load(mapping_file.read_text(encoding="utf-8-sig"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _says_eventlog(mapping_file: Path | None) -> bool:
    return str(_yaml_top(mapping_file).get("format", "")).strip().lower() == "eventlog"


def _yaml_tz(mapping_file: Path | None) -> str | None:
    tz = _yaml_top(mapping_file).get("tz")
    return str(tz) if tz else None


def find_mapping(path: Path) -> Path | None:
    folder = path if path.is_dir() else path.parent
    for name in MAPPING_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def resolve_tz(store: Any, tz: str | None, mapping: Mapping, lang: str) -> str:
    """--tz, else the mapping's `tz`, else the zone of earlier imports into this store, else UTC."""
    name = tz or mapping.tz or store.get_meta("tz") or "UTC"
    try:
        return check_tz(name)
    except ValueError:
        raise InputError(t("ingest.err.bad_tz", lang, tz=name), suggestion=t("ingest.err.bad_tz.suggestion", lang)) from None


def _discover(path: Path, mapping: Mapping, lang: str) -> tuple[list[tuple[Path, dict[str, str] | None, str | None]], list[str]]:
    """[(file, {sheet: table} or None, table or None)], warnings. Sheets of a workbook may name tables."""
    warnings: list[str] = []
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))
    else:
        candidates = [path]
    found: list[tuple[Path, dict[str, str] | None, str | None]] = []
    tables_like = [p for p in candidates if file_suffix(p) in SUPPORTED_SUFFIXES]
    for p in candidates:
        if p.name.lower() in MAPPING_NAMES or p.suffix.lower() in (".yaml", ".yml", ".md"):
            continue
        if file_suffix(p) not in SUPPORTED_SUFFIXES:
            if not path.is_dir():
                raise InputError(t("ingest.err.unsupported", lang, file=p.name, suffixes=", ".join(SUPPORTED_SUFFIXES)),
                                 suggestion=t("ingest.err.unsupported.suggestion", lang))
            continue  # not a table at all (a database, a document): nothing to say
        table = table_of_name(p.name, mapping)
        if table is None and path.is_dir() and len(tables_like) == 1:
            table = "deals"  # a folder holding one export file (amoCRM's deal export)
            warnings.append(t("ingest.warn.assumed_deals", lang, file=p.name))
        sheets = None
        if p.suffix.lower() in XLSX_SUFFIXES:
            by_sheet = {s: tb for s in sheet_names(p) if (tb := table_of_name(s, mapping)) is not None}
            if by_sheet and (table is None or len(by_sheet) > 1):
                sheets = by_sheet
                table = None
        if table is None and sheets is None:
            if path.is_dir():
                warnings.append(t("ingest.warn.file_ignored", lang, file=p.name))
                continue
            table = "deals"
            warnings.append(t("ingest.warn.assumed_deals", lang, file=p.name))
        found.append((p, sheets, table))
    return found, warnings


def import_path(
    store: Any,
    path: str | Path,
    *,
    playbook_path: str | Path | None = None,
    mapping_path: str | Path | None = None,
    tz: str | None = None,
    progress: Progress | None = None,
    lang: str = "en",
    source: str | None = None,
    max_quarantine: float | None = DEFAULT_MAX_QUARANTINE,
) -> ImportReport:
    """Import an export into `store`, all or nothing, and report what happened.

    `path`: a folder of tables (each file's stem, or a mapping's `file`, names its table) or one file
    (CSV, XLSX, Parquet; or an event log: .xes/.xes.gz, or any file with a mapping saying
    `format: eventlog`). `mapping_path`: default `mapping.yaml` beside the files. `tz`: the zone of
    timestamps written without one. `progress(label, done, total)` is called as work proceeds.
    `source`: a CRM preset (amocrm, bitrix24) reads `path` in that CRM's own shapes; `mapping_path`
    is then the account YAML (see `ingest.presets.account`). `max_quarantine`: a table with a larger
    share of its rows in quarantine stops the import (InputError, nothing written); 1 or None: no limit.
    """
    from dealpulse.playbook import load_playbook, playbook_for_store, save_playbook_to_store

    path = Path(path)
    if not path.exists():
        raise InputError(t("ingest.err.no_path", lang, path=str(path)), suggestion=t("ingest.err.no_path.suggestion", lang))
    if source is not None:
        return _import_preset(store, path, source, mapping_path, playbook_path, tz, progress, lang,
                              max_quarantine=max_quarantine)
    mapping_file = Path(mapping_path) if mapping_path is not None else find_mapping(path)
    if playbook_path is not None:
        load_playbook(playbook_path)  # check it before reading anything
    if _is_eventlog_path(path) or _says_eventlog(mapping_file):
        zone = resolve_tz(store, tz, Mapping(tz=_yaml_tz(mapping_file)), lang)
        return _import_eventlog(store, path, mapping_file, zone, playbook_path, progress, lang,
                                max_quarantine=max_quarantine)
    mapping = load_mapping(mapping_file, lang)
    zone = resolve_tz(store, tz, mapping, lang)

    files, warnings = _discover(path, mapping, lang)
    if not files:
        raise InputError(t("ingest.err.no_tables", lang, path=str(path), tables=", ".join(TABLES)),
                         suggestion=t("ingest.err.no_tables.suggestion", lang))

    # 1. every file's header first: all file-level problems are reported together, before the work
    heads: list[tuple[str, Path, dict[str, str] | None, RawFile]] = []
    for p, sheets, table in files:
        for raw in read_file(p, sheets, lang, header_only=True):
            heads.append((sheets[raw.sheet] if sheets and raw.sheet else table, p, sheets, raw))
    seen: dict[str, str] = {}
    problems: list[str] = []
    for table, _, _, raw in heads:
        if table in seen:
            problems.append(t("ingest.err.two_files", lang, table=table, first=seen[table], second=raw.label))
        seen[table] = raw.label
    resolutions = [resolve(table, raw, mapping, lang) for table, _, _, raw in heads]
    for res in resolutions:
        problems.extend(res.problems)
    if problems:
        raise InputError(t("ingest.err.cannot_import", lang, path=str(path), n=len(problems)), problems=problems,
                         suggestion=t("ingest.err.cannot_import.suggestion", lang))

    units: list[tuple[str, Resolution, Callable[[], RawFile] | None]] = [
        (table, res, (lambda p=p, head=head, table=table: next(
            r for r in read_file(p, {head.sheet: table} if head.sheet else None, lang) if r.sheet == head.sheet)))
        for (table, p, _, head), res in zip(heads, resolutions)
    ]
    return _check_and_write(store, path, units, mapping, zone, warnings, playbook_path, progress, lang,
                            max_quarantine=max_quarantine)


def _import_preset(store: Any, path: Path, source: str, account_path: Any, playbook_path: Any, tz: str | None,
                   progress: Progress | None, lang: str, *,
                   max_quarantine: float | None = DEFAULT_MAX_QUARANTINE) -> ImportReport:
    """A CRM preset reads `path` into native text tables; they go the way file imports go."""
    from dealpulse.ingest.presets import get_preset, load_account
    from dealpulse.playbook import load_playbook, playbook_for_store

    preset = get_preset(source, lang)
    if account_path is None:  # account.yaml beside the data, as --explore writes it
        folder = path if path.is_dir() else path.parent
        account_path = next((folder / n for n in ("account.yaml", "account.yml") if (folder / n).is_file()), None)
    account = load_account(account_path, lang)
    playbook = load_playbook(playbook_path) if playbook_path is not None else playbook_for_store(store)
    account.check(playbook, lang)
    mapping = Mapping(source=account.source, tz=account.tz)
    zone = resolve_tz(store, tz, mapping, lang)
    if progress is not None:
        progress(f"read:{path.name}", 0, 0)
    read = preset.read(path, account, lang)
    if not read.tables:
        raise InputError(t("presets.err.nothing", lang, path=str(path), source=source),
                         suggestion=t("presets.err.nothing.suggestion", lang))
    resolutions = [resolve(table, raw, mapping, lang) for table, raw in read.tables.items()]
    problems = [p for res in resolutions for p in res.problems]
    if problems:  # a preset's own fault, never the user's: still named, never a traceback
        raise InputError(t("ingest.err.cannot_import", lang, path=str(path), n=len(problems)), problems=problems,
                         suggestion=t("ingest.err.cannot_import.suggestion", lang))
    units: list[tuple[str, Resolution, Callable[[], RawFile] | None]] = [(res.table, res, None) for res in resolutions]
    return _check_and_write(store, path, units, mapping, zone, list(read.warnings), playbook_path, progress, lang,
                            max_quarantine=max_quarantine)


def _check_and_write(store: Any, path: Path, units: list[tuple[str, Resolution, Callable[[], RawFile] | None]],
                     mapping: Mapping, zone: str, warnings: list[str], playbook_path: Any,
                     progress: Progress | None, lang: str, *,
                     max_quarantine: float | None = DEFAULT_MAX_QUARANTINE) -> ImportReport:
    """Step 2 of every import (files and CRM presets alike): one table at a time read in full
    (`load()`, or the RawFile already in the resolution when None), typed and checked; then the
    stage history of a snapshot derived, and everything written all or nothing."""
    from dealpulse.playbook import load_playbook, playbook_for_store, save_playbook_to_store

    total = 2 * len(units) + len(TABLES) + 3

    def tick(label: str, done: int) -> None:
        if progress is not None:
            progress(label, done, total)

    # 2. then one table at a time: read, type and check it, keep only the typed frame
    checked: dict[str, Checked] = {}
    for i, (table, res, load) in enumerate(units):
        head = res.raw
        tick(f"read:{head.label}", 2 * i)
        raw = load() if load is not None else head
        if raw.columns != head.columns:  # the full read saw other headers than the quick look
            res = resolve(table, raw, mapping, lang)
            if res.problems:
                raise InputError(t("ingest.err.cannot_import", lang, path=str(path), n=len(res.problems)),
                                 problems=res.problems, suggestion=t("ingest.err.cannot_import.suggestion", lang))
        res.raw = raw
        tick(f"check:{table}", 2 * i + 1)
        checked[table] = check_table(res, zone)
        res.raw.frame = res.raw.frame.clear()  # the text cells are no longer needed: free them
        if res.ignored:
            warnings.append(t("ingest.warn.columns_ignored", lang, file=res.raw.label, columns=", ".join(res.ignored)))

    frames = {name: c.frame for name, c in checked.items()}
    read_counts = {name: {"rows_read": c.rows_read, "duplicates": c.duplicates} for name, c in checked.items()}
    labels = {name: {col: c.resolution.label(col) for col in TABLES[name].columns} for name, c in checked.items() if c.resolution}
    deals = frames.get("deals")
    derived_from = None
    if deals is not None and "stage_history" not in frames and "stage" in deals.columns:
        pb = load_playbook(playbook_path) if playbook_path is not None else playbook_for_store(store)
        frames["stage_history"] = derive_stage_history(store, deals, pb)
        read_counts["stage_history"] = {"rows_read": frames["stage_history"].height, "duplicates": 0}
        warnings.append(t("ingest.warn.snapshot", lang, file=checked["deals"].file))
        derived_from = t("ingest.derived_from", lang, file=checked["deals"].file)
    if deals is not None and deals.height:
        no_date = deals.filter(pl.col("status").is_in(["won", "lost"]) & pl.col("closed_at").is_null()).height
        if no_date:
            warnings.append(t("ingest.warn.closed_without_date", lang, n=no_date, file=checked["deals"].file))
    if deals is not None and "stage" in deals.columns:
        frames["deals"] = deals.drop("stage")
    q = pl.concat([c.quarantine for c in checked.values()], how="vertical_relaxed")
    files_read = {name: c.file for name, c in checked.items()}
    del deals
    checked.clear()  # `frames` holds the only reference to each table now: write_tables frees them as it goes

    base = 2 * len(files_read)

    def write_progress(label: str, done: int, steps: int) -> None:
        tick(label, base + done)

    with store.transaction():
        if playbook_path is not None:
            save_playbook_to_store(store, playbook_path)
        report = write_tables(store, frames, q, source=str(path), tz=zone, progress=write_progress, lang=lang,
                              read_counts=read_counts, labels=labels, warnings=warnings, consume=True,
                              max_quarantine=max_quarantine,
                              files={**files_read, **({"stage_history": derived_from} if derived_from else {})})
    tick("done", total)
    return report


def _import_eventlog(store: Any, path: Path, mapping_file: Path | None, zone: str, playbook_path: Any,
                     progress: Progress | None, lang: str, *,
                     max_quarantine: float | None = DEFAULT_MAX_QUARANTINE) -> ImportReport:
    from dealpulse.playbook import save_playbook_to_store

    try:
        from dealpulse.ingest.eventlog import read_eventlog
    except ModuleNotFoundError as exc:
        if exc.name != "dealpulse.ingest.eventlog":
            raise
        raise InputError(t("ingest.err.no_eventlog", lang, file=path.name),
                         suggestion=t("ingest.err.no_eventlog.suggestion", lang)) from None
    warnings: list[str] = []
    frames, quarantine_rows = read_eventlog(path, mapping_file, zone, progress, lang=lang, warnings=warnings)
    with store.transaction():
        if playbook_path is not None:
            save_playbook_to_store(store, playbook_path)
        report = write_tables(store, frames, quarantine_rows, source=str(path), tz=zone, progress=progress, lang=lang,
                              warnings=warnings, files={name: path.name for name in frames},
                              max_quarantine=max_quarantine)
    return report
