"""What the sync tests compare: every native table of two stores, row for row."""

from __future__ import annotations

from typing import Any

from dealpulse.store import connect

TABLES = ("managers", "accounts", "deals", "stage_history", "tasks", "field_history", "attributes")


def tables_of(db: Any) -> dict[str, list[tuple]]:
    store = connect(str(db))
    try:
        out = {name: sorted(map(tuple, store.query(f"SELECT * FROM {name}")), key=repr) for name in TABLES}
        out["quarantine"] = sorted(map(tuple, store.query("SELECT table_name, column_name, reason, found FROM quarantine")), key=repr)
        return out
    finally:
        store.close()


def assert_same_tables(got_db: Any, want_db: Any) -> dict[str, int]:
    got, want = tables_of(got_db), tables_of(want_db)
    for name in want:
        if got[name] != want[name]:
            extra = sorted(set(got[name]) - set(want[name]))[:3]
            missing = sorted(set(want[name]) - set(got[name]))[:3]
            raise AssertionError(f"{name}: {len(got[name])} rows synced vs {len(want[name])} imported from files; "
                                 f"only synced: {extra}; only in the file import: {missing}")
    assert want["deals"], "the file import holds no deals: the comparison would prove nothing"
    return {name: len(rows) for name, rows in want.items()}
