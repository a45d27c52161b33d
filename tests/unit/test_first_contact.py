"""First contact (issue 8): what a new user meets first must not mislead.

- the playbook's `lost_after`: a deal untouched that long is lost from the moment it crosses it, as of
  any moment (the view as of T equals the view of an export cut at T), and a later touch or outcome no
  longer counts;
- a chance of winning the data cannot support is not shown as one (`score`, its JSON, the notices);
- a step of a stage the deal has passed, never done, is "skipped", not "not reached yet";
- `playbook check --db`; `backtest` with the dates reversed; `--as-of` far after the data.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.errors import InputError, PlaybookError
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import load_playbook
from dealpulse.playbook.load import parse_playbook
from dealpulse.store import connect
from dealpulse.store.cut import cut_store
from tests.builders import fill

PB90 = "stages: [new, proposal]\nstale_after: 14d\nlost_after: 90d\n"
T0 = datetime(2024, 1, 1, 9, 0)


def _deals_at(store, pb, as_of) -> dict:
    snap = snapshot(store, as_of, pb)
    df = snap.deals.select("deal_id", "status", "closed_at").to_pyarrow().to_pylist()
    snap.release()
    return {r["deal_id"]: (r["status"], r["closed_at"]) for r in df}


def _lost_after_store(store) -> None:
    day = lambda n: T0 + timedelta(days=n)  # noqa: E731
    fill(store,
         deals=[dict(deal_id="quiet", owner="m", created_at=day(0), status="open"),
                dict(deal_id="touched", owner="m", created_at=day(0), status="open"),
                dict(deal_id="late_win", owner="m", created_at=day(0), status="won", closed_at=day(120)),
                dict(deal_id="won", owner="m", created_at=day(0), status="won", closed_at=day(30)),
                dict(deal_id="moved", owner="m", created_at=day(0), status="open")],
         stage_history=[("quiet", "new", day(0)), ("touched", "new", day(0)), ("late_win", "new", day(0)),
                        ("late_win", "won", day(120)), ("won", "new", day(0)), ("won", "won", day(30)),
                        ("moved", "new", day(0)), ("moved", "proposal", day(100))],
         tasks=[dict(task_id="t1", deal_id="touched", type="call", created_at=day(50), completed_at=day(60))])


def test_lost_after_is_read_and_checked():
    assert parse_playbook(PB90).lost_after == timedelta(days=90)
    assert parse_playbook("stages: [new]\n").lost_after is None
    with pytest.raises(PlaybookError) as e:
        parse_playbook("stages: [new]\nlost_after: soon\n")
    assert "line 2" in str(e.value)
    with pytest.raises(PlaybookError, match="positive"):
        parse_playbook("stages: [new]\nlost_after: 0d\n")


def test_lost_after_as_of_any_moment(store, tmp_path):
    _lost_after_store(store)
    pb = parse_playbook(PB90)
    day = lambda n: T0 + timedelta(days=n)  # noqa: E731
    at_89 = _deals_at(store, pb, day(89))
    assert at_89["quiet"] == ("open", None) and at_89["won"] == ("won", day(30))
    at_95 = _deals_at(store, pb, day(95))
    assert at_95["quiet"] == ("lost", day(90)) and at_95["late_win"] == ("lost", day(90))
    assert at_95["moved"] == ("lost", day(90))
    assert at_95["touched"] == ("open", None)  # its task done on day 60 resets the clock: lost on day 150
    at_200 = _deals_at(store, pb, day(200))
    # the win on day 120 and the move on day 100 came after the rule closed them: they no longer count
    assert at_200["late_win"] == ("lost", day(90)) and at_200["moved"] == ("lost", day(90))
    assert at_200["touched"] == ("lost", day(150)) and at_200["won"] == ("won", day(30))
    # without the rule nothing is lost
    assert {s for s, _ in _deals_at(store, parse_playbook("stages: [new, proposal]\n"), day(200)).values()} == {"open", "won"}
    # as of T on the full data = as of T on an export cut at T (nothing after T decides)
    cut = connect(str(tmp_path / "cut.duckdb"))
    try:
        cut_store(store, cut, day(95))
        assert _deals_at(cut, pb, day(95)) == at_95
    finally:
        cut.close()


def test_lost_after_moves_the_funnel(store):
    from dealpulse.metrics.funnel import compute_funnel

    _lost_after_store(store)
    snap = snapshot(store, T0 + timedelta(days=200), parse_playbook(PB90))
    rows = {r["stage"]: r for r in compute_funnel(snap).rows}
    assert rows["new"]["lost"] == 4 and rows["new"]["in_stage"] == 0  # quiet, touched, late_win and moved (day 100 too late)
    assert rows.get("proposal", {}).get("entered", 0) == 0
    snap.release()


# -- chances the data cannot support ----------------------------------------------------------------
def _leads(store, n: int = 400, seed: int = 3) -> None:
    """A lead funnel that records no loss: leads won within weeks (more of them early), the rest stay open."""
    rng = np.random.default_rng(seed)
    deals, stages = [], []
    for i in range(n):
        created = T0 + timedelta(days=int(i * 0.75), hours=int(rng.integers(0, 8)))
        deals.append(dict(deal_id=f"L{i:04d}", owner=f"m{i % 4}", created_at=created, status="open",
                          channel="web" if i % 3 else "partner"))
        stages.append((f"L{i:04d}", "new", created))
        if rng.random() < (0.35 if i % 3 == 0 else 0.15):
            won_at = created + timedelta(days=float(rng.uniform(2, 40)))
            deals[-1].update(status="won", closed_at=won_at)
            stages.append((f"L{i:04d}", "won", won_at))
    fill(store, deals=deals, stage_history=stages)


def _score(db: str, *extra: str) -> dict:
    res = CliRunner().invoke(app, ["score", "--db", db, "--format", "json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_no_lost_deals_shows_no_chance_and_lost_after_gives_one(tmp_path):
    db = str(tmp_path / "leads.duckdb")
    with connect(db) as store:
        _leads(store)
    doc = _score(db)
    assert doc["notices"][0]["code"] == "no_lost_deals" and "lost_after" in doc["notices"][0]["suggestion"]
    assert doc["model"]["notice"]["code"] == "no_lost_deals"
    assert doc["rows"] and all(r["p_win"] is None and r["notice"] == "no_lost_deals" for r in doc["rows"])
    assert all(r["baseline_p_win"] is None and not r["reasons"] for r in doc["rows"])
    ru = CliRunner().invoke(app, ["score", "--db", db, "--lang", "ru"])
    assert ru.exit_code == 0 and "нет ни одной проигранной сделки" in ru.stderr and "lost_after" in ru.stderr

    # no deal's unsupported chance "moves" in `changes`
    ch = CliRunner().invoke(app, ["changes", "--db", db, "--format", "json"])
    assert ch.exit_code == 0, ch.output
    assert ch.stdout.strip().startswith("{"), (ch.stdout[:300], ch.stderr[:300])
    movers = json.loads(ch.stdout)["movers"]
    assert movers["up"] == [] and movers["down"] == []

    pb = tmp_path / "playbook.yaml"
    pb.write_text("stages: [new]\nstale_after: 14d\nlost_after: 45d\n", encoding="utf-8")
    doc = _score(db, "--playbook", str(pb), "--as-of", (T0 + timedelta(days=250)).date().isoformat())
    assert not doc["notices"] and doc["model"]["notice"] is None
    assert doc["model"]["trained_on"]["lost"] > 100
    p = {r["deal_id"]: r["p_win"] for r in doc["rows"]}
    assert p and all(v is not None and 0 < v < 1 for v in p.values())
    assert len({round(v, 3) for v in p.values()}) > 3  # a real spread, not one number for every lead


def _fake_trained(*, won=100, lost=100, stages=("new",), oof=None, y=None, base=None, kind="boosting"):
    y = np.array(y if y is not None else [1, 0] * 50)
    train = pl.DataFrame({"won": y, "stage": [stages[0]] * len(y)})
    baseline = SimpleNamespace(predict=lambda X: np.array(base if base is not None else [0.5] * len(y)))
    model = SimpleNamespace(n_won=won, n_lost=lost, kind=kind, oof=np.array(oof if oof is not None else y * 0.8 + 0.1))
    pb = parse_playbook("stages: [new, proposal]\n")
    return SimpleNamespace(model=model, train=train, baseline=baseline, frame=lambda x: x,
                           history=SimpleNamespace(playbook=pb))


def test_support_notices():
    from dealpulse.risk.support import deal_notice, model_notice, notice_text

    assert model_notice(_fake_trained(lost=0)).code == "no_lost_deals"
    assert model_notice(_fake_trained(won=0)).code == "no_won_deals"
    assert model_notice(_fake_trained(won=0, lost=0)).code == "no_closed_deals"
    dateless = _fake_trained(won=0, lost=0)  # closed deals, each created and closed at one moment (IBM)
    dateless.history.closed = pl.DataFrame({"deal_id": ["a", "b"]})
    assert model_notice(dateless).code == "no_closed_history" and model_notice(dateless).params == {"closed": 2}
    good = _fake_trained()
    assert model_notice(good) is None and deal_notice(good, "new") is None
    unseen = deal_notice(good, "proposal")
    assert unseen.code == "stage_not_in_history" and unseen.params == {"stage": "proposal"}
    # a model that ranks no better than the stage baseline: no per-deal chance
    y = [1, 0] * 50
    flat = _fake_trained(y=y, oof=[0.5] * 100, base=[0.9 if v else 0.1 for v in y])
    n = model_notice(flat)
    assert n.code == "model_no_better" and n.params == {"model_auc": 0.5, "baseline_auc": 1.0}
    for lang, low, high in (("en", "0.50", "1.00"), ("ru", "0,50", "1,00")):
        text, hint = notice_text(n, lang)
        assert low in text and high in text and hint


# -- a skipped step is skipped ----------------------------------------------------------------------
def test_a_step_of_a_passed_stage_is_skipped_not_not_reached():
    from dealpulse.risk.features import STATE_NONE, STATE_OVERDUE
    from dealpulse.risk.reasons import Explainer

    pb = load_playbook()
    tr = SimpleNamespace(history=SimpleNamespace(playbook=pb, managers=None),
                         ref=SimpleNamespace(step_took_won={}, step_took_won_all={}), rates={})
    for lang, skipped, not_reached in (("en", "skipped", "not reached yet"), ("ru", "пропущено", "ещё не начато")):
        ex = Explainer(tr, lang)
        in_contract = ex._step("brief_meeting", {"stage": "contract", "segment": "smb", "s_brief_meeting_state": STATE_NONE})
        assert skipped in in_contract and not_reached not in in_contract
        overdue = ex._step("brief_meeting", {"stage": "negotiation", "s_brief_meeting_state": STATE_OVERDUE})
        assert skipped in overdue
        early = ex._step("brief_meeting", {"stage": "new", "s_brief_meeting_state": STATE_NONE})
        assert not_reached in early and skipped not in early


# -- the CLI -----------------------------------------------------------------------------------------
@pytest.fixture
def small_db(tmp_path):
    db = str(tmp_path / "small.duckdb")
    with connect(db) as store:
        _lost_after_store(store)
    return db


def test_playbook_check_takes_db(small_db, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["playbook", "check", "--db", small_db])
    assert res.exit_code == 0, res.output
    assert "the playbook is valid" in res.stderr and "proposal" not in res.stderr.split("valid")[0]
    pb = tmp_path / "pb.yaml"
    pb.write_text("stages: [new]\n", encoding="utf-8")
    res = runner.invoke(app, ["playbook", "check", str(pb), "--db", small_db, "--lang", "en"])
    assert res.exit_code == 0 and "does not name: proposal" in res.stderr
    missing = runner.invoke(app, ["playbook", "check", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code != 0
    pb90 = tmp_path / "pb90.yaml"
    pb90.write_text(PB90, encoding="utf-8")
    shown = runner.invoke(app, ["playbook", "show", str(pb90), "--lang", "en"])
    assert shown.exit_code == 0 and "untouched for 90" in shown.stderr
    doc = json.loads(runner.invoke(app, ["playbook", "show", str(pb90), "--format", "json"]).stdout)
    assert doc["lost_after"] == "90d"


def test_backtest_with_the_dates_reversed(small_db):
    for lang, words in (("en", "is after"), ("ru", "позже")):
        res = CliRunner().invoke(app, ["backtest", "--db", small_db, "--from", "2024-03-01", "--to", "2024-02-01",
                                       "--lang", lang])
        assert res.exit_code == 2
        assert "2024-03-01" in res.stderr and "2024-02-01" in res.stderr and words in res.stderr


def test_as_of_after_the_data_is_told(small_db):
    runner = CliRunner()
    for cmd in (["metrics"], ["funnel"], ["score"], ["report", "--out", "x.html"]):
        res = runner.invoke(app, [*cmd, "--db", small_db, "--as-of", "2030-01-01"])
        assert res.exit_code == 2, (cmd, res.output)
        assert "2030-01-01" in res.stderr and "2024-04-30" in res.stderr, res.stderr  # the data's last event
    ru = runner.invoke(app, ["metrics", "--db", small_db, "--as-of", "2030-01-01", "--lang", "ru"])
    assert ru.exit_code == 2 and "после конца данных" in ru.stderr
    mark = runner.invoke(app, ["review", "mark", "quiet", "--db", small_db, "--comment", "x", "--at", "2030-01-01"])
    assert mark.exit_code == 2 and "--at 2030-01-01" in mark.stderr
    # a few days after the last event (an export read later) is fine
    assert runner.invoke(app, ["metrics", "--db", small_db, "--as-of", "2024-05-03"]).exit_code == 0
    with connect(small_db) as store:
        with pytest.raises(InputError):
            snapshot(store, "2030-01-01", load_playbook())
        assert snapshot(store, datetime(2030, 1, 1), load_playbook()).as_of == datetime(2030, 1, 1)  # code: as given
