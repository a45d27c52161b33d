"""validate-metrics on the 5,000-deal demo: the generator's known truth comes out, on both engines,
from the library and from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.leading import validate_metrics
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook.load import playbook_for_store
from dealpulse.store import connect

runner = CliRunner()


@pytest.fixture
def doc(demo_url):
    s = connect(demo_url)
    snap = snapshot(s, None, playbook_for_store(s))
    try:
        yield validate_metrics(snap, lang="en", n_boot=200)
    finally:
        snap.release()
        s.close()


def test_the_demo_truth(doc):
    rows = {r["metric"]: r for r in doc["rows"]}
    # params.STEP_EFFECT: proposal_sent on time +0.45 vs late -0.9 (scaled by lateness) / never -1.3
    prop = rows["step_on_time:proposal_sent"]
    assert prop["verdict"] == "matters" and prop["effect"] > 0.1 and prop["ci_low"] > 0
    assert prop["rate_with"] > prop["rate_without"]
    # e-mails are a manager's habit with no effect on any deal: must not come out as mattering, and
    # comparing within manager removes most of the plain (between-manager) difference
    email = rows["activities:email"]
    assert email["verdict"] != "matters" and email["q"] > 0.05
    assert abs(email["effect"]) < abs(email["raw_effect"])
    # survivorship handled: every deal-level row compares deals still open at the landmark
    assert doc["closed_deals"] > 4000 and doc["manager_months_horizon"] >= 12
    assert [r["rank"] for r in doc["rows"]] == list(range(1, len(doc["rows"]) + 1))
    order = ["matters", "weak", "vanity", "not_enough_data"]
    assert [order.index(r["verdict"]) for r in doc["rows"]] == sorted(order.index(r["verdict"]) for r in doc["rows"])
    mm = [r for r in doc["rows"] if r["level"] == "manager_month"]
    assert len(mm) == 4 and all(r["managers"] == 20 or r["managers"] >= 15 for r in mm)


def test_cli_json_and_languages(demo_url):
    res = runner.invoke(app, ["validate-metrics", "--db", demo_url, "--format", "json", "--lang", "ru",
                              "--as-of", "2024-10-01"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["lang"] == "ru" and doc["as_of"]["local"].startswith("2024-10-01")
    assert "Мантель" in doc["method"]
    prop = next(r for r in doc["rows"] if r["metric"] == "step_on_time:proposal_sent")
    assert prop["verdict"] == "matters" and "в срок" in prop["message"]
    assert set(doc["rows"][0]) >= {"metric", "level", "n", "effect", "ci_low", "ci_high", "p", "q", "verdict", "message"}


def test_cli_table_and_csv_in_english(demo_db):
    res = runner.invoke(app, ["validate-metrics", "--db", demo_db, "--lang", "en", "--format", "csv"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("rank,metric,level,n,effect")
    assert any("proposal_sent" in line and "matters" in line for line in lines)
    res = runner.invoke(app, ["validate-metrics", "--db", demo_db, "--lang", "en"])
    assert res.exit_code == 0 and "matters" in res.stdout


def test_cli_missing_store_is_an_error(tmp_path):
    res = runner.invoke(app, ["validate-metrics", "--db", str(tmp_path / "none.duckdb"), "--lang", "en"])
    assert res.exit_code != 0
