"""Step instances on both engines: hand-checked statuses and the plain-Python reference."""

from __future__ import annotations

from datetime import datetime

from dealpulse.metrics.asof import snapshot
from dealpulse.metrics.steps import INSTANCE_COLUMNS, step_instances
from dealpulse.playbook import parse_playbook
from tests.unit.test_metrics_reference import (
    AS_OF, PLAYBOOK_YAML, SCENARIO, load, normalise, records, ref_step_instances,
)

PB = parse_playbook(PLAYBOOK_YAML, "test")


def _instances(store, as_of):
    df = step_instances(snapshot(store, as_of, PB)).execute()
    assert list(df.columns) == list(INSTANCE_COLUMNS)
    rows = records(df)
    for r in rows:  # pandas gives Timestamps
        for c in ("anchor_at", "deadline", "completed_at"):
            r[c] = r[c].to_pydatetime() if r[c] is not None else None
    return {(r["deal_id"], r["step"]): r for r in rows}


def test_step_instances_by_hand_and_against_the_reference(store):
    load(store, SCENARIO)
    got = _instances(store, AS_OF)
    status = {k: r["status"] for k, r in got.items()}
    assert status == {
        ("d1", "first_contact"): "on_time",    # enterprise: 3 days, done on day 2
        ("d1", "brief"): "late",               # due 02-11, done 02-12
        ("d1", "proposal_sent"): "on_time",    # enterprise keeps the default 4d
        ("d1", "follow_up"): "missed",         # anchored on proposal_sent done 02-13: due 02-16
        ("d2", "first_contact"): "missed",
        ("d2", "proposal_sent"): "on_time",    # smb override 2d: due 02-17, done 02-16
        ("d2", "follow_up"): "late",
        ("d3", "first_contact"): "pending",    # lost before the deadline
        ("d4", "first_contact"): "missed",
        ("d4", "proposal_sent"): "missed",     # no follow_up: its anchor step never happened
        ("d5", "first_contact"): "missed",
        ("d6", "first_contact"): "on_time",
    }
    d1 = got[("d1", "first_contact")]
    assert d1["deadline"] == datetime(2024, 2, 8) and d1["segment"] == "enterprise" and d1["team"] == "A"
    assert got[("d1", "follow_up")]["anchor_at"] == datetime(2024, 2, 13)
    assert got[("d1", "follow_up")]["late_days"] == 14.0
    assert got[("d1", "brief")]["late_days"] == 1.0
    assert got[("d2", "proposal_sent")]["deadline"] == datetime(2024, 2, 17)
    assert got[("d2", "proposal_sent")]["owner"] == "m2"   # owner as of then
    assert got[("d3", "first_contact")]["late_days"] is None

    # earlier: the owner change has not happened, later steps do not exist yet, d1 is unknown
    early = _instances(store, datetime(2024, 2, 2))
    assert set(early) == {("d2", "first_contact"), ("d4", "first_contact"), ("d4", "proposal_sent")}
    assert early[("d2", "first_contact")]["owner"] == "m1"
    assert early[("d2", "first_contact")]["status"] == "missed"   # deadline == as_of counts as passed

    data = normalise(SCENARIO)
    for as_of in (AS_OF, datetime(2024, 2, 2), datetime(2024, 2, 16, 12)):
        want = {(r["deal_id"], r["step"]): r for r in ref_step_instances(data, as_of, PB)}
        got = _instances(store, as_of)
        assert set(got) == set(want), as_of
        for k, w in want.items():
            for c in INSTANCE_COLUMNS:
                assert got[k][c] == w[c] or (isinstance(w[c], float) and abs(got[k][c] - w[c]) < 1e-9), (as_of, k, c)


def test_a_playbook_without_steps_has_no_instances(duck):
    load(duck, {"deals": [dict(deal_id="d1", owner="m1", created_at="2024-01-01", status="open")]})
    pb = parse_playbook("stages: [new]\n", "test")
    df = step_instances(snapshot(duck, datetime(2024, 1, 5), pb)).execute()
    assert df.empty and list(df.columns) == list(INSTANCE_COLUMNS)
