"""`dealpulse optimism` finds the "all will be fine" manager: generated departments where one manager, from
a date, marks dead deals lost weeks late and calls deals commit a stage or two early — as of 8-12 weeks
later that manager ranks first; in a quiet department nobody but the generator's permanent optimists is
called `overstates`. Through the CLI, JSON and tables, ru and en, on DuckDB and PostgreSQL.

Small departments (9 and 17 managers, 20 months), fixed seeds; benchmarks/optimism_plants.py measures
the rate over random departments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.demo.generator import generate
from dealpulse.demo.simulation import simulate
from dealpulse.ingest.importer import import_path
from dealpulse.store import connect

runner = CliRunner()

# (managers, seed, planted manager, plant start, days late on average, as of)
SMALL = (9, 7, "m05", "2023-10-10", 36, "2023-12-27")
MEDIUM = (17, 11, "m07", "2023-11-15", 32, "2024-01-25")
KEYS = {"manager", "commit_deals", "commit_won", "commit_win_rate", "commit_win_rate_low", "commit_win_rate_high",
        "team_commit_win_rate", "claimed_p_on_commits", "model_p_win_on_commits", "optimism", "best_case_deals",
        "best_case_win_rate", "model_p_win_on_best_case", "best_case_optimism", "open_commits", "open_commits_model_p",
        "verdict", "late_bad_news_days", "team_late_bad_news_days", "zombie_deals", "zombie_amount", "zombie_commits",
        "optimism_low", "optimism_high", "rank", "components", "reasons", "reason_codes", "commit_optimism", "message"}


def _plant(who: str, since: str, days: int) -> str:
    return f"late_lost:{who}:{since}:{days},overcommit:{who}:{since}"


def _export(folder: Path, managers: int, seed: int, plant: str | None) -> Path:
    generate(folder, managers=managers, months=20, seed=seed, plant=plant)
    return folder


def _import(url: str, folder: Path) -> None:
    s = connect(url)
    try:
        import_path(s, folder)
    finally:
        s.close()


def _run(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output + (res.stderr if res.stderr_bytes else "")
    return res.stdout


@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    managers, seed, who, since, days, _ = SMALL
    return _export(tmp_path_factory.mktemp("opt_small"), managers, seed, _plant(who, since, days))


def test_the_planted_manager_ranks_first_json_and_tables(small_export, store_url):
    _, _, who, _, _, as_of = SMALL
    _import(store_url, small_export)
    lang = "ru" if store_url.startswith("postgresql") else "en"
    doc = json.loads(_run(["optimism", "--db", store_url, "--as-of", as_of, "--format", "json", "--lang", lang]))
    rows = doc["rows"]
    assert rows[0]["manager"] == who and rows[0]["rank"] == 1, [(r["manager"], r["optimism"]) for r in rows[:3]]
    assert KEYS <= set(rows[0])
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["optimism"] for r in rows] == sorted((r["optimism"] for r in rows), reverse=True)
    top = rows[0]
    assert top["optimism_low"] < top["optimism"] < top["optimism_high"]
    assert set(top["components"]) == {"late_bad_news", "zombies", "commits", "open_commits", "early_commits"}
    assert top["components"]["late_bad_news"]["z"] > 1  # the late marks carry it
    assert top["late_bad_news_days"] > top["team_late_bad_news_days"]
    assert top["reason_codes"][0]["code"] in ("late_bad_news", "zombies", "open_commits", "commits", "early_commits")
    assert all(r["verdict"] in ("overstates", "understates", "fair", "not_enough_data") and r["reasons"] for r in rows)
    assert doc["as_of"]["local"].startswith("2023-12-27T00:00") and top["manager"] == who
    assert top["manager_name"] in top["message"] and who not in top["message"]  # people read names
    if lang == "ru":
        assert "8 нед." in doc["method"] and any("дн." in x for x in top["reasons"])
        return
    assert "8 weeks" in doc["method"] and any(" d " in x or " d)" in x for x in top["reasons"])
    ru = _run(["optimism", "--db", store_url, "--as-of", as_of, "--lang", "ru"])
    assert "Оптимизм" in ru and "Вердикт" in ru and top["manager_name"].split()[-1] in ru and "Почему" in ru
    assert "late_bad_news" not in ru and who not in ru


def test_the_planted_manager_ranks_first_in_a_bigger_department(tmp_path):
    managers, seed, who, since, days, as_of = MEDIUM
    folder = _export(tmp_path / "export", managers, seed, _plant(who, since, days))
    db = str(tmp_path / "medium.duckdb")
    _import(db, folder)
    out = _run(["optimism", "--db", db, "--as-of", as_of, "--format", "csv", "--lang", "en"])
    header, first = out.splitlines()[:2]
    assert header.split(",")[0] == "manager" and {"optimism_low", "late_bad_news_days", "zombie_commits"} <= set(header.split(","))
    assert first.startswith(f"{who},"), out.splitlines()[:4]


def test_a_quiet_department_calls_only_real_optimists_overstating(tmp_path):
    managers, seed, _, _, _, as_of = SMALL
    folder = _export(tmp_path / "export", managers, seed, None)
    truth = simulate(managers=managers, months=20, seed=seed, plant=None).truth["managers"]
    optimists = set(truth.filter(truth["optimistic"])["manager_id"].to_list())
    db = str(tmp_path / "quiet.duckdb")
    _import(db, folder)
    rows = json.loads(_run(["optimism", "--db", db, "--as-of", as_of, "--format", "json"]))["rows"]
    assert {r["manager"] for r in rows if r["verdict"] == "overstates"} <= optimists
