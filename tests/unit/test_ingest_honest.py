"""An import never lies (issue 8, part 3): a table mostly quarantined fails the import and says what
to map; a user's `columns:` keeps the built-in value maps; CR-only CSV, .csv.gz, .json and the HTML
`.xls` are read; a failed import leaves no new store behind; --db in a missing folder; --version."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.errors import InputError
from dealpulse.ingest import import_path
from dealpulse.ingest import readers

runner = CliRunner()

DEALS = ("ID;Ответственный;Дата создания;Статус;Бюджет\n"
         "d1;Иван;01.03.2024;в работе;100\n"
         "d2;Анна;02.03.2024;выиграна;200\n"
         "d3;Анна;03.03.2024;в работе;300\n")


def _export(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = folder / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return folder


def _counts(store) -> dict[str, int]:
    return {name: store.query(f"SELECT count(*) FROM {name}")[0][0]
            for name in ("deals", "tasks", "quarantine", "imports", "attributes")}


# -- 2. a user's `columns:` keeps the built-in value maps it does not override ----------------------
def test_explicit_columns_keep_the_built_in_value_maps(duck, tmp_path):
    folder = _export(tmp_path / "b24", {
        "crm_deal.csv": "ID,ASSIGNED_BY_ID,DATE_CREATE,CLOSEDATE,STAGE_SEMANTIC_ID\n"
                        "1,7,2024-03-01 10:00,,P\n2,7,2024-03-02 10:00,2024-03-05 10:00,S\n"
                        "3,8,2024-03-03 10:00,2024-03-06 10:00,F\n",
        "tasks.csv": "task_id,deal_id,SUBJECT,created_at,is_completed\n"
                     "t1,1,Звонок,2024-03-01 11:00,true\nt2,1,КП,2024-03-02 11:00,false\n"
                     "t3,2,Звонок,2024-03-02 12:00,false\n",
        "mapping.yaml": "deals:\n  columns: {deal_id: ID, owner: ASSIGNED_BY_ID, status: STAGE_SEMANTIC_ID}\n"
                        "tasks:\n  columns: {type: SUBJECT, status: is_completed}\n"
                        "  values: {status: {\"false\": cancelled}}\n",
    })
    report = import_path(duck, folder)
    assert report.quarantined == 0, report.problems
    assert sorted(duck.query("SELECT deal_id, status FROM deals")) == [("1", "open"), ("2", "won"), ("3", "lost")]
    # the user's own value (false -> cancelled) wins; the built-in true -> done is kept
    assert sorted(duck.query("SELECT task_id, status FROM tasks")) == [
        ("t1", "done"), ("t2", "cancelled"), ("t3", "cancelled")]


# -- 1. a table mostly quarantined fails the import and says what to map ----------------------------
TASKS_UNKNOWN_STATUS = ("task_id;deal_id;type;created_at;status\n"
                        "t1;d1;call;01.03.2024;Сделано\n"
                        "t2;d1;call;02.03.2024;Запланирована\n"
                        "t3;d2;call;02.03.2024;Сделано\n")


def test_a_table_wholly_quarantined_fails_naming_table_column_values_and_the_fix(tmp_path):
    folder = _export(tmp_path / "exp", {"deals.csv": DEALS, "tasks.csv": TASKS_UNKNOWN_STATUS})
    db = tmp_path / "new.duckdb"
    result = runner.invoke(app, ["import", str(folder), "--db", str(db), "--lang", "en"])
    assert result.exit_code == 2, result.output
    err = " ".join(result.stderr.split())
    assert "tasks: 100% of the rows (3 of 3) quarantined on status" in err
    assert "Сделано" in err and "Запланирована" in err
    assert "values:" in err and "nothing was changed" in err
    assert not db.exists() and not Path(str(db) + ".wal").exists()
    ru = runner.invoke(app, ["import", str(folder), "--db", str(db), "--lang", "ru"])
    assert ru.exit_code == 2 and "tasks: 100%" in ru.stderr and "values:" in ru.stderr


def test_a_majority_fails_a_minority_passes_and_the_limit_can_be_raised(store, tmp_path):
    duck = store  # DuckDB, and PostgreSQL where DEALPULSE_TEST_PG_URL is set
    bad = _export(tmp_path / "bad", {"deals.csv": DEALS,
                                     "tasks.csv": TASKS_UNKNOWN_STATUS.replace("Запланирована", "open")})
    before = _counts(duck)
    with pytest.raises(InputError) as exc:  # 2 of 3 rows: a majority
        import_path(duck, bad)
    assert "tasks: 67% of the rows (2 of 3) quarantined on status" in " ".join(str(exc.value).split())
    assert _counts(duck) == before  # nothing written, not even the quarantine
    report = import_path(duck, bad, max_quarantine=1.0)  # the user accepts it knowingly
    assert report.tables["tasks"] == {"rows_read": 3, "imported": 1, "duplicates": 0, "quarantined": 2}

    ok = _export(tmp_path / "ok", {"deals.csv": DEALS,
                                   "tasks.csv": TASKS_UNKNOWN_STATUS.replace("Сделано", "done")})
    report = import_path(duck, ok)  # 1 of 3: imported, the bad row quarantined
    assert report.tables["tasks"]["quarantined"] == 1


def test_tasks_of_deals_nobody_imported_fail_with_the_deal_hint(tmp_path):
    folder = _export(tmp_path / "exp", {"tasks.csv": TASKS_UNKNOWN_STATUS.replace("Сделано", "done")
                                        .replace("Запланирована", "open")})
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["import", str(folder / "tasks.csv"), "--db", str(db), "--lang", "en"])
    assert result.exit_code == 2, result.output
    err = " ".join(result.stderr.split())
    assert "tasks: 100% of the rows (3 of 3) quarantined on deal_id" in err
    assert "import the deals" in err
    ok = runner.invoke(app, ["import", str(folder / "tasks.csv"), "--db", str(db), "--max-quarantine", "1", "--lang", "en"])
    assert ok.exit_code == 0, ok.output


# -- 3. readers -----------------------------------------------------------------------------------
def test_csv_with_cr_only_line_endings(duck, tmp_path):
    text = DEALS.replace("d3;Анна", 'd3;"Анна\nПетрова"').replace("\n", "\r")
    folder = _export(tmp_path / "mac", {"deals.csv": text.encode("cp1251")})
    report = import_path(duck, folder)
    assert report.tables["deals"]["imported"] == 3, report.problems
    assert sorted(duck.query("SELECT deal_id, owner, amount FROM deals")) == [
        ("d1", "Иван", 100.0), ("d2", "Анна", 200.0), ("d3", "Анна\nПетрова", 300.0)]


@pytest.mark.parametrize("name, delim", [("deals.csv.gz", ";"), ("deals.tsv.gz", "\t")])
def test_gzipped_csv_and_tsv(duck, tmp_path, name, delim):
    folder = _export(tmp_path / "gz", {name: gzip.compress(DEALS.replace(";", delim).encode("utf-8"))})
    report = import_path(duck, folder)
    assert report.tables["deals"]["imported"] == 3 and report.files["deals"] == name
    single = import_path(duck, folder / name)  # one file too
    assert single.tables["deals"]["duplicates"] == 3


def test_a_damaged_gz_is_a_message_naming_the_file(tmp_path):
    folder = _export(tmp_path / "gz", {"deals.csv.gz": gzip.compress(DEALS.encode("utf-8"))[:40]})
    result = runner.invoke(app, ["import", str(folder), "--db", str(tmp_path / "s.duckdb"), "--lang", "en"])
    assert result.exit_code == 2, result.output
    assert "deals.csv.gz: cannot read the file" in result.stderr and "Traceback" not in result.output


def _records() -> list[dict]:
    return [{"id": 1, "owner": "Иван", "created_at": "2024-03-01T10:00:00Z", "status": "open", "amount": 100.5,
             "is_vip": True, "tags": ["a", "b"]},
            {"id": 2, "owner": "Анна", "created_at": "2024-03-02T10:00:00Z", "status": "won", "amount": 2000,
             "closed_at": "2024-03-05T10:00:00Z", "extra": {"k": "v"}}]


@pytest.mark.parametrize("shape", ["array", "records", "data", "items"])
def test_json_records(duck, tmp_path, shape):
    doc = _records() if shape == "array" else {shape: _records(), "total": 2}
    folder = _export(tmp_path / "js", {"deals.json": json.dumps(doc, ensure_ascii=False)})
    report = import_path(duck, folder)
    assert report.tables["deals"]["imported"] == 2, report.problems
    assert sorted(duck.query("SELECT deal_id, owner, status, amount, closed_at IS NULL FROM deals")) == [
        ("1", "Иван", "open", 100.5, True), ("2", "Анна", "won", 2000.0, False)]
    attrs = dict(((e, f), v) for e, f, v in duck.query("SELECT entity_id, field, value FROM attributes"))
    assert attrs[("1", "is_vip")] == "true" and attrs[("1", "tags")] == '["a", "b"]'
    assert attrs[("2", "extra")] == '{"k": "v"}'


def test_json_of_another_shape_is_an_error_naming_the_file(duck, tmp_path):
    folder = _export(tmp_path / "js", {"deals.json": json.dumps({"_embedded": {"leads": []}})})
    with pytest.raises(InputError) as exc:
        import_path(duck, folder / "deals.json")
    assert "deals.json" in str(exc.value) and "--source" in str(exc.value)
    (folder / "deals.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        import_path(duck, folder / "deals.json")
    assert "deals.json" in str(exc.value) and "line 1" in str(exc.value)


BITRIX_GRID = """<html><head><meta http-equiv="Content-type" content="text/html;charset=UTF-8" /></head>
<body><table border="1">
<tr><th>ID</th><th>Название сделки</th><th>Стадия сделки</th><th>Сумма</th><th>Ответственный</th>
<th>Дата создания</th></tr>
<tr><td>101</td><td>Поставка &amp; монтаж</td><td>Переговоры</td><td>2 500 000,00</td><td>Иван Петров</td>
<td>01.03.2024 10:00:00</td></tr>
<tr><td>102</td><td>Сервис</td><td>Сделка успешна</td><td></td><td>Анна Смирнова</td><td>02.03.2024 12:00:00</td></tr>
</table></body></html>"""


def test_bitrix24_grid_export_html_named_xls(duck, tmp_path):
    path = tmp_path / "DEAL_20240320.xls"
    path.write_text(BITRIX_GRID, encoding="utf-8")
    assert readers.sniff_kind(path) == "html"
    raw = readers.read_html_table(path)
    assert raw.columns == ["id", "название сделки", "стадия сделки", "сумма", "ответственный", "дата создания"]
    assert raw.frame["название сделки"].to_list() == ["Поставка & монтаж", "Сервис"]
    assert raw.frame["сумма"].to_list() == ["2 500 000,00", None] and raw.frame["_row"].to_list() == [2, 3]
    assert raw.headers["название сделки"] == "Название сделки"
    report = import_path(duck, path)
    assert report.tables["deals"]["imported"] == 2, report.problems
    assert sorted(duck.query("SELECT deal_id, amount, status FROM deals")) == [("101", 2500000.0, "open"),
                                                                               ("102", None, "won")]
    header = readers.read_file(path, header_only=True)[0]
    assert header.columns == raw.columns and header.frame.height == 0


def test_html_xls_in_windows_1251_and_a_real_xls_is_refused_with_advice(duck, tmp_path):
    path = tmp_path / "deals.xls"
    path.write_bytes(BITRIX_GRID.replace("UTF-8", "windows-1251").encode("cp1251"))
    assert readers.read_html_table(path).frame["ответственный"].to_list() == ["Иван Петров", "Анна Смирнова"]
    ole = tmp_path / "old.xls"
    ole.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504)
    assert readers.sniff_kind(ole) == "ole2"
    with pytest.raises(InputError) as exc:
        import_path(duck, ole)
    assert "old.xls" in str(exc.value) and ".xlsx" in str(exc.value)


# -- 4. a failed import leaves no new store behind; an existing one unchanged ----------------------
@pytest.mark.parametrize("case", ["bad_mapping", "unreadable", "missing_column"])
def test_a_failed_import_leaves_no_new_store_file(tmp_path, case):
    files = {"deals.csv": DEALS}
    if case == "bad_mapping":
        files["mapping.yaml"] = "deals:\n  colums: {}\n"
    elif case == "unreadable":
        files["deals.csv"] = b'ID;owner\n1;"unclosed\n2;x;y;z\n'
    else:
        files["deals.csv"] = "ID;owner\n1;x\n"
    folder = _export(tmp_path / "exp", files)
    db = tmp_path / "sub" / "new.duckdb"
    result = runner.invoke(app, ["import", str(folder), "--db", str(db), "--lang", "en"])
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not db.exists() and not Path(str(db) + ".wal").exists() and not db.parent.exists()


def test_a_failed_import_leaves_an_existing_store_unchanged(tmp_path):
    from dealpulse.store import connect

    db = tmp_path / "s.duckdb"
    good = _export(tmp_path / "good", {"deals.csv": DEALS})
    assert runner.invoke(app, ["import", str(good), "--db", str(db)]).exit_code == 0
    with connect(str(db)) as s:
        before = _counts(s)
    bad = _export(tmp_path / "bad", {"deals.csv": DEALS, "tasks.csv": TASKS_UNKNOWN_STATUS})
    assert runner.invoke(app, ["import", str(bad), "--db", str(db)]).exit_code == 2
    assert db.exists()
    with connect(str(db)) as s:
        assert _counts(s) == before


# -- 5. --db in a missing folder ------------------------------------------------------------------
def test_db_in_a_missing_folder(tmp_path):
    db = tmp_path / "no" / "such" / "store.duckdb"
    result = runner.invoke(app, ["metrics", "--db", str(db), "--lang", "en"])
    assert result.exit_code == 2, result.output
    err = " ".join(result.stderr.split())
    assert f"{tmp_path / 'no'}" in err and "does not exist" in err and "no deals yet" not in err
    assert not (tmp_path / "no").exists()
    q = runner.invoke(app, ["quarantine", "--db", str(db), "--lang", "en"])
    assert q.exit_code == 2 and not (tmp_path / "no").exists()
    ru = runner.invoke(app, ["metrics", "--db", str(db), "--lang", "ru"])
    assert ru.exit_code == 2 and str(tmp_path / "no") in " ".join(ru.stderr.split())
    # import creates the folder
    folder = _export(tmp_path / "exp", {"deals.csv": DEALS})
    ok = runner.invoke(app, ["import", str(folder), "--db", str(db), "--lang", "en"])
    assert ok.exit_code == 0, ok.output
    assert db.exists()


# -- 6. --version ---------------------------------------------------------------------------------
def test_version():
    from dealpulse import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"dealpulse {__version__}"
