"""`dealpulse dynamics` on simulated departments: a channel that brings twice as many (and larger)
new deals from a date is flagged up within eight weeks, and a department without any plant shows no
significant change but the real growth of its mid segment (params.SEGMENT_GROWTH: +45% a year).

The departments are simulated and loaded straight into an in-memory DuckDB store (the simulator's
frames are the importer's typed output); `benchmarks/dynamics_detection.py` runs the same on many
seeds and dates."""

from __future__ import annotations

from datetime import datetime

import pytest

from dealpulse.dynamics import compute_dynamics
from dealpulse.metrics.asof import Snapshot
from dealpulse.playbook.load import load_playbook
from dealpulse.store import connect
from dealpulse.store.cut import SCHEMAS

INFLOW = ("inflow_count", "inflow_amount", "inflow_share")


def _store(seed: int, plant):
    from dealpulse.demo.simulation import simulate

    frames = simulate(seed=seed, plant=plant).frames
    store = connect(":memory:")
    for name in ("managers", "accounts", "deals", "stage_history", "tasks", "field_history"):
        df = frames.get(name)
        if df is None or df.height == 0:
            continue
        cols = [c for c in SCHEMAS[name] if c in df.columns]
        store.load_frame("_fill", df.select(cols))
        store.execute(f"INSERT INTO {name} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _fill")
    return store


def _rows(store, at: datetime):
    snap = Snapshot(store, at, load_playbook(None), materialize=False)
    return compute_dynamics(snap)


@pytest.fixture(scope="module")
def surge():
    store = _store(7, "surge:partner:2024-06-01:2")
    yield store
    store.close()


def test_a_channel_surge_is_flagged_up_within_eight_weeks_and_not_before(surge):
    before = [r for r in _rows(surge, datetime(2024, 5, 31)) if r["significant"] and r["subject"] == {"channel": "partner"}]
    assert before == []
    after = _rows(surge, datetime(2024, 7, 27))
    up = [r for r in after if r["significant"] and r["subject"] == {"channel": "partner"} and r["metric"] in INFLOW]
    assert up and all(r["direction"] == "up" and r["good"] for r in up)
    assert any(abs((datetime.fromisoformat(r["since"]) - datetime(2024, 6, 1)).days) <= 21 for r in up)


def test_a_department_without_plants_stays_quiet_but_for_its_growing_mid_segment():
    store = _store(11, None)
    try:
        for at in (datetime(2024, 12, 27),):  # the seasonal peak against a spring-summer baseline
            rows = _rows(store, at)
            assert sum(r["q"] is not None for r in rows) >= 40
            other = [(r["subject"], r["metric"], r["direction"]) for r in rows if r["significant"]
                     and not (r["subject"] == {"segment": "mid"} and r["metric"] in INFLOW and r["direction"] == "up")]
            assert other == [], at
    finally:
        store.close()
