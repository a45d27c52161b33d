"""cut_store: what an export taken at a moment would have held; metrics on it equal those as of then."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dealpulse.metrics.asof import latest_event_at, snapshot
from dealpulse.metrics.kpis import compute_metrics
from dealpulse.playbook import parse_playbook
from dealpulse.store import connect
from dealpulse.store.cut import cut_store
from tests.unit.test_metrics_reference import PLAYBOOK_YAML, SCENARIO, load, records

PB = parse_playbook(PLAYBOOK_YAML, "test")
T = datetime(2024, 2, 16, 15)  # Moscow time: 12:00 UTC
DATA = {
    **SCENARIO,
    # lost on 02-03 (no terminal row in the export), then worked again from 02-05
    "deals": SCENARIO["deals"] + [dict(deal_id="d8", owner="m1", amount=1e5, created_at="2024-01-20", status="lost",
                                       closed_at="2024-02-03", lost_reason="timing")],
    "stage_history": SCENARIO["stage_history"] + [("d8", "new", "2024-01-20"), ("d8", "proposal", "2024-02-05")],
}


@pytest.fixture
def cut(other_store):
    """An empty store on the same engine as `store`, to cut into."""
    return other_store


def _rows(store, sql):
    return sorted(tuple(r) for r in store.query(sql))


def test_cut_store_holds_what_was_known_and_gives_the_same_metrics(store, cut):
    load(store, DATA)
    store.set_meta("tz", "Europe/Moscow")
    moment = cut_store(store, cut, T)
    assert moment == T   # like snapshot(): a datetime object is naive UTC (typed text would be in the store's zone)
    assert latest_event_at(cut) <= moment
    assert cut.get_meta("tz") == "Europe/Moscow"
    deals = {r[0]: r for r in cut.query("SELECT deal_id, owner, amount, status, closed_at, lost_reason FROM deals")}
    assert set(deals) == {"d1", "d2", "d4", "d8"}
    assert deals["d2"][1] == "m1"                                  # the owner changed to m2 only on 02-20
    assert deals["d4"][2:5] == (8e5, "open", None)                 # won on 02-20; amount as changed on 02-15
    assert deals["d8"][3:6] == ("open", None, None)                # reopened on 02-05
    assert ("d4", "won") not in {(r[0], r[1]) for r in _rows(cut, "SELECT deal_id, stage FROM stage_history")}
    assert ("d8", "lost", datetime(2024, 2, 3)) in _rows(cut, "SELECT deal_id, stage, entered_at FROM stage_history")
    tasks = {r[0]: r[1:] for r in cut.query("SELECT task_id, completed_at, status FROM tasks")}
    assert tasks["fu2"] == (None, "open") and tasks["ps2"] == (datetime(2024, 2, 16), "done") and "call2" not in tasks
    assert _rows(cut, "SELECT entity_id, field, value FROM attributes") == [
        ("d1", "budget", "2M"), ("d2", "budget", "500k"), ("d2", "decision_maker", "Olga")]
    assert ("d2", "owner", "m2") not in _rows(cut, "SELECT entity_id, field, value FROM field_history")

    for as_of, by, window in ((T, ["manager"], timedelta(days=14)), (datetime(2024, 2, 4), [], timedelta(days=7))):
        full = records(compute_metrics(snapshot(store, as_of, PB), by=by, window=window))
        assert records(compute_metrics(snapshot(cut, as_of, PB), by=by, window=window)) == full, (as_of, by)
    assert full[0]["lost"] == 1   # d8, lost on 02-03 and reopened later: still lost as of then in the cut


def test_cut_replaces_what_the_target_held(duck, tmp_path):
    load(duck, DATA)
    other = connect(str(tmp_path / "other.duckdb"))
    try:
        load(other, {"deals": [dict(deal_id="zz", owner="m9", created_at="2020-01-01", status="open")]})
        cut_store(duck, other, "2024-01-15")
        assert _rows(other, "SELECT deal_id FROM deals") == [("d4",)]
    finally:
        other.close()
