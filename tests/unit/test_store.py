from datetime import datetime

import polars as pl
import pytest

from dealpulse.errors import StoreError
from dealpulse.store import connect
from dealpulse.store.schema import LATEST_VERSION


def test_new_store_is_migrated_and_migrating_again_changes_nothing(store_url):
    with connect(store_url) as s:
        assert s.schema_version() == LATEST_VERSION
        tables = set(s.ibis.list_tables())
    assert {"deals", "stage_history", "tasks", "field_history", "accounts", "managers", "quarantine", "meta"} <= tables
    with connect(store_url) as s:
        assert s.schema_version() == LATEST_VERSION
        assert s.query("SELECT count(*) FROM schema_migrations")[0][0] == LATEST_VERSION


def test_parameters_are_never_pasted(store):
    evil = "x'); DROP TABLE deals; --"
    store.set_meta("k", evil)
    assert store.get_meta("k") == evil
    assert store.has_table("deals")


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.set_meta("a", "1")
            raise RuntimeError("boom")
    assert store.get_meta("a") is None
    with store.transaction():
        store.set_meta("a", "2")
    assert store.get_meta("a") == "2"


def test_load_frame_keeps_types_nulls_and_awkward_text(store):
    df = pl.DataFrame({"a": ["x", None, 'q"uo,te\nline'], "b": [1.5, None, 2.0],
                       "t": [datetime(2024, 1, 1, 12), None, datetime(2024, 2, 1, 0, 0, 0, 123000)]})
    store.load_frame("tmp_x", df)
    back = store.query_frame("SELECT * FROM tmp_x ORDER BY b NULLS FIRST")
    assert back["a"].to_list() == [None, "x", 'q"uo,te\nline']
    assert back["t"].to_list()[2] == datetime(2024, 2, 1, 0, 0, 0, 123000)


def test_bad_postgres_url_is_a_clear_error():
    with pytest.raises(StoreError, match=r"Cannot open the store postgresql://u:\*\*\*@127.0.0.1:1/x"):
        connect("postgresql://u:secret@127.0.0.1:1/x")
