"""mapping.yaml: parsed safely, checked whole with line numbers; built-in synonyms for CRM exports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from dealpulse.errors import InputError, MappingError
from dealpulse.ingest import import_path
from dealpulse.ingest.mapping import parse_mapping, synonyms

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def test_every_problem_is_reported_with_its_line():
    text = """\
deal:
  columns: {deal_id: ID}
deals:
  colums: {deal_id: ID}
  columns:
    Бюджет: amount
    owner: [Ответственный, Менеджер]
  values:
    status: {"Успешно реализовано": won, "Отложена": paused}
  constants: {currency: RUB, flavour: x}
tasks:
  attributes: {x: y}
format: csv
"""
    with pytest.raises(MappingError) as exc:
        parse_mapping(text, "mapping.yaml")
    deals_columns = ("deal_id, account_id, title, owner, segment, channel, amount, currency, created_at, status, "
                     "closed_at, lost_reason")
    assert exc.value.message == "The mapping mapping.yaml has 7 problem(s):"
    assert exc.value.problems == [
        'mapping.yaml, line 13: format must be one of native, eventlog, got "csv"',
        'mapping.yaml, line 1: unknown table "deal"; expected one of managers, accounts, deals, stage_history, '
        "tasks, field_history, format, tz, version, name",
        'mapping.yaml, line 4: deals: unknown key "colums"; expected one of file, columns, values, constants, attributes',
        f'mapping.yaml, line 6: deals: unknown column "Бюджет"; expected one of {deals_columns}, stage (columns map '
        "a native name to your header, e.g. amount: Бюджет)",
        'mapping.yaml, line 9: deals: values of status: expected one of open, won, lost, got "paused"',
        f'mapping.yaml, line 10: deals: unknown column "flavour"; expected one of {deals_columns} (columns map a '
        "native name to your header, e.g. amount: Бюджет)",
        "mapping.yaml, line 12: tasks: attributes are kept for deals and accounts only",
    ]
    assert exc.value.suggestion == "Fix each line named above; docs/import.md describes mapping.yaml."


def test_attributes_only_for_deals_and_accounts():
    with pytest.raises(MappingError) as exc:
        parse_mapping("tasks:\n  attributes: {x: y}\n", "m.yaml")
    assert exc.value.problems == ["m.yaml, line 2: tasks: attributes are kept for deals and accounts only"]


def test_yaml_is_never_evaluated():
    with pytest.raises(MappingError, match="m.yaml, line 1: not valid YAML"):
        parse_mapping("deals:  !!python/name:os.system\n", "m.yaml")
    with pytest.raises(MappingError, match="deals must map file, columns"):  # the tag is ignored, not run
        parse_mapping("deals: !!python/object/apply:os.system ['echo pwned']\n", "m.yaml")
    with pytest.raises(MappingError, match="m.yaml, line 3: not valid YAML"):
        parse_mapping("deals:\n  columns: {deal_id: [\n", "m.yaml")


def test_a_valid_mapping():
    m = parse_mapping("""
deals:
  file: Сделки.csv
  columns: {deal_id: ID, owner: [Ответственный, Менеджер], status: Этап сделки, stage: Этап сделки}
  values:
    status: {"Успешно реализовано": won, "Закрыто и не реализовано": lost, "*": open}
  constants: {currency: RUB}
  attributes: {decision_maker: ЛПР}
tz: Europe/Moscow
""", "m.yaml")
    d = m.tables["deals"]
    assert d.file == "Сделки.csv"
    assert d.columns["owner"] == ["ответственный", "менеджер"]
    assert d.values["status"] == {"успешно реализовано": "won", "закрыто и не реализовано": "lost", "*": "open"}
    assert d.constants == {"currency": "RUB"}
    assert d.attributes == {"decision_maker": ["лпр"]}
    assert m.tz == "Europe/Moscow"


def test_mapping_renames_maps_values_sets_constants_and_names_files(duck, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Выгрузка сделок.csv").write_text(
        "Номер;Менеджер;ЛПР;Состояние;Создана;Город\n"
        "1;Иван;Пётр Ильич;Успешно реализовано;01.02.2024;Омск\n"
        "2;Анна;;В работе;02.02.2024;\n"
        "3;Анна;;Отложена;03.02.2024;\n", encoding="utf-8")
    (folder / "mapping.yaml").write_text("""
deals:
  file: Выгрузка сделок.csv
  columns: {deal_id: Номер, owner: Менеджер, status: Состояние, created_at: Создана}
  values:
    status: {"Успешно реализовано": won, "Закрыто и не реализовано": lost, "В работе": open}
  constants: {currency: RUB, channel: выставка}
  attributes: {decision_maker: ЛПР}
""", encoding="utf-8")
    report = import_path(duck, folder)
    assert sorted(duck.query("SELECT deal_id, owner, status, currency, channel FROM deals")) == [
        ("1", "Иван", "won", "RUB", "выставка"), ("2", "Анна", "open", "RUB", "выставка")]
    assert report.problems == ['Выгрузка сделок.csv, row 4, column Состояние (status): expected one of open, won, '
                               'lost, got "Отложена".']
    assert sorted(duck.query("SELECT entity_id, field, value FROM attributes")) == [
        ("1", "decision_maker", "Пётр Ильич"), ("1", "город", "Омск")]


def test_a_mapped_header_the_file_lacks_is_a_whole_file_error(duck, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "deals.csv").write_text("id,owner,created_at,status\n1,m,2024-01-01,open\n", encoding="utf-8")
    (folder / "mapping.yaml").write_text("deals:\n  columns:\n    amount: Бюджет\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        import_path(duck, folder)
    assert exc.value.problems == ['deals.csv: mapping.yaml, line 3 maps amount to the column "бюджет", which the file '
                                  'does not have; columns found: id, owner, created_at, status.']


def test_docs_list_every_built_in_synonym():
    doc = (ROOT / "docs" / "import.md").read_text(encoding="utf-8").lower()
    missing = []
    for table, cols in synonyms().columns.items():
        for col, syns in cols.items():
            for s in syns:
                if f"`{s.header}`" not in doc:
                    missing.append(f"{table}.{col}: {s.header}")
    assert not missing, missing


def test_amocrm_deal_export_via_synonyms_is_a_snapshot(duck):
    folder = DATA / "import_amocrm"
    report = import_path(duck, folder / "amocrm_export_leads_2024-03-31.csv", tz="Europe/Moscow",
                         mapping_path=folder / "mapping_stages.yaml")
    assert report.tables["deals"] == {"rows_read": 4, "imported": 4, "duplicates": 0, "quarantined": 0}
    assert sorted(duck.query("SELECT deal_id, title, owner, amount, account_id, channel, status, closed_at FROM deals")) == [
        ("31001", "Поставка оборудования", "Иван Петров", 1200000.0, "ООО Ромашка", "Сайт", "open", None),
        ("31002", "Лицензии", "Анна Смирнова", 350000.0, "АО Вектор", "Звонок", "won", datetime(2024, 3, 15, 15, 30)),
        ("31003", "Обучение персонала", "Иван Петров", 90000.0, None, "Выставка", "lost", datetime(2024, 3, 20, 7)),
        ("31004", "Аудит", "Анна Смирнова", 0.0, "ИП Сидоров", "Сайт", "open", None),
    ]
    assert sorted(duck.query("SELECT deal_id, stage FROM stage_history")) == [
        ("31001", "negotiation"), ("31002", "new"), ("31002", "won"), ("31003", "lost"), ("31003", "new"), ("31004", "new")]
    assert any("snapshot" in w for w in report.warnings)
    assert ("31001", "utm_source", "yandex") in duck.query("SELECT entity_id, field, value FROM attributes")


def test_bitrix24_bi_builder_datasets_via_synonyms_and_a_mapping(duck):
    report = import_path(duck, DATA / "import_bitrix24")
    assert {t: c["imported"] for t, c in report.tables.items()} == {"deals": 3, "stage_history": 6, "tasks": 3}
    assert sorted(duck.query("SELECT deal_id, owner, amount, currency, status, closed_at, channel, account_id FROM deals")) == [
        ("101", "7", 2500000.0, "RUB", "open", None, "WEB", "55"),
        ("102", "8", 480000.0, "RUB", "won", datetime(2024, 3, 20, 17), "CALL", "56"),
        ("103", "7", 120000.0, "RUB", "lost", datetime(2024, 3, 10, 11), "WEB", None),
    ]
    assert sorted(duck.query("SELECT deal_id, stage FROM stage_history")) == [
        ("101", "negotiation"), ("101", "new"), ("102", "new"), ("102", "won"), ("103", "lost"), ("103", "new")]
    assert sorted(duck.query("SELECT task_id, deal_id, type, owner, status, completed_at FROM tasks")) == [
        ("9001", "101", "first_contact", "7", "done", datetime(2024, 3, 1, 10, 10)),
        ("9002", "101", "proposal_sent", "7", "open", None),
        ("9003", "102", "first_contact", "8", "done", datetime(2024, 3, 2, 12, 5)),
    ]
    assert ("101", "assigned_by_name", "Иван Петров") in duck.query("SELECT entity_id, field, value FROM attributes")
