"""Done-when of the foundation: BPIC2012 and the Olist funnel (by channel) import and produce a
funnel, end to end through the CLI as a user runs it (../shared/data; skipped when absent)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from tests.conftest import ROOT, shared_data

pytestmark = pytest.mark.slow


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _import(db: str, path, example: str) -> dict:
    folder = ROOT / "examples" / example
    return _run("import", str(path), "--mapping", str(folder / "mapping.yaml"),
                "--playbook", str(folder / "playbook.yaml"), "--db", db, "--format", "json")


def test_bpic2012_imports_and_gives_a_censored_funnel(tmp_path):
    path = shared_data("bpic2012", "BPI_Challenge_2012.xes.gz")
    db = str(tmp_path / "bpic.duckdb")
    report = _import(db, path, "bpic2012")
    assert report["tables"]["deals"]["imported"] == 13087
    doc = _run("funnel", "--db", db, "--format", "json")
    rows = {r["stage"]: r for r in doc["rows"]}
    assert rows["new"]["entered"] == 13087
    for r in doc["rows"]:
        assert r["entered"] == r["advanced"] + r["lost"] + r["in_stage"]
        for key in ("conv_next", "conv_won"):
            assert r[key] is None or 0 <= r[key] <= 1
        assert r["dwell_median_days"] is None or r["dwell_median_days"] >= 0
    # the 399 open applications are censored, not dropped
    assert sum(r["in_stage"] for r in doc["rows"]) == 399
    assert doc["method"]
    by_segment = _run("funnel", "--db", db, "--by", "segment", "--format", "json")
    assert len({r["segment"] for r in by_segment["rows"]}) >= 2


def test_olist_funnel_by_channel(tmp_path):
    path = shared_data("olist_marketing_funnel")
    db = str(tmp_path / "olist.duckdb")
    report = _import(db, path, "olist")
    assert report["tables"]["deals"]["imported"] == 8000
    doc = _run("funnel", "--db", db, "--by", "channel", "--format", "json")
    channels = {r["channel"] for r in doc["rows"]}
    assert {"organic_search", "paid_search", "social"} <= channels
    won_by_channel = {}
    for r in doc["rows"]:
        assert r["entered"] == r["advanced"] + r["lost"] + r["in_stage"]
        won_by_channel[r["channel"]] = won_by_channel.get(r["channel"], 0) + r["advanced"]
    # every one of the 842 won leads advanced out of the lead stage in some channel
    assert sum(won_by_channel.values()) >= 841
    organic = next(r for r in doc["rows"] if r["channel"] == "organic_search")
    assert 0 < organic["conv_won"] <= 1
