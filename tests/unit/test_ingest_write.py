"""write_tables: the shared write step of every importer (the event-log one included)."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from dealpulse.errors import InputError
from dealpulse.ingest import list_quarantine
from dealpulse.ingest.write import write_tables
from tests.builders import frame


def test_typed_frames_without_row_numbers(store):
    frames = {
        "deals": frame("deals", [dict(deal_id="c1", owner="r1", created_at="2024-01-01 10:00", status="won",
                                      closed_at="2024-01-03 10:00"),
                                 dict(deal_id="c2", owner="r1", created_at="2024-01-02 10:00", status="open")]),
        "stage_history": frame("stage_history", [("c1", "new", "2024-01-01 10:00"), ("c1", "won", "2024-01-03 10:00"),
                                                 ("c1", "won", "2024-01-03 10:00"), ("c3", "new", "2024-01-01 10:00")]),
    }
    rejected = [{"table": "stage_history", "file": "log.xes", "row": 7, "column": "time:timestamp",
                 "reason": "timestamp", "found": "yesterday", "raw": {"case": "c1"}}]
    report = write_tables(store, frames, rejected, source="log.xes", tz="Europe/Moscow")
    assert report.tables == {
        "deals": {"rows_read": 2, "imported": 2, "duplicates": 0, "quarantined": 0},
        "stage_history": {"rows_read": 5, "imported": 2, "duplicates": 1, "quarantined": 2},
    }
    assert [q["message"] for q in list_quarantine(store)] == [
        'log.xes, row 4, column deal_id: expected a deal of this import or already in the store, got "c3".',
        'log.xes, row 7, column time:timestamp: expected a date such as 2024-03-31 or 31.03.2024, got "yesterday".',
    ]
    assert store.get_meta("tz") == "Europe/Moscow"
    again = write_tables(store, frames, rejected, source="log.xes", tz="Europe/Moscow")
    assert again.tables["stage_history"] == {"rows_read": 5, "imported": 0, "duplicates": 3, "quarantined": 2}
    assert store.query("SELECT count(*) FROM quarantine")[0][0] == 2


def test_free_text_reasons_and_other_tables_are_kept(duck):
    rows = [{"table_name": "events", "file": "log.csv", "row_number": 3, "column_name": "case",
             "reason": "no case id", "expected": None, "found": None, "raw": '{"a": 1}'}]
    report = write_tables(duck, {}, rows, source="log.csv", tz="UTC")
    assert report.tables == {"events": {"rows_read": 1, "imported": 0, "duplicates": 0, "quarantined": 1}}
    assert list_quarantine(duck)[0]["message"] == "log.csv, row 3, column case: no case id"


def test_zoned_timestamps_are_stored_as_naive_utc(duck):
    deals = pl.DataFrame({
        "deal_id": ["d1"], "owner": ["m"], "status": ["open"],
        "created_at": pl.Series([datetime(2024, 1, 1, 12, tzinfo=timezone.utc)]).dt.convert_time_zone("Asia/Tokyo"),
    })
    write_tables(duck, {"deals": deals}, [], source="x", tz="UTC")
    assert duck.query("SELECT created_at, amount FROM deals") == [(datetime(2024, 1, 1, 12), None)]


def test_key_conflicts_keep_the_first_row_and_name_it(duck):
    deals = frame("deals", [dict(deal_id="d1", owner="a", created_at="2024-01-01", status="open"),
                            dict(deal_id="d1", owner="b", created_at="2024-01-01", status="open"),
                            dict(deal_id="d1", owner="a", created_at="2024-01-01", status="open")])
    report = write_tables(duck, {"deals": deals.with_columns(_file=pl.lit("deals.csv"), _row=pl.Series([2, 3, 4]))},
                          [], source="x", tz="UTC")
    assert report.tables["deals"] == {"rows_read": 3, "imported": 1, "duplicates": 1, "quarantined": 1}
    assert report.problems == ['deals.csv, row 3, column deal_id: expected a key no other row has, got "d1" '
                               '(row 2 has it with other values).']
    assert duck.query("SELECT owner FROM deals") == [("a",)]


def test_unknown_tables_are_refused(duck):
    with pytest.raises(InputError, match="unknown tables leads"):
        write_tables(duck, {"leads": pl.DataFrame({"x": [1]})}, [], source="x", tz="UTC")
    with pytest.raises(InputError, match='unknown time zone "Nowhere"'):
        write_tables(duck, {}, [], source="x", tz="Nowhere")
