"""Signals on a department that is not the demo: a generated department of another size and volume with
one planted problem (`demo.plants`), replayed weekly through the alert lifecycle as `benchmarks/plants.py`
does. The benchmark measures rates over many such departments; this test pins two of them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from dealpulse.alerts.facts import extract
from dealpulse.alerts.lifecycle import Tracker, attributes_at
from dealpulse.demo.plants import SlowSteps
from dealpulse.demo.simulation import simulate
from dealpulse.ingest.write import write_tables
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import playbook_for_store
from dealpulse.store import connect

pytestmark = pytest.mark.slow

START = date(2023, 1, 1)
SINCE = datetime(2023, 12, 4)


def _replay(tmp_path, plant):
    sim = simulate(deals=16 * 15 * 12, managers=16, months=15, seed=20231204, start=START, plant=plant)
    store = connect(str(tmp_path / "dept.duckdb"))
    try:
        write_tables(store, dict(sim.frames), [], source="test", tz="Europe/Moscow")
        pb = playbook_for_store(store, None)
        snap = snapshot(store, None, pb)
        try:
            facts = extract(snap)
        finally:
            snap.release()
    finally:
        store.close()
    tracker, states = Tracker(), {}
    for w in range(-2, 9):
        d = SINCE + timedelta(weeks=w)
        tracker.step(facts.at(d, attributes_at(facts.deals, d)))
        states[d] = [(a.kind, dict(a.subject)) for a in tracker.open]
    return tracker, states


def test_a_manager_slower_at_every_step_is_caught_by_the_pooled_test_and_stays_open(tmp_path):
    tracker, states = _replay(tmp_path, [SlowSteps(manager="m05", since=SINCE.date(), factor=1.6)])
    on = {d: [k for k, s in st if s.get("manager") == "m05"] for d, st in states.items()}
    assert not any(on[d] for d in on if d < SINCE), on
    caught = [d for d in on if on[d]]
    assert caught and min(caught) <= SINCE + timedelta(weeks=8), on
    assert all(on[d] for d in on if d >= min(caught)), on  # open at every week after
    kinds = {k for d in caught for k in on[d]}
    assert kinds & {"manager_on_time", "manager_pace"}, kinds  # the pooled test is among those that caught it


def test_the_same_department_without_the_plant_raises_nothing_on_that_manager(tmp_path):
    _, states = _replay(tmp_path, None)
    assert not any(s.get("manager") == "m05" for st in states.values() for _, s in st)
    opened = {(k, tuple(sorted(s.items()))) for st in states.values() for k, s in st}
    assert len(opened) <= 2, opened  # a quiet department: at most a couple of alerts in ten weeks
