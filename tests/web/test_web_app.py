"""The web app through FastAPI's TestClient: login, CSRF, the login rate limit, Bearer tokens, every route
with every role, alert actions stored as-of aware, review marks, the language switch."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dealpulse.store import connect
from dealpulse.web import users as U
from tests.web.conftest import PASSWORD, USERS, csrf_of, login

ROLES = list(USERS)
# which managers' deals each user sees (None: every one)
SEES = {"boss": None, "qc": None, "lead": {"m05", "m06"}, "lead_msk": {"m03", "m04"}, "ann": {"m06"}, "max": {"m01"}}


@pytest.fixture
def client(web_app):
    return TestClient(web_app)


def as_user(web_app, user: str) -> TestClient:
    c = TestClient(web_app)
    assert login(c, user).status_code == 303
    return c


def _ann_deal(web_app) -> str:
    c = as_user(web_app, "ann")
    rows = c.get("/api/v1/score").json()["rows"]
    assert rows and {r["owner"] for r in rows} == {"m06"}
    return rows[0]["deal_id"]


def _ann_alert(web_app) -> dict:
    rows = as_user(web_app, "boss").get("/api/v1/alerts").json()["rows"]
    mine = [r for r in rows if r["subject"].get("manager") == "m06"]
    assert mine, "the planted late proposals of m06 raise an alert"
    return mine[0]


# -- login, sessions, CSRF, rate limit, tokens ----------------------------------------------------------
def test_pages_need_a_login_and_the_api_a_token(client):
    res = client.get("/deals?as_of=2024-06-01", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login?next=%2Fdeals%3Fas_of%3D2024-06-01")
    for path in ("/api/v1/score", "/api/v1/alerts", "/api/v1/review", "/api/v1/me"):
        res = client.get(path)
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer dp_not-a-token"}).status_code == 401
    page = client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text


def test_login_sets_an_httponly_samesite_cookie_and_logout_ends_it(client):
    res = login(client, "boss")
    assert res.status_code == 303 and res.headers["location"] == "/"
    cookie = [h for h in res.headers.get_list("set-cookie") if h.startswith("dp_session=")][0].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200 and "boss" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]
    assert client.post("/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_wrong_password_and_login_csrf_are_refused(client):
    res = login(client, "boss", "wrong password")
    assert res.status_code == 401 and "Wrong login or password" in res.text
    client.get("/login")
    forged = client.post("/login", data={"login": "boss", "password": PASSWORD, "csrf": "forged", "next": "/"},
                         follow_redirects=False)
    assert forged.status_code == 403
    other = TestClient(client.app)  # no login cookie at all: a cross-site form
    assert other.post("/login", data={"login": "boss", "password": PASSWORD, "csrf": "x"},
                      follow_redirects=False).status_code == 403


def test_login_is_rate_limited_per_login_and_address(web_db):
    from dealpulse.web.app import create_app

    store = connect(web_db)
    try:
        app = create_app(store, limiter=U.LoginLimiter(attempts=3, window=600))
        c = TestClient(app)
        for _ in range(3):
            assert login(c, "max", "wrong password").status_code == 401
        blocked = login(c, "max", PASSWORD)  # even the right password waits now
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many failed attempts" in blocked.text
        assert login(c, "ann").status_code == 303  # another login from the same address is not blocked
    finally:
        store.close()


def test_every_post_form_needs_the_sessions_csrf_token(web_app):
    c = as_user(web_app, "boss")
    page = c.get("/")
    for path, form in [("/lang", {"lang": "ru"}), ("/logout", {}), ("/alerts/abc", {"action": "acknowledge", "reason": "x"}),
                       ("/review/d00001", {"comment": "x"})]:
        assert c.post(path, data=form, follow_redirects=False).status_code == 403, path
        assert c.post(path, data={**form, "csrf": "wrong"}, follow_redirects=False).status_code == 403, path
    other = as_user(web_app, "max")  # another session's token is not this one's
    assert other.post("/lang", data={"lang": "ru", "csrf": csrf_of(page.text)}, follow_redirects=False).status_code == 403
    assert c.get("/").status_code == 200  # still logged in


def test_bearer_tokens_see_what_their_user_sees(web_app, web_db):
    store = web_app.state.web.store
    token = U.create_token(store, "ann")
    api = TestClient(web_app)
    h = {"Authorization": f"Bearer {token}"}
    me = api.get("/api/v1/me", headers=h).json()
    assert me["user"]["login"] == "ann" and me["scope"]["managers"] == ["m06"]
    rows = api.get("/api/v1/score", headers=h).json()["rows"]
    assert rows and {r["owner"] for r in rows} == {"m06"}
    # a token is for the API: a form sent with it has no session's CSRF token
    assert api.post("/lang", data={"lang": "ru", "csrf": ""}, headers=h, follow_redirects=False).status_code == 403


# -- every route with every role --------------------------------------------------------------------
PAGES = ["/", "/deals", "/deals?sort=p_win", "/metrics", "/metrics?window=56d", "/funnel", "/optimism", "/dynamics", "/dynamics?significant=1", "/leading", "/playbook", "/alerts", "/alerts?all=1", "/review", "/review?all=1", "/docs"]


@pytest.mark.parametrize("user", ROLES)
def test_every_page_with_every_role(web_app, user):
    c = as_user(web_app, user)
    names = web_app.state.web.session.people
    for path in PAGES:
        res = c.get(path)
        assert res.status_code == 200, (user, path, res.text[:500])
        for mid, name in names.items():  # no other manager's name on any page
            if SEES[user] is not None and mid not in SEES[user]:
                assert name not in res.text, (user, path, name)


@pytest.mark.parametrize("user", ROLES)
def test_the_api_is_the_cli_document_filtered_to_the_scope(web_app, user):
    c = as_user(web_app, user)
    for name in ("score", "review", "alerts"):
        doc = c.get(f"/api/v1/{name}").json()
        assert doc["scope"]["login"] == user
        owners = {r["owner"] for r in doc["rows"]} if name != "alerts" else \
            {r["subject"]["manager"] for r in doc["rows"] if "manager" in r["subject"]}
        if SEES[user] is not None:
            assert owners <= SEES[user], (user, name, owners)
    score = c.get("/api/v1/score", params={"limit": 3, "sort": "p_win"}).json()
    assert len(score["rows"]) <= 3 and {"model", "notices", "as_of", "zone"} <= set(score)
    assert c.get("/api/v1/score", params={"sort": "nonsense"}).status_code == 400


@pytest.mark.parametrize("user, cells", [
    ("boss", {"manager=m06": 200, "manager=m01": 200, "team=Регионы": 200, "": 200}),
    ("lead", {"manager=m06": 200, "manager=m01": 404, "team=Регионы": 200, "team=Москва": 404, "": 404}),
    ("ann", {"manager=m06": 200, "manager=m01": 404, "team=Регионы": 404, "": 404}),
    ("qc", {"manager=m01": 200, "": 200}),
])
def test_the_step_heat_map_drills_down_to_the_deals_within_the_scope(web_app, user, cells):
    import re

    names = web_app.state.web.session.people
    c = as_user(web_app, user)
    page = c.get("/metrics")
    assert page.status_code == 200 and 'id="heatmap"' in page.text
    for mid, person in names.items():
        assert (person in page.text) == (SEES[user] is None or mid in SEES[user]), (user, person)
    for query, expected in cells.items():
        res = c.get(f"/metrics/cell?step=proposal_sent&{query}")
        assert res.status_code == expected, (user, query)
        if expected == 200 and query.startswith("manager="):
            owners = set(re.findall(r'data-owner="([^"]+)"', res.text))
            assert owners <= {query.split("=")[1]}
    if user == "ann":  # the cell's count is the number of deals behind it
        m = re.search(r'href="/metrics/cell\?step=proposal_sent&amp;window=28d&amp;manager=m06"[^>]*>\d+% <small>n=(\d+)', page.text)
        assert m, page.text[:3000]
        rows = c.get("/metrics/cell?step=proposal_sent&window=28d&manager=m06").text.count("data-deal=")
        assert rows == int(m.group(1))


OTHERS = ["metrics", "funnel", "norms", "optimism", "dynamics", "changes", "validate-metrics"]


@pytest.mark.parametrize("user", ["boss", "ann", "lead"])
def test_every_other_command_in_the_api_within_the_scope(web_app, user):
    names = web_app.state.web.session.people
    c = as_user(web_app, user)
    for name in OTHERS:
        res = c.get(f"/api/v1/{name}", params={"lang": "en"})
        assert res.status_code == 200, (name, res.text[:300])
        text = res.text
        for mid, person in names.items():
            if SEES[user] is not None and mid not in SEES[user]:
                assert person not in text, (user, name, person)
    by_manager = c.get("/api/v1/metrics", params={"by": "manager"}).json()["rows"]
    expected = set(names) if SEES[user] is None else SEES[user]
    assert {r["manager"] for r in by_manager} == expected & {r["manager"] for r in by_manager} and by_manager
    if SEES[user] is not None:
        assert {r["manager"] for r in by_manager} <= SEES[user]
    assert c.get("/api/v1/funnel", params={"nonsense": "1"}).status_code == 400
    assert c.get("/api/v1/funnel", params={"min_deals": "x"}).status_code == 400


def test_the_api_documents_match_the_cli(web_app, web_db):
    from dealpulse.cli import app as cli

    c = as_user(web_app, "boss")
    runner = CliRunner()
    for name in ("score", "review"):
        res = runner.invoke(cli, [name, "--db", web_db, "--format", "json", "--lang", "en"])
        assert res.exit_code == 0, res.output
        cli_doc = json.loads(res.stdout)
        web_doc = c.get(f"/api/v1/{name}", params={"lang": "en"}).json()
        assert [r["deal_id"] for r in web_doc["rows"]] == [r["deal_id"] for r in cli_doc["rows"]]
        assert web_doc["rows"] == cli_doc["rows"]
        assert web_doc["as_of"] == cli_doc["as_of"]


@pytest.mark.parametrize("user", ROLES)
def test_a_deal_outside_the_scope_is_not_found(web_app, user):
    deal = _ann_deal(web_app)
    c = as_user(web_app, user)
    expected = 200 if SEES[user] is None or "m06" in SEES[user] else 404
    page = c.get(f"/deals/{deal}")
    assert page.status_code == expected, (user, page.text[:300])
    assert c.get(f"/api/v1/deals/{deal}").status_code == expected
    if expected == 404:
        assert "Наталья" not in page.text  # not a word about it
    else:
        assert deal in page.text and 'id="deal-stages"' in page.text
    assert c.get("/deals/no-such-deal").status_code == 404


def test_a_deal_page_is_as_of(web_app):
    deal = _ann_deal(web_app)
    c = as_user(web_app, "boss")
    created = c.get(f"/api/v1/deals/{deal}").json()["deal"]["created_at"]
    before = datetime.fromisoformat(created).date().isoformat()
    assert c.get(f"/api/v1/deals/{deal}", params={"as_of": "2023-06-01"}).status_code == 404  # not yet created then
    doc = c.get(f"/api/v1/deals/{deal}", params={"as_of": before + "T23:59:59"}).json()
    assert all(s["entered_at"] <= before + "T23:59:59" for s in doc["stages"])


@pytest.mark.parametrize("user, expected", [("ann", 303), ("boss", 303), ("lead", 303), ("qc", 403), ("max", 404),
                                            ("lead_msk", 404)])
def test_who_may_act_on_an_alert(web_app, user, expected):
    alert = _ann_alert(web_app)
    c = as_user(web_app, user)
    page = c.get("/alerts")
    res = c.post(f"/alerts/{alert['key']}", data={"csrf": csrf_of(page.text), "action": "acknowledge",
                                                 "reason": f"seen by {user}"}, follow_redirects=False)
    assert res.status_code == expected, res.text[:300]


def test_a_snooze_is_stored_with_its_reason_and_is_as_of_aware(web_app):
    alert = _ann_alert(web_app)
    c = as_user(web_app, "ann")
    page = c.get("/alerts")
    assert f'data-alert="{alert["key"]}"' in page.text
    empty = c.post(f"/alerts/{alert['key']}", data={"csrf": csrf_of(page.text), "action": "snooze", "reason": " "})
    assert empty.status_code == 400  # a reason is needed
    res = c.post(f"/alerts/{alert['key']}", data={"csrf": csrf_of(page.text), "action": "snooze",
                                                 "reason": "client on holiday", "days": "14"}, follow_redirects=False)
    assert res.status_code == 303
    store = web_app.state.web.store
    row = store.query("SELECT action, reason, until_at, acted_at, login, recorded_at FROM alert_actions "
                      "WHERE alert_key = ? AND action = 'snooze' ORDER BY recorded_at DESC", [alert["key"]])[0]
    as_of = web_app.state.web.session.resolve(None)
    assert row[0:2] == ("snooze", "client on holiday") and row[4] == "ann"
    assert row[3] == as_of and (row[2] - row[3]).days == 14  # acted at the data's moment, for 14 days
    assert abs((datetime.now(timezone.utc).replace(tzinfo=None) - row[5]).total_seconds()) < 300  # recorded at the wall clock
    after = c.get("/alerts").text
    assert "client on holiday" in after
    api = c.get("/api/v1/alerts").json()["rows"]
    handled = [r["handled"] for r in api if r["key"] == alert["key"]][0]
    assert handled["action"] in ("snooze", "acknowledge") and handled["active"]
    home = c.get("/").text  # a snoozed alert leaves the home page's open alerts
    assert f'data-alert="{alert["key"]}"' not in home or handled["action"] != "snooze"
    # a page as of a moment before the snooze does not know of it
    earlier = c.get("/api/v1/alerts", params={"as_of": "2024-06-21"}).json()["rows"]
    assert all(r["handled"] is None for r in earlier if r["key"] == alert["key"])


def test_alert_actions_as_of(web_app):
    from datetime import timedelta

    from dealpulse.web.data import act_on_alert, alert_actions

    store = web_app.state.web.store
    t0 = datetime(2024, 3, 1)
    row = {"key": "k-test", "kind": "stage_dwell", "subject": {"stage": "contract"}}
    act_on_alert(store, row, "snooze", "waiting for the budget", login="boss", at=t0, until=t0 + timedelta(days=7))
    assert "k-test" not in alert_actions(store, t0 - timedelta(days=1))
    assert alert_actions(store, t0 + timedelta(days=3))["k-test"]["active"]
    assert not alert_actions(store, t0 + timedelta(days=8))["k-test"]["active"]  # the snooze is over
    act_on_alert(store, row, "acknowledge", "known", login="boss", at=t0 + timedelta(days=10))
    assert alert_actions(store, t0 + timedelta(days=30))["k-test"]["action"] == "acknowledge"


@pytest.mark.parametrize("user, expected", [("qc", 303), ("boss", 303), ("ann", 403), ("max", 404), ("lead_msk", 404)])
def test_who_may_mark_a_review(web_app, user, expected):
    deal = _ann_deal(web_app)
    c = as_user(web_app, user)
    page = c.get("/review")
    res = c.post(f"/review/{deal}", data={"csrf": csrf_of(page.text), "comment": f"checked by {user}"},
                 follow_redirects=False)
    assert res.status_code == expected, res.text[:300]
    if expected == 303:
        marks = web_app.state.web.store.query("SELECT reviewer, reviewed_at FROM reviews WHERE deal_id = ? AND reviewer = ?",
                                              [deal, user])
        assert marks and marks[0][1] == web_app.state.web.session.resolve(None)


def test_a_review_mark_from_the_queue_page(web_app):
    c = as_user(web_app, "qc")
    queue = c.get("/api/v1/review").json()["rows"]
    assert queue, "the demo has atypical deals"
    deal = queue[0]["deal_id"]
    page = c.get("/review")
    assert c.post(f"/review/{deal}", data={"csrf": csrf_of(page.text), "comment": "looked, fine"},
                  follow_redirects=False).status_code == 303
    assert deal not in [r["deal_id"] for r in c.get("/api/v1/review").json()["rows"]]  # reviewed: hidden
    shown = c.get("/review?all=1").text
    assert "looked, fine" in shown


def test_language_switch_is_stored_per_user(web_app):
    c = as_user(web_app, "max")
    page = c.get("/deals")
    assert "Deals at risk" in page.text
    assert c.post("/lang", data={"csrf": csrf_of(page.text), "lang": "ru", "next": "/deals"},
                  follow_redirects=False).headers["location"] == "/deals"
    assert "Сделки под риском" in c.get("/deals").text
    assert U.get_user(web_app.state.web.store, "max").lang == "ru"
    again = as_user(web_app, "max")  # another login keeps it
    assert "Сделки под риском" in again.get("/").text
    assert again.post("/lang", data={"csrf": csrf_of(again.get("/").text), "lang": "xx"}).status_code == 400
    again.post("/lang", data={"csrf": csrf_of(again.get("/").text), "lang": "en", "next": "//evil.example/"},
               follow_redirects=False)
    assert U.get_user(web_app.state.web.store, "max").lang == "en"


def test_as_of_is_checked_like_the_cli(web_app):
    c = as_user(web_app, "boss")
    res = c.get("/deals", params={"as_of": "not a date"})
    assert res.status_code == 400 and "not a date" in res.text
    assert c.get("/api/v1/score", params={"as_of": "not a date"}).status_code == 400


def test_plotly_and_static_files_are_served_locally(client):
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and "javascript" in js.headers["content-type"]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/score", "/api/v1/alerts", "/api/v1/review"} <= set(spec["paths"])


def test_new_data_is_computed_anew(web_app):
    """An import (a new row in `imports`) makes the app forget the analyses of the old data."""
    from dealpulse.web.users import now

    web = web_app.state.web
    with web.lock:
        before = web.moment(None)
        assert web.moment(None) is before  # the same data: the same analyses
        web.store.execute("INSERT INTO imports (import_id, started_at, source) VALUES (?, ?, ?)",
                          ["test-web-fresh", now(), "test"])
        after = web.moment(None)
    assert after is not before and after.as_of == before.as_of
    c = as_user(web_app, "ann")
    assert c.get("/api/v1/score").json()["rows"]


def test_a_deals_chance_over_time(web_app):
    from dealpulse.web.data import deal_document, p_win_path

    deal = _ann_deal(web_app)
    c = as_user(web_app, "boss")
    page = c.get(f"/deals/{deal}")
    assert 'id="chart-p-win"' in page.text
    web = web_app.state.web
    score = [r for r in c.get("/api/v1/score").json()["rows"] if r["deal_id"] == deal][0]
    with web.lock:
        m = web.moment(None)
        path = p_win_path(m, deal_document(m, deal)["deal"])
    assert len(path) == 16 and all(0 <= p["p_win"] <= 1 for p in path)
    assert path[-1]["at"] == m.as_of and abs(path[-1]["p_win"] - score["p_win"]) < 0.02  # today's point is today's score
