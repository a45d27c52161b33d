"""`dealpulse serve` on PostgreSQL, the team store: the same routes, users, actions and marks."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dealpulse.store import connect
from tests.conftest import PG_URL, _drop_pg, _pg_database
from tests.web.conftest import csrf_of, fill_store, login

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_app(web_export):
    if not PG_URL:
        pytest.skip("DEALPULSE_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    from dealpulse.web.app import create_app

    url, name = _pg_database()
    try:
        fill_store(url, web_export)
        store = connect(url)
        try:
            yield create_app(store)
        finally:
            store.close()
    finally:
        _drop_pg(name)


def _as(app, user):
    c = TestClient(app)
    assert login(c, user).status_code == 303
    return c


def test_serve_on_postgres_every_role(pg_app):
    boss, ann, qc = _as(pg_app, "boss"), _as(pg_app, "ann"), _as(pg_app, "qc")
    for c in (boss, ann, qc):
        for path in ("/", "/deals", "/alerts", "/review"):
            assert c.get(path).status_code == 200, path
    rows = ann.get("/api/v1/score").json()["rows"]
    assert rows and {r["owner"] for r in rows} == {"m06"}
    other = boss.get("/api/v1/score", params={"owner": "m01", "limit": 1}).json()["rows"][0]["deal_id"]
    assert ann.get(f"/deals/{other}").status_code == 404 and boss.get(f"/deals/{other}").status_code == 200

    alert = [r for r in ann.get("/api/v1/alerts").json()["rows"] if r["subject"].get("manager") == "m06"][0]
    page = ann.get("/alerts")
    assert ann.post(f"/alerts/{alert['key']}", data={"csrf": csrf_of(page.text), "action": "snooze",
                                                   "reason": "on postgres", "days": "3"},
                    follow_redirects=False).status_code == 303
    handled = [r["handled"] for r in ann.get("/api/v1/alerts").json()["rows"] if r["key"] == alert["key"]][0]
    assert handled["reason"] == "on postgres" and handled["active"]

    deal = qc.get("/api/v1/review").json()["rows"][0]["deal_id"]
    assert qc.post(f"/review/{deal}", data={"csrf": csrf_of(qc.get('/review').text), "comment": "pg mark"},
                   follow_redirects=False).status_code == 303
    assert deal not in [r["deal_id"] for r in qc.get("/api/v1/review").json()["rows"]]
    assert qc.post("/lang", data={"csrf": csrf_of(qc.get('/').text), "lang": "ru"}, follow_redirects=False).status_code == 303
    assert "Очередь проверки" in qc.get("/review").text
