"""The store's schema, versioned. Each migration is a list of portable SQL statements
(DuckDB and PostgreSQL both accept them). Timestamps are stored as UTC without a zone;
the export's zone is kept in `meta` under `tz`.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "native tables, quarantine, imports, meta",
        [
            """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)""",
            """CREATE TABLE deals (
                deal_id TEXT PRIMARY KEY,
                account_id TEXT,
                title TEXT,
                owner TEXT NOT NULL,
                segment TEXT,
                channel TEXT,
                amount DOUBLE PRECISION,
                currency TEXT,
                created_at TIMESTAMP NOT NULL,
                status TEXT NOT NULL,
                closed_at TIMESTAMP,
                lost_reason TEXT
            )""",
            """CREATE TABLE stage_history (
                deal_id TEXT NOT NULL,
                stage TEXT NOT NULL,
                entered_at TIMESTAMP NOT NULL,
                changed_by TEXT,
                PRIMARY KEY (deal_id, stage, entered_at)
            )""",
            """CREATE TABLE tasks (
                task_id TEXT PRIMARY KEY,
                deal_id TEXT NOT NULL,
                type TEXT NOT NULL,
                owner TEXT,
                created_at TIMESTAMP NOT NULL,
                due_at TIMESTAMP,
                completed_at TIMESTAMP,
                status TEXT NOT NULL
            )""",
            """CREATE TABLE field_history (
                entity TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT,
                changed_at TIMESTAMP NOT NULL,
                changed_by TEXT,
                PRIMARY KEY (entity, entity_id, field, changed_at)
            )""",
            """CREATE TABLE accounts (
                account_id TEXT PRIMARY KEY,
                name TEXT,
                segment TEXT
            )""",
            """CREATE TABLE managers (
                manager_id TEXT PRIMARY KEY,
                name TEXT,
                team TEXT,
                role TEXT,
                hired_at TIMESTAMP,
                email TEXT
            )""",
            # Columns of deals/accounts beyond the native ones (client-card fields and the like):
            # a snapshot as of the export, used only where field_history has no row for that field.
            """CREATE TABLE attributes (
                entity TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT,
                PRIMARY KEY (entity, entity_id, field)
            )""",
            """CREATE TABLE quarantine (
                table_name TEXT NOT NULL,
                row_hash TEXT NOT NULL,
                column_name TEXT NOT NULL,
                file TEXT,
                row_number BIGINT,
                reason TEXT NOT NULL,
                expected TEXT,
                found TEXT,
                raw TEXT,
                import_id TEXT,
                PRIMARY KEY (table_name, row_hash, column_name)
            )""",
            """CREATE TABLE imports (
                import_id TEXT PRIMARY KEY,
                started_at TIMESTAMP NOT NULL,
                source TEXT,
                tz TEXT,
                report TEXT
            )""",
            """CREATE INDEX stage_history_deal ON stage_history (deal_id)""",
            """CREATE INDEX tasks_deal ON tasks (deal_id)""",
        ],
    ),
    (
        2,
        "review marks (dealpulse review mark)",
        [
            # One row per mark; a deal may be marked again. `reviewed_at` is the moment the mark
            # belongs to (as-of aware: visible to computations as of then or later); `recorded_at`
            # when it was written (wall clock); `reasons` the reason keys the deal had then.
            """CREATE TABLE reviews (
                review_id TEXT PRIMARY KEY,
                deal_id TEXT NOT NULL,
                reviewed_at TIMESTAMP NOT NULL,
                reviewer TEXT NOT NULL,
                comment TEXT NOT NULL,
                reasons TEXT,
                recorded_at TIMESTAMP NOT NULL
            )""",
            """CREATE INDEX reviews_deal ON reviews (deal_id, reviewed_at)""",
        ],
    ),
    (
        3,
        "trained win models, reused by every command and page (dealpulse.app.models)",
        [
            # One row per (data version, playbook, as_of, model code): the model trained as of that moment,
            # serialised and signed (`payload` base64 text: portable between DuckDB and PostgreSQL).
            """CREATE TABLE model_cache (
                cache_key TEXT PRIMARY KEY,
                as_of TIMESTAMP NOT NULL,
                data_version TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                payload TEXT NOT NULL
            )""",
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]

# The native tables in import order (parents before children), with their primary keys.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "managers": ("manager_id",),
    "accounts": ("account_id",),
    "deals": ("deal_id",),
    "stage_history": ("deal_id", "stage", "entered_at"),
    "tasks": ("task_id",),
    "field_history": ("entity", "entity_id", "field", "changed_at"),
    "attributes": ("entity", "entity_id", "field"),
}
