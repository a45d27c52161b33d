"""Read one export file into text columns: CSV (encoding and delimiter detected), XLSX, Parquet.

Every reader returns `RawFile`s whose frame holds the cells as trimmed text (empty -> null) under
normalised header names (trimmed, lower case, inner spaces collapsed), plus `_row`: the record's
1-based row number as a spreadsheet shows it (the header is row 1; a quoted line break does not
start a new row). Typing and checking happen later (`checks.py`), on whole columns.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import polars as pl

from dealpulse.errors import InputError
from dealpulse.i18n import t

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + XLSX_SUFFIXES + PARQUET_SUFFIXES
DELIMITERS = (";", ",", "\t", "|")
_CHUNK = 8 << 20


@dataclass
class RawFile:
    """One table as read: `label` names it in messages (a file, or a file's sheet)."""

    path: Path
    label: str
    frame: pl.DataFrame
    headers: dict[str, str] = field(default_factory=dict)  # normalised name -> header as written
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != "_row"]


def normalise_header(name: object) -> str:
    return " ".join(str(name if name is not None else "").replace("\ufeff", "").split()).lower()


def _unique_headers(raw: list[object]) -> tuple[list[str], dict[str, str]]:
    names: list[str] = []
    shown: dict[str, str] = {}
    for i, h in enumerate(raw):
        written = " ".join(str(h if h is not None else "").replace("\ufeff", "").split())
        norm = written.lower() or f"column {i + 1}"
        base, k = norm, 2
        while norm in shown:
            norm = f"{base} ({k})"
            k += 1
        names.append(norm)
        shown[norm] = written or norm
    return names, shown


def _tidy(frame: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """Trim every cell, empty -> null, number the rows, drop rows with no value at all."""
    cols = frame.columns
    if cols and frame.height:
        flags = frame.select(
            [(pl.col(c).str.contains(r"^\s|\s$") | (pl.col(c) == "")).any().alias(c) for c in cols]
        ).row(0)
        dirty = [c for c, flag in zip(cols, flags) if flag]
        if dirty:
            frame = frame.with_columns(
                [pl.col(c).str.strip_chars().alias(c) for c in dirty]
            ).with_columns([pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c) for c in dirty])
    frame = frame.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + first_row).alias("_row"))
    if cols:
        blank = pl.all_horizontal([pl.col(c).is_null() for c in cols])
        if frame.select(blank.any()).item():
            frame = frame.filter(~blank)
    return frame


# -- CSV ----------------------------------------------------------------------------------------
def sniff_delimiter(sample: str, suffix: str = ".csv") -> str:
    """The delimiter that splits the first records into the same number (>1) of fields."""
    lines = sample.splitlines(keepends=True)
    if len(sample) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    text = "".join(lines[:200])
    best, best_score = ("\t" if suffix == ".tsv" else ","), (0.0, 0)
    for delim in DELIMITERS:
        try:
            records = list(csv.reader(io.StringIO(text), delimiter=delim, quotechar='"'))
        except csv.Error:
            continue
        records = [r for r in records if r]
        if len(records) > 1:
            records = records[:-1] if len(sample) >= 65536 else records
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        same = sum(1 for r in records if len(r) == width) / len(records)
        score = (same, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _file_encoding(path: Path) -> str:
    """The encoding of a CSV file, checked in chunks (the file is not held in memory)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1251"
    return "utf-8"


def _sample(path: Path, encoding: str) -> str:
    with open(path, "rb") as fh:
        data = fh.read(65536)
    if encoding == "utf-16":
        return data.decode("utf-16", errors="ignore")
    if encoding == "cp1251":
        return data.decode("cp1251", errors="replace")
    return data.decode("utf-8", errors="ignore").lstrip("\ufeff")


def read_csv(path: Path, lang: str = "en", *, header_only: bool = False) -> RawFile:
    """A CSV file as text columns (see the module's docstring). With `header_only`, just its
    header (the frame has no rows): enough to check the columns before reading everything."""
    encoding = _file_encoding(path)
    sample = _sample(path, encoding)
    if not sample.strip():
        raise InputError(t("ingest.err.empty_file", lang, file=path.name),
                         suggestion=t("ingest.err.empty_file.suggestion", lang))
    delim = sniff_delimiter(sample, path.suffix.lower())
    header_line = next(csv.reader(io.StringIO(sample), delimiter=delim, quotechar='"'), [])
    if header_only:
        names, shown = _unique_headers(list(header_line))
        frame = pl.DataFrame({n: pl.Series(n, [], dtype=pl.Utf8) for n in names})
        return RawFile(path=path, label=path.name, frame=_tidy(frame, 2), headers=shown,
                       encoding=encoding, delimiter=delim)
    # UTF-8 (with or without a BOM) is read by Polars straight from the file; others are recoded first
    source: Path | io.BytesIO = path
    if encoding in ("cp1251", "utf-16"):
        source = io.BytesIO(path.read_bytes().decode(encoding, errors="replace").encode("utf-8"))
    try:
        frame = pl.read_csv(source, separator=delim, quote_char='"', infer_schema=False,
                            has_header=True, raise_if_empty=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError) as exc:
        raise InputError(
            t("ingest.err.bad_csv", lang, file=path.name, delimiter=_delim_name(delim), encoding=encoding,
              error=str(exc).splitlines()[0]),
            suggestion=t("ingest.err.bad_csv.suggestion", lang),
        ) from None
    raw_headers: list[object] = list(header_line) if len(header_line) == frame.width else list(frame.columns)
    names, shown = _unique_headers(raw_headers)
    frame.columns = names
    return RawFile(path=path, label=path.name, frame=_tidy(frame, 2), headers=shown,
                   encoding=encoding, delimiter=delim)


def _delim_name(delim: str) -> str:
    return {"\t": "tab", ";": ";", ",": ",", "|": "|"}.get(delim, delim)


# -- XLSX -----------------------------------------------------------------------------------------
def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def read_xlsx(path: Path, tables_by_sheet: dict[str, str] | None = None, lang: str = "en", *,
              header_only: bool = False) -> list[RawFile]:
    """The sheets of a workbook. With `tables_by_sheet` (sheet name -> table), those sheets; else
    the first sheet. Cells are read as Excel holds them (dates as dates, numbers as numbers)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException on bad files
        raise InputError(t("ingest.err.bad_xlsx", lang, file=path.name, error=str(exc)),
                         suggestion=t("ingest.err.bad_xlsx.suggestion", lang)) from None
    try:
        wanted = [ws for ws in book.worksheets if tables_by_sheet and ws.title in tables_by_sheet]
        sheets = wanted or book.worksheets[:1]
        out = []
        for ws in sheets:
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None) or ()
            width = len(header)
            columns: list[list[str | None]] = [[] for _ in range(width)]
            for row in (() if header_only else rows):
                for i in range(width):
                    columns[i].append(_cell_text(row[i]) if i < len(row) else None)
            names, shown = _unique_headers(list(header))
            frame = pl.DataFrame({n: pl.Series(n, col, dtype=pl.Utf8) for n, col in zip(names, columns)})
            label = path.name if not wanted else t("ingest.sheet", lang, file=path.name, sheet=ws.title)
            out.append(RawFile(path=path, label=label, frame=_tidy(frame, 2), headers=shown,
                               sheet=ws.title if wanted else None))
        return out
    finally:
        book.close()


def sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True)
    except Exception:
        return []
    try:
        return list(book.sheetnames)
    finally:
        book.close()


# -- Parquet --------------------------------------------------------------------------------------
def _as_text(col: pl.Series) -> pl.Series:
    dtype = col.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone:
            return col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.f+00:00")
        return col.dt.strftime("%Y-%m-%d %H:%M:%S%.f")
    if dtype == pl.Date:
        return col.dt.strftime("%Y-%m-%d")
    if dtype == pl.Boolean:
        return col.cast(pl.Utf8).str.to_lowercase()
    if dtype.is_numeric() or dtype == pl.Utf8 or dtype == pl.Categorical or isinstance(dtype, pl.Enum):
        return col.cast(pl.Utf8)
    return col.cast(pl.Utf8, strict=False)


def read_parquet(path: Path, lang: str = "en", *, header_only: bool = False) -> RawFile:
    try:
        frame = pl.read_parquet(path, n_rows=0) if header_only else pl.read_parquet(path)
    except Exception as exc:  # polars/arrow raise several kinds on a damaged file
        raise InputError(t("ingest.err.bad_parquet", lang, file=path.name, error=str(exc).splitlines()[0]),
                         suggestion=t("ingest.err.bad_parquet.suggestion", lang)) from None
    names, shown = _unique_headers(list(frame.columns))
    frame = pl.DataFrame([_as_text(frame[c]).alias(n) for c, n in zip(frame.columns, names)]) if frame.width else frame
    return RawFile(path=path, label=path.name, frame=_tidy(frame, 2), headers=shown)


def read_file(path: Path, tables_by_sheet: dict[str, str] | None = None, lang: str = "en", *,
              header_only: bool = False) -> list[RawFile]:
    """The tables in a file (several for a workbook with one sheet per table)."""
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return read_xlsx(path, tables_by_sheet, lang, header_only=header_only)
    if suffix in PARQUET_SUFFIXES:
        return [read_parquet(path, lang, header_only=header_only)]
    return [read_csv(path, lang, header_only=header_only)]
