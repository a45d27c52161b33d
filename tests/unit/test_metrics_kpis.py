"""compute_metrics on both engines: hand-checked figures and the plain-Python reference."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dealpulse.errors import InputError
from dealpulse.metrics.asof import snapshot
from dealpulse.metrics.kpis import compute_metrics
from dealpulse.metrics.registry import FIELDS
from dealpulse.playbook import parse_playbook
from tests.unit.test_metrics_reference import (
    AS_OF, PLAYBOOK_YAML, SCENARIO, assert_same_rows, load, records, ref_metrics,
)

PB = parse_playbook(PLAYBOOK_YAML, "test")
GROUPINGS = [[], ["manager"], ["step"], ["stage"], ["segment", "channel"], ["team", "cohort", "step"]]


def _by(rows, **keys):
    found = [r for r in rows if all(r[k] == v for k, v in keys.items())]
    assert len(found) == 1, (keys, rows)
    return found[0]


def test_figures_by_hand_and_against_the_reference(store):
    load(store, SCENARIO)
    snap = snapshot(store, AS_OF, PB)
    results = {tuple(by): records(compute_metrics(snap, by=by)) for by in GROUPINGS}
    for by in GROUPINGS:
        assert_same_rows(results[tuple(by)], ref_metrics(SCENARIO, PB, AS_OF, by), by)
    rows = results[("manager",)]
    assert [r["manager"] for r in rows] == ["m1", "m2", "m3"]
    assert list(rows[0]) == ["manager", *FIELDS]
    m1, m2, m3 = rows
    # m1: d1's steps (on time, late, on time, missed); d4 won; d1 open and stale (17 days > 14 for enterprise)
    assert (m1["steps_on_time"], m1["steps_late"], m1["steps_missed"], m1["on_time_rate"]) == (2, 1, 1, 0.5)
    assert m1["overdue_tasks"] == 1                       # call1; call5 is not due yet
    assert m1["median_task_lateness_days"] == 1.75        # fc1 1 day, call4 2.5 days
    assert m1["card_complete_rate"] == 0.0                # d1: budget filled only after entering proposal
    assert (m1["open_deals"], m1["stale_deals"], m1["median_days_since_touch"]) == (1, 1, 17.0)
    assert (m1["won"], m1["lost"], m1["win_rate"], m1["revenue_won"], m1["median_cycle_days"]) == (1, 0, 1.0, 8e5, 41.0)
    # previous window as known on 02-02: d2 still belonged to m1
    assert (m1["prev_steps_on_time"], m1["prev_steps_missed"], m1["prev_on_time_rate"]) == (0, 3, 0.0)
    assert m1["prev_overdue_tasks"] == 1                  # call6: due 02-01 12:00, done only on 02-03
    assert m1["prev_median_task_lateness_days"] == 5.0
    assert m1["prev_card_complete_rate"] == 1.0
    assert (m1["prev_open_deals"], m1["prev_stale_deals"], m1["prev_median_days_since_touch"]) == (2, 1, 4.5)
    assert (m1["prev_won"], m1["prev_win_rate"], m1["prev_revenue_won"], m1["prev_median_cycle_days"]) == (0, None, 0.0, None)
    # m2: d2 (owner since 02-20); d3 lost before its first_contact deadline (excluded); call2 cancelled
    assert (m2["steps_on_time"], m2["steps_late"], m2["steps_missed"], m2["on_time_rate"]) == (1, 1, 0, 0.5)
    assert (m2["overdue_tasks"], m2["median_task_lateness_days"], m2["card_complete_rate"]) == (0, None, 1.0)
    assert (m2["open_deals"], m2["stale_deals"], m2["median_days_since_touch"]) == (1, 0, 5.0)
    assert (m2["won"], m2["lost"], m2["win_rate"], m2["revenue_won"]) == (0, 1, 0.0, 0.0)
    assert all(m2[f] in (0, None, 0.0) for f in FIELDS if f.startswith("prev_"))
    # m3: stale thresholds per segment: d5 (enterprise) idle 12 days is not stale, d6 (smb) 11.75 days is
    assert (m3["steps_on_time"], m3["steps_missed"], m3["on_time_rate"]) == (1, 1, 0.5)
    assert (m3["open_deals"], m3["stale_deals"], m3["median_days_since_touch"]) == (2, 1, 11.875)
    assert (m3["card_complete_rate"], m3["win_rate"], m3["median_cycle_days"]) == (None, None, None)

    steps = results[("step",)]
    assert [r["step"] for r in steps] == ["brief", "first_contact", "follow_up", "proposal_sent"]
    fc = _by(steps, step="first_contact")
    assert (fc["steps_on_time"], fc["steps_missed"], fc["prev_steps_missed"]) == (2, 1, 2)
    assert fc["open_deals"] is None and fc["won"] is None and fc["win_rate"] is None   # deal-level: n/a by step

    stages = results[("stage",)]
    new, qual, prop = _by(stages, stage="new"), _by(stages, stage="qualification"), _by(stages, stage="proposal")
    assert (new["steps_on_time"], new["steps_missed"], new["open_deals"], new["lost"]) == (2, 1, 2, 1)
    assert (qual["steps_late"], qual["open_deals"]) == (1, 0)   # the step's stage vs the deal's current stage
    assert (prop["steps_on_time"], prop["steps_late"], prop["steps_missed"], prop["open_deals"], prop["won"]) == (2, 1, 1, 2, 1)

    for as_of, window, by in ((datetime(2024, 2, 16, 12), timedelta(days=7), ["manager"]),
                              (datetime(2024, 2, 2), timedelta(days=28), ["step"])):
        assert_same_rows(records(compute_metrics(snapshot(store, as_of, PB), by=by, window=window)),
                         ref_metrics(SCENARIO, PB, as_of, by, window), (as_of, by))


def test_empty_windows_and_bad_input(duck):
    load(duck, {"deals": [dict(deal_id="d1", owner="m1", created_at="2024-01-01", status="won", closed_at="2024-01-02")]})
    snap = snapshot(duck, datetime(2024, 6, 1), PB)
    assert compute_metrics(snap, by=["manager"]).empty      # nothing in either window: no group
    assert list(compute_metrics(snap).columns) == list(FIELDS)
    with pytest.raises(InputError, match=r"--by owner: unknown group; expected one of manager, team"):
        compute_metrics(snap, by=["owner"])
    with pytest.raises(InputError, match="--window"):
        compute_metrics(snap, window=timedelta(0))


def test_no_client_card_and_no_steps(duck):
    load(duck, {"deals": [dict(deal_id="d1", owner="m1", created_at="2024-01-01", status="open")],
                "stage_history": [("d1", "proposal", "2024-01-02")]})
    pb = parse_playbook("stages: [new, proposal]\n", "test")
    row = records(compute_metrics(snapshot(duck, datetime(2024, 1, 10), pb)))[0]
    assert (row["steps_on_time"], row["on_time_rate"], row["card_complete_rate"], row["open_deals"]) == (0, None, None, 1)
