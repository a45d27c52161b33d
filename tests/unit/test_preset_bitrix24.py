"""The Bitrix24 preset against the native import of the same generated department.

One small department (6 managers, 8 months, 160 deals) is imported natively and dressed as Bitrix24
exports it (tests/crm/dress_bitrix24.py): BI-connector datasets, a REST dump, the deal grid's
HTML «.xls». Each is imported through the CLI with `--source bitrix24` and only its short
account.yaml. Per manager: won, lost, win rate and revenue exactly equal; the funnel equal where
the shape carries stage history; step on-time within 0.03 where it carries activities (LAST_UPDATED
stands in for the completion time); client-card completeness within 0.03.

Client-card completeness here is the share of a manager's deals whose playbook card fields are all
filled as of the export: crm_deal_uf holds today's values only, so that is what Bitrix24 carries
(the preset says so in a warning; the playbook's "complete before proposal" needs the fields'
history, which no Bitrix24 export has).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.ingest.presets import get_preset, load_account, parse_account
from dealpulse.metrics.asof import snapshot
from dealpulse.metrics.funnel import compute_funnel
from dealpulse.metrics.kpis import compute_metrics
from dealpulse.playbook import playbook_for_store
from dealpulse.store import connect
from tests.crm.dress_bitrix24 import (
    ACCOUNT_BI, CARD, TZ, department, dress_bi, dress_grid, dress_rest, export_end, write_native,
)

runner = CliRunner()
EXACT = ["won", "lost", "win_rate", "revenue_won"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bitrix24")
    frames = department()
    end = export_end(frames)
    shapes = {"bi": (root / "bi", dress_bi(frames, root / "bi")),
              "rest": (root / "rest", dress_rest(frames, root / "rest")),
              "grid": (root / "grid" / "deals.xls", dress_grid(frames, root / "grid" / "deals.xls"))}
    native_db = str(root / "native.duckdb")
    r = runner.invoke(app, ["import", str(write_native(frames, root / "native")), "--tz", TZ, "--db", native_db, "--lang", "en"])
    assert r.exit_code == 0, r.output
    imported = {}
    for name, (path, account) in shapes.items():
        db = str(root / f"{name}.duckdb")
        res = runner.invoke(app, ["import", str(path), "--source", "bitrix24", "--mapping", str(account), "--db", db,
                                  "--format", "json", "--lang", "en"])
        assert res.exit_code == 0, res.output
        imported[name] = (db, json.loads(res.stdout), res.stderr)
    return {"root": root, "frames": frames, "end": end, "shapes": shapes, "native": native_db, "imported": imported}


def _figures(db: str, end, funnel: bool = True) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.Series]:
    store = connect(db)
    try:
        snap = snapshot(store, end, playbook_for_store(store))
        m = compute_metrics(snap, by=["manager"], window=timedelta(days=400))
        names = dict(store.table("managers").select("manager_id", "name").execute().itertuples(index=False))
        m["manager"] = m["manager"].map(names)
        card = _card_now(store, names)
        return m.set_index("manager").sort_index(), compute_funnel(snap).to_frame() if funnel else None, card
    finally:
        store.close()


def _card_now(store, names: dict) -> pd.Series:
    """Per manager (name): the share of deals whose card fields are all filled as of the export
    (the last field_history value, else the attribute)."""
    deals = store.table("deals").select("deal_id", "owner").execute()
    fh = store.table("field_history").execute()
    fh = fh[(fh["entity"] == "deal") & fh["field"].isin(CARD)].sort_values("changed_at")
    last = fh.groupby(["entity_id", "field"])["value"].last()
    at = store.table("attributes").execute()
    at = at[(at["entity"] == "deal") & at["field"].isin(CARD)].set_index(["entity_id", "field"])["value"]
    value = pd.concat([at[~at.index.isin(last.index)], last])
    filled = value.dropna().astype(str).str.strip().ne("")
    full = filled[filled].groupby(level=0).size() == len(CARD)
    deals["complete"] = deals["deal_id"].map(full.to_dict()).eq(True)
    return deals.groupby(deals["owner"].map(names))["complete"].mean().sort_index()


@pytest.fixture(scope="module")
def native(world):
    return _figures(world["native"], world["end"])


@pytest.mark.parametrize("shape", ["bi", "rest"])
def test_full_shapes_match_the_native_import(world, native, shape):
    m, funnel, card = _figures(world["imported"][shape][0], world["end"])
    nm, nfunnel, ncard = native
    assert list(m.index) == list(nm.index) and len(m) == 6  # managers by name, not by id
    pd.testing.assert_frame_equal(m[EXACT], nm[EXACT], check_dtype=False)
    assert nm["won"].sum() > 20 and nm["lost"].sum() > 20
    cols = ["stage", "entered", "advanced", "lost", "won", "conv_next", "conv_won", "dwell_median_days"]
    pd.testing.assert_frame_equal(funnel[cols], nfunnel[cols], check_dtype=False)
    diff = (m["on_time_rate"] - nm["on_time_rate"]).abs()
    assert diff.max() <= 0.03, diff
    assert (card - ncard).abs().max() <= 0.03
    doc = world["imported"][shape][1]
    assert doc["tables"]["tasks"]["quarantined"] == 0 and doc["tables"]["deals"]["quarantined"] == 0
    warnings = " ".join(doc["warnings"])
    assert "LAST_UPDATED" in warnings and "today's values" in warnings
    assert "not in account.yaml `stages:`" not in warnings  # every stage id mapped, C1:PREPAYMENT_INVOIC too
    assert "UF_CRM_1704100000007" in warnings  # the unmapped custom field is named


def test_grid_export_matches_what_a_snapshot_carries(world, native):
    m, _, card = _figures(world["imported"]["grid"][0], world["end"], funnel=False)
    nm, _, ncard = native
    pd.testing.assert_frame_equal(m[EXACT], nm[EXACT], check_dtype=False)
    assert (card - ncard).abs().max() <= 0.03
    doc = world["imported"]["grid"][1]
    assert "tasks" not in doc["tables"]
    assert any("snapshot" in w and "no activities" in w for w in doc["warnings"])


def test_closedate_of_an_open_deal_is_a_plan_not_a_close(world):
    frames = world["frames"]
    d = frames["deals"]
    open_ids = set(d.filter(d["status"] == "open")["deal_id"].to_list())
    store = connect(world["imported"]["bi"][0])
    try:
        deals = store.table("deals").execute()
        fh = store.table("field_history").execute()
    finally:
        store.close()
    opened = deals[deals["status"] == "open"]
    assert len(opened) == len(open_ids) and opened["closed_at"].isna().all()
    plans = fh[fh["field"] == "expected_close"]
    assert len(plans) > 5 and set(plans["entity_id"]) <= set(opened["deal_id"])
    fh_native = frames["field_history"]
    last_plan = (fh_native.filter(pl.col("field") == "expected_close").sort("changed_at")
                 .group_by("entity_id").agg(pl.col("value").last()))
    want = {str(1000 + int(k.lstrip("d"))): v for k, v in last_plan.iter_rows() if k in open_ids}
    got = dict(zip(plans["entity_id"], plans["value"]))
    assert got == want


def test_open_activities_stay_open_and_automatic_ones_are_cancelled(world):
    tk = world["frames"]["tasks"]
    store = connect(world["imported"]["rest"][0])
    try:
        tasks = store.table("tasks").execute()
    finally:
        store.close()
    counts = tasks["status"].value_counts().to_dict()
    assert counts.get("open", 0) == tk.filter(tk["status"] == "open").height > 0
    assert counts.get("cancelled", 0) == tk.filter(tk["status"] == "cancelled").height
    assert tasks.loc[tasks["status"] == "open", "completed_at"].isna().all()
    assert len(tasks) == tk.height  # the 5 activities on contacts left out


def test_explore_lists_each_stage_id_once_and_writes_a_starter(world, tmp_path):
    bi = world["shapes"]["bi"][0]
    out = tmp_path / "starter.yaml"
    r = runner.invoke(app, ["import", str(bi), "--source", "bitrix24", "--explore", "--out", str(out), "--format", "json",
                            "--lang", "ru"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ids = [s["id"] for p in doc["pipelines"] for s in p["stages"]]
    assert len(ids) == len(set(ids)) and "C1:PREPAYMENT_INVOIC" in ids and "PREPAYMENT_INVOICE" in ids
    assert not any(i.startswith("[") for i in ids)  # ids, not "[NEW] Новая" display names
    kinds = {s["id"]: s["kind"] for p in doc["pipelines"] for s in p["stages"]}
    assert kinds["C1:WON"] == "won" and kinds["LOSE"] == "lost" and kinds["C1:NEW"] is None
    assert {p["name"] for p in doc["pipelines"]} >= {"Партнёрские продажи"}
    fields = {f["id"]: f for f in doc["fields"]}
    assert {v["name"] for v in fields["UF_CRM_1704100000001"]["values"]} == {"Малый бизнес", "Средний бизнес", "Крупный бизнес"}
    assert any(tt["name"] == "Отправить КП" for tt in doc["task_types"])
    assert any("LAST_UPDATED" in n for n in doc["notes"])
    account = load_account(out, "ru")  # the starter parses; its keys are the export's own
    assert not account.stages and not account.steps  # nothing mapped until filled in


def test_starters_key_each_stage_once(world):
    """A new pipeline copies the default stage names: the starter keys the copy by its id (BI,
    REST), or once by name (the grid has no ids; one name then maps in every pipeline)."""
    import yaml

    preset = get_preset("bitrix24")
    for shape in ("bi", "grid"):
        ex = preset.explore(world["shapes"][shape][0], "en")
        text = preset.starter_account(ex, lang="en")
        keys = [ln.split(": null")[0].strip() for ln in text.split("stages:")[1].split("steps:")[0].splitlines()
                if ln.startswith("  ") and not ln.strip().startswith("#") and ": null" in ln]
        assert len(keys) == len(set(keys)) and keys, (shape, keys)
        assert yaml.safe_load(text)["stages"]
    bi = preset.starter_account(preset.explore(world["shapes"]["bi"][0], "en"), lang="en")
    assert "C1:NEW: null    # «Новая»" in bi


def test_a_repeated_stage_name_maps_per_pipeline(world, tmp_path):
    """«Новая» is in both pipelines; "Партнёрские продажи: Новая" maps it in that pipeline only."""
    path, account = world["shapes"]["grid"]
    text = account.read_text(encoding="utf-8").replace('"Новая": new,', '"Новая": new, "Партнёрские продажи: Новая": qualification,')
    (tmp_path / "account.yaml").write_text(text, encoding="utf-8")
    read = get_preset("bitrix24").read(path, load_account(tmp_path / "account.yaml"), "en")
    deals = read.tables["deals"].frame
    ids = {int(i) for i in deals["deal_id"].to_list()}
    d = world["frames"]["deals"]
    sh = world["frames"]["stage_history"].sort("entered_at").group_by("deal_id").agg(pl.col("stage").last())
    at_new = {1000 + int(k.lstrip("d")) for k, st in sh.iter_rows() if st == "new"} & ids
    got = dict(zip((int(i) for i in deals["deal_id"].to_list()), deals["stage"].to_list()))
    assert {got[i] for i in at_new if i % 3 == 2} == {"qualification"}  # the second pipeline
    assert {got[i] for i in at_new if i % 3 != 2} == {"new"}
    assert d.height == deals.height


def test_an_unmapped_stage_is_named_with_its_count(world, tmp_path):
    bi, _ = world["shapes"]["bi"]
    account = tmp_path / "account.yaml"
    account.write_text(ACCOUNT_BI.replace('"C1:PREPAYMENT_INVOIC": proposal,', ""), encoding="utf-8")
    read = get_preset("bitrix24").read(bi, load_account(account), "en")
    text = " ".join(read.warnings)
    assert "1 Bitrix24 stages are not in account.yaml" in text and "C1:PREPAYMENT_INVOIC" in text
    ru = get_preset("bitrix24").read(bi, load_account(account, "ru"), "ru")
    assert any("C1:PREPAYMENT_INVOIC" in w and "стадия плейбука" in w for w in ru.warnings)


def test_bi_datasets_as_pbi_json(world, tmp_path):
    """The BI connector's pbi.php answers a list of rows, the first the header: read the same."""
    import shutil

    bi = world["shapes"]["bi"][0]
    folder = tmp_path / "pbi"
    shutil.copytree(bi, folder)
    deals = pl.read_csv(folder / "crm_deal.csv", separator=";", infer_schema=False)
    (folder / "crm_deal.csv").unlink()
    rows = [deals.columns] + [list(r) for r in deals.iter_rows()]
    (folder / "crm_deal.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    read = get_preset("bitrix24").read(folder, load_account(world["shapes"]["bi"][1]), "en")
    base = get_preset("bitrix24").read(bi, load_account(world["shapes"]["bi"][1]), "en")
    got, want = read.tables["deals"].frame, base.tables["deals"].frame
    assert got.drop("_row").equals(want.drop("_row")) and got["_row"][0] == 2


def test_bi_datasets_in_windows_1251_with_russian_dates_and_decimal_commas(world, tmp_path):
    import re
    import shutil

    folder = tmp_path / "bi_ru"
    shutil.copytree(world["shapes"]["bi"][0], folder)
    for p in folder.glob("*.csv"):
        text = re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\3.\2.\1", p.read_text(encoding="utf-8"))
        p.write_bytes(re.sub(r"(\d+)\.00\b", r"\1,00", text).encode("cp1251"))
    db = str(tmp_path / "ru.duckdb")
    r = runner.invoke(app, ["import", str(folder), "--source", "bitrix24", "--mapping", str(world["shapes"]["bi"][1]),
                            "--db", db, "--format", "json", "--lang", "ru"])
    assert r.exit_code == 0, r.output
    assert all(t["quarantined"] == 0 for t in json.loads(r.stdout)["tables"].values())

    def summary(path: str) -> list:
        store = connect(path)
        try:
            d = store.table("deals")
            return d.group_by("status").aggregate(n=d.count(), s=d.amount.sum(), c=d.closed_at.max()).order_by("status").execute().values.tolist()
        finally:
            store.close()

    assert summary(db) == summary(world["imported"]["bi"][0])


def test_rest_dump_with_an_incremental_pull_keeps_the_latest_record(world, tmp_path):
    import shutil

    folder = tmp_path / "rest"
    shutil.copytree(world["shapes"]["rest"][0], folder)
    first = json.loads((folder / "crm.deal.list_000.json").read_text(encoding="utf-8"))["result"][0]
    later = {**first, "TITLE": "Обновлённая сделка", "DATE_MODIFY": "2099-01-01T10:00:00+03:00"}
    (folder / "crm.deal.list_zz_incremental.json").write_text(json.dumps({"result": [later], "total": 1}), encoding="utf-8")
    read = get_preset("bitrix24").read(folder, load_account(world["shapes"]["rest"][1]), "en")
    deals = read.tables["deals"].frame
    assert deals.height == world["frames"]["deals"].height
    row = deals.filter(pl.col("deal_id") == first["ID"])
    assert row["title"].to_list() == ["Обновлённая сделка"] and row["_row"].to_list() == [1]


def test_reimport_changes_nothing(world):
    path, account = world["shapes"]["rest"]
    db = world["imported"]["rest"][0]
    r = runner.invoke(app, ["import", str(path), "--source", "bitrix24", "--mapping", str(account), "--db", db,
                            "--format", "json", "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert all(t["imported"] == 0 for t in json.loads(r.stdout)["tables"].values())


def test_unknown_folder_is_a_named_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing", encoding="utf-8")
    r = runner.invoke(app, ["import", str(tmp_path), "--source", "bitrix24", "--db", str(tmp_path / "x.duckdb"), "--lang", "en"])
    assert r.exit_code != 0
    assert "not a Bitrix24 export" in r.output and "Traceback" not in r.output


def test_grid_without_ids_and_history_cut_short_are_said(world, tmp_path):
    html = world["shapes"]["grid"][0].read_text(encoding="utf-8")
    no_id = tmp_path / "no_id.xls"
    no_id.write_text(html.replace("<th>ID</th>", "<th>Номер</th>"), encoding="utf-8")
    r = runner.invoke(app, ["import", str(no_id), "--source", "bitrix24", "--db", str(tmp_path / "x.duckdb"), "--lang", "en"])
    assert r.exit_code != 0 and "lacks the columns ID" in r.output and "Traceback" not in r.output
    import shutil

    folder = tmp_path / "bi"
    shutil.copytree(world["shapes"]["bi"][0], folder)
    hist = pl.read_csv(folder / "crm_deal_stage_history.csv", separator=";", infer_schema=False)
    hist.filter(pl.col("DEAL_ID").cast(pl.Int64) > 1010).write_csv(folder / "crm_deal_stage_history.csv", separator=";")
    read = get_preset("bitrix24").read(folder, load_account(world["shapes"]["bi"][1]), "en")
    assert any(w.startswith("10 deals have no rows in crm_deal_stage_history.csv") for w in read.warnings)


def test_account_of_the_issue_parses():
    acc = parse_account('stages: {"C1:PREPAYMENT_INVOIC": proposal}\nfields: {UF_CRM_1704100000001: segment}\n')
    assert acc.stage_of("C1:PREPAYMENT_INVOIC", "КП отправлено") == "proposal"
