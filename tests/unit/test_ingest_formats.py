"""Reading export files: encodings, delimiters, XLSX, Parquet, row numbers, header names."""

from __future__ import annotations

import codecs
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from dealpulse.ingest import import_path
from dealpulse.ingest.readers import read_csv, sniff_delimiter

DATA = Path(__file__).resolve().parents[1] / "data"


def test_utf8_with_bom_comma_quotes_and_case_insensitive_headers(duck):
    report = import_path(duck, DATA / "import_utf8_bom")
    assert report.tables["deals"] == {"rows_read": 2, "imported": 2, "duplicates": 0, "quarantined": 0}
    rows = sorted(duck.query("SELECT deal_id, owner, amount, status, title, closed_at FROM deals"))
    assert rows == [("d1", "m1", 1234.5, "open", "Plain, with comma", None),
                    ("d2", "m2", 2000.0, "won", 'Says "hi"', datetime(2024, 1, 20, 18))]


def test_tab_delimited_with_decimal_comma_and_russian_dates(duck):
    report = import_path(duck, DATA / "import_tab")
    assert report.tables["deals"]["imported"] == 2
    assert sorted(duck.query("SELECT deal_id, amount, created_at FROM deals")) == [
        ("d1", 1500.5, datetime(2024, 2, 1, 10, 30, 15)), ("d2", None, datetime(2024, 2, 2))]
    assert report.warnings == ["deals.tsv: 1 won or lost deal(s) have no closed_at; they count as closed only "
                               "where the stage history has a won/lost row."]


@pytest.mark.parametrize("encoding, data", [
    ("cp1251", "ID;Название\n1;Ромашка\n".encode("cp1251")),
    ("utf-8-sig", codecs.BOM_UTF8 + "ID;Название\n1;Ромашка\n".encode("utf-8")),
    ("utf-8", "ID;Название\n1;Ромашка\n".encode("utf-8")),
    ("utf-16", "ID;Название\n1;Ромашка\n".encode("utf-16")),
])
def test_encoding_detection(tmp_path, encoding, data):
    p = tmp_path / "deals.csv"
    p.write_bytes(data)
    raw = read_csv(p)
    assert raw.encoding == encoding
    assert raw.headers == {"id": "ID", "название": "Название"}
    assert raw.frame.select("id", "название").rows() == [("1", "Ромашка")]


@pytest.mark.parametrize("sample, expected", [
    ("a;b;c\n1;2,5;3\n", ";"),
    ("a,b,c\n1,\"2;5\",3\n", ","),
    ("a\tb\n1\t2\n", "\t"),
    ("a|b\n1|2\n", "|"),
    ('a;b\n"x;y;z";2\n', ";"),
])
def test_delimiter_sniffing(sample, expected):
    assert sniff_delimiter(sample) == expected


def test_rows_are_records_not_lines_and_blank_lines_are_skipped(tmp_path):
    p = tmp_path / "deals.csv"
    p.write_text('id;note\n1;"two\nlines"\n\n2;x\n  ;  \n3;"a ""quoted"" word"\n', encoding="utf-8")
    raw = read_csv(p)
    assert raw.frame.select("_row", "id", "note").rows() == [
        (2, "1", "two\nlines"), (4, "2", "x"), (6, "3", 'a "quoted" word')]
    assert raw.delimiter == ";" and raw.encoding == "utf-8"


def test_headers_are_trimmed_and_case_insensitive_and_duplicates_kept_apart(tmp_path):
    p = tmp_path / "deals.csv"
    p.write_text(" Deal_ID ,OWNER,Телефон,телефон\n1,m,a,b\n", encoding="utf-8")
    raw = read_csv(p)
    assert raw.columns == ["deal_id", "owner", "телефон", "телефон (2)"]
    assert raw.headers["deal_id"] == "Deal_ID"


def test_a_ragged_csv_is_an_input_error_naming_the_file(duck, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "deals.csv").write_text("deal_id,owner,created_at,status\n1,m,2024-01-01,open,extra,fields\n",
                                              encoding="utf-8")
    from dealpulse.errors import InputError
    with pytest.raises(InputError, match="deals.csv: cannot read it as a CSV file"):
        import_path(duck, tmp_path / "x")


def _workbook(path: Path, sheets: dict[str, list[list]]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    wb.save(path)


def test_xlsx_single_table_with_excel_dates_and_numbers(duck, tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    _workbook(folder / "Сделки.xlsx", {"Лист1": [
        ["ID", "Ответственный", "Бюджет", "Дата создания", "Статус"],
        [101, "Иван", 1500000.5, datetime(2024, 3, 1, 10, 0), "Выиграна"],
        [102, "Анна", 20000, date(2024, 3, 2), "open"],
        [103, "Анна", None, "31.02.2024", "open"],
    ]})
    report = import_path(duck, folder, tz="Europe/Moscow")
    assert report.tables["deals"] == {"rows_read": 3, "imported": 2, "duplicates": 0, "quarantined": 1}
    assert sorted(duck.query("SELECT deal_id, owner, amount, created_at, status FROM deals")) == [
        ("101", "Иван", 1500000.5, datetime(2024, 3, 1, 7), "won"),
        ("102", "Анна", 20000.0, datetime(2024, 3, 1, 21), "open")]
    assert report.problems == ['Сделки.xlsx, row 4, column Дата создания (created_at): expected a date such as '
                               '2024-03-31 or 31.03.2024, got "31.02.2024".']


def test_xlsx_workbook_with_one_sheet_per_table(duck, tmp_path):
    book = tmp_path / "export.xlsx"
    _workbook(book, {
        "deals": [["deal_id", "owner", "created_at", "status"], ["d1", "m1", "2024-01-01", "open"]],
        "stage_history": [["deal_id", "stage", "entered_at"], ["d1", "new", "2024-01-01"], ["d9", "new", "2024-01-01"]],
        "notes": [["anything"], ["else"]],
    })
    report = import_path(duck, book)
    assert report.tables["stage_history"] == {"rows_read": 2, "imported": 1, "duplicates": 0, "quarantined": 1}
    assert report.problems == ['export.xlsx, sheet stage_history, row 3, column deal_id: expected a deal of this '
                               'import or already in the store, got "d9".']


def test_parquet_typed_columns(duck, tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    pl.DataFrame({
        "deal_id": ["d1", "d2"], "owner": ["m1", "m2"], "amount": [10.5, None],
        "created_at": [datetime(2024, 1, 1, 12), datetime(2024, 1, 2, 12)],
        "status": ["open", "lost"], "closed_at": [None, datetime(2024, 1, 5)], "score": [1, 2],
    }).write_parquet(folder / "deals.parquet")
    pl.DataFrame({
        "deal_id": ["d1", "d2"], "stage": ["new", "new"],
        "entered_at": pl.Series([datetime(2024, 1, 1, 12), datetime(2024, 1, 2, 12)]).dt.replace_time_zone("Europe/Moscow"),
    }).write_parquet(folder / "stage_history.parquet")
    report = import_path(duck, folder, tz="Asia/Yekaterinburg")
    assert report.tables["deals"]["imported"] == 2
    assert sorted(duck.query("SELECT deal_id, amount, created_at FROM deals")) == [
        ("d1", 10.5, datetime(2024, 1, 1, 7)), ("d2", None, datetime(2024, 1, 2, 7))]  # naive = the export's zone
    assert sorted(duck.query("SELECT entered_at FROM stage_history")) == [
        (datetime(2024, 1, 1, 9),), (datetime(2024, 1, 2, 9),)]  # zoned: converted to UTC
    assert sorted(duck.query("SELECT entity_id, value FROM attributes WHERE field = 'score'")) == [("d1", "1"), ("d2", "2")]
