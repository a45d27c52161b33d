"""Properties of the importer on random small exports (Hypothesis): the counts add up, row order
does not matter, and importing again changes nothing."""

from __future__ import annotations

import csv
import io
import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealpulse.ingest import import_path
from dealpulse.store import connect

BASE = datetime(2024, 1, 1, 9, 0)

deal = st.fixed_dictionaries({
    "id": st.integers(1, 12),
    "owner": st.sampled_from(["m1", "m2", ""]),
    "amount": st.sampled_from(["1000", "1 500,5", "много", ""]),
    "day": st.integers(0, 40),
    "status": st.sampled_from(["open", "won", "lost", "Won", "maybe"]),
    "close_after": st.integers(-3, 30),
    "date_style": st.sampled_from(["iso", "ru", "bad"]),
})
stage = st.fixed_dictionaries({
    "id": st.integers(1, 15),
    "stage": st.sampled_from(["new", "qualification", "proposal"]),
    "hours": st.integers(0, 500),
})


def _ts(moment: datetime, style: str) -> str:
    if style == "ru":
        return moment.strftime("%d.%m.%Y %H:%M")
    if style == "bad":
        return "31.02.2024"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _export(deals: list[dict], stages: list[dict], delimiter: str) -> dict[str, list[list[str]]]:
    # one version of each deal id (so that no key conflicts arise), repeated rows allowed
    versions: dict[int, dict] = {}
    for d in deals:
        versions.setdefault(d["id"], d)
    deal_rows = []
    for d in deals:
        v = versions[d["id"]]
        created = BASE + timedelta(days=v["day"])
        closed = created + timedelta(days=v["close_after"]) if v["status"] != "open" else None
        deal_rows.append([f"D{v['id']}", v["owner"], v["amount"], _ts(created, v["date_style"]), v["status"],
                          _ts(closed, "iso") if closed else ""])
    stage_rows = [[f"D{s['id']}", s["stage"], _ts(BASE + timedelta(hours=s["hours"]), "ru")] for s in stages]
    return {"deals": [["deal_id", "owner", "amount", "created_at", "status", "closed_at"]] + deal_rows,
            "stage_history": [["deal_id", "stage", "entered_at"]] + stage_rows}


def _write(folder: Path, tables: dict[str, list[list[str]]], delimiter: str, order: random.Random | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        header, body = rows[0], list(rows[1:])
        if order is not None:
            order.shuffle(body)
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows([header] + body)
        (folder / f"{name}.csv").write_bytes(buf.getvalue().encode("cp1251"))


def _dump(store) -> dict:
    out = {}
    for table in ("deals", "stage_history", "attributes", "meta"):
        out[table] = sorted(store.query(f"SELECT * FROM {table}"), key=repr)
    out["quarantine"] = sorted(store.query("SELECT table_name, row_hash, column_name, reason, found FROM quarantine"), key=repr)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals=st.lists(deal, max_size=25), stages=st.lists(stage, max_size=25),
       delimiter=st.sampled_from([",", ";", "\t"]), seed=st.integers(0, 2**16))
def test_counts_add_up_order_does_not_matter_and_reimport_changes_nothing(deals, stages, delimiter, seed):
    tables = _export(deals, stages, delimiter)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        _write(a, tables, delimiter, None)
        _write(b, tables, delimiter, random.Random(seed))
        s1, s2 = connect(":memory:"), connect(":memory:")
        try:
            r1 = import_path(s1, a, tz="Europe/Moscow", max_quarantine=1.0)
            for name, counts in r1.tables.items():
                assert counts["rows_read"] == counts["imported"] + counts["duplicates"] + counts["quarantined"], name
                assert counts["rows_read"] == len(tables[name]) - 1
            r2 = import_path(s2, b, tz="Europe/Moscow", max_quarantine=1.0)
            assert _dump(s1) == _dump(s2)
            assert {n: {k: v for k, v in c.items()} for n, c in r1.tables.items()} == r2.tables
            before = _dump(s1)
            again = import_path(s1, b, tz="Europe/Moscow", max_quarantine=1.0)
            assert all(c["imported"] == 0 for c in again.tables.values())
            assert _dump(s1) == before
        finally:
            s1.close()
            s2.close()
