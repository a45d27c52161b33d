"""The native importer end to end on small hand-made exports, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from dealpulse.errors import InputError
from dealpulse.ingest import import_path, list_quarantine

DATA = Path(__file__).resolve().parents[1] / "data"
RU = DATA / "ru_export"
DATA_TABLES = ("deals", "stage_history", "tasks", "field_history", "accounts", "managers", "attributes", "quarantine", "meta")


def dump(store) -> dict[str, str]:
    """Every data table as sorted CSV text: equal dumps = byte-for-byte the same contents."""
    out = {}
    for table in DATA_TABLES:
        frame = store.query_frame(f"SELECT * FROM {table}")
        if "import_id" in frame.columns:
            frame = frame.drop("import_id")
        out[table] = frame.sort(frame.columns, nulls_last=True).write_csv() if frame.height else ""
    return out


RU_PROBLEMS = [
    'deals.csv, row 6, column Дата создания сделки (created_at): expected a date such as 2024-03-31 or 31.03.2024, got "31.02.2024".',
    "deals.csv, row 7, column ID (deal_id): expected a value, got an empty cell.",
    'deals.csv, row 8, column Бюджет (amount): expected a number such as 1500000 or 1 500 000,50, got "много".',
    'deals.csv, row 9, column Дата закрытия (closed_at): expected a time not before created_at (10.03.2024), got "01.03.2024".',
    'deals.csv, row 10, column ID (deal_id): expected a key no other row has, got "D-2" (row 3 has it with other values).',
    "deals.csv, row 12, column Ответственный (owner): expected a value, got an empty cell.",
    'stage_history.csv, row 9, column ID сделки (deal_id): expected a deal of this import or already in the store, got "D-99".',
    'stage_history.csv, row 10, column ID сделки (deal_id): expected a deal of this import or already in the store, got "D-4".',
    'stage_history.csv, row 12, column Дата перехода (entered_at): expected a date such as 2024-03-31 or 31.03.2024, got "30.02.2024 14:00".',
    'tasks.csv, row 4, column ID сделки (deal_id): expected a deal of this import or already in the store, got "D-99".',
]


def test_russian_crm_export_in_windows_1251(store):
    """cp1251, `;`, decimal comma, DD.MM.YYYY, quotes and line breaks in fields, duplicates,
    impossible dates, missing keys, stage rows of unknown deals: every bad row is accounted for."""
    report = import_path(store, RU, tz="Europe/Moscow", max_quarantine=1.0)
    assert report.tables == {
        "deals": {"rows_read": 11, "imported": 4, "duplicates": 1, "quarantined": 6},
        "stage_history": {"rows_read": 12, "imported": 8, "duplicates": 1, "quarantined": 3},
        "tasks": {"rows_read": 4, "imported": 3, "duplicates": 0, "quarantined": 1},
    }
    assert report.problems == RU_PROBLEMS
    assert [q["message"] for q in list_quarantine(store)] == RU_PROBLEMS
    assert report.warnings == []

    deals = {r[0]: r for r in store.query(
        "SELECT deal_id, title, owner, amount, currency, created_at, status, closed_at, channel FROM deals")}
    assert sorted(deals) == ["D-1", "D-2", "D-3", "D-7"]
    assert deals["D-1"][1] == 'ООО "Ромашка"; поставка'
    assert deals["D-1"][3] == 1500000.5
    assert deals["D-1"][4] == "RUB"  # a constant of the mapping
    assert deals["D-1"][5] == datetime(2024, 3, 1, 7, 0)  # 10:00 in Moscow
    assert deals["D-2"][1] == "Станки для завода\nвторая очередь"
    assert deals["D-2"][3] == 2000000.0  # no-break spaces as thousands separators
    assert (deals["D-2"][6], deals["D-2"][7]) == ("won", datetime(2024, 3, 15, 15, 30))
    assert deals["D-3"][6] == "lost"
    assert deals["D-7"][3] == 75000.5
    assert deals["D-7"][8] == "Рекомендация"
    stages = sorted(store.query("SELECT deal_id, stage, entered_at FROM stage_history"))
    assert stages[:5] == [
        ("D-1", "negotiation", datetime(2024, 3, 5, 9, 0)), ("D-1", "new", datetime(2024, 3, 1, 7, 0)),
        ("D-2", "negotiation", datetime(2024, 3, 6, 8, 0)), ("D-2", "new", datetime(2024, 3, 2, 6, 15)),
        ("D-2", "won", datetime(2024, 3, 15, 15, 30)),  # "Успешно реализовано" is the terminal stage won
    ]
    tasks = {r[0]: r[1:] for r in store.query("SELECT task_id, type, status, completed_at FROM tasks")}
    assert tasks == {"T-1": ("first_contact", "done", datetime(2024, 3, 1, 12, 0)),
                     "T-2": ("proposal_sent", "open", None),
                     "T-4": ("first_contact", "done", datetime(2024, 3, 2, 6, 40))}
    assert sorted(store.query("SELECT entity, entity_id, field, value FROM attributes")) == [
        ("deal", "D-1", "город", "Москва"), ("deal", "D-2", "город", "Казань"), ("deal", "D-7", "город", "Пермь")]
    assert store.get_meta("tz") == "Europe/Moscow"

    before = dump(store)
    again = import_path(store, RU, tz="Europe/Moscow", max_quarantine=1.0)
    assert {t: c["imported"] for t, c in again.tables.items()} == {"deals": 0, "stage_history": 0, "tasks": 0}
    assert again.tables["deals"] == {"rows_read": 11, "imported": 0, "duplicates": 5, "quarantined": 6}
    assert dump(store) == before
    assert store.query("SELECT count(*) FROM imports")[0][0] == 2  # the log of imports grows


def test_quarantine_messages_in_russian(store):
    report = import_path(store, RU, tz="Europe/Moscow", lang="ru", max_quarantine=1.0)
    assert report.problems[0] == ("deals.csv, строка 6, столбец Дата создания сделки (created_at): ожидалась дата вида "
                                  "2024-03-31 или 31.03.2024, а получено «31.02.2024».")
    assert list_quarantine(store, "tasks", lang="ru")[0]["reason"] == (
        "ожидалась сделка из этой выгрузки или уже загруженная, а получено «D-99».")


def test_rows_read_adds_up(store):
    report = import_path(store, RU, tz="Europe/Moscow", max_quarantine=1.0)
    for counts in report.tables.values():
        assert counts["rows_read"] == counts["imported"] + counts["duplicates"] + counts["quarantined"]
    assert report.to_dict()["tables"] == report.tables


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


DEALS_V1 = """deal_id,owner,amount,created_at,status,closed_at,industry
d1,m1,100,2024-01-01 10:00,open,,retail
d2,m2,200,2024-01-02 10:00,won,2024-02-01 10:00,banks
d3,m1,300,2024-01-03 10:00,open,,
"""
STAGES_V1 = """deal_id,stage,entered_at
d1,new,2024-01-01 10:00
d2,new,2024-01-02 10:00
d2,won,2024-02-01 10:00
d3,new,2024-01-03 10:00
"""


def test_a_newer_export_updates_changed_rows_and_adds_new_ones(store, tmp_path):
    v1 = tmp_path / "v1"
    write(v1, "deals.csv", DEALS_V1)
    write(v1, "stage_history.csv", STAGES_V1)
    import_path(store, v1)
    v2 = tmp_path / "v2"
    write(v2, "deals.csv", DEALS_V1.replace("d1,m1,100,2024-01-01 10:00,open,,retail", "d1,m1,150,2024-01-01 10:00,lost,2024-03-01 10:00,")
          + "d4,m2,400,2024-02-10 09:00,open,,retail\n")
    write(v2, "stage_history.csv", STAGES_V1 + "d1,lost,2024-03-01 10:00\nd4,new,2024-02-10 09:00\n")
    report = import_path(store, v2)
    assert report.tables["deals"] == {"rows_read": 4, "imported": 2, "duplicates": 2, "quarantined": 0}
    assert report.tables["stage_history"] == {"rows_read": 6, "imported": 2, "duplicates": 4, "quarantined": 0}
    assert store.query("SELECT amount, status, closed_at FROM deals WHERE deal_id = 'd1'") == [(150.0, "lost", datetime(2024, 3, 1, 10))]
    assert store.query("SELECT count(*) FROM deals")[0][0] == 4
    # an emptied extra column clears the attribute; a new one is added
    assert sorted(store.query("SELECT entity_id, value FROM attributes WHERE field = 'industry'")) == [
        ("d2", "banks"), ("d4", "retail")]
    assert report.attributes == {"written": 1, "cleared": 1}


def test_all_or_nothing_when_a_later_step_fails(store, tmp_path, monkeypatch):
    v1 = tmp_path / "v1"
    write(v1, "deals.csv", DEALS_V1)
    write(v1, "stage_history.csv", STAGES_V1)
    import_path(store, v1)
    before = dump(store)
    v2 = tmp_path / "v2"
    write(v2, "deals.csv", DEALS_V1.replace("100", "999") + "d9,m1,1,2024-01-05,open,,\n")
    write(v2, "stage_history.csv", STAGES_V1 + "d9,new,2024-01-05\n")
    write(v2, "tasks.csv", "task_id,deal_id,type,created_at\nt1,d9,call,2024-01-05\n")
    import dealpulse.ingest.write as w

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the quarantine is being written: deals and tasks are in already
    monkeypatch.setattr(w, "_store_quarantine", boom)
    with pytest.raises(KeyboardInterrupt):
        import_path(store, v2, tz="Europe/Moscow")
    assert dump(store) == before
    assert store.query("SELECT count(*) FROM imports")[0][0] == 1


def test_a_missing_required_column_names_the_file_the_column_and_the_columns_found(store, tmp_path):
    tmp_path = tmp_path / "export"
    write(tmp_path, "deals.csv", "deal_id;owner;Статус\nd1;m1;open\n")
    write(tmp_path, "stage_history.csv", "deal_id,stage\nd1,new\n")
    with pytest.raises(InputError) as exc:
        import_path(store, tmp_path)
    assert exc.value.problems == [
        "deals.csv: required column created_at is missing; columns found: deal_id, owner, Статус.",
        "stage_history.csv: required column entered_at is missing; columns found: deal_id, stage.",
    ]
    assert "nothing was changed" in exc.value.message
    assert exc.value.suggestion
    assert store.query("SELECT count(*) FROM imports")[0][0] == 0


def test_playbook_is_saved_and_checked(store, tmp_path):
    write(tmp_path / "x", "deals.csv", DEALS_V1)
    pb = write(tmp_path, "pb.yaml", "stages: [new, proposal]\n")
    import_path(store, tmp_path / "x", playbook_path=pb)
    assert store.get_meta("playbook_yaml") == "stages: [new, proposal]\n"
    bad = write(tmp_path, "bad.yaml", "stages: [new, won]\n")
    from dealpulse.errors import PlaybookError
    with pytest.raises(PlaybookError):
        import_path(store, tmp_path / "x", playbook_path=bad)


def test_snapshot_export_derives_stage_history_and_warns(store, tmp_path):
    """Deals only, with the current stage: created_at enters it, closed_at enters won/lost."""
    tmp_path = tmp_path / "export"
    write(tmp_path, "deals.csv", "deal_id,owner,created_at,stage,status,closed_at\n"
                                 "d1,m1,2024-01-01,proposal,open,\n"
                                 "d2,m1,2024-01-02,contract,won,2024-02-01\n"
                                 "d3,m1,2024-01-03,,lost,2024-02-02\n")
    report = import_path(store, tmp_path)
    assert sorted(store.query("SELECT deal_id, stage, entered_at FROM stage_history")) == [
        ("d1", "proposal", datetime(2024, 1, 1)),
        ("d2", "contract", datetime(2024, 1, 2)), ("d2", "won", datetime(2024, 2, 1)),
        ("d3", "lost", datetime(2024, 2, 2)), ("d3", "new", datetime(2024, 1, 3)),
    ]
    assert report.tables["stage_history"] == {"rows_read": 5, "imported": 5, "duplicates": 0, "quarantined": 0}
    assert report.warnings == [
        "deals.csv has each deal's current stage but there is no stage history: the stage history was derived "
        "(created_at = entry into the current stage, closed_at = won/lost), so the funnel is a snapshot and times "
        "spent in stages are unknown."]
    assert "stage" not in {r[0] for r in store.query("SELECT DISTINCT field FROM attributes")}
    # the same snapshot again changes nothing; a later one records the move at the export's latest moment
    before = dump(store)
    import_path(store, tmp_path)
    assert dump(store) == before
    write(tmp_path, "deals.csv", "deal_id,owner,created_at,stage,status,closed_at\n"
                                 "d1,m1,2024-01-01,negotiation,open,\n"
                                 "d4,m1,2024-03-01,new,open,\n")
    import_path(store, tmp_path)
    assert store.query("SELECT stage, entered_at FROM stage_history WHERE deal_id = 'd1' ORDER BY entered_at") == [
        ("proposal", datetime(2024, 1, 1)), ("negotiation", datetime(2024, 3, 1))]


def test_tasks_are_normalised(store, tmp_path):
    tmp_path = tmp_path / "export"
    write(tmp_path, "deals.csv", "deal_id,owner,created_at,status\nd1,m1,2024-01-01,open\n")
    write(tmp_path, "stage_history.csv", "deal_id,stage,entered_at\nd1,new,2024-01-01\n")
    write(tmp_path, "tasks.csv", "task_id,deal_id,type,created_at,due_at,completed_at,status\n"
                                 "t1,d1,call,2024-01-02,,2024-01-03,\n"
                                 "t2,d1,call,2024-01-02,2024-01-05,,\n"
                                 "t3,d1,meeting,2024-01-04,,,done\n"
                                 "t4,d1,meeting,2024-01-04,,,Отменена\n"
                                 "t5,d1,meeting,2024-01-04,,,maybe\n")
    report = import_path(store, tmp_path)
    assert sorted(store.query("SELECT task_id, status, completed_at FROM tasks")) == [
        ("t1", "done", datetime(2024, 1, 3)), ("t2", "open", None),
        ("t3", "done", datetime(2024, 1, 4)),  # a logged activity: done when created
        ("t4", "cancelled", None)]
    assert report.problems == ['tasks.csv, row 6, column status: expected one of open, done, cancelled, got "maybe".']


def test_unknown_deals_may_already_be_in_the_store(store, tmp_path):
    write(tmp_path / "a", "deals.csv", "deal_id,owner,created_at,status\nd1,m1,2024-01-01,open\n")
    import_path(store, tmp_path / "a")
    write(tmp_path / "b", "tasks.csv", "task_id,deal_id,type,created_at\nt1,d1,call,2024-01-02\nt2,d2,call,2024-01-02\n")
    report = import_path(store, tmp_path / "b")
    assert report.tables["tasks"] == {"rows_read": 2, "imported": 1, "duplicates": 0, "quarantined": 1}
    assert report.problems == ['tasks.csv, row 3, column deal_id: expected a deal of this import or already in the store, got "d2".']


def test_timestamps_with_offsets_go_to_utc_and_the_zone_is_remembered(store, tmp_path):
    tmp_path = tmp_path / "export"
    write(tmp_path, "deals.csv", "deal_id,owner,created_at,status\n"
                                 "d1,m1,2024-01-01T10:00:00+03:00,open\n"
                                 "d2,m1,2024-01-01T10:00:00Z,open\n"
                                 "d3,m1,2024-01-01 10:00,open\n"
                                 "d4,m1,2024-03-31 02:30,open\n")
    report = import_path(store, tmp_path, tz="Europe/Berlin")
    assert sorted(store.query("SELECT deal_id, created_at FROM deals")) == [
        ("d1", datetime(2024, 1, 1, 7)), ("d2", datetime(2024, 1, 1, 10)), ("d3", datetime(2024, 1, 1, 9))]
    assert report.problems == ['deals.csv, row 5, column created_at: expected a time that exists in the zone '
                               'Europe/Berlin, got "2024-03-31 02:30" (the clocks skipped it).']
    # without --tz the next import keeps the store's zone
    assert import_path(store, tmp_path).tz == "Europe/Berlin"


def test_bad_inputs_are_input_errors_with_suggestions(store, tmp_path):
    with pytest.raises(InputError, match="does not exist") as exc:
        import_path(store, tmp_path / "nope")
    assert exc.value.suggestion
    write(tmp_path, "deals.csv", "deal_id,owner,created_at,status\nd1,m1,2024-01-01,open\n")
    with pytest.raises(InputError, match='unknown time zone "Mars/Base"'):
        import_path(store, tmp_path, tz="Mars/Base")
    write(tmp_path / "odd", "notes.txt", "hello")
    write(tmp_path / "odd", "readme.doc", "hello")
    write(tmp_path / "odd", "products.csv", "name\nx\n")
    with pytest.raises(InputError, match="no file names a table"):
        import_path(store, tmp_path / "odd")
    write(tmp_path / "two", "deals.csv", "deal_id,owner,created_at,status\nd1,m1,2024-01-01,open\n")
    write(tmp_path / "two", "Сделки.csv", "deal_id,owner,created_at,status\nd1,m1,2024-01-01,open\n")
    with pytest.raises(InputError) as exc:
        import_path(store, tmp_path / "two")
    assert exc.value.problems == ["two files hold the table deals: deals.csv and Сделки.csv."]


def test_event_logs_are_handed_to_the_event_log_importer(duck, tmp_path, monkeypatch):
    import dealpulse.ingest.eventlog as eventlog
    from tests.builders import frame

    calls = []

    def fake_read(path, mapping_path, tz, progress=None, *, lang="en", warnings=None):
        calls.append((Path(path).name, mapping_path and Path(mapping_path).name, tz))
        warnings.append("from the event log")
        deals = frame("deals", [dict(deal_id="c1", owner="r", created_at="2024-01-01", status="open")])
        stages = frame("stage_history", [("c1", "new", "2024-01-01")])
        return {"deals": deals, "stage_history": stages}, []

    monkeypatch.setattr(eventlog, "read_eventlog", fake_read)
    log = write(tmp_path, "log.xes.gz", "not really")
    report = import_path(duck, log, tz="Europe/Moscow")
    assert calls == [("log.xes.gz", None, "Europe/Moscow")]
    assert report.tables["stage_history"]["imported"] == 1 and report.warnings == ["from the event log"]
    folder = tmp_path / "csvlog"
    write(folder, "events.csv", "case,activity,time\n")
    write(folder, "mapping.yaml", "format: eventlog\ntz: Asia/Omsk\nsources: [{file: events.csv}]\n")
    import_path(duck, folder / "events.csv")
    assert calls[-1] == ("events.csv", "mapping.yaml", "Asia/Omsk")


def test_real_maven_crm_export(duck):
    """Real data (../shared/data): an English CRM export read through the built-in synonyms."""
    from tests.conftest import shared_data

    folder = shared_data("maven_crm_sales_opportunities")
    report = import_path(duck, folder)
    assert report.tables["deals"] == {"rows_read": 8800, "imported": 8300, "duplicates": 0, "quarantined": 500}
    assert report.tables["managers"]["imported"] == 35 and report.tables["accounts"]["imported"] == 85
    # the 500 are prospects with no engage date yet
    assert {q["reason"] for q in list_quarantine(duck, "deals")} == {"expected a value, got an empty cell."}
    statuses = dict(duck.query("SELECT status, count(*) FROM deals GROUP BY status"))
    assert statuses == {"won": 4238, "lost": 2473, "open": 1589}
    assert any("snapshot" in w for w in report.warnings)


def test_updates_reach_indexed_and_non_key_columns(store, tmp_path):
    folder = tmp_path / "export"
    write(folder, "deals.csv", "deal_id,owner,created_at,status\nd1,m,2024-01-01,open\nd2,m,2024-01-01,open\n")
    write(folder, "stage_history.csv", "deal_id,stage,entered_at,changed_by\nd1,new,2024-01-01,a\n")
    write(folder, "tasks.csv", "task_id,deal_id,type,created_at\nt1,d1,call,2024-01-02\n")
    import_path(store, folder)
    write(folder, "stage_history.csv", "deal_id,stage,entered_at,changed_by\nd1,new,2024-01-01,b\n")
    write(folder, "tasks.csv", "task_id,deal_id,type,created_at\nt1,d2,call,2024-01-02\n")
    report = import_path(store, folder)
    assert {t: c["imported"] for t, c in report.tables.items()} == {"deals": 0, "stage_history": 1, "tasks": 1}
    assert store.query("SELECT task_id, deal_id FROM tasks") == [("t1", "d2")]
    assert store.query("SELECT changed_by FROM stage_history") == [("b",)]


def test_field_history_accounts_and_managers(store, tmp_path):
    folder = tmp_path / "export"
    write(folder, "deals.csv", "deal_id,account_id,owner,created_at,status\nd1,a1,m1,2024-01-01,open\n")
    write(folder, "accounts.csv", "account_id,name,segment,industry\na1,Ромашка,smb,retail\na2,Вектор,,\n")
    write(folder, "managers.csv", "manager_id,name,team,hired_at,email\nm1,Иван,Север,01.02.2020,i@x.ru\n")
    write(folder, "field_history.csv", "Сущность;ID сущности;Поле;Значение;Дата изменения\n"
                                       "Сделка;d1;budget;1 000 000;02.01.2024 10:00\n"
                                       "сделка;d9;budget;5;02.01.2024 10:00\n"
                                       "Компания;a7;industry;retail;02.01.2024 10:00\n"
                                       "лид;d1;need;x;02.01.2024 10:00\n"
                                       "deal;d1;decision_maker;;03.01.2024 10:00\n")
    report = import_path(store, folder)
    assert report.tables["field_history"] == {"rows_read": 5, "imported": 3, "duplicates": 0, "quarantined": 2}
    assert report.problems == [
        'field_history.csv, row 3, column ID сущности (entity_id): expected a deal of this import or already in the '
        'store, got "d9".',
        'field_history.csv, row 5, column Сущность (entity): expected one of deal, account, got "лид".',
    ]
    assert sorted(store.query("SELECT entity, entity_id, field, value FROM field_history")) == [
        ("account", "a7", "industry", "retail"), ("deal", "d1", "budget", "1 000 000"), ("deal", "d1", "decision_maker", None)]
    assert sorted(store.query("SELECT entity, entity_id, field, value FROM attributes")) == [("account", "a1", "industry", "retail")]
    assert store.query("SELECT manager_id, team, hired_at FROM managers") == [("m1", "Север", datetime(2020, 2, 1))]
