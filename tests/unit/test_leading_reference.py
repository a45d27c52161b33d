"""validate-metrics on small hand-made data, on DuckDB and PostgreSQL, against a plain-Python reference."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from dealpulse.leading import deal_level as dl
from dealpulse.leading import manager_month as mm
from dealpulse.leading import validate_metrics
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import parse_playbook
from tests.builders import fill

PB = parse_playbook("""
stages: [new, proposal]
steps:
  proposal_sent: {stage: proposal, within: 3d, from: stage_entered}
stale_after: {default: 5d}
""", "test")
T0 = datetime(2024, 1, 1)
AS_OF = datetime(2024, 12, 31)


def scenario(seed: int = 7, n: int = 60):
    """Deals with a proposal stage, a proposal task done on time, late or never, calls, and an outcome."""
    rng = random.Random(seed)
    deals, sh, tasks, truth = [], [], [], []
    for i in range(n):
        d = f"d{i:02d}"
        owner = f"m{i % 3}"
        created = T0 + timedelta(days=rng.randint(0, 150), hours=rng.randint(0, 23))
        entry = created + timedelta(days=rng.uniform(0.5, 10))
        done = entry + timedelta(days=rng.choice([0.5, 1, 2.5, 4, 9])) if rng.random() < 0.8 else None
        calls = sorted(created + timedelta(days=rng.uniform(0, 40)) for _ in range(rng.randint(0, 6)))
        close = entry + timedelta(days=rng.choice([1, 2, 5, 20, 40, 60]))
        open_deal = i % 10 == 9
        won = rng.random() < (0.6 if done and done <= entry + timedelta(days=3) else 0.3)
        status = "open" if open_deal else ("won" if won else "lost")
        calls = [c for c in calls if open_deal or c < close]
        deals.append(dict(deal_id=d, owner=owner, created_at=created, status=status, amount=1000.0 * (i + 1),
                          closed_at=None if open_deal else close))
        sh += [(d, "new", created), (d, "proposal", entry)] + ([] if open_deal else [(d, status, close)])
        if done is not None and (open_deal or done < close):
            tasks.append(dict(task_id=f"t{d}", deal_id=d, type="proposal_sent", owner=owner, created_at=entry,
                              completed_at=done))
        for j, c in enumerate(calls):
            tasks.append(dict(task_id=f"c{d}_{j}", deal_id=d, type="call", owner=owner, created_at=c, completed_at=c))
        truth.append(dict(deal_id=d, owner=owner, created=created, entry=entry, done=done if done is None or open_deal or done < close else None,
                          close=None if open_deal else close, won=won and not open_deal, calls=calls, amount=1000.0 * (i + 1)))
    return dict(deals=deals, stage_history=sh, tasks=tasks), truth


def ref_step(truth):
    out = {}
    for r in truth:
        if r["close"] is None:
            continue
        deadline = r["entry"] + timedelta(days=3)
        if r["close"] >= deadline:
            out[r["deal_id"]] = r["done"] is not None and r["done"] <= deadline
    return out


def ref_gap(truth, days=30, stale=5):
    out = {}
    for r in truth:
        if r["close"] is None:
            continue
        mark = r["created"] + timedelta(days=days)
        if r["close"] <= mark:
            continue
        times = [r["created"], r["entry"], mark] + [c for c in r["calls"] if c <= mark]
        if r["done"] is not None and r["done"] <= mark:
            times.append(r["done"])
        times = sorted(t for t in times if r["created"] <= t <= mark)
        out[r["deal_id"]] = max(b - a for a, b in zip(times, times[1:])) > timedelta(days=stale)
    return out


def ref_calls(truth, days=14):
    out = {}
    for r in truth:
        if r["close"] is None or r["close"] <= r["created"] + timedelta(days=days):
            continue
        out[r["deal_id"]] = sum(1 for c in r["calls"] if c <= r["created"] + timedelta(days=days))
    return out


@pytest.fixture
def loaded(store):
    data, truth = scenario()
    fill(store, **data)
    snap = snapshot(store, AS_OF, PB)
    try:
        yield snap, truth
    finally:
        snap.release()


def _flags(metric):
    return dict(zip(metric.flags["deal_id"], metric.flags["flag"].astype(bool)))


def test_deal_level_flags_match_the_reference(loaded):
    snap, truth = loaded
    metrics = {m.metric: m for m in dl.all_metrics(snap)}
    assert set(metrics) == {"step_on_time:proposal_sent", "touch_gap", "activities:all", "activities:call"}
    assert _flags(metrics["step_on_time:proposal_sent"]) == ref_step(truth)
    assert _flags(metrics["touch_gap"]) == ref_gap(truth)
    counts = ref_calls(truth)
    m = metrics["activities:call"]
    k = m.params["k"]
    assert k == max(1, int(sorted(counts.values())[len(counts) // 2] if len(counts) % 2 else
                              (sorted(counts.values())[len(counts) // 2 - 1] + sorted(counts.values())[len(counts) // 2]) / 2))
    assert _flags(m) == {d: c >= k for d, c in counts.items()}


def test_deal_level_rates_and_within_manager_effect(loaded):
    snap, truth = loaded
    closed = dl.closed_deals(snap)
    m = next(x for x in dl.step_metrics(snap))
    res = dl.evaluate(m, closed)
    ref = ref_step(truth)
    won = {r["deal_id"]: r["won"] for r in truth}
    owner = {r["deal_id"]: r["owner"] for r in truth}
    with_ = [d for d, f in ref.items() if f]
    without = [d for d, f in ref.items() if not f]
    assert (res.n_with, res.n_without) == (len(with_), len(without))
    assert res.won_with == sum(won[d] for d in with_) and res.won_without == sum(won[d] for d in without)
    num = den = 0.0
    for o in sorted(set(owner.values())):
        a = [d for d in with_ if owner[d] == o]
        b = [d for d in without if owner[d] == o]
        if a and b:
            w = len(a) * len(b) / (len(a) + len(b))
            num += w * (sum(won[d] for d in a) / len(a) - sum(won[d] for d in b) / len(b))
            den += w
    assert res.within.effect == pytest.approx(num / den)


def test_manager_month_revenue_and_on_time_rate(loaded):
    snap, truth = loaded
    df = mm.panel(snap)
    assert len(df) > 0
    months = mm.month_table(snap, min(r["created"] for r in truth)).to_dicts()
    for row in df.itertuples():
        mo = next(m for m in months if m["month"] == row.month)
        rev = sum(r["amount"] for r in truth if r["won"] and r["owner"] == row.manager
                  and mo["r_start"] < r["close"] <= mo["r_end"])
        assert row.revenue == pytest.approx(rev)
        opened = [r for r in truth if r["owner"] == row.manager and r["created"] <= mo["m_end"]
                  and (r["close"] is None or r["close"] > mo["m_end"])]
        assert row.open_deals == len(opened)
        due = []
        for r in truth:
            deadline = r["entry"] + timedelta(days=3)
            if r["owner"] != row.manager or not (mo["m_start"] < deadline <= mo["m_end"]):
                continue
            on_time = r["done"] is not None and r["done"] <= deadline
            if on_time or not (r["close"] is not None and r["close"] < deadline):
                due.append(on_time)
        assert row.steps_due == len(due)
        if due:
            assert row.on_time_rate == pytest.approx(sum(due) / len(due))
    # the last month kept is the last whose months +3..+5 ended by as_of
    assert months[-1]["month"] == "2024-06"


def test_document_in_both_languages(loaded):
    snap, _ = loaded
    en = validate_metrics(snap, lang="en", n_boot=50)
    ru = validate_metrics(snap, lang="ru", n_boot=50)
    assert [r["metric"] for r in en["rows"]] == [r["metric"] for r in ru["rows"]]
    assert {r["level"] for r in en["rows"]} == {"deal", "manager_month"}
    for r in en["rows"]:
        assert r["verdict"] in ("matters", "weak", "vanity", "not_enough_data") and r["message"]
    # three managers only: the manager-month level says so instead of guessing
    assert all(r["verdict"] == "not_enough_data" for r in en["rows"] if r["level"] == "manager_month")
    assert any("Сделки" in r["message"] for r in ru["rows"])
