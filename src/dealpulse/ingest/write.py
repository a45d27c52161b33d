"""Write typed native frames into the store, all or nothing.

`write_tables` is shared by every importer (native files, event logs). Within one transaction it:
1. drops exact duplicate rows (same values in every column) and counts them;
2. quarantines a second row with the same key but other values, naming the first row;
3. quarantines stage_history/tasks/field_history rows of deals neither in this import nor in the store;
4. counts rows identical to what the store holds as duplicates, and upserts the rest
   (INSERT ... ON CONFLICT on the keys of `store.schema.TABLE_KEYS`, set-based SQL);
5. writes the extra columns of deals/accounts to `attributes` (an empty value clears one);
6. adds the quarantined rows (a row already quarantined adds nothing), keeps the export's zone in
   `meta` and records the import in `imports`;
but when a table would put more than `max_quarantine` of its rows in quarantine, nothing is written
and an InputError names the table, the column most rows failed on, their values and what to map.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

import polars as pl

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.ingest.checks import KEY_CONFLICT, QUARANTINE_SCHEMA, UNKNOWN_DEAL, empty_quarantine
from dealpulse.ingest.parse import check_tz
from dealpulse.ingest.quarantine import frame_of_rows, message, with_hashes
from dealpulse.ingest.report import ImportReport, empty_counts
from dealpulse.ingest.tables import ATTRIBUTES_COLUMNS, DEAL_CHILDREN, TABLES, columns_of, constant, native_schema

Progress = Callable[[str, int, int], None]
PROBLEMS_SHOWN = 50
DEFAULT_MAX_QUARANTINE = 0.5  # a table with more of its rows in quarantine stops the import
_TS_TEXT = "%Y-%m-%d %H:%M:%S%.f"


def _prepare(table: str, frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The frame with every store column in its type, `_file`/`_row`, and (deals/accounts) attribute
    columns. Columns already in their type are shared, not copied."""
    spec = TABLES[table]
    n = frame.height
    out: list[pl.Series] = []
    for col, dtype in native_schema(table).items():
        if col not in frame.columns:
            out.append(constant(None, n, dtype, col))
            continue
        s = frame[col]
        if isinstance(dtype, pl.Datetime) and isinstance(s.dtype, pl.Datetime) and s.dtype.time_zone:
            s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        out.append(s if s.dtype == dtype else s.cast(dtype))
    out.append(frame["_file"].cast(pl.Utf8) if "_file" in frame.columns else constant(source, n, pl.Utf8(), "_file"))
    out.append(frame["_row"].cast(pl.Int64) if "_row" in frame.columns
               else pl.int_range(1, n + 1, dtype=pl.Int64, eager=True).alias("_row"))
    for extra in spec.extra:
        if extra in frame.columns:
            out.append(frame[extra].cast(pl.Utf8))
    for c in attribute_columns(table, frame):
        out.append(frame[c].cast(pl.Utf8))
    return pl.DataFrame(out)


def attribute_columns(table: str, frame: pl.DataFrame) -> list[str]:
    spec = TABLES[table]
    if spec.entity is None:
        return []
    return [c for c in frame.columns if c not in spec.columns and c not in spec.extra and not c.startswith("_")]


def _key_text(keys: tuple[str, ...], frame: pl.DataFrame) -> pl.Expr:
    parts = []
    for k in keys:
        dtype = frame.schema[k]
        parts.append(pl.col(k).dt.strftime("%Y-%m-%d %H:%M:%S") if isinstance(dtype, pl.Datetime) else pl.col(k).cast(pl.Utf8))
    return pl.concat_str(parts, separator=", ", ignore_nulls=True)


def _typed_json(frame: pl.DataFrame, cols: list[str]) -> pl.Expr:
    exprs = []
    for c in cols:
        dtype = frame.schema[c]
        exprs.append(pl.col(c).dt.strftime(_TS_TEXT) if isinstance(dtype, pl.Datetime) else pl.col(c))
    return pl.struct(exprs).struct.json_encode()


def _problem_rows(table: str, frame: pl.DataFrame, mask: pl.Series, *, column: str, reason: str,
                  found: pl.Expr, expected: pl.Expr | None, value_cols: list[str]) -> pl.DataFrame:
    sub = frame.filter(mask)
    return sub.select(
        table_name=pl.lit(table),
        file=pl.col("_file"),
        row_number=pl.col("_row"),
        column_name=pl.lit(column),
        reason=pl.lit(reason),
        expected=(expected if expected is not None else pl.lit(None, pl.Utf8)).cast(pl.Utf8),
        found=found.cast(pl.Utf8),
        raw=_typed_json(sub, value_cols),
    ).cast(QUARANTINE_SCHEMA)


def repeated(frame: pl.DataFrame, keys: list[str]) -> pl.Series:
    """True on rows whose `keys` another row has too (hash first; only candidates compared in full)."""
    if len(keys) == 1:
        return frame[keys[0]].is_duplicated()
    maybe = columns_of(frame, keys).hash_rows(seed=0).is_duplicated()
    if not maybe.any():
        return maybe
    exact = columns_of(frame.filter(maybe), keys).is_duplicated()
    return maybe.scatter(maybe.arg_true(), exact)


def _dedup_and_conflicts(table: str, frame: pl.DataFrame, labels: dict[str, str]) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """(rows kept, exact duplicates dropped, key-conflict quarantine)."""
    spec = TABLES[table]
    value_cols = [c for c in frame.columns if not c.startswith("_")]
    if not frame.height:
        return frame, 0, empty_quarantine()
    keys = list(spec.keys)
    # rows with the same values share the key: only rows whose key repeats need a closer look
    shared = repeated(frame, keys)
    if not shared.any():
        return frame, 0, empty_quarantine()
    rest = frame.filter(~shared)
    frame = frame.filter(shared).sort(["_file", "_row"], maintain_order=True)
    first = frame.select(pl.struct(value_cols).is_first_distinct()).to_series()
    dups = int(frame.height - first.sum())
    if dups:
        frame = frame.filter(first)
    marked = frame.with_columns(
        _first_row=pl.col("_row").first().over(keys),
        _nth=pl.int_range(pl.len()).over(keys),
    )
    conflict = marked["_nth"] > 0
    q = empty_quarantine()
    if conflict.any():
        column = ", ".join(labels.get(k, k) for k in keys)
        q = _problem_rows(table, marked, conflict, column=column, reason=KEY_CONFLICT,
                          found=_key_text(spec.keys, frame), expected=pl.col("_first_row"), value_cols=value_cols)
        frame = frame.filter(~conflict)
    return pl.concat([rest, frame]), dups, q


def _unknown_deals(store: Any, table: str, frame: pl.DataFrame, new_deals: pl.Series, labels: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    col = DEAL_CHILDREN[table]
    if not frame.height:
        return frame, empty_quarantine()
    is_deal_row = (frame["entity"] == "deal") if table == "field_history" else pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True)
    ids = frame[col].filter(is_deal_row).unique()
    missing = ids.filter(~ids.is_in(new_deals.implode()))
    if missing.len():
        stage_frame(store, "_dp_ids", pl.DataFrame({"deal_id": missing}))
        known = [r[0] for r in store.query("SELECT i.deal_id FROM _dp_ids i JOIN deals d ON d.deal_id = i.deal_id")]
        unstage(store, "_dp_ids")
        missing = missing.filter(~missing.is_in(pl.Series(known, dtype=pl.Utf8).implode()))
    if not missing.len():
        return frame, empty_quarantine()
    bad = is_deal_row & frame[col].is_in(missing.implode())
    value_cols = [c for c in frame.columns if not c.startswith("_")]
    q = _problem_rows(table, frame, bad, column=labels.get(col, col), reason=UNKNOWN_DEAL,
                      found=pl.col(col), expected=None, value_cols=value_cols)
    return frame.filter(~bad), q


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


COPY_CHUNK = 500_000


@lru_cache(maxsize=1)
def _duckdb_reads_string_views() -> bool:
    """Can this DuckDB scan Arrow string views? Then frames go to it without copying their text."""
    import duckdb

    try:
        con = duckdb.connect()
        con.register("_probe", pl.DataFrame({"a": ["x"]}).to_arrow(compat_level=pl.CompatLevel.newest()))
        ok = con.execute("SELECT a FROM _probe").fetchall() == [("x",)]
        con.close()
        return ok
    except Exception:  # an older DuckDB: fall back to plain Arrow strings
        return False


def to_arrow(frame: pl.DataFrame) -> Any:
    """Arrow data for a plain full scan by DuckDB. (String views only there: DuckDB hands filters to
    pyarrow, which cannot apply them to string views.)"""
    if _duckdb_reads_string_views():
        return frame.to_arrow(compat_level=pl.CompatLevel.newest())
    return frame.to_arrow()


def stage_frame(store: Any, name: str, frame: pl.DataFrame) -> None:
    """Make `frame` readable by SQL as `name`: a view over its Arrow data on DuckDB (no copy),
    a temporary table on PostgreSQL (analysed, so that the planner knows its size)."""
    if store.kind == "duckdb":
        store.raw.register(name, frame.to_arrow())
    else:
        store.load_frame(name, frame)
        store.execute(f"ANALYZE {_quote(name)}")


def _insert_all(store: Any, table: str, frame: pl.DataFrame) -> None:
    """Append every row of `frame` to `table` (whose keys it does not hold yet), the fastest way."""
    names = ", ".join(_quote(c) for c in frame.columns)
    if store.kind == "duckdb":
        store.raw.register("_dp_all", to_arrow(frame))
        try:
            store.execute(f"INSERT INTO {_quote(table)} ({names}) SELECT {names} FROM _dp_all")
        finally:
            store.raw.unregister("_dp_all")
        return
    with store.raw.cursor() as cur:  # COPY straight into the table, in chunks to bound memory
        with cur.copy(f"COPY {_quote(table)} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, frame.height, COPY_CHUNK):
                buf = io.BytesIO()
                frame.slice(start, COPY_CHUNK).write_csv(
                    buf, include_header=False, null_value="", quote_style="non_numeric",
                    datetime_format="%Y-%m-%d %H:%M:%S%.6f")
                copy.write(buf.getvalue())


def unstage(store: Any, name: str) -> None:
    if store.kind == "duckdb":
        store.raw.unregister(name)
    else:
        store.execute(f"DROP TABLE IF EXISTS {_quote(name)}")


def upsert(store: Any, table: str, frame: pl.DataFrame, keys: tuple[str, ...]) -> int:
    """Insert new rows and update changed ones; rows identical to the store's are left alone.
    Returns how many rows were inserted or updated."""
    if not frame.height:
        return 0
    cols = list(frame.columns)
    nonkeys = [c for c in cols if c not in keys]
    names = ", ".join(_quote(c) for c in cols)
    if not store.query(f"SELECT 1 FROM {_quote(table)} LIMIT 1"):
        _insert_all(store, table, frame)
        return frame.height
    stage_frame(store, "_dp_in", frame)
    try:
        same = " AND ".join([f"t.{_quote(k)} = n.{_quote(k)}" for k in keys]
                            + [f"t.{_quote(c)} IS NOT DISTINCT FROM n.{_quote(c)}" for c in nonkeys])
        store.execute("DROP TABLE IF EXISTS _dp_chg")
        store.execute(f"CREATE TEMP TABLE _dp_chg AS SELECT n.* FROM _dp_in n "
                      f"WHERE NOT EXISTS (SELECT 1 FROM {_quote(table)} t WHERE {same})")
        changed = int(store.query("SELECT count(*) FROM _dp_chg")[0][0])
        if changed:
            conflict = ", ".join(_quote(k) for k in keys)
            action = ("DO UPDATE SET " + ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in nonkeys)) if nonkeys else "DO NOTHING"
            store.execute(f"INSERT INTO {_quote(table)} ({names}) SELECT {names} FROM _dp_chg "
                          f"ON CONFLICT ({conflict}) {action}")
        store.execute("DROP TABLE IF EXISTS _dp_chg")
        return changed
    finally:
        unstage(store, "_dp_in")


def _attributes(store: Any, frames: dict[str, pl.DataFrame]) -> dict[str, int]:
    longs = []
    for table, id_col in (("deals", "deal_id"), ("accounts", "account_id")):
        frame = frames.get(table)
        if frame is None or not frame.height:
            continue
        attrs = attribute_columns(table, frame)
        if not attrs:
            continue
        longs.append(
            frame.select([id_col] + attrs).unpivot(index=id_col, variable_name="field", value_name="value")
            .select(entity=pl.lit(TABLES[table].entity), entity_id=pl.col(id_col), field=pl.col("field"),
                    value=pl.col("value").cast(pl.Utf8))
        )
    if not longs:
        return {"written": 0, "cleared": 0}
    long = pl.concat(longs).unique(subset=["entity", "entity_id", "field"], keep="first", maintain_order=True)
    cleared_rows = long.filter(pl.col("value").is_null()).select("entity", "entity_id", "field")
    cleared = 0
    if cleared_rows.height and store.query("SELECT 1 FROM attributes LIMIT 1"):
        stage_frame(store, "_dp_clr", cleared_rows)
        match = "a.entity = c.entity AND a.entity_id = c.entity_id AND a.field = c.field"
        cleared = int(store.query(f"SELECT count(*) FROM attributes a JOIN _dp_clr c ON {match}")[0][0])
        if cleared:
            store.execute("DELETE FROM attributes WHERE EXISTS (SELECT 1 FROM _dp_clr c WHERE "
                          "attributes.entity = c.entity AND attributes.entity_id = c.entity_id AND attributes.field = c.field)")
        unstage(store, "_dp_clr")
    written = upsert(store, "attributes", long.filter(pl.col("value").is_not_null()).select(ATTRIBUTES_COLUMNS),
                     ("entity", "entity_id", "field"))
    return {"written": written, "cleared": cleared}


def _store_quarantine(store: Any, q: pl.DataFrame, import_id: str) -> None:
    if not q.height:
        return
    q = q.unique(subset=["table_name", "row_hash", "column_name"], keep="first", maintain_order=True)
    q = q.with_columns(import_id=pl.lit(import_id))
    stage_frame(store, "_dp_q", q)
    cols = ", ".join(["table_name", "row_hash", "column_name", "file", "row_number", "reason", "expected", "found", "raw", "import_id"])
    store.execute(f"INSERT INTO quarantine ({cols}) SELECT {cols} FROM _dp_q "
                  "ON CONFLICT (table_name, row_hash, column_name) DO NOTHING")
    unstage(store, "_dp_q")


def _time_range(frame: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest moment in a frame's timestamps (deadlines and hire dates aside)."""
    lows, highs = [], []
    for col, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime) and col not in ("due_at", "hired_at") and frame.height:
            lo, hi = frame[col].min(), frame[col].max()
            if lo is not None:
                lows.append(lo)
                highs.append(hi)
    return (min(lows) if lows else None, max(highs) if highs else None)


def _native_name(label: str) -> str:
    """`Состояние (status)` -> `status`: the native column inside a label (`Resolution.label`)."""
    if label.endswith(")") and " (" in label:
        return label[label.rindex(" (") + 2:-1]
    return label


def _mostly_quarantined(tables: dict[str, dict[str, int]], q_all: pl.DataFrame, max_share: float | None,
                        lang: str) -> tuple[list[str], int]:
    """For each table with more than `max_share` of its rows read in quarantine: a sentence naming
    the table, the share, the column(s) most of those rows failed on, the values found there and
    what to map; then the first few problems of that table as examples. Returns (lines, tables)."""
    if max_share is None or max_share >= 1 or not q_all.height:
        return [], 0
    out: list[str] = []
    n_tables = 0
    for name in TABLES:
        counts = tables.get(name)
        if not counts or not counts["rows_read"] or counts["quarantined"] / counts["rows_read"] <= max_share:
            continue
        bad, read = counts["quarantined"], counts["rows_read"]
        share = 100 if bad >= read else min(round(100 * bad / read), 99)
        q = q_all.filter(pl.col("table_name") == name)
        by_col = (q.group_by("column_name", "reason", maintain_order=True)
                  .agg(rows=pl.struct("file", "row_number", "row_hash").n_unique())
                  .sort("rows", descending=True, maintain_order=True))
        top_rows = by_col["rows"][0]
        causes = by_col.filter(pl.col("rows") * 2 >= top_rows).head(3)  # the column(s) most rows failed on
        parts = []
        for column, reason in causes.select("column_name", "reason").iter_rows():
            found = (q.filter((pl.col("column_name") == column) & (pl.col("reason") == reason))["found"]
                     .drop_nulls().value_counts(sort=True))
            values = [str(v) for v in found[found.columns[0]].head(5).to_list()]
            more = found.height - len(values)
            shown = ", ".join(f'"{v}"' for v in values) + (t("ingest.too_quarantined.more", lang, n=more) if more > 0 else "")
            native = _native_name(column)
            hint_key = f"ingest.too_quarantined.hint.{reason}"
            hint = t(hint_key, lang, table=name, column=native, value=values[0] if values else "…",
                     expected=(q.filter(pl.col("column_name") == column)["expected"].drop_nulls().head(1).to_list() or [""])[0])
            if hint == hint_key:  # a reason another importer wrote as text
                hint = t("ingest.too_quarantined.hint.other", lang, table=name, column=native)
            what = t("ingest.too_quarantined.values", lang, values=shown) if values else t("ingest.too_quarantined.empty", lang)
            parts.append(t("ingest.too_quarantined.cause", lang, column=column, what=what, hint=hint))
        n_tables += 1
        out.append(t("ingest.too_quarantined.table", lang, table=name, share=share, bad=bad, read=read,
                     causes="; ".join(parts)))
        for r in q.sort(["file", "row_number"], nulls_last=True).head(3).iter_rows(named=True):
            out.append(t("ingest.too_quarantined.example", lang, problem=message(
                file=r["file"], row=r["row_number"], column=r["column_name"], reason=r["reason"],
                expected=r["expected"], found=r["found"], lang=lang)))
    return out, n_tables


def write_tables(
    store: Any,
    frames: dict[str, pl.DataFrame],
    quarantine_rows: list[dict] | pl.DataFrame,
    *,
    source: str,
    tz: str,
    progress: Progress | None = None,
    lang: str = "en",
    read_counts: dict[str, dict[str, int]] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
    warnings: list[str] | None = None,
    files: dict[str, str] | None = None,
    consume: bool = False,
    max_quarantine: float | None = DEFAULT_MAX_QUARANTINE,
) -> ImportReport:
    """Check references and keys, deduplicate, upsert and count, in one transaction.

    `frames`: typed native frames by table name (ARCHITECTURE.md), optionally with `_file` and `_row`
    (for messages) and, for deals/accounts, extra text columns that go to `attributes`.
    `quarantine_rows`: rows the caller already rejected, as dicts with keys table, file, row, column,
    reason (a code of `checks.REASONS` or a message), expected, found, raw (dict or JSON text).
    `read_counts`: per table, rows_read and duplicates the caller counted before typing (default:
    rows_read = frame rows + the caller's quarantined rows, duplicates = 0). With `consume`, the
    `frames` dict is emptied and each table freed once written (for big imports).
    `max_quarantine`: the share of a table's rows read that may go to quarantine; above it the
    import is refused (InputError, nothing written). None or 1: no limit.
    """
    try:
        tz = check_tz(tz)
    except ValueError:
        raise InputError(t("ingest.err.bad_tz", lang, tz=tz), suggestion=t("ingest.err.bad_tz.suggestion", lang)) from None
    unknown = [name for name in frames if name not in TABLES]
    if unknown:
        raise InputError(t("ingest.err.unknown_tables", lang, tables=", ".join(unknown), expected=", ".join(TABLES)),
                         suggestion=t("ingest.err.unknown_tables.suggestion", lang))
    labels = labels or {}
    q_in = quarantine_rows if isinstance(quarantine_rows, pl.DataFrame) else frame_of_rows(quarantine_rows)
    prepared = {name: _prepare(name, frames[name], source) for name in TABLES if name in frames}
    if consume:
        frames.clear()  # the caller hands the frames over: each is freed once written
    order = [name for name in TABLES if name in prepared]
    steps = len(order) + 2
    done = 0

    def step(label: str) -> None:
        nonlocal done
        if progress is not None:
            progress(label, done, steps)
        done += 1

    report = ImportReport(source=source, tz=tz, files=dict(files or {}))
    report.warnings.extend(warnings or [])
    import_id = uuid.uuid4().hex
    quarantines = [q_in]
    kept: dict[str, pl.DataFrame] = {}  # deals and accounts, for their attributes
    lows: list[datetime] = []
    highs: list[datetime] = []
    with store.transaction():
        new_deals = pl.Series("deal_id", [], dtype=pl.Utf8)
        for name in order:
            step(f"write:{name}")
            frame, dups, q_conf = _dedup_and_conflicts(name, prepared.pop(name), labels.get(name, {}))
            quarantines.append(q_conf)
            if name == "deals":
                new_deals = frame["deal_id"]
            if name in DEAL_CHILDREN:
                frame, q_ref = _unknown_deals(store, name, frame, new_deals, labels.get(name, {}))
                quarantines.append(q_ref)
            if TABLES[name].entity is not None:
                kept[name] = frame
            lo, hi = _time_range(frame)
            if lo is not None:
                lows.append(lo)
                highs.append(hi)
            native = list(TABLES[name].columns)
            imported = upsert(store, name, columns_of(frame, native), TABLES[name].keys)
            counts = empty_counts()
            counts["imported"] = imported
            counts["duplicates"] = dups + (frame.height - imported)
            report.tables[name] = counts
            del frame
        step("write:attributes")
        report.attributes = _attributes(store, kept)
        q_all = pl.concat([q for q in quarantines if q.height] or [empty_quarantine()], how="vertical_relaxed")
        q_all = with_hashes(q_all) if q_all.height else q_all.with_columns(row_hash=pl.lit(None, pl.Utf8))
        for name in set(q_all["table_name"].to_list()) | set(report.tables):
            counts = report.tables.setdefault(name, empty_counts())
            rows = q_all.filter(pl.col("table_name") == name).select("file", "row_number", "row_hash").unique()
            counts["quarantined"] = rows.height
            given = (read_counts or {}).get(name)
            if given is not None:
                counts["duplicates"] += int(given.get("duplicates", 0))
                counts["rows_read"] = int(given["rows_read"])
            else:
                counts["rows_read"] = counts["imported"] + counts["duplicates"] + counts["quarantined"]
        refused, n_refused = _mostly_quarantined(report.tables, q_all, max_quarantine, lang)
        if refused:  # raised inside the transaction: nothing of this import is written
            raise InputError(t("ingest.err.too_quarantined", lang, source=source, n=n_refused,
                               share=f"{max_quarantine:.0%}"),
                             problems=refused, suggestion=t("ingest.err.too_quarantined.suggestion", lang))
        step("write:quarantine")
        _store_quarantine(store, q_all, import_id)
        old_tz = store.get_meta("tz")
        if old_tz != tz:
            if old_tz and (store.query("SELECT 1 FROM deals LIMIT 1")):
                report.warnings.append(t("ingest.warn.tz_changed", lang, old=old_tz, new=tz))
            store.set_meta("tz", tz)
        report.as_of_range = (min(lows) if lows else None, max(highs) if highs else None)
        report.import_id = import_id
        report.problems = [
            message(file=r["file"], row=r["row_number"], column=r["column_name"], reason=r["reason"],
                    expected=r["expected"], found=r["found"], lang=lang)
            for r in q_all.sort(["table_name", "file", "row_number"], nulls_last=True).head(PROBLEMS_SHOWN).iter_rows(named=True)
        ]
        for name, counts in report.tables.items():
            total = counts["imported"] + counts["duplicates"] + counts["quarantined"]
            if total != counts["rows_read"]:  # pragma: no cover - a bug, not a user error
                raise AssertionError(f"{name}: rows_read {counts['rows_read']} != {total} ({counts})")
        store.execute(
            "INSERT INTO imports (import_id, started_at, source, tz, report) VALUES (?, ?, ?, ?, ?)",
            [import_id, datetime.now(timezone.utc).replace(tzinfo=None), source, tz,
             json.dumps(report.to_dict(), ensure_ascii=False, default=str)],
        )
    return report
