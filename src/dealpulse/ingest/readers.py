"""Read one export file into text columns: CSV (encoding, delimiter and line ends detected; also
gzipped), XLSX, Parquet, JSON records, and an HTML table saved as `.xls` (Bitrix24's grid export).

Every reader returns `RawFile`s whose frame holds the cells as trimmed text (empty -> null) under
normalised header names (trimmed, lower case, inner spaces collapsed), plus `_row`: the record's
1-based row number as a spreadsheet shows it (the header is row 1; a quoted line break does not
start a new row). Typing and checking happen later (`checks.py`), on whole columns.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import polars as pl

from dealpulse.errors import InputError
from dealpulse.i18n import t

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
GZ_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_SUFFIXES = (".json",)
XLS_SUFFIXES = (".xls",)  # sniffed: an HTML table (Bitrix24's grid export), an XLSX, a text table
SUPPORTED_SUFFIXES = CSV_SUFFIXES + GZ_SUFFIXES + XLSX_SUFFIXES + PARQUET_SUFFIXES + JSON_SUFFIXES + XLS_SUFFIXES
JSON_RECORD_KEYS = ("records", "data", "items")
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


def file_suffix(path: Path) -> str:
    """The suffix that says how to read a file, lower case: `.csv.gz` for a gzipped CSV, else the last one."""
    name = path.name.lower()
    return next((s for s in GZ_SUFFIXES if name.endswith(s)), path.suffix.lower())


def _open(path: Path):
    """The file's bytes as a stream (decompressed when it is gzipped)."""
    return gzip.open(path, "rb") if file_suffix(path) in GZ_SUFFIXES else open(path, "rb")


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
    with _open(path) as fh:
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
    with _open(path) as fh:
        data = fh.read(65536)
    if encoding == "utf-16":
        return data.decode("utf-16", errors="ignore")
    if encoding == "cp1251":
        return data.decode("cp1251", errors="replace")
    return data.decode("utf-8", errors="ignore").lstrip("\ufeff")


def read_csv(path: Path, lang: str = "en", *, header_only: bool = False) -> RawFile:
    """A CSV file as text columns (see the module's docstring). With `header_only`, just its
    header (the frame has no rows): enough to check the columns before reading everything."""
    try:
        encoding = _file_encoding(path)
        sample = _sample(path, encoding)
    except (EOFError, OSError) as exc:  # gzip.BadGzipFile is an OSError; so is a file we may not read
        raise InputError(t("ingest.err.unreadable", lang, file=path.name, error=str(exc) or type(exc).__name__),
                         suggestion=t("ingest.err.unreadable.suggestion", lang)) from None
    if not sample.strip():
        raise InputError(t("ingest.err.empty_file", lang, file=path.name),
                         suggestion=t("ingest.err.empty_file.suggestion", lang))
    # Excel's "CSV (Macintosh)" ends lines with CR alone: read as if they were LF
    cr_only = "\r" in sample and "\n" not in sample
    if cr_only:
        sample = sample.replace("\r", "\n")
    suffix = file_suffix(path)
    delim = sniff_delimiter(sample, ".tsv" if suffix in (".tsv", ".tsv.gz") else suffix)
    header_line = next(csv.reader(io.StringIO(sample), delimiter=delim, quotechar='"'), [])
    if header_only:
        names, shown = _unique_headers(list(header_line))
        frame = pl.DataFrame({n: pl.Series(n, [], dtype=pl.Utf8) for n in names})
        return RawFile(path=path, label=path.name, frame=_tidy(frame, 2), headers=shown,
                       encoding=encoding, delimiter=delim)
    # UTF-8 (with or without a BOM) is read by Polars straight from the file; others are recoded
    # (or decompressed) in memory first
    source: Path | io.BytesIO = path
    try:
        if encoding in ("cp1251", "utf-16") or cr_only:
            with _open(path) as fh:
                text = fh.read().decode(encoding, errors="replace")
            source = io.BytesIO((text.replace("\r", "\n") if cr_only else text).encode("utf-8"))
            del text
        elif suffix in GZ_SUFFIXES:
            with _open(path) as fh:
                source = io.BytesIO(fh.read())
        frame = pl.read_csv(source, separator=delim, quote_char='"', infer_schema=False,
                            has_header=True, raise_if_empty=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError,
            EOFError, OSError) as exc:  # EOFError/OSError (BadGzipFile): a damaged .gz
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

    try:  # openpyxl refuses other suffixes by name: an XLSX saved as .xls is given as bytes
        source = path if path.suffix.lower() in XLSX_SUFFIXES else io.BytesIO(path.read_bytes())
        book = load_workbook(source, read_only=True, data_only=True)
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


# -- JSON -----------------------------------------------------------------------------------------
def _json_cell(value: object) -> str | None:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return _cell_text(value)


def read_json(path: Path, lang: str = "en", *, header_only: bool = False) -> RawFile:
    """A JSON file holding one table: an array of records (objects), or an object with such an array
    under `records`, `data` or `items`. The headers are the records' keys in the order first seen;
    nested values are kept as JSON text. (CRM API dumps with their own shapes are read by the presets.)"""
    try:
        doc = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise InputError(t("ingest.err.bad_json", lang, file=path.name, line=exc.lineno, column=exc.colno, error=exc.msg),
                         suggestion=t("ingest.err.bad_json.suggestion", lang)) from None
    except UnicodeDecodeError as exc:
        raise InputError(t("ingest.err.bad_json", lang, file=path.name, line=1, column=exc.start + 1,
                           error="not UTF-8 text"), suggestion=t("ingest.err.bad_json.suggestion", lang)) from None
    records = doc if isinstance(doc, list) else next(
        (doc[k] for k in JSON_RECORD_KEYS if isinstance(doc, dict) and isinstance(doc.get(k), list)), None)
    if records is None or not all(isinstance(r, dict) for r in records):
        keys = ", ".join(list(doc)[:10]) if isinstance(doc, dict) else type(doc).__name__
        raise InputError(t("ingest.err.json_shape", lang, file=path.name, found=keys or "{}"),
                         suggestion=t("ingest.err.json_shape.suggestion", lang))
    keys = list(dict.fromkeys(k for r in records for k in r))
    names, shown = _unique_headers(keys)
    rows = [] if header_only else records
    frame = pl.DataFrame({n: pl.Series(n, [_json_cell(r.get(k)) for r in rows], dtype=pl.Utf8)
                          for n, k in zip(names, keys)})
    return RawFile(path=path, label=path.name, frame=_tidy(frame, 2), headers=shown, encoding="utf-8")


# -- HTML tables saved as .xls (Bitrix24's grid «Excel» export) ------------------------------------
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def sniff_kind(path: Path) -> str:
    """What a spreadsheet-named file really holds, by its first bytes: "ole2" (a real Excel 97-2003
    workbook), "zip" (XLSX), "html" (a web page with a table, as Bitrix24's grid export), else "text"."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(OLE2_MAGIC):
        return "ole2"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    low = head.lstrip(codecs.BOM_UTF8).lstrip().lower()
    if low.startswith(b"<") and any(tag in low for tag in (b"<table", b"<html", b"<meta", b"<!doctype html")):
        return "html"
    return "text"


def _html_encoding(data: bytes) -> str:
    """The page's charset (its <meta>), else UTF-8 when the bytes are valid UTF-8, else Windows-1251."""
    found = _CHARSET.search(data[:8192])
    if found:
        name = found.group(1).decode("ascii", errors="ignore")
        try:
            return codecs.lookup(name).name
        except LookupError:
            pass
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1251"


def read_html_table(path: Path, lang: str = "en", *, header_only: bool = False) -> RawFile:
    """The largest table of an HTML page (Bitrix24 saves its deal grid as one with an `.xls` name):
    its first row is the header; cell text as a browser shows it (runs of spaces collapsed)."""
    import lxml.html

    data = path.read_bytes()
    try:
        parser = lxml.html.HTMLParser(encoding=_html_encoding(data))
        doc = lxml.html.document_fromstring(data, parser=parser)
    except Exception as exc:  # lxml raises ParserError/ValueError on pages it cannot parse
        raise InputError(t("ingest.err.bad_html", lang, file=path.name, error=str(exc) or type(exc).__name__),
                         suggestion=t("ingest.err.bad_html.suggestion", lang)) from None
    best: list[list[str | None]] = []
    for table in doc.iter("table"):
        rows = []
        for tr in table.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr"):
            cells: list[str | None] = []
            for cell in tr.xpath("./th|./td"):
                cells.append(" ".join(cell.text_content().split()))
                span = cell.get("colspan", "1")
                cells.extend([None] * (int(span) - 1 if span.isdigit() and int(span) > 1 else 0))
            rows.append(cells)
        if len(rows) > len(best):
            best = rows
    if not best:
        raise InputError(t("ingest.err.bad_html", lang, file=path.name, error="no <table>"),
                         suggestion=t("ingest.err.bad_html.suggestion", lang))
    header, body = best[0], ([] if header_only else best[1:])
    width = max(len(r) for r in best)
    header = header + [None] * (width - len(header))
    names, shown = _unique_headers(list(header))
    columns = [[(r[i] if i < len(r) else None) for r in body] for i in range(width)]
    frame = pl.DataFrame({n: pl.Series(n, col, dtype=pl.Utf8) for n, col in zip(names, columns)})
    return RawFile(path=path, label=path.name, frame=_tidy(frame, 2), headers=shown)


def read_file(path: Path, tables_by_sheet: dict[str, str] | None = None, lang: str = "en", *,
              header_only: bool = False) -> list[RawFile]:
    """The tables in a file (several for a workbook with one sheet per table)."""
    suffix = file_suffix(path)
    if suffix in XLSX_SUFFIXES:
        return read_xlsx(path, tables_by_sheet, lang, header_only=header_only)
    if suffix in PARQUET_SUFFIXES:
        return [read_parquet(path, lang, header_only=header_only)]
    if suffix in JSON_SUFFIXES:
        return [read_json(path, lang, header_only=header_only)]
    if suffix in XLS_SUFFIXES:
        kind = sniff_kind(path)
        if kind == "html":
            return [read_html_table(path, lang, header_only=header_only)]
        if kind == "zip":
            return read_xlsx(path, tables_by_sheet, lang, header_only=header_only)
        if kind == "ole2":
            raise InputError(t("ingest.err.real_xls", lang, file=path.name),
                             suggestion=t("ingest.err.real_xls.suggestion", lang))
    return [read_csv(path, lang, header_only=header_only)]  # .xls holding plain text: a CSV/TSV
