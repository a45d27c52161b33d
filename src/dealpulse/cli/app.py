"""The Typer app and what every command shares: --db, --format, --lang, --as-of, output and errors.

This package is the only place that prints and picks exit codes. Results go to stdout (a Rich table,
JSON or CSV); messages, warnings and progress go to stderr.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Iterable, Optional

import typer
from rich.console import Console
from rich.table import Table

from dealpulse.app.documents import jsonable
from dealpulse.errors import DealpulseError
from dealpulse.i18n import default_lang, t

_STATE: dict[str, Any] = {"wide": False, "lang": None}
WIDE_HELP = "Terminal tables: show every column, however wide (by default columns that do not fit the terminal are left out and named under the table)."


def _with_wide(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with a `--wide` option added (unless it has its own), remembered for `emit`."""
    import functools
    import inspect

    sig = inspect.signature(fn)
    if "wide" in sig.parameters or any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, wide: bool = False, **kwargs: Any) -> Any:
        _STATE["wide"] = bool(wide)
        return fn(*args, **kwargs)

    params = list(sig.parameters.values())
    params.append(inspect.Parameter("wide", inspect.Parameter.KEYWORD_ONLY, annotation="bool",
                                    default=typer.Option(False, "--wide", help=WIDE_HELP)))
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "wide": "bool"}
    return wrapper


class Typer(typer.Typer):
    """typer.Typer whose every command takes `--wide` (terminal tables with all their columns)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda fn: (register(_with_wide(fn)), fn)[1]

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().callback(*args, **kwargs)
        return lambda fn: (register(_with_wide(fn)), fn)[1]


app = Typer(
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
    value = default_lang() if lang is None else (lang.value if isinstance(lang, Lang) else str(lang))
    _STATE["lang"] = value  # for what `emit` writes under a table
    return value


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
        if hasattr(exc, "naming") and getattr(exc, "option", None):  # app.options.OptionError: spell it as a flag
            exc = exc.naming("--" + exc.option.replace("_", "-"))
        err.print(f"[bold red]Error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("Interrupted; nothing was changed. / Прервано; ничего не изменено.")
        raise typer.Exit(130) from None


_jsonable = jsonable  # the one way a document becomes plain JSON (dealpulse.app.documents)


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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        from babel.numbers import format_decimal  # 1 234,5 in ru (non-breaking space), 1,234.5 in en

        lang = _STATE["lang"] if _STATE["lang"] in ("en", "ru") else "en"
        return format_decimal(value, format="#,##0.###" if abs(value) < 1000 else "#,##0", locale=lang)
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
    keep: Iterable[str] | None = None,
    show_lines: bool = False,
) -> None:
    """Print rows. JSON prints `document` if given (rows under its "rows"), else the list of rows.
    A terminal table fits the terminal (see `fit_columns`; `--wide` shows every column)."""
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
    heads = {c: (headers or {}).get(c, c) for c in cols}
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    keep_at = [cols.index(k) for k in keep or [] if k in cols]
    widths, hidden = fit_columns([heads[c] for c in cols], cells, out.width, wide=_STATE["wide"], keep=keep_at)
    if hidden:
        names = ", ".join(heads[cols[i]].replace("\n", " ") for i in hidden)
        more = t("common.hidden_columns", _STATE["lang"] or default_lang(), columns=names)
        caption = f"{caption}\n{more}" if caption else more
    table = Table(title=title, caption=caption, show_lines=show_lines, header_style="bold")
    shown = [i for i in range(len(cols)) if i not in hidden]
    for i in shown:
        table.add_column(heads[cols[i]], overflow="fold", width=widths.get(i))
    for row in cells:
        table.add_row(*[row[i] for i in shown])
    out.print(table)


def _words(text: str) -> list[str]:
    """The words of a cell; a number and its unit joined by a non-breaking space (`800 тыс.`) count as one."""
    import re

    from rich.text import Text

    plain = Text.from_markup(text).plain if "[" in text else text
    return [w for w in re.split(r"[ \t\n]+", plain) if w]


PROSE_MIN = 36  # a column of sentences narrower than this reads as a list of words


def fit_columns(heads: list[str], cells: list[list[str]], width: int, *, wide: bool = False,
                keep: Iterable[int] | None = None) -> tuple[dict[int, int], list[int]]:
    """Widths that fit `width` terminal columns without breaking a word, and the columns left out.

    A column needs at least its longest word (header included). While those minimums do not fit,
    columns are left out from the right, except the first and prose columns (long lines of words),
    which are what a reader came for; `keep` (indexes) are never left out. Space beyond the
    minimums goes to the columns in proportion to what they would use. With `wide`, nothing is
    left out and Rich lays the table out as it likes."""
    from rich.cells import cell_len

    n = len(heads)
    if wide or n == 0:
        return {}, []
    lo, hi = [], []
    for i in range(n):
        texts = [heads[i]] + [r[i] for r in cells]
        lines = [ln for x in texts for ln in str(x).split("\n")]
        lo.append(max((cell_len(w) for x in texts for w in _words(str(x))), default=1))
        hi.append(max((cell_len(ln) for ln in lines), default=1))
    overhead = lambda k: 3 * k + 1  # noqa: E731 - borders and padding of k columns
    body = [max((cell_len(ln) for r in cells for ln in str(r[i]).split("\n")), default=0) for i in range(n)]
    prose = [i for i in range(n) if body[i] > 40]  # sentences (a long header alone does not make one)
    pinned = {0} | set(prose) | set(keep or [])
    shown = list(range(n))
    hidden: list[int] = []

    def fits() -> bool:
        room_ = width - overhead(len(shown))
        if sum(lo[j] for j in shown) > room_:
            return False
        # prose needs room to read: at least PROSE_MIN columns each, else fewer other columns
        short = sum(max(lo[j], min(hi[j], 12)) for j in shown if j not in prose)
        return not prose or room_ - short >= PROSE_MIN * len(prose) or short == 0

    for i in reversed(range(n)):
        if fits():
            break
        if i not in pinned:
            shown.remove(i)
            hidden.append(i)
    room = width - overhead(len(shown))
    if sum(hi[j] for j in shown) <= room:
        return {}, sorted(hidden)  # everything fits as it is
    widths = {j: lo[j] for j in shown}
    spare = room - sum(widths.values())
    want = {j: hi[j] - lo[j] for j in shown}
    total = sum(want.values())
    if spare > 0 and total > 0:
        for j in shown:
            widths[j] += min(want[j], spare * want[j] // total)
        left = room - sum(widths.values())
        for j in sorted(shown, key=lambda j: -(hi[j] - widths[j])):  # what rounding left over
            if left <= 0:
                break
            add = min(left, hi[j] - widths[j])
            widths[j] += add
            left -= add
    return widths, sorted(hidden)


class open_moment:
    """`with open_moment(db, playbook, as_of, l) as m:` the store (as `open_store` opens it), a
    `dealpulse.app.Session` on it and the `Moment` at `as_of`; the store is closed on exit."""

    def __init__(self, db: Optional[str], playbook: Any, as_of: Any, lang: str):
        self.args = (db, playbook, as_of, lang)
        self.session: Any = None

    def __enter__(self) -> Any:
        from dealpulse.app import Session

        db, playbook, as_of, lang = self.args
        store = open_store(db, lang=lang)
        try:
            self.session = Session(store, playbook, owns_store=True)
            return self.session.at(as_of)
        except BaseException:
            store.close()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.session.close()


def emit_result(result: Any, fmt: "Format", **table: Any) -> None:
    """A `dealpulse.app` Result: JSON = `result.document()` (what the web API serves), CSV = its (flat) rows
    and columns, a table = its rows with `table`'s title/columns/headers (a command's own tables go via `emit`)."""
    if fmt == Format.json:
        sys.stdout.write(json.dumps(result.document(), ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == Format.csv:
        emit(result.csv_rows if result.csv_rows is not None else result.rows, fmt, columns=result.columns)
        return
    emit(result.rows, fmt, **table)


def warn_all(result: Any) -> None:
    """A result's warnings on stderr, each as `! message`."""
    for w in result.warnings:
        note(f"[yellow]![/] {w['message']}")


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
           "lang_of", "open_store", "open_store_for_import", "guarded", "emit", "emit_result", "open_moment", "warn_all", "note", "moment_doc", "local_time", "show_time", "fit_columns", "Typer", "t"]
