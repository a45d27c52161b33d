"""`dealpulse import` and `dealpulse quarantine` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dealpulse.cli import app

RU = Path(__file__).resolve().parents[1] / "data" / "ru_export"
runner = CliRunner()


def _json(text: str) -> dict:
    return json.loads(text)


def test_import_json_then_quarantine(tmp_path):
    db = str(tmp_path / "x.duckdb")
    result = runner.invoke(app, ["import", str(RU), "--tz", "Europe/Moscow", "--db", db, "--format", "json", "--lang", "en", "--max-quarantine", "1"])
    assert result.exit_code == 0, result.output
    doc = _json(result.stdout)
    assert doc["tables"]["deals"] == {"rows_read": 11, "imported": 4, "duplicates": 1, "quarantined": 6}
    assert doc["tz"] == "Europe/Moscow"
    assert doc["as_of_range"]["from"]["utc"] == "2024-03-01T07:00:00Z" and doc["as_of_range"]["to"]["utc"] == "2024-03-19T21:00:00Z"
    assert doc["as_of_range"]["from"]["tz"] == doc["tz"]
    assert "10 row(s) went to quarantine" in result.stderr

    again = runner.invoke(app, ["import", str(RU), "--db", db, "--format", "json", "--lang", "en", "--max-quarantine", "1"])
    assert again.exit_code == 0
    assert all(c["imported"] == 0 for c in _json(again.stdout)["tables"].values())
    assert "Nothing changed" in again.stderr

    q = runner.invoke(app, ["quarantine", "--db", db, "--format", "json", "--table", "deals", "--lang", "en"])
    assert q.exit_code == 0
    rows = _json(q.stdout)["rows"]
    assert [(r["file"], r["row"], r["column"]) for r in rows][:2] == [
        ("deals.csv", 6, "Дата создания сделки (created_at)"), ("deals.csv", 7, "ID (deal_id)")]
    assert rows[0]["reason"] == 'expected a date such as 2024-03-31 or 31.03.2024, got "31.02.2024".'

    csv_out = runner.invoke(app, ["quarantine", "--db", db, "--format", "csv", "--lang", "ru"])
    assert csv_out.stdout.splitlines()[0] == "table,file,row,column,reason,found"
    assert "ожидалась сделка из этой выгрузки" in csv_out.stdout

    table = runner.invoke(app, ["import", str(RU), "--db", db, "--lang", "ru", "--max-quarantine", "1"])
    assert "прочитано" in table.stdout and "Ничего не изменилось" in table.stderr


def test_errors_are_messages_with_exit_code_2(tmp_path):
    db = str(tmp_path / "x.duckdb")
    result = runner.invoke(app, ["import", str(tmp_path / "missing"), "--db", db, "--lang", "en"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "Suggestion:" in result.stderr
    bad = runner.invoke(app, ["quarantine", "--db", db, "--table", "deal", "--lang", "en"])
    assert bad.exit_code == 2
    assert "unknown table deal" in bad.stderr
    empty = runner.invoke(app, ["quarantine", "--db", db, "--lang", "en"])
    assert empty.exit_code == 0 and "The quarantine is empty." in empty.stderr
