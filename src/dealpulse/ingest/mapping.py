"""`mapping.yaml`: how a CRM's export maps onto the native tables, and the built-in synonyms.

    deals:
      file: "Сделки.csv"                 # the file (or XLSX sheet) holding this table
      columns:                           # native column: the export's header (or a list: first present wins)
        deal_id: ID
        amount: Бюджет
        stage: Этап сделки
        status: Этап сделки              # one header may feed two columns
      values:                            # native column: {export value: native value}; "*" = any other value
        status: {"Успешно реализовано": won, "Закрыто и не реализовано": lost, "*": open}
      constants: {currency: RUB}         # a column the export lacks, the same on every row
      attributes: {decision_maker: ЛПР}  # deals/accounts: extra columns under a name of your choice
    format: native                       # or eventlog (read by the event-log importer)
    tz: Europe/Moscow                    # the export's zone, unless --tz says otherwise

The file is parsed with a safe YAML loader (nothing is evaluated) and checked whole: every unknown
table, key, column or value is reported with its line. Headers and values match ignoring case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dealpulse.errors import MappingError
from dealpulse.i18n import t
from dealpulse.ingest.readers import RawFile, normalise_header
from dealpulse.ingest.tables import TABLES
from dealpulse.yaml_lines import YamlSyntaxError, line_of, read_with_lines

TOP_KEYS = ("format", "tz", "version", "name")
TABLE_KEYS_ALLOWED = ("file", "columns", "values", "constants", "attributes")
FORMATS = ("native", "eventlog")
STAR = "*"


@dataclass
class TableMapping:
    table: str
    file: str | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)  # native -> normalised headers (first present wins)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # native -> {lower-case value: native value}
    constants: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)  # attribute name -> normalised headers
    lines: dict[str, int] = field(default_factory=dict)  # "columns.amount" -> line


@dataclass
class Mapping:
    source: str = "<no mapping>"
    tables: dict[str, TableMapping] = field(default_factory=dict)
    format: str = "native"
    tz: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> TableMapping | None:
        return self.tables.get(name)

    def where(self, table: str, key: str) -> str:
        tm = self.tables.get(table)
        line = tm.lines.get(key) if tm else None
        return f"{self.source}, line {line}" if line else self.source


def _text(value: Any) -> str | None:
    """A scalar as text (YAML may read 142 as a number and yes as True)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Problems:
    def __init__(self, source: str, lines: dict[tuple, int], lang: str):
        self.source, self.lines, self.lang, self.items = source, lines, lang, []

    def add(self, path: tuple, key: str, **kw: Any) -> None:
        line = line_of(self.lines, path)
        where = t("ingest.map.where", self.lang, source=self.source, line=line) if line else self.source
        self.items.append(f"{where}: {t(key, self.lang, **kw)}")


def parse_mapping(text: str, source: str = "<mapping>", lang: str = "en") -> Mapping:
    """Parse and check a mapping; MappingError lists every problem with its line."""
    try:  # a tag the safe loader refuses (!!python/...) is an error too: never evaluated
        data, lines = read_with_lines(text)
    except YamlSyntaxError as exc:
        where = t("ingest.map.where", lang, source=source, line=exc.line) if exc.line else source
        raise MappingError(t("ingest.map.bad_yaml", lang, where=where, error=exc.problem),
                           suggestion=t("ingest.map.suggestion", lang)) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise MappingError(t("ingest.map.not_a_mapping", lang, source=source), suggestion=t("ingest.map.suggestion", lang))
    problems = _Problems(source, lines, lang)
    fmt = _text(data.get("format")) or "native"
    if fmt not in FORMATS:
        problems.add(("format",), "ingest.map.bad_format", found=fmt, expected=", ".join(FORMATS))
    mapping = Mapping(source=source, format=fmt, tz=_text(data.get("tz")), data=data)
    if fmt == "eventlog":  # the event-log importer reads and checks the rest itself
        _raise(problems, source, lang)
        return mapping
    for key, spec in data.items():
        if key in TOP_KEYS:
            continue
        if key not in TABLES:
            problems.add((key,), "ingest.map.unknown_table", found=key,
                         expected=", ".join(list(TABLES) + list(TOP_KEYS)))
            continue
        mapping.tables[key] = _table(key, spec, problems)
    _raise(problems, source, lang)
    return mapping


def _raise(problems: _Problems, source: str, lang: str) -> None:
    if problems.items:
        raise MappingError(t("ingest.map.problems", lang, source=source, n=len(problems.items)),
                           problems=problems.items, suggestion=t("ingest.map.suggestion", lang))


def _headers(value: Any) -> list[str] | None:
    if isinstance(value, list):
        out = [normalise_header(_text(v)) for v in value if _text(v) is not None]
        return out if out and len(out) == len(value) else None
    text = _text(value)
    return [normalise_header(text)] if text is not None and text.strip() else None


def _table(table: str, spec: Any, problems: _Problems) -> TableMapping:
    tspec = TABLES[table]
    tm = TableMapping(table=table)
    if spec is None:
        return tm
    if not isinstance(spec, dict):
        problems.add((table,), "ingest.map.table_not_mapping", table=table)
        return tm
    for key, value in spec.items():
        path = (table, key)
        tm.lines[key] = problems.lines.get(path, 0)
        if key not in TABLE_KEYS_ALLOWED:
            problems.add(path, "ingest.map.unknown_key", table=table, found=key, expected=", ".join(TABLE_KEYS_ALLOWED))
        elif key == "file":
            tm.file = _text(value)
            if not tm.file:
                problems.add(path, "ingest.map.bad_file", table=table)
        elif key == "attributes" and tspec.entity is None:
            problems.add(path, "ingest.map.no_attributes", table=table)
        elif not isinstance(value, dict):
            problems.add(path, "ingest.map.section_not_mapping", table=table, key=key)
        elif key == "columns":
            for col, header in value.items():
                tm.lines[f"columns.{col}"] = problems.lines.get(path + (col,), 0)
                if col not in tspec.accepted:
                    problems.add(path + (col,), "ingest.map.unknown_column", table=table, found=col,
                                 expected=", ".join(tspec.accepted))
                elif _headers(header) is None:
                    problems.add(path + (col,), "ingest.map.bad_header", table=table, column=col)
                else:
                    tm.columns[col] = _headers(header) or []
        elif key == "attributes":
            for name, header in value.items():
                if str(name) in tspec.accepted:
                    problems.add(path + (name,), "ingest.map.attribute_is_native", table=table, found=name)
                elif _headers(header) is None:
                    problems.add(path + (name,), "ingest.map.bad_header", table=table, column=name)
                else:
                    tm.attributes[normalise_header(str(name))] = _headers(header) or []
        elif key == "constants":
            for col, const in value.items():
                if col not in tspec.columns:
                    problems.add(path + (col,), "ingest.map.unknown_column", table=table, found=col,
                                 expected=", ".join(tspec.columns))
                elif _text(const) is None:
                    problems.add(path + (col,), "ingest.map.bad_constant", table=table, column=col)
                else:
                    tm.constants[col] = _text(const) or ""
        elif key == "values":
            for col, vmap in value.items():
                vpath = path + (col,)
                if col not in tspec.accepted:
                    problems.add(vpath, "ingest.map.unknown_column", table=table, found=col,
                                 expected=", ".join(tspec.accepted))
                    continue
                if not isinstance(vmap, dict):
                    problems.add(vpath, "ingest.map.values_not_mapping", table=table, column=col)
                    continue
                allowed = tspec.choices.get(col)
                out: dict[str, str] = {}
                for src, dst in vmap.items():
                    target = _text(dst)
                    if target is None:
                        problems.add(vpath + (src,), "ingest.map.bad_value", table=table, column=col, found=src)
                    elif allowed and target not in allowed:
                        problems.add(vpath + (src,), "ingest.map.value_not_allowed", table=table, column=col,
                                     found=target, expected=", ".join(allowed))
                    else:
                        key_text = _text(src)
                        out[STAR if key_text == STAR else (key_text or "").strip().lower()] = target
                tm.values[col] = out
    return tm


def load_mapping(path: str | Path | None, lang: str = "en") -> Mapping:
    """The mapping at `path`; with None, an empty one (built-in synonyms only)."""
    if path is None:
        return Mapping()
    p = Path(path)
    if not p.is_file():
        raise MappingError(t("ingest.map.missing", lang, path=str(p)), suggestion=t("ingest.map.missing.suggestion", lang))
    return parse_mapping(p.read_text(encoding="utf-8-sig"), p.name, lang)


# -- built-in synonyms ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Synonym:
    header: str
    values: dict[str, str] | None = None


@dataclass(frozen=True)
class Synonyms:
    files: dict[str, str]  # normalised file stem -> table
    columns: dict[str, dict[str, tuple[Synonym, ...]]]  # table -> column -> synonyms in order
    values: dict[str, dict[str, str]]  # "deals.status" -> {lower value: native}
    won: frozenset[str]
    lost: frozenset[str]


@lru_cache(maxsize=1)
def synonyms() -> Synonyms:
    data = yaml.safe_load(resources.files(__package__).joinpath("synonyms.yaml").read_text(encoding="utf-8"))
    files = {}
    for table, stems in data["files"].items():
        files[table] = table
        for s in stems:
            files[normalise_header(s)] = table
    columns: dict[str, dict[str, tuple[Synonym, ...]]] = {}
    for table in TABLES:
        cols = {}
        for col, entries in (data.get(table) or {}).items():
            syns = []
            for e in entries:
                if isinstance(e, dict):
                    (h, vmap), = e.items()
                    syns.append(Synonym(normalise_header(h), {str(k).lower(): str(v) for k, v in vmap.items()}))
                else:
                    syns.append(Synonym(normalise_header(e)))
            cols[col] = tuple(syns)
        columns[table] = cols
    values = {k: {str(a).lower(): str(b) for a, b in v.items()} for k, v in data["values"].items()}
    term = data["terminal_stages"]
    return Synonyms(files=files, columns=columns, values=values,
                    won=frozenset(str(x).lower() for x in term["won"]),
                    lost=frozenset(str(x).lower() for x in term["lost"]))


def table_of_name(name: str, mapping: Mapping) -> str | None:
    """The table a file (or sheet) name stands for: a mapping's `file`, the table's name, a synonym."""
    for table, tm in mapping.tables.items():
        if tm.file and (name == tm.file or normalise_header(name) == normalise_header(tm.file)):
            return table
    stem = normalise_header(Path(name).name.split(".")[0] if "." in name else name)
    return synonyms().files.get(stem)


# -- resolving a file's headers -------------------------------------------------------------------
@dataclass
class Resolution:
    """Which header feeds each column of one table, and what else the file holds."""

    table: str
    raw: RawFile
    sources: dict[str, str] = field(default_factory=dict)  # column -> normalised header
    header_values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> the synonym's value map
    user_values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # attribute field -> normalised header
    ignored: list[str] = field(default_factory=list)
    status_from_stage: bool = False
    problems: list[str] = field(default_factory=list)

    def label(self, column: str) -> str:
        """How a column is named in messages: the header as written, with the native name if different."""
        header = self.sources.get(column)
        if header is None:
            return column
        written = self.raw.headers.get(header, header)
        return column if written == column else f"{written} ({column})"


def resolve(table: str, raw: RawFile, mapping: Mapping, lang: str = "en") -> Resolution:
    spec = TABLES[table]
    tm = mapping.table(table) or TableMapping(table=table)
    syn = synonyms().columns.get(table, {})
    present = set(raw.columns)
    res = Resolution(table=table, raw=raw, constants=dict(tm.constants), user_values=dict(tm.values))
    used: set[str] = set()
    # 1. the mapping, then headers that are native names already
    for col in spec.accepted:
        if col in tm.columns:
            found = next((h for h in tm.columns[col] if h in present), None)
            if found is None:
                res.problems.append(t("ingest.err.mapped_header_missing", lang, file=raw.label,
                                      where=mapping.where(table, f"columns.{col}"), column=col,
                                      header=" | ".join(tm.columns[col]), found=_found(raw)))
            else:
                res.sources[col] = found
                used.add(found)
                # a header the built-in synonyms know keeps its value map (is_completed true/false,
                # STAGE_SEMANTIC_ID S/F/P); the mapping's own `values:` still win value by value
                known = next((s.values for s in syn.get(col, ()) if s.header == found and s.values), None)
                if known:
                    res.header_values[col] = known
    for col in spec.accepted:
        if col not in res.sources and col not in res.constants and col not in tm.columns and col in present and col not in used:
            res.sources[col] = col
            used.add(col)
    # 2. built-in synonyms, in their order
    for col in spec.accepted:
        if col in res.sources or col in res.constants or col in tm.columns:
            continue
        for s in syn.get(col, ()):
            # deals.stage may share its header with status (amoCRM: one "Этап сделки" column)
            reusable = col == "stage" and s.header == res.sources.get("status")
            if s.header in present and (s.header not in used or reusable):
                res.sources[col] = s.header
                used.add(s.header)
                if s.values:
                    res.header_values[col] = s.values
                break
    if table == "deals" and "status" not in res.sources and "status" not in res.constants and "stage" in res.sources:
        res.status_from_stage = True
    for col in spec.required:
        if col in res.sources or col in res.constants or (col == "status" and res.status_from_stage):
            continue
        if col in tm.columns:
            continue  # already reported
        res.problems.append(t("ingest.err.missing_column", lang, file=raw.label, column=col, found=_found(raw)))
    # 3. what is left: attributes (deals, accounts) or ignored
    for name, headers in tm.attributes.items():
        found = next((h for h in headers if h in present), None)
        if found is None:
            res.problems.append(t("ingest.err.mapped_header_missing", lang, file=raw.label,
                                  where=mapping.where(table, "attributes"), column=name,
                                  header=" | ".join(headers), found=_found(raw)))
        else:
            res.attributes[name] = found
            used.add(found)
    for h in raw.columns:
        if h in used:
            continue
        if spec.entity is not None and h not in spec.accepted:
            res.attributes.setdefault(h, h)
        else:
            res.ignored.append(raw.headers.get(h, h))
    return res


def _found(raw: RawFile) -> str:
    return ", ".join(raw.headers.get(c, c) for c in raw.columns) or "—"
