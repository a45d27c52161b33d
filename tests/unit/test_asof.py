"""The as-of engine on both engines: what was known at a moment, never later."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dealpulse.errors import InputError, NoData
from dealpulse.metrics.asof import latest_event_at, parse_moment, resolve_as_of, snapshot, window_bounds
from dealpulse.playbook import parse_playbook
from tests.unit.test_metrics_reference import load, normalise, ref_deals

PB = parse_playbook("""
stages: [new, qualification, proposal]
segments: {big: "amount >= 1000000", small: "true"}
""", "test")
COLUMNS = ("owner", "team", "segment", "amount", "status", "closed_at", "stage", "last_touch_at", "cohort")

DATA = {
    "managers": [("m1", "Anna", "A"), ("m2", "Boris", "B"), ("m3", "Vera", "B")],
    "deals": [
        # owner history starts after creation: before it, the earliest recorded owner (m2), not the export's (m3)
        dict(deal_id="d1", owner="m3", amount=5e5, created_at="2024-01-01", status="open"),
        # two stages entered at the same moment: the later one in the playbook is current, on any row order
        dict(deal_id="d2", owner="m1", created_at="2024-01-01", status="won", closed_at="2024-01-08"),
        # an amount logged as text that is not a number: null, the rule falls through to "small"
        dict(deal_id="d3", owner="m1", amount=3e6, created_at="2024-01-02", status="open"),
    ],
    "stage_history": [("d1", "new", "2024-01-01"),
                      ("d2", "proposal", "2024-01-03"), ("d2", "qualification", "2024-01-03"), ("d2", "new", "2024-01-01")],
    "field_history": [("deal", "d1", "owner", "m2", "2024-01-05"), ("deal", "d1", "owner", "m3", "2024-01-10"),
                      ("deal", "d1", "amount", "2000000", "2024-01-06"),
                      ("deal", "d3", "amount", "n/a", "2024-01-02"), ("deal", "d3", "amount", "1 500 000", "2024-01-04")],
}


def _deals(store, as_of):
    df = snapshot(store, as_of, PB).deals.execute()
    return {r["deal_id"]: r for r in df.astype(object).where(df.notna(), None).to_dict("records")}


def test_deals_as_of_against_the_reference(store):
    load(store, DATA)
    data = normalise(DATA)
    for as_of in ("2024-01-02", "2024-01-05T12:00", "2024-01-09", "2024-02-01"):
        moment = datetime.fromisoformat(as_of)
        got, want = _deals(store, moment), ref_deals(data, moment, PB)
        assert set(got) == set(want), as_of
        for deal_id, w in want.items():
            for c in COLUMNS:
                g = got[deal_id][c]
                g = g.to_pydatetime() if hasattr(g, "to_pydatetime") else g
                assert g == w[c], (as_of, deal_id, c, g, w[c])
    early = _deals(store, datetime(2024, 1, 2))
    assert early["d1"]["owner"] == "m2" and early["d1"]["team"] == "B" and early["d1"]["segment"] == "small"
    assert early["d2"]["stage"] == "new" and _deals(store, datetime(2024, 1, 4))["d2"]["stage"] == "proposal"
    assert early["d3"]["amount"] is None and early["d3"]["segment"] == "small"
    later = _deals(store, datetime(2024, 1, 9))
    assert later["d1"]["owner"] == "m2" and later["d1"]["segment"] == "big"
    assert later["d2"]["status"] == "won" and later["d2"]["stage"] == "proposal"


def test_stage_ties_do_not_depend_on_row_order(duck):
    rows = DATA["stage_history"]
    load(duck, {**DATA, "stage_history": list(reversed(rows))})
    assert _deals(duck, datetime(2024, 1, 4))["d2"]["stage"] == "proposal"


def test_moments_and_windows(duck):
    with pytest.raises(NoData):
        resolve_as_of(duck, None)
    load(duck, DATA)
    assert latest_event_at(duck) == datetime(2024, 1, 10)
    assert resolve_as_of(duck, None) == datetime(2024, 1, 10)
    duck.set_meta("tz", "Europe/Moscow")
    assert parse_moment("2024-01-05", __import__("zoneinfo").ZoneInfo("Europe/Moscow")) == datetime(2024, 1, 4, 21)
    assert resolve_as_of(duck, "05.01.2024") == datetime(2024, 1, 4, 21)
    with pytest.raises(InputError, match="--as-of: expected a date"):
        resolve_as_of(duck, "yesterday")
    end = datetime(2024, 3, 1)
    assert window_bounds(end, timedelta(days=7)) == (datetime(2024, 2, 16), datetime(2024, 2, 23), end)


def test_datetime_objects_are_naive_utc_and_text_is_in_the_export_zone():
    from zoneinfo import ZoneInfo

    msk = ZoneInfo("Europe/Moscow")
    assert parse_moment(datetime(2024, 1, 5, 12), msk) == datetime(2024, 1, 5, 12)
    assert parse_moment("2024-01-05T12:00", msk) == datetime(2024, 1, 5, 9)
    assert parse_moment("05.01.2024", msk) == datetime(2024, 1, 4, 21)
    assert parse_moment(datetime(2024, 1, 5, 12, tzinfo=msk), msk) == datetime(2024, 1, 5, 9)
