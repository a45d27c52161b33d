"""The alert lifecycle (`alerts.lifecycle`): an ongoing problem stays open, one that ends is resolved
within six weeks, the state is a function of the data as of the moment — on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from dealpulse.alerts.facts import extract
from dealpulse.alerts.lifecycle import Tracker, alerts_between, attributes_at, track, tracked_alerts
from dealpulse.cli import app
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import parse_playbook
from tests.builders import fill

PLAYBOOK = """
stages: [new, proposal]
segments: {smb: "true"}
steps:
  call: {stage: new, within: 1d, from: deal_created}
"""
START = datetime(2024, 1, 1)
CHANGE_DAY = 200  # from this day on, m1 makes the call three days after the deal comes in ...
END_DAY = 270  # ... until this day (the problem ends), in the world that recovers
DAYS = 340


def _world(recovers: bool):
    deals, stages, tasks = [], [], []
    for day in range(DAYS):
        for k, owner in enumerate(("m1", "m2")):
            for j in range(2):
                i = f"d{day:03d}{k}{j}"
                created = START + timedelta(days=day, hours=9 + j)
                late = owner == "m1" and day >= CHANGE_DAY and not (recovers and day >= END_DAY)
                late = late or (day * 2 + j) % 10 == 0  # a steady 10% late for both
                done = created + (timedelta(days=3) if late else timedelta(hours=4))
                deals.append(dict(deal_id=i, owner=owner, segment="smb", channel="inbound", amount=100.0,
                                  created_at=created, status="open"))
                stages.append((i, "new", created))
                tasks.append(dict(task_id=f"t{i}", deal_id=i, type="call", owner=owner, created_at=created,
                                  due_at=created + timedelta(days=1), completed_at=done))
    return deals, stages, tasks


def _store(store, recovers):
    deals, stages, tasks = _world(recovers)
    fill(store, deals=deals, stage_history=stages, tasks=tasks)
    return store, parse_playbook(PLAYBOOK)


def _weekly(store, pb, until):
    """The lifecycle run weekly from day 150 to `until` (as the benchmarks replay it)."""
    snap = snapshot(store, until, pb)
    try:
        facts = extract(snap)
    finally:
        snap.release()
    tracker = Tracker()
    states = {}
    d = START + timedelta(days=150)
    while d <= until:
        tracker.step(facts if d == facts.as_of else facts.at(d, attributes_at(facts.deals, d)))
        states[d] = {(a.kind, a.subject.get("manager")): a.status for a in tracker.alerts}
        d += timedelta(weeks=1)
    return tracker, states


def test_an_ongoing_problem_stays_open_every_week_until_the_end(store):
    store, pb = _store(store, recovers=False)
    tracker, states = _weekly(store, pb, START + timedelta(days=DAYS - 1))
    on_m1 = [a for a in tracker.alerts if a.subject.get("manager") == "m1"]
    assert on_m1 and not [a for a in tracker.alerts if a.subject.get("manager") == "m2"]
    first = min(a.opened for a in on_m1)
    assert START + timedelta(days=CHANGE_DAY) < first <= START + timedelta(days=CHANGE_DAY + 21)
    for d, st in states.items():
        if d >= first:  # from the first opening on, some alert on m1 is open at every weekly date
            assert "open" in {v for (kind, who), v in st.items() if who == "m1"}, d
    cell = next(a for a in on_m1 if a.kind == "step_on_time")
    assert cell.status == "open" and cell.resolved is None
    # the frozen baseline ends at the estimated change date, before the problem
    assert cell.baseline_to <= START + timedelta(days=CHANGE_DAY + 3)


def test_a_problem_that_ends_is_resolved_within_six_weeks(store):
    store, pb = _store(store, recovers=True)
    tracker, _ = _weekly(store, pb, START + timedelta(days=DAYS - 1))
    on_m1 = [a for a in tracker.alerts if a.subject.get("manager") == "m1"]
    assert on_m1
    end = START + timedelta(days=END_DAY)
    for a in on_m1:
        assert a.status == "resolved" and a.resolved_reason == "back_to_baseline", a
        assert a.resolved <= end + timedelta(weeks=6), (a.kind, a.resolved)


def test_the_state_is_a_function_of_the_data_as_of_the_moment(store):
    """`tracked_alerts` at a moment (its own replay grid) agrees with the weekly machine on what is open."""
    store, pb = _store(store, recovers=True)
    at = START + timedelta(days=250)
    snap = snapshot(store, at, pb)
    try:
        rows = tracked_alerts(snap, resolved_within=None)
        between = alerts_between(snap, at - timedelta(weeks=8))
    finally:
        snap.release()
    json.dumps(rows)
    assert rows and {r["subject"]["manager"] for r in rows} == {"m1"}
    assert all(r["status"] == "open" and r["resolved"] is None for r in rows)
    assert {"status", "opened", "resolved", "baseline_frozen", "message", "evidence", "since"} <= set(rows[0])
    assert {(r["kind"]) for r in between["opened"]} == {r["kind"] for r in rows}
    # nothing after the moment is used: the same state from a store that holds only the data until then
    tracker = track(extract(snapshot(store, at, pb)))
    assert sorted((a.kind, a.opened) for a in tracker.alerts if a.status == "open") == \
        sorted((r["kind"], datetime.fromisoformat(r["opened"] + "T00:00:00").replace(
            hour=at.hour, minute=at.minute)) for r in rows)


@pytest.mark.parametrize("lang, word", [("en", "open"), ("ru", "открыт")])
def test_cli_lists_open_alerts_and_all_adds_resolved(store_url, lang, word):
    from dealpulse.store import connect

    s = connect(store_url)
    try:
        _store(s, recovers=True)
        s.set_meta("playbook_yaml", PLAYBOOK)
    finally:
        s.close()
    runner = CliRunner()
    late = (START + timedelta(days=DAYS - 1)).date().isoformat()
    res = runner.invoke(app, ["alerts", "--db", store_url, "--as-of", late, "--format", "json", "--lang", lang])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rows"] == [] and doc["includes_resolved"] is False
    res = runner.invoke(app, ["alerts", "--db", store_url, "--as-of", late, "--format", "json", "--all", "--lang", lang])
    rows = json.loads(res.stdout)["rows"]
    assert rows and all(r["status"] == "resolved" and r["resolved"] for r in rows)
    res = runner.invoke(app, ["alerts", "--db", store_url, "--as-of", "2024-08-20", "--lang", lang])
    assert res.exit_code == 0 and word in res.stdout
