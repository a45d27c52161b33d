"""Open a store by URL and keep its schema current.

`connect("dealpulse.duckdb")` (or `duckdb:///path`) opens an embedded DuckDB file;
`connect("postgresql://user@host/db")` a PostgreSQL server. Both are reached through Ibis for
the metric layer (one code path) and through the raw driver for bulk loading and transactions.
SQL given to `execute`/`query` uses `?` placeholders on both engines; values are never pasted in.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import ibis
import polars as pl

from dealpulse.errors import StoreError
from dealpulse.store.schema import LATEST_VERSION, MIGRATIONS

DEFAULT_DB = "dealpulse.duckdb"


def default_db_url() -> str:
    return os.environ.get("DEALPULSE_DB") or DEFAULT_DB


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class Store:
    """An open store. `ibis` is the Ibis backend; `kind` is "duckdb" or "postgres"."""

    def __init__(self, url: str, backend: Any, kind: str):
        self.url = url
        self.ibis = backend
        self.kind = kind
        self._in_tx = False

    # -- raw access -------------------------------------------------------------------------
    @property
    def raw(self) -> Any:
        return self.ibis.con

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if self.kind == "duckdb":
            self.raw.execute(sql, list(params) if params is not None else None)
        else:
            with self.raw.cursor() as cur:
                cur.execute(self._sql(sql), params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        if self.kind == "duckdb":
            return self.raw.execute(sql, list(params) if params is not None else None).fetchall()
        with self.raw.cursor() as cur:
            cur.execute(self._sql(sql), params)
            return list(cur.fetchall()) if cur.description else []

    def query_frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        if self.kind == "duckdb":
            return self.raw.execute(sql, list(params) if params is not None else None).pl()
        with self.raw.cursor() as cur:
            cur.execute(self._sql(sql), params)
            cols = [d.name for d in cur.description]
            return pl.DataFrame(cur.fetchall(), schema=cols, orient="row")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: everything inside commits together or not at all (Ctrl-C included)."""
        if self._in_tx:
            yield
            return
        self._in_tx = True
        try:
            if self.kind == "duckdb":
                self.raw.execute("BEGIN TRANSACTION")
                try:
                    yield
                except BaseException:
                    self.raw.execute("ROLLBACK")
                    raise
                self.raw.execute("COMMIT")
            else:
                with self.raw.transaction():
                    yield
        finally:
            self._in_tx = False

    def load_frame(self, name: str, frame: pl.DataFrame, *, temp: bool = True) -> None:
        """Create table `name` (temporary by default) holding `frame`, replacing any earlier one."""
        if self.kind == "duckdb":
            arrow = frame.to_arrow()
            self.raw.register("_dp_load", arrow)
            try:
                kind = "TEMP TABLE" if temp else "TABLE"
                self.raw.execute(f'CREATE OR REPLACE {kind} "{name}" AS SELECT * FROM _dp_load')
            finally:
                self.raw.unregister("_dp_load")
            return
        cols = []
        for col, dtype in frame.schema.items():
            cols.append(f'"{col}" {_pg_type(dtype)}')
        with self.raw.cursor() as cur:
            cur.execute(f'DROP TABLE IF EXISTS "{name}"')
            temp_kw = "TEMP " if temp else ""
            cur.execute(f'CREATE {temp_kw}TABLE "{name}" ({", ".join(cols)})')
            if frame.height:
                buf = io.BytesIO()
                frame.write_csv(buf, include_header=False, null_value="", quote_style="non_numeric",
                                datetime_format="%Y-%m-%d %H:%M:%S%.6f")
                names = ", ".join(f'"{c}"' for c in frame.columns)
                with cur.copy(f'COPY "{name}" ({names}) FROM STDIN WITH (FORMAT csv)') as copy:
                    copy.write(buf.getvalue())

    def has_table(self, name: str) -> bool:
        return name in self.ibis.list_tables()

    def table(self, name: str) -> Any:
        return self.ibis.table(name)

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", [key])
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str | None) -> None:
        self.execute("DELETE FROM meta WHERE key = ?", [key])
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [key, value])

    def schema_version(self) -> int:
        if "schema_migrations" not in self.ibis.list_tables():
            return 0
        rows = self.query("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def migrate(self) -> int:
        """Apply every migration the store lacks; returns the version it is at."""
        with self.transaction():
            self.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT, applied_at TIMESTAMP)"
            )
            current = self.schema_version()
            if current > LATEST_VERSION:
                raise StoreError(
                    f"The store {_redact(self.url)} is at schema version {current}, newer than this "
                    f"dealpulse knows ({LATEST_VERSION}).",
                    suggestion="Upgrade dealpulse.",
                )
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                for stmt in statements:
                    self.execute(stmt)
                self.execute(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                    [version, description, datetime.now(timezone.utc).replace(tzinfo=None)],
                )
        return LATEST_VERSION

    def close(self) -> None:
        try:
            self.ibis.disconnect()
        except Exception:  # pragma: no cover - closing twice is harmless
            pass

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({_redact(self.url)!r})"


def _pg_type(dtype: pl.DataType) -> str:
    if dtype in (pl.Float32, pl.Float64):
        return "DOUBLE PRECISION"
    if dtype.is_integer():
        return "BIGINT"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if dtype == pl.Date:
        return "DATE"
    return "TEXT"


def connect(url: str | Path | None = None, *, migrate: bool = True) -> Store:
    """Open the store at `url` (a DuckDB path, `duckdb:///path`, or `postgresql://...`)."""
    url = str(url) if url is not None else default_db_url()
    try:
        if url.startswith(("postgresql://", "postgres://")):
            backend = ibis.connect(url)
            store = Store(url, backend, "postgres")
            # The metric queries are large and short: JIT compilation costs more than it saves.
            store.execute("SET jit = off")
        else:
            path = url[len("duckdb://"):] if url.startswith("duckdb://") else url
            if path.startswith("/") and url.startswith("duckdb:///"):
                path = path[1:] if path.startswith("//") else path
            if path != ":memory:":
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            backend = ibis.duckdb.connect(path)
            store = Store(url, backend, "duckdb")
            # Library code never prints: no DuckDB progress bar on the user's terminal.
            store.execute("SET enable_progress_bar = false")
    except StoreError:
        raise
    except Exception as exc:  # the drivers raise many kinds; name the store and the cause
        raise StoreError(
            f"Cannot open the store {_redact(url)}: {exc}",
            suggestion="Check --db (or DEALPULSE_DB): a DuckDB file path or postgresql://user@host/db.",
        ) from exc
    if migrate:
        store.migrate()
    return store
