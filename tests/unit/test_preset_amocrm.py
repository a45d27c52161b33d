"""`dealpulse import PATH --source amocrm` as a user meets it first: --explore (JSON and tables) and
its starter account.yaml, account.yaml errors naming their line, unknown sources. The metric
comparisons against a native import are in tests/e2e/test_preset_amocrm.py."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.ingest.presets import parse_account
from tests.crm import dress_amocrm as amo

runner = CliRunner()


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    base = tmp_path_factory.mktemp("amocrm_unit")
    frames = amo.department()
    amo.dress_api(frames, base / "api")
    (base / "xlsx").mkdir()
    amo.dress_ui_xlsx(frames, base / "xlsx" / "amocrm_export_leads_2023-09-01.xlsx", layout="current")
    amo.write_account(base / "account.yaml")
    return base


def test_explore_api_dump_lists_everything_and_writes_a_starter(shapes, tmp_path):
    out = tmp_path / "starter.yaml"
    result = runner.invoke(app, ["import", str(shapes / "api"), "--source", "amocrm", "--explore", "--format", "json",
                                 "--out", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deals"] == 260 and doc["starter_account"] == str(out)
    stages = {s["name"]: s for p in doc["pipelines"] for s in p["stages"]}
    assert stages["Успешно реализовано"]["kind"] == "won" and stages["Закрыто и не реализовано"]["kind"] == "lost"
    assert sum(s["count"] for s in stages.values()) == 260 and stages["КП отправлено"]["id"] == "41000003"
    types = {tt["name"]: tt["count"] for tt in doc["task_types"] if tt["name"]}
    assert types["Отправить КП"] > 0 and "Связаться" in types
    fields = {f["name"]: f for f in doc["fields"]}
    assert {v["name"] for v in fields["Сегмент клиента"]["values"]} == set(amo.SEGMENTS.values())
    assert sum(v["count"] for v in fields["Сегмент клиента"]["values"]) == 260
    users = {u["name"]: u["count"] for u in doc["users"]}
    assert len(users) == 6 and sum(users.values()) == 260
    text = out.read_text(encoding="utf-8")
    acc = parse_account(text, out.name)  # the starter is a valid account.yaml as written
    assert acc.stages == {} and "КП отправлено" in text and "Отправить КП" in text and "Сегмент клиента" in text
    # filled in, it imports
    filled = text.replace('КП отправлено: null', 'КП отправлено: proposal')
    assert parse_account(filled).stage_of("КП отправлено") == "proposal"


def test_explore_ui_export_table_writes_account_yaml_beside_the_data_and_never_overwrites(shapes, tmp_path):
    folder = tmp_path / "ui"
    shutil.copytree(shapes / "xlsx", folder)
    file = folder / "amocrm_export_leads_2023-09-01.xlsx"
    result = runner.invoke(app, ["import", str(file), "--source", "amocrm", "--explore", "--lang", "ru"])
    assert result.exit_code == 0, result.output
    assert "Договор" in result.stdout and "Сегмент" in result.stdout and "ЛПР" in result.stdout  # tables wrap long cells
    assert (folder / "account.yaml").is_file() and "без задач" in result.stderr
    (folder / "account.yaml").write_text("tz: Europe/Moscow\n", encoding="utf-8")
    again = runner.invoke(app, ["import", str(file), "--source", "amocrm", "--explore", "--lang", "en"])
    assert again.exit_code == 0, again.output
    assert (folder / "account.yaml").read_text(encoding="utf-8") == "tz: Europe/Moscow\n"
    assert (folder / "account.starter.yaml").is_file() and "account.starter.yaml" in again.stderr


@pytest.mark.parametrize("text, line, words", [
    ("stages: {\"КП отправлено\": proposal}\nsteps:\n  \"Отправить КП\": proposal_sent\n  3100004: follow_up\n",
     4, "follow_up"),
    ("stages: {\"КП отправлено\": proposall}\n", 1, "proposall"),
    ("tz: Europe/Moscow\n\nstagez: {}\n", 3, "stagez"),
    ("fields:\n  ЛПР: Decision Maker\n", 2, "Decision Maker"),
    ("stages: {a: new\n", None, "YAML"),
])
def test_account_yaml_errors_name_the_line(shapes, tmp_path, text, line, words):
    account = tmp_path / "account.yaml"
    account.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["import", str(shapes / "api"), "--source", "amocrm", "--mapping", str(account),
                                 "--db", str(tmp_path / "x.duckdb"), "--lang", "en"])
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    if line is not None:
        assert f"account.yaml, line {line}" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_source_and_explore_without_source(tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path), "--source", "pipedrive", "--db", str(tmp_path / "x.duckdb"),
                                 "--lang", "en"])
    assert result.exit_code == 2 and "pipedrive" in result.stderr and "amocrm" in result.stderr
    result = runner.invoke(app, ["import", str(tmp_path), "--explore", "--lang", "en"])
    assert result.exit_code == 2 and "--source" in result.stderr
