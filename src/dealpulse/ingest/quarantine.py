"""Quarantine: rows an import could not take, kept in the store with the reason.

Each problem is one row of the `quarantine` table, keyed by (table_name, row_hash, column_name)
where row_hash is a hash of the record's content: importing the same bad file again adds nothing.
`reason` is a code (see `checks.REASONS`) rendered in the reader's language by `message`; another
importer may store free text there instead, which is shown as it is.
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from dealpulse.i18n import t
from dealpulse.ingest.checks import QUARANTINE_SCHEMA, REASONS, empty_quarantine


def message(*, file: str | None, row: int | None, column: str | None, reason: str, expected: str | None,
            found: str | None, lang: str = "en") -> str:
    """`deals.csv, row 17, column created_at: expected a date such as 2024-03-31 or 31.03.2024, got "31/02/2024".`"""
    parts = [file or "?"]
    if row is not None:
        parts.append(t("ingest.q.row", lang, row=row))
    if column:
        parts.append(t("ingest.q.column", lang, column=column))
    return f"{', '.join(parts)}: {reason_text(reason, expected, found, lang)}"


def reason_text(reason: str, expected: str | None, found: str | None, lang: str = "en") -> str:
    """What was expected and what was found, without saying where: `expected a value, got an empty cell.`"""
    if reason in REASONS:
        return t(f"ingest.q.{reason}", lang, expected=expected or "", found=found or "")
    return reason


def row_hash(table: str, raw: str | None, file: str | None, row: Any, column: str | None, found: str | None) -> str:
    key = f"{table}\x1f{raw}" if raw is not None else f"{table}\x1f{file}\x1f{row}\x1f{column}\x1f{found}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def frame_of_rows(rows: list[dict]) -> pl.DataFrame:
    """Quarantine dicts (table, file, row, column, reason, expected, found, raw) as a frame."""
    import json

    if not rows:
        return empty_quarantine()
    data = {
        "table_name": [r.get("table") or r.get("table_name") for r in rows],
        "file": [r.get("file") for r in rows],
        "row_number": [r.get("row", r.get("row_number")) for r in rows],
        "column_name": [r.get("column") or r.get("column_name") or "" for r in rows],
        "reason": [r.get("reason") or "" for r in rows],
        "expected": [None if r.get("expected") is None else str(r.get("expected")) for r in rows],
        "found": [None if r.get("found") is None else str(r.get("found")) for r in rows],
        "raw": [r["raw"] if isinstance(r.get("raw"), str) or r.get("raw") is None
                else json.dumps(r["raw"], ensure_ascii=False, sort_keys=True, default=str) for r in rows],
    }
    return pl.DataFrame(data, schema=QUARANTINE_SCHEMA)


def with_hashes(q: pl.DataFrame) -> pl.DataFrame:
    hashes = [row_hash(*vals) for vals in zip(q["table_name"].to_list(), q["raw"].to_list(), q["file"].to_list(),
                                               q["row_number"].to_list(), q["column_name"].to_list(), q["found"].to_list())]
    return q.with_columns(row_hash=pl.Series(hashes, dtype=pl.Utf8))


def list_quarantine(store: Any, table: str | None = None, lang: str = "en", limit: int | None = None) -> list[dict]:
    """The quarantined problems in the store: table, file, row, column, reason, found, and message
    (the whole sentence: file, row, column, what was expected, what was found)."""
    sql = ("SELECT table_name, file, row_number, column_name, reason, expected, found FROM quarantine"
           + (" WHERE table_name = ?" if table else "")
           + " ORDER BY table_name, file, row_number, column_name")
    rows = store.query(sql, [table] if table else None)
    if limit is not None:
        rows = rows[:limit]
    out = []
    for tbl, file, row, column, reason, expected, found in rows:
        out.append({
            "table": tbl, "file": file, "row": row, "column": column,
            "reason": reason_text(reason, expected, found, lang),
            "found": found,
            "message": message(file=file, row=row, column=column, reason=reason, expected=expected, found=found, lang=lang),
        })
    return out
