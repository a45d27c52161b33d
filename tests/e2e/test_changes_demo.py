"""`dealpulse changes` on the demo department: the waterfall reconciles exactly at several dates on DuckDB and
PostgreSQL and ends at the open pipeline the snapshot (and `score`) sees; the deals' chance at the start is
computed from what was known then (a store cut at the start gives the same features); the command's JSON,
CSV and tables in both languages; computing at an earlier as_of equals computing on the data cut then.

The win model is trained once for the module (as of AS_OF) and handed to the CLI through `train`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from dealpulse.changes.movers import movers_from
from dealpulse.changes.waterfall import compute_waterfall
from dealpulse.cli import app
from dealpulse.i18n import t
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import playbook_for_store
from dealpulse.risk import train as train_module
from dealpulse.risk.features import features
from dealpulse.risk.history import load_history
from dealpulse.store import connect
from dealpulse.store.cut import cut_store

AS_OF = datetime(2024, 10, 1)  # the demo's zone is UTC
START = AS_OF - timedelta(days=7)
DATES = ("2024-03-01", "2024-10-01", "2024-12-20")

FAKE_ALERTS = {
    "opened": [{"kind": "step_on_time", "subject": {"manager": "m07", "step": "proposal_sent"}, "since": "2024-09-20",
                "severity": "high", "message": "proposal sent on time 41% vs 78% before", "status": "open",
                "opened": "2024-09-27", "resolved": None, "evidence": {}}],
    "resolved": [{"kind": "channel_inflow", "subject": {"channel": "partner"}, "since": "2024-08-01",
                  "severity": "medium", "message": "partner inflow back to normal", "status": "resolved",
                  "opened": "2024-08-10", "resolved": "2024-09-28", "evidence": {}}],
}


@pytest.fixture(scope="module")
def trained(demo_db):
    """The win model as of AS_OF on the demo (DuckDB), trained once."""
    store = connect(demo_db)
    try:
        snap = snapshot(store, AS_OF, playbook_for_store(store, None))
        tr = train_module.train(snap)
        snap.release()
        return tr
    finally:
        store.close()


@pytest.fixture
def cli(trained, monkeypatch):
    """The CLI with the module's model (as of AS_OF) and a lifecycle that answers at once."""
    real = train_module.train

    def cached(snap, **kw):
        return trained if snap.as_of == AS_OF else real(snap, **kw)

    monkeypatch.setattr(train_module, "train", cached)
    monkeypatch.setattr("dealpulse.alerts.lifecycle.alerts_between", lambda snap, start, lang="en", **kw: FAKE_ALERTS)
    runner = CliRunner()

    def run(*args: str) -> str:
        res = runner.invoke(app, ["changes", *args], catch_exceptions=False, env={"COLUMNS": "100"})
        assert res.exit_code == 0, res.output
        return res.stdout

    return run


@pytest.mark.parametrize("as_of", DATES)
def test_the_waterfall_reconciles_and_ends_at_the_open_pipeline(demo_url, as_of):
    store = connect(demo_url)
    try:
        snap = snapshot(store, as_of, playbook_for_store(store, None))
        start = snap.as_of - timedelta(days=7)
        wf = compute_waterfall(snap, start)
        first, *flows, last = wf["buckets"]
        assert wf["reconciles"]
        assert first["count"] + sum(b["count"] for b in flows) == last["count"]
        assert round(first["amount"] + sum(b["amount"] for b in flows), 2) == last["amount"]
        for moment, row in ((snap.as_of, last), (start, first)):
            d = snap.at(moment).deals
            open_ = d.filter(d.status == "open").select("amount").execute()
            assert row["count"] == len(open_) and row["amount"] == pytest.approx(float(open_["amount"].fillna(0).sum()))
        by = {b["bucket"]: b for b in flows}
        assert by["new"]["deals"] > 0 and by["won"]["count"] < 0 and by["lost"]["count"] < 0
        assert sum(by[k]["deals"] for k in ("advanced", "moved_back", "pushed_out", "pulled_in", "unchanged")) == sum(
            1 for f in wf["flows"] if f.status_start == "open" and f.status_end == "open")
        snap.release()
    finally:
        store.close()


def test_the_end_is_what_score_sees(demo_db, trained):
    from dealpulse.risk.score import open_features

    store = connect(demo_db)
    try:
        wf = compute_waterfall(snapshot(store, AS_OF, playbook_for_store(store, None)), START)
    finally:
        store.close()
    assert wf["buckets"][-1]["count"] == open_features(trained).height


def test_what_was_known_at_the_start_is_all_that_is_used(demo_db, trained, tmp_path):
    """An export cut at S: the deals' features at S (with the model's norms) and their chance before are the same
    as from the full store — nothing after S leaks into them. (The waterfall on a cut store: tests/unit/test_changes.py.)"""
    full = connect(demo_db)
    cut = connect(str(tmp_path / "cut.duckdb"))
    try:
        cut_store(full, cut, START)
        pb = playbook_for_store(full, None)
        h_full = load_history(snapshot(full, START, pb))
        h_cut = load_history(snapshot(cut, START, pb))
    finally:
        full.close()
        cut.close()
    ids = sorted(h_full.open["deal_id"].to_list())
    assert ids == sorted(h_cut.open["deal_id"].to_list())
    pairs = pl.DataFrame({"deal_id": ids, "t": [START] * len(ids)}, schema={"deal_id": pl.Utf8, "t": pl.Datetime("us")})
    x_full, x_cut = features(h_full, pairs, trained.ref), features(h_cut, pairs, trained.ref)
    assert x_full.equals(x_cut)
    a, b = movers_from(trained, h_full, langs=("en", "ru")), movers_from(trained, h_cut)
    keys = ("deal_id", "p_before", "p_after", "state_before", "state_after", "stage_before", "stage", "amount")
    assert [[r[k] for k in keys] for r in a["scored"]] == [[r[k] for k in keys] for r in b["scored"]]
    assert [[x["code"] for x in r["reasons_added"]] for r in b["up"]] == [[x["code"] for x in r["reasons_added"]] for r in a["up"]]
    assert a["up"] and a["down"] and a["live"] > 100
    assert all(r["delta"] > 0 for r in a["up"]) and all(r["delta"] < 0 for r in a["down"])
    assert all(set(x["texts"]) == {"en", "ru"} for r in a["up"] for x in r["reasons_added"])


def test_json_has_every_part(cli, demo_db):
    lang = "en"
    doc = json.loads(cli("--db", demo_db, "--as-of", "2024-10-01", "--format", "json", "--lang", lang, "--limit", "5"))
    for key in ("as_of", "start", "zone", "waterfall", "reconciles", "bucket_rule", "movers", "alerts", "deals", "method", "model"):
        assert key in doc, key
    assert doc["reconciles"] is True and doc["zone"] == "UTC"
    assert doc["start"]["utc"] == "2024-09-24T00:00:00Z" and doc["as_of"]["utc"] == "2024-10-01T00:00:00Z"
    assert [b["bucket"] for b in doc["waterfall"]][0] == "open_start" and doc["waterfall"][-1]["bucket"] == "open_end"
    assert doc["waterfall"][1]["label"] == t("changes.bucket.new", lang)
    assert doc["bucket_rule"] == t("changes.bucket_rule", lang)
    first, *flows, last = doc["waterfall"]
    assert first["count"] + sum(b["count"] for b in flows) == last["count"]
    up, down = doc["movers"]["up"], doc["movers"]["down"]
    assert len(up) == len(down) == 5 and all(r["title"] for r in up + down)
    m = down[0]
    for key in ("deal_id", "title", "owner", "owner_name", "stage", "stage_label", "amount", "p_before", "p_after", "delta",
                "reasons_added", "reasons_removed", "reason_codes", "facts", "state_before", "state_after"):
        assert key in m, key
    assert m["delta"] == pytest.approx(m["p_after"] - m["p_before"], abs=1e-4) and m["delta"] < 0
    assert m["owner_name"] != m["owner"]  # the manager's name, the id beside it
    assert all({"code", "side", "impact", "text"} <= set(r) for r in m["reasons_added"] + m["reasons_removed"])
    assert m["reasons_added"] + m["reasons_removed"]
    assert [a["message"] for a in doc["alerts"]["opened"]] == [FAKE_ALERTS["opened"][0]["message"]]
    assert doc["alerts"]["resolved"][0]["status"] == "resolved"


def test_csv_is_the_waterfall_in_the_language(cli, demo_db):
    text = cli("--db", demo_db, "--as-of", "2024-10-01", "--format", "csv", "--lang", "ru")
    lines = text.strip().splitlines()
    assert lines[0] == "bucket,label,deals,count,amount"
    assert lines[1].startswith(f"open_start,{t('changes.bucket.open_start', 'ru')},") and lines[-1].startswith("open_end,")


def test_tables_are_readable_at_100_columns(cli, demo_db):
    lang = "ru"
    text = cli("--db", demo_db, "--as-of", "2024-10-01", "--lang", lang, "--limit", "3")
    assert max(len(line) for line in text.splitlines()) <= 100
    assert t("changes.title.waterfall", lang, start="2024-09-24 00:00", end="2024-10-01 00:00", zone="UTC") in text
    for b in ("open_start", "new", "won", "lost", "open_end"):
        assert t(f"changes.bucket.{b}", lang) in text
    assert t("changes.reconciles", lang, start="x", end="y").split("x")[0].strip() in text
    assert t("changes.alerts.opened.title", lang, n=1) in text and t("changes.alerts.resolved.title", lang, n=1) in text
    assert "proposal" in text and "m07" not in text  # stage labels; manager names, not ids


def test_a_bad_since_is_an_error_that_says_what_to_type(demo_db):
    res = CliRunner().invoke(app, ["changes", "--db", demo_db, "--since", "last week"], env={"COLUMNS": "100"})
    assert res.exit_code == 2
    assert "--since: expected a span such as 7d or 2w" in res.output and "Suggestion: dealpulse changes --since 7d" in res.output
