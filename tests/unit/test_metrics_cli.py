"""`dealpulse metrics` from the command line (DuckDB; the figures themselves are tested on both engines)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.cli.metrics_cmd import cell
from dealpulse.metrics.asof import snapshot
from dealpulse.metrics.kpis import compute_metrics
from dealpulse.metrics.registry import COUNT, DAYS, FIELDS, MONEY, SHARE
from dealpulse.playbook import parse_playbook
from dealpulse.store import connect
from tests.unit.test_metrics_reference import PLAYBOOK_YAML, SCENARIO, load, records

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cli") / "s.duckdb")
    s = connect(path)
    load(s, SCENARIO)
    s.set_meta("playbook_yaml", PLAYBOOK_YAML)
    s.set_meta("tz", "Europe/Moscow")
    s.close()
    return path


def _run(*args):
    res = runner.invoke(app, ["metrics", *args])
    return res


def test_cell_shows_the_change_compactly():
    assert cell(0.81, 0.75, SHARE) == "81% (↑6)"
    assert cell(3, 5, COUNT) == "3 (↓2)"
    assert cell(4.25, 4.25, DAYS) == "4.2 (=)"
    assert cell(1_500_000.0, 500_000.0, MONEY) == "1.5M (↑1M)"  # Babel's compact format
    assert cell(0.5, None, SHARE) == "50%"
    assert cell(None, 0.3, SHARE) is None


def test_list_in_both_languages():
    res = _run("--list", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["name"] for r in doc["rows"]][:2] == ["steps_on_time", "steps_late"] and len(doc["rows"]) == 15
    assert set(doc["rows"][0]["descriptions"]) == {"en", "ru"}
    res = _run("--list", "--lang", "ru")
    assert res.exit_code == 0 and "Метрика" in res.stdout and "опережающая" in res.stdout
    res = _run("--list", "--format", "csv", "--lang", "en")
    assert res.stdout.splitlines()[0] == "name,kind,unit,family,description"


def test_json_csv_and_table(db):
    res = _run("--db", db, "--as-of", "2024-03-01T03:00", "--by", "manager", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["as_of"] == {"local": "2024-03-01T03:00:00+03:00", "utc": "2024-03-01T00:00:00Z", "tz": "Europe/Moscow"}
    assert doc["window"]["start"]["utc"] == "2024-02-02T00:00:00Z" and doc["window"]["length"] == "4w"
    assert doc["previous_window"]["start"]["utc"] == "2024-01-05T00:00:00Z" and doc["zone"] == "Europe/Moscow"
    assert doc["by"] == ["manager"] and list(doc["rows"][0]) == ["manager", "manager_name", *FIELDS]
    s = connect(db)
    try:
        want = records(compute_metrics(snapshot(s, "2024-03-01T03:00", parse_playbook(PLAYBOOK_YAML, "t")), by=["manager"]))
    finally:
        s.close()
    assert [{k: v for k, v in r.items() if k != "manager_name"} for r in doc["rows"]] == want

    res = _run("--db", db, "--as-of", "2024-03-01T03:00", "--by", "step", "--window", "14d", "--format", "csv")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split(",")[:3] == ["step", "steps_on_time", "prev_steps_on_time"] and len(lines) == 5

    res = _run("--db", db, "--as-of", "2024-03-01T03:00", "--by", "manager", "--lang", "ru", "--wide")  # every column
    assert res.exit_code == 0, res.output
    assert "Менеджер" in res.stdout and "50\u00a0% (↑50)" in res.stdout and "800\u00a0тыс." in res.stdout  # "(↑800 тыс.)" may wrap at 80 columns
    res = _run("--db", db, "--as-of", "2024-03-01T03:00", "--lang", "en")
    assert "Steps on time" in res.stdout and "4 (↑4)" in res.stdout


def test_bad_input_and_explain(db, tmp_path):
    res = _run("--db", db, "--by", "owner", "--lang", "ru")
    assert res.exit_code == 2 and "--by owner: неизвестный разрез" in res.stderr
    res = _run("--db", db, "--window", "soon", "--lang", "en")
    assert res.exit_code == 2 and "--window soon: expected a duration" in res.stderr
    res = _run("--db", str(tmp_path / "absent.duckdb"))
    assert res.exit_code == 5 and "has no deals yet" in res.stderr
    res = _run("--db", db, "--explain", "--by", "segment")
    assert res.exit_code == 0 and "SELECT" in res.stdout and "SQL behind the figures" in res.stderr
