"""`dealpulse alerts` on small hand-made data, on DuckDB and PostgreSQL (`store` fixture)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from dealpulse.alerts import compute_alerts
from dealpulse.alerts.backtest import backtest_alerts, replay
from dealpulse.alerts.facts import deal_attributes, extract
from dealpulse.metrics.asof import Snapshot, snapshot
from dealpulse.playbook import parse_playbook
from tests.builders import fill

PLAYBOOK = """
stages: [new, proposal]
segments: {smb: "true"}
steps:
  call: {stage: new, within: 1d, from: deal_created}
"""
START = datetime(2024, 1, 1)
CHANGE_DAY = 200  # from this day on, m1 makes the call three days after the deal comes in
AS_OF = START + timedelta(days=240)


def _world():
    deals, stages, tasks = [], [], []
    for day in range(240):
        for k, owner in enumerate(("m1", "m2")):
            for j in range(2):
                i = f"d{day:03d}{k}{j}"
                created = START + timedelta(days=day, hours=9 + j)
                late = owner == "m1" and day >= CHANGE_DAY
                # a steady 10% of calls are late for both before the change (a baseline with some noise)
                late = late or (day * 2 + j) % 10 == 0
                done = created + (timedelta(days=3) if late else timedelta(hours=4))
                deals.append(dict(deal_id=i, owner=owner, segment="smb", channel="inbound", amount=100.0,
                                  created_at=created, status="open"))
                stages.append((i, "new", created))
                tasks.append(dict(task_id=f"t{i}", deal_id=i, type="call", owner=owner, created_at=created,
                                  due_at=created + timedelta(days=1), completed_at=done))
    return deals, stages, tasks


@pytest.fixture
def world(store):
    deals, stages, tasks = _world()
    fill(store, deals=deals, stage_history=stages, tasks=tasks)
    return store, parse_playbook(PLAYBOOK)


def test_a_manager_who_starts_calling_late_is_caught_and_the_other_is_not(world):
    store, pb = world
    snap = snapshot(store, AS_OF, pb)
    try:
        alerts = compute_alerts(snap)
    finally:
        snap.release()
    # the cell (m1 × call) and m1 across all their steps (here the same one step): nothing about m2
    assert {a["subject"]["manager"] for a in alerts} == {"m1"}
    assert ("step_on_time", {"manager": "m1", "step": "call"}) in [(a["kind"], a["subject"]) for a in alerts]
    a = next(a for a in alerts if a["kind"] == "step_on_time")
    assert abs((datetime.fromisoformat(a["since"]) - (START + timedelta(days=CHANGE_DAY))).days) <= 3
    ev = a["evidence"]
    # deadlines in the last six weeks: deals of days 197..238, the first three days before the change
    assert ev["recent_n"] == 84 and ev["recent_k"] == 6 and ev["recent_value"] == pytest.approx(6 / 84, rel=1e-5)
    assert 0.85 <= ev["baseline_value"] <= 0.95 and ev["q_value"] < 1e-6 and a["severity"] == "high"
    assert ev["recent_from"] == (AS_OF - timedelta(weeks=6)).isoformat()
    json.dumps(alerts)  # plain JSON
    assert "m1" in a["message"] and "call" in a["message"]
    ru = next(a for a in compute_alerts(snapshot(store, AS_OF, pb), lang="ru") if a["kind"] == "step_on_time")["message"]
    assert "вовремя" in ru and "m1" in ru


def test_nothing_before_the_change(world):
    store, pb = world
    got = replay(store, pb, [START + timedelta(days=d) for d in (120, 160, 199)])
    assert all(alerts == [] for alerts in got.values())


def test_cutting_the_facts_back_equals_extracting_then(world):
    store, pb = world
    at = START + timedelta(days=150, hours=5)
    later = Snapshot(store, AS_OF, pb)
    now = Snapshot(store, at, pb)
    try:
        cut = extract(later).at(at, deal_attributes(now))
        fresh = extract(now)
        for name in ("instances", "spells", "deals"):
            a = getattr(cut, name).sort_values(list(getattr(cut, name).columns[:2])).reset_index(drop=True)
            b = getattr(fresh, name).sort_values(list(getattr(fresh, name).columns[:2])).reset_index(drop=True)
            assert a[sorted(a.columns)].equals(b[sorted(b.columns)]), name
    finally:
        later.release()
        now.release()


def test_backtest_reports_first_firing_and_rates(world):
    store, pb = world
    dates = [START + timedelta(days=d) for d in range(150, 241, 7)]
    res = backtest_alerts(store, pb, dates)
    json.dumps(res)
    eps = res["episodes"]
    assert {e["subject"]["manager"] for e in eps} == {"m1"} and "step_on_time" in {e["kind"] for e in eps}
    eps = [e for e in eps if e["kind"] == "step_on_time"]
    first = datetime.fromisoformat(eps[0]["first_fired"])
    assert START + timedelta(days=CHANGE_DAY) < first <= START + timedelta(days=CHANGE_DAY + 14)
    assert res["summary"]["dates"] == len(dates) and res["summary"]["alerts"] == sum(p["count"] for p in res["per_date"])
    # no deal ever closes here: the lagging metric cannot move, the episode is not resolved yet
    assert eps[0]["lagging_moved_at"] is None and eps[0]["followed_by_change"] is None
