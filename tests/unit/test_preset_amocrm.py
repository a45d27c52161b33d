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


HAND_MADE = (
    "ID;Название сделки;Бюджет ; Ответственный;Дата создания сделки;Дата закрытия;Этап сделки;Воронка;Сегмент клиента;Город\r\n"
    "101;Поставка;1 200 000;Иван Петров;01.03.2024 10:00;не закрыта;Первичный контакт;Продажи;Крупный бизнес;Москва\r\n"
    "102;Лицензии;350 000,50;Анна Смирнова;02.03.2024 11:30:00;15.03.2024 18:30:00;Успешно реализовано;Продажи;;\r\n"
    "103;Обучение;90 000;Иван Петров;03.03.2024 09:00;20.03.2024 10:00;Закрыто и не реализовано;Тендеры;;\r\n"
    "104;Аудит;0;Анна Смирнова;04.03.2024 15:45;не закрыта;Первичный контакт;Тендеры;Малый бизнес;\r\n"
)


def test_hand_made_ui_csv_two_pipelines_with_the_same_stage_names(tmp_path):
    """A small file in the older layout (cp1251, `;`, «не закрыта», a stray space in headers, a
    decimal comma): a stage name both pipelines have maps per pipeline with a `Pipeline: Stage` key."""
    path = tmp_path / "amocrm_export_leads_2024-03-31.csv"
    path.write_bytes(HAND_MADE.encode("cp1251"))
    account = tmp_path / "account.yaml"
    account.write_text('stages: {"Первичный контакт": new, "Тендеры: Первичный контакт": qualification}\n'
                       'fields: {"Сегмент клиента": segment}\n'
                       'values: {segment: {"Крупный бизнес": enterprise, "малый БИЗНЕС": smb}}\n'
                       'tz: Europe/Moscow\n', encoding="utf-8")
    db = tmp_path / "x.duckdb"
    result = runner.invoke(app, ["import", str(path), "--source", "amocrm", "--mapping", str(account), "--db", str(db),
                                 "--format", "json", "--lang", "en"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["tables"]["deals"] == {"rows_read": 4, "imported": 4, "duplicates": 0, "quarantined": 0}
    assert doc["tz"] == "Europe/Moscow"
    from dealpulse.store import connect

    store = connect(str(db))
    try:
        deals = {r[0]: r[1:] for r in store.query(
            "SELECT deal_id, status, owner, amount, segment, closed_at FROM deals ORDER BY deal_id")}
        stages = dict(store.query("SELECT deal_id, stage FROM stage_history WHERE stage NOT IN ('won', 'lost')"))
        managers = sorted(store.query("SELECT manager_id, name FROM managers"))
        city = store.query("SELECT count(*) FROM attributes WHERE field = 'город'")[0][0]
    finally:
        store.close()
    assert deals["101"][:2] == ("open", "Иван Петров") and deals["101"][4] is None
    assert deals["102"][0] == "won" and deals["102"][2] == 350000.5 and str(deals["102"][4]) == "2024-03-15 15:30:00"
    assert deals["103"][0] == "lost" and deals["104"][3] == "smb" and deals["101"][3] == "enterprise"
    assert stages == {"101": "new", "104": "qualification", "102": "new", "103": "new"}
    assert managers == [("Анна Смирнова", "Анна Смирнова"), ("Иван Петров", "Иван Петров")]
    assert city == 0  # a column account.yaml does not name is not imported


def test_explore_and_starter_of_the_hand_made_export_key_repeated_stage_names_by_pipeline(tmp_path):
    path = tmp_path / "amocrm_export_leads_2024-03-31.csv"
    path.write_bytes(HAND_MADE.encode("cp1251"))
    result = runner.invoke(app, ["import", str(path), "--source", "amocrm", "--explore", "--format", "json",
                                 "--lang", "en"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [p["name"] for p in doc["pipelines"]] == ["Продажи", "Тендеры"] and doc["deals"] == 4
    assert [f["name"] for f in doc["fields"]] == ["Сегмент клиента", "Город"]
    text = (tmp_path / "account.yaml").read_text(encoding="utf-8")
    assert "Первичный контакт: null" in text and "'Тендеры: Первичный контакт': null" in text
    parse_account(text)  # one key per line, no duplicate


def test_account_yaml_beside_the_data_is_used_without_mapping(tmp_path):
    path = tmp_path / "amocrm_export_leads_2024-03-31.csv"
    path.write_bytes(HAND_MADE.encode("cp1251"))
    (tmp_path / "account.yaml").write_text('stages: {"Первичный контакт": negotiation}\n', encoding="utf-8")
    db = tmp_path / "x.duckdb"
    result = runner.invoke(app, ["import", str(path), "--source", "amocrm", "--db", str(db), "--lang", "en"])
    assert result.exit_code == 0, result.output
    from dealpulse.store import connect

    store = connect(str(db))
    try:
        assert store.query("SELECT stage FROM stage_history WHERE deal_id = '104'") == [("negotiation",)]
    finally:
        store.close()
