"""`dealpulse review` and `dealpulse review mark` from the command line, on the demo (DuckDB: the 5,000-deal
demo store, copied before marking; PostgreSQL: a 400-deal demo imported into a fresh database)."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from dealpulse.cli import app

runner = CliRunner()


def _review(*args):
    res = runner.invoke(app, ["review", *args])
    assert res.exit_code == 0, res.output
    return res


def _queue_mark_queue(db, tmp_path):
    doc = json.loads(_review("--db", db, "--format", "json").stdout)
    assert doc["n_atypical"] == doc["n_rows"] == len(doc["rows"]) > 0
    assert set(doc) >= {"as_of", "rows", "n_open", "method", "warnings"}
    first = doc["rows"][0]
    assert set(first) >= {"deal_id", "owner", "segment", "stage", "amount", "score", "reasons", "reasons_codes", "reviewed"}
    assert first["reasons"] and first["reviewed"] is None
    res = _review("mark", first["deal_id"], "--comment", "client on hold", "--by", "head_of_sales", "--db", db,
                  "--format", "json")
    mark = json.loads(res.stdout)["mark"]
    assert mark["deal_id"] == first["deal_id"] and mark["reviewed_at"] + "Z" == doc["as_of"]["utc"]  # the data's moment
    after = json.loads(_review("--db", db, "--format", "json").stdout)
    assert first["deal_id"] not in [r["deal_id"] for r in after["rows"]] and after["n_reviewed_hidden"] == 1
    shown = json.loads(_review("list", "--all", "--db", db, "--format", "json", "--lang", "ru").stdout)
    row = next(r for r in shown["rows"] if r["deal_id"] == first["deal_id"])
    assert row["reviewed"]["by"] == "head_of_sales" and row["reviewed"]["comment"] == "client on hold"
    # as of a moment before the mark, it was not reviewed yet
    earlier = json.loads(_review("--db", db, "--format", "json", "--as-of", "2024-12-31T00:00").stdout)
    assert all(r["reviewed"] is None for r in earlier["rows"])
    bad = runner.invoke(app, ["review", "mark", "no-such-deal", "--comment", "x", "--db", db, "--lang", "ru"])
    assert bad.exit_code == 4 and "no-such-deal" in bad.output
    return doc


def test_review_on_the_demo_duckdb_is_short_ranked_and_marks_work(demo_db, tmp_path):
    db = str(tmp_path / "demo.duckdb")
    shutil.copy(demo_db, db)
    doc = _queue_mark_queue(db, tmp_path)
    # a queue a human can read: about 1-3% of the open deals
    assert 0.01 * doc["n_open"] <= doc["n_atypical"] <= 0.03 * doc["n_open"]
    scores = [r["score"] for r in doc["rows"]]
    assert scores == sorted(scores, reverse=True)
    table = _review("--db", db, "--lang", "ru", "--limit", "3").stdout
    assert "Очередь на проверку" in table and "Почему" in table
    csv = _review("--db", db, "--format", "csv", "--limit", "2").stdout.splitlines()
    assert csv[0].startswith("rank,deal_id,owner") and len(csv) == 3


def test_review_on_postgres(store, store_url, tmp_path):
    if not store_url.startswith("postgresql"):
        return  # DuckDB: the test above
    from dealpulse.demo.generator import generate
    from dealpulse.ingest.importer import import_path

    generate(tmp_path / "export", deals=400)
    import_path(store, tmp_path / "export")
    _queue_mark_queue(store_url, tmp_path)


def test_help_lists_the_queue_and_mark():
    res = runner.invoke(app, ["review", "--help"])
    assert res.exit_code == 0 and "mark" in res.stdout and "--as-of" in res.stdout
