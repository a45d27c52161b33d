"""Norms learned from history, on both engines, on hand-made data with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy.stats import bootstrap
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import parse_playbook
from dealpulse.playbook.norms import (bootstrap_median_interval, cliffs_delta, learn_norms, playbook_with_norms,
                                      suggest_within)
from tests.builders import fill

PLAYBOOK = """\
stages: [new, proposal]
segments: [smb, mid]
steps:
  call:   {stage: new, within: 2d, from: deal_created}
  follow: {stage: new, within: 1d, from: call}
  offer:  {stage: proposal, within: 5d, from: stage_entered, by_segment: {mid: 4d}}
stale_after: 14d
"""
PB = parse_playbook(PLAYBOOK, "test")
BASE = datetime(2024, 1, 1)
WON_CALL = [0.5, 1, 1, 1.5, 1.5, 2, 1.5, 3]  # mid (even places) faster than smb
LOST_CALL = [3, 4, 4, 5, 5, 6, 7, 8]


def day(n: float) -> datetime:
    return BASE + timedelta(days=n)


def department(store) -> None:
    """8 won and 8 lost deals (smb and mid alternately): won deals made the call faster; the offer
    took one day in all of them; two open deals that must not count."""
    deals, history, tasks = [], [], []
    for k, (outcome, calls) in enumerate((("won", WON_CALL), ("lost", LOST_CALL))):
        for i, c in enumerate(calls):
            did = f"{outcome}{i}"
            start = 20 * i + k
            seg = "smb" if i % 2 else "mid"
            deals.append(dict(deal_id=did, owner="m1", created_at=day(start), status=outcome,
                              closed_at=day(start + 15), segment=seg))
            history += [(did, "new", day(start)), (did, "proposal", day(start + 9)), (did, outcome, day(start + 15))]
            tasks += [
                dict(task_id=f"{did}-call", deal_id=did, type="call", created_at=day(start), completed_at=day(start + c)),
                dict(task_id=f"{did}-follow", deal_id=did, type="follow", created_at=day(start),
                     completed_at=day(start + c + (0.5 if outcome == "won" else 2))),
                dict(task_id=f"{did}-offer", deal_id=did, type="offer", created_at=day(start + 9), completed_at=day(start + 10)),
            ]
    for i in range(2):  # open deals: very slow calls, which must not count
        did = f"open{i}"
        deals.append(dict(deal_id=did, owner="m1", created_at=day(100), status="open", segment="smb"))
        history.append((did, "new", day(100)))
        tasks.append(dict(task_id=f"{did}-call", deal_id=did, type="call", created_at=day(100), completed_at=day(130)))
    fill(store, deals=deals, stage_history=history, tasks=tasks)


def find(res, kind, name, segment=None):
    rows = [r for r in res.rows if r["kind"] == kind and r["name"] == name and r["segment"] == segment]
    assert len(rows) == 1, (kind, name, segment)
    return rows[0]


def test_won_faster_than_lost_gives_the_deadline_and_tops_the_ranking(store):
    department(store)
    res = learn_norms(snapshot(store, day(200), PB), min_deals=5, random_state=1)
    assert (res.n_won, res.n_lost) == (8, 8)
    call = find(res, "step", "call")
    assert call["won_n"] == 8 and call["lost_n"] == 8  # open deals left out
    assert call["won_median"] == pytest.approx(np.median(WON_CALL))
    assert call["won_p75"] == pytest.approx(np.quantile(WON_CALL, 0.75))  # 1.625
    assert call["lost_median"] == pytest.approx(5.0)
    assert call["won_ci_low"] <= call["won_median"] <= call["won_ci_high"]
    assert call["suggested"] == "39h" and call["suggested_days"] == 1.625  # 39 h: under 2 days, whole hours
    assert call["current_days"] == 2.0
    assert call["cliffs_delta"] == pytest.approx(-63 / 64, abs=1e-3)  # one tie (3 vs 3)
    assert call["median_diff_days"] == pytest.approx(np.median(WON_CALL) - 5.0)
    assert call["p_value"] < 0.01 and call["q_value"] >= call["p_value"]

    follow = find(res, "step", "follow")  # anchored on the call's completion
    assert follow["won_median"] == pytest.approx(0.5) and follow["lost_median"] == pytest.approx(2.0)
    assert follow["suggested"] == "12h"
    offer = find(res, "step", "offer")
    assert offer["won_median"] == 1.0 and offer["cliffs_delta"] == 0.0 and offer["p_value"] == 1.0
    assert offer["suggested"] == "1d"
    steps = [(r["name"], r["segment"]) for r in res.differences("step")]
    assert steps[-1][0] == "offer" and {steps[0][0], steps[1][0]} <= {"call", "follow"}

    dwell = find(res, "stage", "new")
    assert dwell["step"] is None and dwell["won_median"] == 9.0 and dwell["won_n"] == 8
    assert find(res, "stage", "proposal")["lost_median"] == 6.0

    smb = find(res, "step", "call", "smb")
    assert smb["won_n"] == 4 and smb["suggested"] is None  # 4 < min_deals
    assert smb["current_days"] == 2.0 and find(res, "step", "offer", "mid")["current_days"] == 4.0


def test_bootstrap_is_seeded_per_row(store):
    department(store)
    snap = snapshot(store, day(200), PB)
    a = learn_norms(snap, min_deals=5, random_state=3)
    b = learn_norms(snap, min_deals=5, random_state=3)
    assert a.rows == b.rows
    assert learn_norms(snap, min_deals=5, random_state=3, n_resamples=500).rows[0]["won_median"] == a.rows[0]["won_median"]


def test_too_few_deals_keep_the_deadline_and_say_so(store):
    department(store)
    res = learn_norms(snapshot(store, day(200), PB), min_deals=20)
    assert find(res, "step", "call")["suggested"] is None
    assert [n.code for n in res.notices] == ["few_won", "kept_steps"]
    empty = learn_norms(snapshot(store, day(5), PB))
    assert [n.code for n in empty.notices] == ["no_closed"]
    assert all(r["won_n"] == 0 for r in empty.rows)


def test_written_playbook_reloads_with_the_learned_deadlines(store):
    department(store)
    res = learn_norms(snapshot(store, day(200), PB), min_deals=4, random_state=0)
    text = playbook_with_norms(res, PLAYBOOK, source="test.yaml", lang="en")
    pb = parse_playbook(text, "learned.yaml")
    assert pb.step("call").within == timedelta(hours=39)
    assert pb.step("follow").within == timedelta(hours=12) and pb.step("follow").anchor == "call"
    assert pb.step("offer").within == timedelta(days=1)
    assert pb.step("offer").by_segment == {}  # mid learned 1d = the default: no override left
    assert pb.step("call").by_segment == {"smb": timedelta(days=3), "mid": timedelta(hours=36)}  # p75 2.25 and 1.5
    assert pb.stages == PB.stages and pb.segment_names == ("smb", "mid") and pb.stale_after == timedelta(days=14)
    assert "learned" in text and "2024-07-19" in text and "8 won" in text
    ru = playbook_with_norms(res, PLAYBOOK, source="test.yaml", lang="ru")
    assert "выигранных" in ru and parse_playbook(ru).step("call").within == timedelta(hours=39)


def test_segments_not_in_the_playbook_are_not_written(store):
    department(store)
    res = learn_norms(snapshot(store, day(200), PB), min_deals=4)
    only_smb = PLAYBOOK.replace("segments: [smb, mid]", "segments: [smb]").replace(", by_segment: {mid: 4d}", "")
    text = playbook_with_norms(res, only_smb, source="x")
    assert "mid: not in `segments:`" in text
    assert "mid" not in parse_playbook(text).step("call").by_segment


def test_cli_norms_table_json_and_write(tmp_path):
    """The CLI on DuckDB (the numbers are checked on both engines above)."""
    from dealpulse.store import connect

    store_url = str(tmp_path / "cli.duckdb")
    with connect(store_url) as s:
        department(s)
    pb_file = tmp_path / "pb.yaml"
    pb_file.write_text(PLAYBOOK, encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["norms", "--db", store_url, "--playbook", str(pb_file), "--lang", "en",
                              "--min-deals", "5", "--as-of", "2024-06-05"])  # the data's last day (later is refused)
    assert res.exit_code == 0, res.output
    assert "Norms learned as of 2024-06-05 00:00" in res.output and "from 8 won and 8 lost deals" in res.output
    assert "Where won and lost deals differ most" in res.output
    out = tmp_path / "learned.yaml"
    res = runner.invoke(app, ["norms", "--db", store_url, "--playbook", str(pb_file), "--format", "json",
                              "--min-deals", "5", "--write", str(out), "--lang", "ru"])
    assert res.exit_code == 0, res.output
    import json

    doc = json.loads(res.stdout)
    assert doc["n_won"] == 8 and doc["method"]["suggested"].startswith("p75 of won deals")
    assert doc["differences"][0]["kind"] == "step"
    assert {r["name"] for r in doc["rows"]} == {"call", "follow", "offer", "new", "proposal"}
    check = runner.invoke(app, ["playbook", "check", str(out), "--lang", "en"])
    assert check.exit_code == 0 and "the playbook is valid" in check.output
    missing = runner.invoke(app, ["norms", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 5 and "has no deals yet" in missing.output


# -- the statistics on their own ------------------------------------------------------------------
def test_bootstrap_median_interval_agrees_with_scipy():
    rng = np.random.default_rng(5)
    for n in (5, 8, 31):
        x = np.round(rng.exponential(4, n), 1)
        ours = bootstrap_median_interval(x, confidence=0.9, n_resamples=40000, rng=np.random.default_rng(0))
        ref = bootstrap((x,), np.median, confidence_level=0.9, n_resamples=40000, method="percentile",
                        rng=np.random.default_rng(1)).confidence_interval
        spread = x.max() - x.min()
        assert ours[0] == pytest.approx(ref.low, abs=0.05 * spread)
        assert ours[1] == pytest.approx(ref.high, abs=0.05 * spread)
    assert bootstrap_median_interval(np.array([2.0, 2.0, 2.0]), confidence=0.9, n_resamples=10,
                                     rng=np.random.default_rng(0)) == (2.0, 2.0)


def test_cliffs_delta_and_the_rounding_rule():
    assert cliffs_delta(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == -1.0
    assert cliffs_delta(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert cliffs_delta(np.array([1.0, 3.0]), np.array([2.0, 3.0])) == pytest.approx((1 - 2) / 4)
    assert suggest_within(0.01) == timedelta(hours=1)
    assert suggest_within(1.2) == timedelta(hours=29)
    assert suggest_within(2.0) == timedelta(days=2)
    assert suggest_within(2.01) == timedelta(days=3)
    assert suggest_within(None) is None
