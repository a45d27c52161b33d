"""The README's first command, as a new user runs it: `dealpulse demo`, then the commands it suggests."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.metrics.registry import FIELDS


def test_demo_then_the_suggested_commands(tmp_path):
    out = tmp_path / "demo"
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--out", str(out), "--deals", "400", "--lang", "en"])
    assert res.exit_code == 0, res.output
    report = out / "report.html"
    assert report.exists() and report.stat().st_size > 100_000
    assert "What to try next" in res.stderr and "dealpulse metrics --db" in res.stderr
    db = str(out / "dealpulse.duckdb")

    metrics = json.loads(runner.invoke(app, ["metrics", "--db", db, "--by", "manager", "--format", "json"]).stdout)
    assert metrics["rows"] and set(FIELDS) <= set(metrics["rows"][0])
    for row in metrics["rows"]:
        for rate in ("on_time_rate", "win_rate", "card_complete_rate"):
            assert row[rate] is None or 0 <= row[rate] <= 1

    past = json.loads(runner.invoke(app, ["metrics", "--db", db, "--as-of", "2024-06-01", "--format", "json"]).stdout)
    assert past["as_of"]["utc"].startswith("2024-06-01")

    funnel = json.loads(runner.invoke(app, ["funnel", "--db", db, "--by", "channel", "--format", "json"]).stdout)
    assert {r["stage"] for r in funnel["rows"]} >= {"new", "qualification", "proposal"}

    norms = runner.invoke(app, ["norms", "--db", db, "--format", "csv"])
    assert norms.exit_code == 0 and norms.stdout.count("\n") > 5

    again = runner.invoke(app, ["demo", "--out", str(out), "--deals", "400", "--lang", "ru"])
    assert again.exit_code == 0 and "Что попробовать дальше" in again.stderr
