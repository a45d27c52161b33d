"""`dealpulse import PATH --source amocrm`: a generated department dressed as amoCRM exports it
(API v4 dump, UI XLSX, UI CSV in Windows-1251) and imported with only the short account.yaml
gives what the native import of the same department gives."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.ingest import import_path
from dealpulse.ingest.presets import parse_account
from dealpulse.metrics.asof import snapshot
from dealpulse.metrics.funnel import compute_funnel
from dealpulse.metrics.kpis import compute_metrics
from dealpulse.playbook import playbook_for_store
from dealpulse.store import connect
from tests.crm import dress_amocrm as amo

runner = CliRunner()
AS_OF = datetime(2023, 9, 1)  # the department's export moment (8 months from 2023-01-01)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    base = tmp_path_factory.mktemp("amocrm")
    frames = amo.department()
    amo.write_native(frames, base / "native")
    amo.dress_api(frames, base / "api")
    (base / "xlsx").mkdir()
    amo.dress_ui_xlsx(frames, base / "xlsx" / "amocrm_export_leads_2023-09-01.xlsx", layout="current")
    (base / "csv").mkdir()
    amo.dress_ui_csv(frames, base / "csv" / "amocrm_export_leads_2023-09-01.csv", layout="older")
    amo.write_account(base / "account.yaml")
    store = connect(str(base / "native.duckdb"))
    try:
        import_path(store, base / "native", tz=amo.TZ)
    finally:
        store.close()
    return base


def figures(db: str) -> tuple[dict, list]:
    """Per manager (by name): won, lost, win rate, revenue, step on-time rate; and the funnel rows."""
    store = connect(db)
    try:
        snap = snapshot(store, AS_OF, playbook_for_store(store))
        m = compute_metrics(snap, by=["manager"], window=timedelta(days=400))
        names = dict(store.query("SELECT manager_id, name FROM managers"))
        per = {names.get(r["manager"], r["manager"]): (int(r["won"]), int(r["lost"]), r["win_rate"], r["revenue_won"],
                                                      r["on_time_rate"]) for _, r in m.iterrows()}
        funnel = compute_funnel(snap).to_frame().to_dict("records")
    finally:
        store.close()
    return per, funnel


def cli_import(path: Path, db: Path, account: Path, *extra: str, lang: str = "en"):
    result = runner.invoke(app, ["import", str(path), "--source", "amocrm", "--mapping", str(account),
                                 "--db", str(db), "--lang", lang, *extra])
    assert result.exit_code == 0, result.output
    return result


def assert_outcomes_equal(native: dict, other: dict) -> None:
    assert set(native) == set(other) and len(native) == 6
    for name, (won, lost, rate, revenue, _) in native.items():
        o = other[name]
        assert (o[0], o[1], o[3]) == (won, lost, revenue), name
        assert o[2] == pytest.approx(rate, abs=1e-12), name


def test_api_dump_with_the_short_account_equals_the_native_import(shapes, tmp_path):
    db = tmp_path / "api.duckdb"
    result = cli_import(shapes / "api", db, shapes / "account.yaml", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["tables"]["deals"]["quarantined"] == 0 and doc["tables"]["tasks"]["quarantined"] == 0
    assert doc["tables"]["stage_history"]["imported"] > doc["tables"]["deals"]["imported"]
    assert "updated_at" in result.stderr  # says what the missing completion time means
    native, native_funnel = figures(str(shapes / "native.duckdb"))
    api, api_funnel = figures(str(db))
    assert_outcomes_equal(native, api)
    assert api_funnel == native_funnel  # the dump carries the stage history
    for name, row in native.items():
        assert api[name][4] == pytest.approx(row[4], abs=0.03), name
    store = connect(str(db))
    try:  # people read names; the custom fields landed where account.yaml said
        assert sorted(r[0] for r in store.query("SELECT name FROM managers")) == sorted(native)
        assert {r[0] for r in store.query("SELECT DISTINCT segment FROM deals")} == {"smb", "mid", "enterprise"}
        assert {r[0] for r in store.query("SELECT DISTINCT field FROM field_history")} >= {"amount", "decision_maker",
                                                                                          "forecast_category"}
        assert {r[0] for r in store.query("SELECT DISTINCT value FROM field_history WHERE field = 'forecast_category'")} \
            <= {"pipeline", "best_case", "commit", None}
    finally:
        store.close()


def test_reimport_of_the_api_dump_changes_nothing(shapes, tmp_path):
    db = str(tmp_path / "twice.duckdb")
    for _ in range(2):
        store = connect(db)
        try:
            report = import_path(store, shapes / "api", mapping_path=shapes / "account.yaml", source="amocrm")
        finally:
            store.close()
        counts = {}
        store = connect(db)
        try:
            for table in ("deals", "stage_history", "tasks", "field_history", "managers", "attributes"):
                counts[table] = store.query(f"SELECT count(*) FROM {table}")[0][0]
        finally:
            store.close()
    assert report.imported == 0  # the second run found every row already there
    assert counts["deals"] == 260 and counts["stage_history"] > 260


def test_ui_xlsx_current_layout_gives_the_same_outcomes_and_says_it_is_a_snapshot(shapes, tmp_path):
    db = tmp_path / "xlsx.duckdb"
    result = cli_import(shapes / "xlsx" / "amocrm_export_leads_2023-09-01.xlsx", db, shapes / "account.yaml", lang="ru")
    assert "без задач" in result.stderr and "снимок" in result.stderr
    native, _ = figures(str(shapes / "native.duckdb"))
    ui, funnel = figures(str(db))
    assert_outcomes_equal(native, ui)
    store = connect(str(db))
    try:
        assert store.query("SELECT count(*) FROM quarantine")[0][0] == 0
        assert store.query("SELECT count(*) FROM tasks")[0][0] == 0
        assert {r[0] for r in store.query("SELECT DISTINCT channel FROM deals")} == {"inbound", "outbound", "referral",
                                                                                     "partner", "events"}
    finally:
        store.close()


def test_ui_csv_cp1251_older_76_column_layout(shapes, tmp_path):
    path = shapes / "csv" / "amocrm_export_leads_2023-09-01.csv"
    raw = path.read_bytes()
    assert raw.decode("cp1251").split("\r\n")[0].count(";") == 75 and "не закрыта".encode("cp1251") in raw
    db = tmp_path / "csv.duckdb"
    result = cli_import(shapes / "csv", db, shapes / "account.yaml", "--format", "json")  # a folder with the export
    doc = json.loads(result.stdout)
    assert doc["tables"]["deals"] == {"rows_read": 260, "imported": 260, "duplicates": 0, "quarantined": 0}
    native, _ = figures(str(shapes / "native.duckdb"))
    ui, _ = figures(str(db))
    assert_outcomes_equal(native, ui)
    store = connect(str(db))
    try:
        open_closed = store.query("SELECT count(*) FROM deals WHERE status = 'open' AND closed_at IS NOT NULL")[0][0]
        assert open_closed == 0
    finally:
        store.close()


def test_ui_csv_utf8_bom_with_stray_header_spaces(shapes, tmp_path):
    path = tmp_path / "amocrm_export_leads_2023-09-01.csv"
    frames = amo.department()
    amo.dress_ui_csv(frames, path, layout="current", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and "Бюджет ;".encode() in path.read_bytes()
    db = tmp_path / "bom.duckdb"
    cli_import(path, db, shapes / "account.yaml")
    native, _ = figures(str(shapes / "native.duckdb"))
    ui, _ = figures(str(db))
    assert_outcomes_equal(native, ui)


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


def test_a_dump_without_events_or_users_says_what_it_lacks(shapes, tmp_path):
    folder = tmp_path / "thin"
    folder.mkdir()
    for p in (shapes / "api").glob("*.json"):
        if not p.name.startswith(("events", "users", "tasks")):
            shutil.copy(p, folder / p.name)
    result = cli_import(folder, tmp_path / "thin.duckdb", shapes / "account.yaml")
    assert "No events*.json" in result.stderr and "No users*.json" in result.stderr and "No tasks*.json" in result.stderr
    native, _ = figures(str(shapes / "native.duckdb"))
    store = connect(str(tmp_path / "thin.duckdb"))
    try:
        snap = snapshot(store, AS_OF, playbook_for_store(store))
        m = compute_metrics(snap, by=["manager"], window=timedelta(days=400))
        assert sorted(int(x) for x in m["won"]) == sorted(v[0] for v in native.values())
    finally:
        store.close()


def test_unknown_source_and_explore_without_source(tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path), "--source", "pipedrive", "--db", str(tmp_path / "x.duckdb"),
                                 "--lang", "en"])
    assert result.exit_code == 2 and "pipedrive" in result.stderr and "amocrm" in result.stderr
    result = runner.invoke(app, ["import", str(tmp_path), "--explore", "--lang", "en"])
    assert result.exit_code == 2 and "--source" in result.stderr
