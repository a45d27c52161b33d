"""Check one table's text columns and type them, on whole columns (Polars; no loop per row).

`check_table` turns a `RawFile` + its `Resolution` into a typed native frame (the store's columns
and types, plus `_file`, `_row`, deals' `stage` and the attribute columns of deals/accounts) and
a quarantine frame: one row per problem, naming file, row, column, what was expected and what was
found. Exact duplicate records are dropped and counted here; key conflicts, unknown deals and
rows the store already holds are handled by `write.write_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dealpulse.ingest.mapping import STAR, Resolution, synonyms
from dealpulse.ingest.parse import GAP, parse_numbers, parse_timestamps
from dealpulse.ingest.tables import NUMBER, TABLES, TIMESTAMP, columns_of, constant

# Reason codes stored in quarantine.reason; each has a message `ingest.q.<code>` in the catalogues.
REQUIRED = "required"
TIMESTAMP_BAD = "timestamp"
TIMESTAMP_GAP = GAP
NUMBER_BAD = "number"
CHOICE = "choice"
CLOSED_BEFORE_CREATED = "closed_before_created"
UNKNOWN_DEAL = "unknown_deal"
KEY_CONFLICT = "key_conflict"
REASONS = (REQUIRED, TIMESTAMP_BAD, TIMESTAMP_GAP, NUMBER_BAD, CHOICE, CLOSED_BEFORE_CREATED, UNKNOWN_DEAL, KEY_CONFLICT)

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "table_name": pl.Utf8(), "file": pl.Utf8(), "row_number": pl.Int64(), "column_name": pl.Utf8(),
    "reason": pl.Utf8(), "expected": pl.Utf8(), "found": pl.Utf8(), "raw": pl.Utf8(),
}


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


@dataclass
class Checked:
    table: str
    file: str
    frame: pl.DataFrame
    quarantine: pl.DataFrame
    rows_read: int
    duplicates: int
    resolution: Resolution | None = None
    notes: list[tuple[str, dict]] = field(default_factory=list)  # (i18n key, params) for warnings


def first_distinct(frame: pl.DataFrame, cols: list[str]) -> pl.Series:
    """True on the first of each group of rows with the same values in `cols` (text columns).
    Rows are hashed first; only rows whose hash repeats are compared in full."""
    if len(cols) == 1:
        return frame[cols[0]].is_first_distinct()
    hashes = columns_of(frame, cols).hash_rows(seed=0)
    maybe = hashes.is_duplicated()
    if not maybe.any():
        return constant(True, frame.height, pl.Boolean())
    sub = frame.filter(maybe)
    joined = pl.concat_str([pl.col(c).fill_null("\x00") for c in cols], separator="\x1f")
    first_in_sub = sub.select(joined.is_first_distinct()).to_series()
    return _scatter_bool(~maybe, maybe, first_in_sub)


def _scatter_bool(base: pl.Series, mask: pl.Series, values: pl.Series) -> pl.Series:
    return base.scatter(mask.arg_true(), values)


def _map_once(values: pl.Series, mapping: dict[str, str] | None, star: str | None = None) -> pl.Series:
    """Values looked up ignoring case; unlisted ones kept (or `star` if given); null stays null."""
    if not mapping and star is None:
        return values
    low = values.str.to_lowercase()
    mapped = low.replace_strict(list(mapping or {}), list((mapping or {}).values()), default=None, return_dtype=pl.Utf8)
    fallback = constant(star, len(values), pl.Utf8()) if star is not None else values
    return pl.select(pl.when(values.is_null()).then(None).otherwise(pl.coalesce(mapped, fallback))).to_series()


def map_values(values: pl.Series, user: dict[str, str] | None, header: dict[str, str] | None,
               builtin: dict[str, str] | None, *, terminal: bool = False, lower: bool = False) -> pl.Series:
    """A column's values mapped: the mapping's map (with "*"), then the header's, then the built-in
    one; `terminal`: stage names meaning won/lost become `won`/`lost`; `lower`: lower case.
    The maps run on the distinct values only, then one lookup maps the whole column."""
    if not (user or header or builtin or terminal or lower):
        return values
    uniq = values.drop_nulls().unique()
    plain = {k: v for k, v in (user or {}).items() if k != STAR}
    out = _map_once(uniq, plain, (user or {}).get(STAR))
    out = _map_once(out, header)
    out = _map_once(out, builtin)
    if terminal and STAR not in (user or {}):
        syn = synonyms()
        low = out.str.to_lowercase().str.replace(r"^c\d+:", "")
        out = pl.select(pl.when(low.is_in(list(syn.won))).then(pl.lit("won"))
                        .when(low.is_in(list(syn.lost))).then(pl.lit("lost")).otherwise(out)).to_series()
    if lower:
        out = out.str.to_lowercase()
    changed = uniq != out
    if not changed.any():
        return values
    return values.replace(uniq.filter(changed), out.filter(changed)).alias(values.name)


def check_table(res: Resolution, tz: str) -> Checked:
    """Type and check one table (see the module's docstring)."""
    table = res.table
    spec = TABLES[table]
    raw = res.raw
    df = raw.frame
    data_cols = raw.columns
    rows_read = df.height
    duplicates = 0
    if data_cols and df.height:
        first = first_distinct(df, data_cols)
        duplicates = int(df.height - first.sum())
        if duplicates:
            df = df.filter(first)

    builtin = synonyms().values
    n = df.height
    series: dict[str, pl.Series] = {"_row": df["_row"]}
    text_of: dict[str, str] = {}  # column -> the name of its raw text column in `work`
    for col in spec.accepted:
        if col in res.sources:
            src = df[res.sources[col]]
        elif col in res.constants:
            src = constant(res.constants[col], n, pl.Utf8())
        else:
            continue
        text_of[col] = f"_t_{col}"
        series[f"_t_{col}"] = src.alias(f"_t_{col}")
        series[col] = map_values(src, res.user_values.get(col), res.header_values.get(col),
                                 builtin.get(f"{table}.{col}"), terminal=col == "stage",
                                 lower=col in spec.choices).alias(col)
    if res.status_from_stage:
        stage = series["stage"]
        series["status"] = pl.select(pl.when(stage.is_in(["won", "lost"])).then(stage)
                                     .otherwise(pl.lit("open"))).to_series().alias("status")
    for name, header in res.attributes.items():
        series[f"_a_{name}"] = df[header].alias(f"_a_{name}")
    work = pl.DataFrame(list(series.values()))
    del series

    fails: list[tuple[str, str, pl.Series, pl.Series | str | None]] = []  # (column, reason, mask, expected)
    typed: dict[str, pl.Series] = {}
    for col, kind in spec.columns.items():
        if col not in work.columns:
            typed[col] = constant(None, n, spec.dtype(col), col)
            continue
        s = work[col]
        if kind == TIMESTAMP:
            value, problem = parse_timestamps(s, tz)
            typed[col] = value.alias(col)
            bad = problem == TIMESTAMP_BAD
            gap = problem == GAP
            if bad.any():
                fails.append((col, TIMESTAMP_BAD, bad.fill_null(False), None))
            if gap.any():
                fails.append((col, TIMESTAMP_GAP, gap.fill_null(False), tz))
        elif kind == NUMBER:
            value = parse_numbers(s)
            typed[col] = value.alias(col)
            bad = s.is_not_null() & value.is_null()
            if bad.any():
                fails.append((col, NUMBER_BAD, bad, None))
        else:
            typed[col] = s.alias(col)
            if col in spec.choices:
                allowed = spec.choices[col]
                bad = s.is_not_null() & ~s.is_in(list(allowed))
                if bad.any():
                    fails.append((col, CHOICE, bad, ", ".join(allowed)))
    for col in spec.required:
        if col == "status" and res.status_from_stage:
            continue
        missing = work[col].is_null() if col in work.columns else constant(True, n, pl.Boolean())
        if missing.any():
            fails.append((col, REQUIRED, missing, None))
    if table == "deals":
        created, closed = typed["created_at"], typed["closed_at"]
        early = (closed < created).fill_null(False)
        if early.any():
            fails.append(("closed_at", CLOSED_BEFORE_CREATED, early, work["_t_created_at"] if "_t_created_at" in work.columns else None))

    bad_any = constant(False, n, pl.Boolean())
    parts = []
    for col, reason, mask, expected in fails:
        bad_any = bad_any | mask
        text_col = text_of.get(col)
        found = work[text_col] if text_col else constant(None, n, pl.Utf8())
        exp = expected if isinstance(expected, pl.Series) else constant(expected, n, pl.Utf8())
        parts.append(pl.DataFrame({
            "row_number": work["_row"], "found": found.cast(pl.Utf8), "expected": exp.cast(pl.Utf8),
        }).filter(mask).with_columns(column_name=pl.lit(res.label(col) if col != "status" or not res.status_from_stage else res.label("stage")),
                                     reason=pl.lit(reason)))
    quarantine = empty_quarantine()
    if parts:
        q = pl.concat(parts, how="vertical_relaxed")
        rawjson = _raw_json(df.filter(df["_row"].is_in(q["row_number"].unique().implode())), raw)
        quarantine = q.join(rawjson, on="row_number", how="left").with_columns(
            table_name=pl.lit(table), file=pl.lit(raw.label),
        ).select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)

    cols = [typed[c] for c in spec.columns]
    if "stage" in work.columns and table == "deals":
        cols.append(work["stage"].alias("stage"))
    cols += [work[f"_a_{name}"].alias(name) for name in res.attributes]
    cols += [work["_row"], constant(raw.label, work.height, pl.Utf8(), "_file")]
    out = pl.DataFrame(cols)
    del work, typed
    if bad_any.any():
        out = out.filter(~bad_any)
    out = normalise(table, out)
    return Checked(table=table, file=raw.label, frame=out, quarantine=quarantine, rows_read=rows_read,
                   duplicates=duplicates, resolution=res)


def normalise(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The normalisations every importer applies (ARCHITECTURE.md, typed native frames): a task's
    status from completed_at when absent; a done task without completed_at completed when created."""
    if table == "tasks" and frame.height:
        status = pl.select(
            pl.when(frame["status"].is_not_null()).then(frame["status"])
            .when(frame["completed_at"].is_not_null()).then(pl.lit("done")).otherwise(pl.lit("open"))
        ).to_series().alias("status")
        completed = pl.select(
            pl.when((status == "done") & frame["completed_at"].is_null()).then(frame["created_at"])
            .otherwise(frame["completed_at"])
        ).to_series().alias("completed_at")
        frame = pl.DataFrame([status if c == "status" else completed if c == "completed_at" else frame[c]
                              for c in frame.columns])
    return frame


def _raw_json(frame: pl.DataFrame, raw) -> pl.DataFrame:
    """row_number + the record as JSON under its headers as written (to show and to hash)."""
    cols = raw.columns
    written = [raw.headers.get(c, c) for c in cols]
    if len(set(written)) != len(written):
        written = cols
    if not cols:
        return pl.DataFrame({"row_number": frame["_row"], "raw": constant(None, frame.height, pl.Utf8())})
    return frame.select(
        pl.col("_row").alias("row_number"),
        pl.struct([pl.col(c).alias(w) for c, w in zip(cols, written)]).struct.json_encode().alias("raw"),
    )
