"""The import page: the head uploads an export (a .zip of its tables), gets the report and sees the
quarantine; nobody else may; the data is there for every page at once."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from dealpulse.store import connect
from dealpulse.web.users import add_user
from tests.web.conftest import PASSWORD, csrf_of, login


@pytest.fixture
def empty_app(tmp_path):
    from dealpulse.web.app import create_app

    store = connect(str(tmp_path / "empty.duckdb"))
    add_user(store, "boss", "head", PASSWORD)
    add_user(store, "olga", "qc", PASSWORD)
    try:
        yield create_app(store)
    finally:
        store.close()


def _zip(export, broken: bool) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(export.iterdir()):
            data = f.read_bytes()
            if broken and f.name == "deals.csv":
                lines = data.decode("utf-8").splitlines()
                head = lines[0].split(",")
                cells = lines[1].split(",")
                cells[head.index("amount")] = "lots"
                lines[1] = ",".join(cells)
                data = ("\n".join(lines) + "\n").encode("utf-8")
            z.writestr(f"export/{f.name}", data)  # a folder inside the archive: only the names are kept
    return buf.getvalue()


def test_the_head_imports_an_upload_and_sees_the_quarantine(empty_app, web_export):
    boss = TestClient(empty_app)
    assert login(boss, "boss").status_code == 303
    page = boss.get("/import")
    assert page.status_code == 200 and "Nothing imported yet" in page.text
    token = csrf_of(page.text)
    assert boss.post("/import", data={"csrf": token}).status_code == 400  # no file
    assert boss.post("/import", data={"csrf": token}, files={"files": ("notes.txt", b"hello")}).status_code == 400
    assert boss.post("/import", data={"csrf": "forged"},
                     files={"files": ("export.zip", _zip(web_export, False))}).status_code == 403
    res = boss.post("/import", data={"csrf": token}, files={"files": ("export.zip", _zip(web_export, True))})
    assert res.status_code == 200, res.text[:500]
    assert 'id="import-report"' in res.text and 'data-table="deals"' in res.text
    assert "deals.csv" in res.text and "lots" in res.text  # the refused row: file, column, what was found
    store = empty_app.state.web.store
    assert store.query("SELECT count(*) FROM deals")[0][0] == 1599
    assert store.query("SELECT count(*) FROM quarantine WHERE table_name = 'deals' AND column_name = 'amount'")[0][0] == 1
    funnel = boss.get("/api/v1/funnel").json()
    assert funnel["rows"] and funnel["rows"][0]["entered"] > 1000  # every page has the data at once
    again = boss.post("/import", data={"csrf": token}, files={"files": ("export.zip", _zip(web_export, True))})
    assert again.status_code == 200
    assert store.query("SELECT count(*) FROM deals")[0][0] == 1599  # re-import changes nothing


def test_only_the_head_imports(empty_app, web_export):
    qc = TestClient(empty_app)
    assert login(qc, "olga").status_code == 303
    assert qc.get("/import").status_code == 403
    page = qc.get("/docs")
    res = qc.post("/import", data={"csrf": csrf_of(page.text) if 'name="csrf"' in page.text else ""},
                  files={"files": ("export.zip", _zip(web_export, False))})
    assert res.status_code == 403
    assert empty_app.state.web.store.query("SELECT count(*) FROM deals")[0][0] == 0
