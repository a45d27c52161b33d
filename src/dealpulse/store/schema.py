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
    (
        4,
        "web app: users and roles, API tokens, login sessions, alert actions (dealpulse serve, dealpulse user)",
        [
            # role: head | lead | manager | qc; manager_id (a manager's own deals) and team (a lead's team).
            # password_hash: argon2id (dealpulse.web.auth); lang: the user's ru/en choice in the web app.
            """CREATE TABLE users (
                login TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                manager_id TEXT,
                team TEXT,
                password_hash TEXT NOT NULL,
                lang TEXT,
                active BOOLEAN NOT NULL,
                created_at TIMESTAMP NOT NULL
            )""",
            # Only a SHA-256 of a token is kept: the token is shown once, when it is made.
            """CREATE TABLE api_tokens (
                token_hash TEXT PRIMARY KEY,
                login TEXT NOT NULL,
                label TEXT,
                created_at TIMESTAMP NOT NULL,
                last_used_at TIMESTAMP
            )""",
            # A login session: the cookie holds a random id, the table its SHA-256 and the CSRF token of its forms.
            """CREATE TABLE web_sessions (
                session_hash TEXT PRIMARY KEY,
                login TEXT NOT NULL,
                csrf TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                expires_at TIMESTAMP NOT NULL
            )""",
            # Acknowledge / snooze an alert, as-of aware: `acted_at` is the data moment the user looked at (a page
            # as of T sees the actions with acted_at <= T), `recorded_at` the wall clock; `until_at` ends a snooze.
            # (Not `at`: a reserved word in DuckDB.)
            """CREATE TABLE alert_actions (
                action_id TEXT PRIMARY KEY,
                alert_key TEXT NOT NULL,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                action TEXT NOT NULL,
                reason TEXT NOT NULL,
                until_at TIMESTAMP,
                acted_at TIMESTAMP NOT NULL,
                login TEXT NOT NULL,
                recorded_at TIMESTAMP NOT NULL
            )""",
            """CREATE INDEX alert_actions_key ON alert_actions (alert_key, acted_at)""",
            """CREATE INDEX api_tokens_login ON api_tokens (login)""",
        ],
    ),
    (
        5,
        "digests: each user's delivery addresses, and a log of every delivery (dealpulse digest)",
        [
            # Where a user's digest goes (dealpulse.digest.people); a webhook URL may hold a secret and
            # is never printed whole.
            """ALTER TABLE users ADD COLUMN email TEXT""",
            """ALTER TABLE users ADD COLUMN telegram_chat_id TEXT""",
            """ALTER TABLE users ADD COLUMN webhook_url TEXT""",
            # One row per (recipient, channel, period): `status` sent | failed, `attempts` over every run,
            # `error` the last failure, `sent_at` when it was delivered. A re-run sends only what is not `sent`.
            """CREATE TABLE digest_log (
                recipient TEXT NOT NULL,
                channel TEXT NOT NULL,
                period TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                error TEXT,
                sent_at TIMESTAMP,
                updated_at TIMESTAMP NOT NULL,
                PRIMARY KEY (recipient, channel, period)
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
