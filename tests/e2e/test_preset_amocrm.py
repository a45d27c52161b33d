"""`dealpulse import PATH --source amocrm` end to end: a generated department dressed as amoCRM exports
it (API v4 dump, UI XLSX, UI CSV in Windows-1251 or UTF-8 with a BOM) and imported with only the short
account.yaml gives what the native import of the same department gives."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.ingest import import_path
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


@pytest.fixture(scope="module")
def native(shapes):
    """The native import's figures, computed once."""
    return figures(str(shapes / "native.duckdb"), funnel=True)


DATA_TABLES = ("deals", "stage_history", "tasks", "field_history", "accounts", "managers", "attributes", "quarantine")


def dump(db: str) -> dict[str, str]:
    store = connect(db)
    try:
        out = {}
        for table in DATA_TABLES:
            frame = store.query_frame(f"SELECT * FROM {table}")
            frame = frame.drop([c for c in ("import_id",) if c in frame.columns])
            out[table] = frame.sort(frame.columns, nulls_last=True).write_csv() if frame.height else ""
        return out
    finally:
        store.close()


def figures(db: str, funnel: bool = False) -> tuple[dict, list]:
    """Per manager (by name): won, lost, win rate, revenue, step on-time rate; and the funnel rows."""
    store = connect(db)
    try:
        snap = snapshot(store, AS_OF, playbook_for_store(store))
        m = compute_metrics(snap, by=["manager"], window=timedelta(days=400))
        names = dict(store.query("SELECT manager_id, name FROM managers"))
        per = {names.get(r["manager"], r["manager"]): (int(r["won"]), int(r["lost"]), r["win_rate"], r["revenue_won"],
                                                      r["on_time_rate"]) for _, r in m.iterrows()}
        rows = compute_funnel(snap).to_frame().to_dict("records") if funnel else []
    finally:
        store.close()
    return per, rows


def outcomes_by_sql(db: str) -> list:
    """(manager name, status, deals, amount) straight from the store."""
    store = connect(db)
    try:
        return sorted(store.query("SELECT m.name, d.status, count(*), sum(d.amount) FROM deals d "
                                  "JOIN managers m ON m.manager_id = d.owner GROUP BY 1, 2"))
    finally:
        store.close()


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


def test_api_dump_with_the_short_account_equals_the_native_import(shapes, native, tmp_path):
    db = tmp_path / "api.duckdb"
    result = cli_import(shapes / "api", db, shapes / "account.yaml", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["tables"]["deals"]["quarantined"] == 0 and doc["tables"]["tasks"]["quarantined"] == 0
    assert doc["tables"]["stage_history"]["imported"] > doc["tables"]["deals"]["imported"]
    assert "updated_at" in result.stderr  # says what the missing completion time means
    native, native_funnel = native
    api, api_funnel = figures(str(db), funnel=True)
    assert_outcomes_equal(native, api)
    assert api_funnel == native_funnel  # the dump carries the stage history
    for name, row in native.items():  # every 50th done task was edited 2 days later: its updated_at is late
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
    dumps, reports = [], []
    for _ in range(2):
        store = connect(db)
        try:
            reports.append(import_path(store, shapes / "api", mapping_path=shapes / "account.yaml", source="amocrm"))
        finally:
            store.close()
        dumps.append(dump(db))
    assert reports[0].imported > 260 and reports[1].imported == 0  # the second run found every row already there
    assert dumps[0] == dumps[1] and dumps[0]["stage_history"]


def test_ui_xlsx_current_layout_gives_the_same_outcomes_and_says_it_is_a_snapshot(shapes, native, tmp_path):
    db = tmp_path / "xlsx.duckdb"
    result = cli_import(shapes / "xlsx" / "amocrm_export_leads_2023-09-01.xlsx", db, shapes / "account.yaml", lang="ru")
    assert "без задач" in result.stderr and "снимок" in result.stderr
    ui, _ = figures(str(db))
    assert_outcomes_equal(native[0], ui)
    store = connect(str(db))
    try:
        assert store.query("SELECT count(*) FROM quarantine")[0][0] == 0
        assert store.query("SELECT count(*) FROM tasks")[0][0] == 0
        assert {r[0] for r in store.query("SELECT DISTINCT channel FROM deals")} == {"inbound", "outbound", "referral",
                                                                                     "partner", "events"}
    finally:
        store.close()


def test_ui_csv_cp1251_older_76_column_layout(shapes, native, tmp_path):
    path = shapes / "csv" / "amocrm_export_leads_2023-09-01.csv"
    raw = path.read_bytes()
    assert raw.decode("cp1251").split("\r\n")[0].count(";") == 75 and "не закрыта".encode("cp1251") in raw
    db = tmp_path / "csv.duckdb"
    result = cli_import(shapes / "csv", db, shapes / "account.yaml", "--format", "json")  # a folder with the export
    doc = json.loads(result.stdout)
    assert doc["tables"]["deals"] == {"rows_read": 260, "imported": 260, "duplicates": 0, "quarantined": 0}
    ui, _ = figures(str(db))
    assert_outcomes_equal(native[0], ui)
    store = connect(str(db))
    try:
        open_closed = store.query("SELECT count(*) FROM deals WHERE status = 'open' AND closed_at IS NOT NULL")[0][0]
        assert open_closed == 0
    finally:
        store.close()


def test_ui_csv_utf8_bom_with_stray_header_spaces(shapes, native, tmp_path):
    path = tmp_path / "amocrm_export_leads_2023-09-01.csv"
    frames = amo.department()
    amo.dress_ui_csv(frames, path, layout="current", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and "Бюджет ;".encode() in path.read_bytes()
    db = tmp_path / "bom.duckdb"
    cli_import(path, db, shapes / "account.yaml")
    assert outcomes_by_sql(str(db)) == outcomes_by_sql(str(shapes / "native.duckdb"))


def test_a_dump_without_events_or_users_says_what_it_lacks(shapes, tmp_path):
    folder = tmp_path / "thin"
    folder.mkdir()
    for p in (shapes / "api").glob("*.json"):
        if not p.name.startswith(("events", "users", "tasks")):
            shutil.copy(p, folder / p.name)
    result = cli_import(folder, tmp_path / "thin.duckdb", shapes / "account.yaml")
    assert "No events*.json" in result.stderr and "No users*.json" in result.stderr and "No tasks*.json" in result.stderr
    per_owner = "SELECT owner, status, count(*), sum(amount) FROM deals GROUP BY 1, 2"
    store = connect(str(tmp_path / "thin.duckdb"))
    try:
        thin = sorted(r[1:] for r in store.query(per_owner))
        closed = store.query("SELECT count(*) FROM deals WHERE status <> 'open'")[0][0]
        assert store.query("SELECT count(*) FROM stage_history")[0][0] == 260 + closed  # derived from the snapshot
    finally:
        store.close()
    store = connect(str(shapes / "native.duckdb"))
    try:
        assert thin == sorted(r[1:] for r in store.query(per_owner))
    finally:
        store.close()


def test_api_dump_into_postgresql_equals_the_native_import(shapes, store_url):
    if not store_url.startswith("postgres"):
        pytest.skip("the DuckDB store is covered by the tests above")
    store = connect(store_url)
    try:
        first = import_path(store, shapes / "api", mapping_path=shapes / "account.yaml", source="amocrm")
        again = import_path(store, shapes / "api", mapping_path=shapes / "account.yaml", source="amocrm")
    finally:
        store.close()
    assert first.imported > 260 and again.imported == 0
    assert outcomes_by_sql(store_url) == outcomes_by_sql(str(shapes / "native.duckdb"))
    counts = "SELECT (SELECT count(*) FROM stage_history), (SELECT count(*) FROM field_history)"
    store = connect(store_url)
    try:
        pg = store.query(counts)[0]
    finally:
        store.close()
    store = connect(str(shapes / "native.duckdb"))
    try:
        assert pg == store.query(counts)[0]
    finally:
        store.close()
