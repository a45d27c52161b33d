"""The Typer app and what every command shares: --db, --format, --lang, --as-of, output and errors.

This package is the only place that prints and picks exit codes. Results go to stdout (a Rich table,
JSON or CSV); messages, warnings and progress go to stderr.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from datetime import date, datetime
from enum import Enum
from typing import Any, Callable, Iterable, Optional

import typer
from rich.console import Console
from rich.table import Table

from dealpulse.errors import DealpulseError
from dealpulse.i18n import default_lang, t

app = typer.Typer(
    name="dealpulse",
    help="dealpulse: digitize the B2B deal cycle and measure it as of any moment. / Оцифровка цикла B2B-сделки.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console()  # results
err = Console(stderr=True)  # messages, warnings, progress


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Lang(str, Enum):
    en = "en"
    ru = "ru"


DbOption = typer.Option(None, "--db", envvar="DEALPULSE_DB", help="Store: a DuckDB file (default ./dealpulse.duckdb) or postgresql://user@host/db.")
FormatOption = typer.Option(Format.table, "--format", "-f", help="Output: table, json or csv (json/csv go to stdout).")
LangOption = typer.Option(None, "--lang", help="Language of the output: ru or en (default: from the locale, else en).")
AsOfOption = typer.Option(None, "--as-of", help="Compute as of this moment (ISO time or a date = that day's 00:00 in the export's zone). Default: the latest event in the data.")


def lang_of(lang: "Optional[Lang | str]") -> str:
    if lang is None:
        return default_lang()
    return lang.value if isinstance(lang, Lang) else str(lang)


def _duckdb_file(target: str) -> "Any":
    """The file of a DuckDB store URL (a path or duckdb:///path); None for PostgreSQL or :memory:."""
    from pathlib import Path

    if target.startswith("duckdb://"):
        target = target[len("duckdb://"):]
        target = target[1:] if target.startswith("//") else target
    if "://" in target or target == ":memory:":
        return None
    return Path(target).expanduser()


DEMO_DB = "dealpulse-demo/dealpulse.duckdb"  # where `dealpulse demo` puts its store by default


def store_target(db: Optional[str], *, lang: str = "en", create: bool = False) -> str:
    """The store a command uses: --db (or DEALPULSE_DB), else ./dealpulse.duckdb — or, when that does not
    exist and the demo's store does (right after `dealpulse demo`), the demo's store, said on stderr."""
    from pathlib import Path

    from dealpulse.store import default_db_url
    from dealpulse.store.connect import DEFAULT_DB

    target = db or default_db_url()
    if not create and db is None and target == DEFAULT_DB and not Path(target).exists() and Path(DEMO_DB).exists():
        note(t("common.using_demo_store", lang, db=DEMO_DB, default=DEFAULT_DB))
        return DEMO_DB
    return target


def open_store(db: Optional[str], *, create: bool = False, lang: str = "en") -> Any:
    """The store at `db` (or DEALPULSE_DB, or ./dealpulse.duckdb). Unless `create`, a missing DuckDB
    file is an error (NoData), not a new empty store, and a missing folder is an InputError naming it;
    with `create` the folder is made."""
    from dealpulse.errors import InputError, NoData
    from dealpulse.store import connect, default_db_url

    target = store_target(db, lang=lang, create=create)
    file = _duckdb_file(target)
    if not create and file is not None and not file.exists():
        folder = file.parent
        if not folder.exists():
            while not folder.parent.exists():  # name the first folder that is missing
                folder = folder.parent
            raise InputError(t("common.no_folder", lang, db=target, folder=str(folder)),
                             suggestion=t("common.no_folder.suggestion", lang))
        raise NoData(t("common.no_data", lang, db=target), suggestion=t("common.no_data.suggestion", lang))
    store = connect(target)
    store.lang = lang  # the language of what the library says about this store's data (metrics.asof.check_within_data)
    return store


def open_store_for_import(db: Optional[str], *, lang: str = "en") -> tuple[Any, Callable[[], None]]:
    """(store, discard): the store an import writes to, created with its folder if need be; call
    `discard()` when the import fails: a store this call created is removed again (the DuckDB file,
    its .wal and the folders made for it), so a failed import leaves nothing behind."""
    from dealpulse.store import default_db_url

    file = _duckdb_file(db or default_db_url())
    new_file = file if file is not None and not file.exists() else None
    new_dirs = []
    if new_file is not None:
        folder = new_file.parent
        while not folder.exists():
            new_dirs.append(folder)
            folder = folder.parent
    try:
        store = open_store(db, create=True, lang=lang)
    except BaseException:
        _remove_new(new_file, new_dirs)
        raise

    def discard() -> None:
        store.close()
        _remove_new(new_file, new_dirs)

    return store, discard


def _remove_new(file: Any, dirs: list) -> None:
    if file is None:
        return
    for p in (file, file.with_name(file.name + ".wal")):
        p.unlink(missing_ok=True)
    for d in dirs:  # deepest first; only if nothing else was put there
        try:
            d.rmdir()
        except OSError:
            break


def _print_version(value: bool) -> None:
    if value:
        from dealpulse import __version__

        typer.echo(f"dealpulse {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """dealpulse: digitize the B2B deal cycle and measure it as of any moment. / Оцифровка цикла B2B-сделки."""


def guarded(fn: Callable[[], Any]) -> Any:
    """Run a command body; turn DealpulseError into a message on stderr and its exit code."""
    try:
        return fn()
    except DealpulseError as exc:
        err.print(f"[bold red]Error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("Interrupted; nothing was changed. / Прервано; ничего не изменено.")
        raise typer.Exit(130) from None


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def records_of(data: Any) -> list[dict]:
    """Rows as dicts from a list of dicts, a pandas or a polars DataFrame."""
    if data is None:
        return []
    if hasattr(data, "to_dicts"):
        return data.to_dicts()
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return data.to_dict(orient="records")
    return list(data)


def _cell(value: Any) -> str:
    value = _jsonable(value)
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def emit(
    data: Any,
    fmt: Format,
    *,
    title: str | None = None,
    columns: Iterable[str] | None = None,
    headers: dict[str, str] | None = None,
    document: dict | None = None,
    caption: str | None = None,
) -> None:
    """Print rows. JSON prints `document` if given (rows under its "rows"), else the list of rows."""
    rows = records_of(data)
    cols = list(columns) if columns is not None else (list(rows[0].keys()) if rows else [])
    if fmt == Format.json:
        payload = dict(document) if document is not None else None
        if payload is not None:
            payload.setdefault("rows", rows)
        sys.stdout.write(json.dumps(_jsonable(payload if payload is not None else rows), ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == Format.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: json.dumps(_jsonable(r.get(c)), ensure_ascii=False) if isinstance(r.get(c), (list, dict)) else _jsonable(r.get(c)) for c in cols})
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title, caption=caption, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column((headers or {}).get(c, c), overflow="fold")
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in cols])
    out.print(table)


def moment_doc(dt: datetime, tz: Any) -> dict[str, str] | None:
    """A moment (naive UTC) for JSON: in the export's zone, in UTC and the zone (dealpulse.timefmt)."""
    from dealpulse.timefmt import moment_json

    return moment_json(dt, tz)


def local_time(dt: datetime, tz: Any) -> str:
    """A moment (naive UTC) as YYYY-MM-DD HH:MM in the export's zone, the zone not named (ranges' first end)."""
    from dealpulse.timefmt import local_text

    return local_text(dt, tz)


def show_time(dt: datetime, tz: Any, lang: str = "en") -> str:
    """A moment (naive UTC) for people, the zone named: `2024-03-31 18:00 (Europe/Moscow)` (dealpulse.timefmt)."""
    from dealpulse.timefmt import show_moment

    return show_moment(dt, tz, lang)


def note(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True)


__all__ = ["app", "out", "err", "Format", "Lang", "DbOption", "FormatOption", "LangOption", "AsOfOption",
           "lang_of", "open_store", "open_store_for_import", "guarded", "emit", "note", "moment_doc", "local_time", "show_time", "t"]
