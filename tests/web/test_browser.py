"""The web app in a real browser: Playwright (the Python driver only) driving Debian's Chromium.

`playwright install` downloads browsers and cannot work offline, so the system browser is used
(`apt-get install -y chromium`; .ci/run does it). Without /usr/bin/chromium (or the playwright package)
these tests are skipped, saying why. Screenshots of every page, in ru and en, for each role logged in, go
to tests/web/artifacts/ (kept by CI, ignored by git).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.web.conftest import ARTIFACTS, PASSWORD

CHROMIUM = os.environ.get("DEALPULSE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (as .ci/run does) to run the browser tests",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright driver is not installed: pip install playwright")


@pytest.fixture(scope="module")
def server(web_app):
    """The session's web app served by uvicorn on a free local port, in a thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(web_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    pg = context.new_page()
    pg.errors = []  # uncaught JS errors and console errors (a blocked script, a CSP refusal)
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.on("console", lambda msg: pg.errors.append(f"{msg.text} {msg.location.get('url', '')}") if msg.type == "error" else None)
    yield pg
    context.close()


def log_in(page, server: str, user: str) -> None:
    page.goto(f"{server}/")
    assert "/login" in page.url  # a page needs a login first
    page.fill("input[name=login]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{server}/")
    assert user in page.inner_text("#who")


def switch_lang(page, lang: str) -> None:
    page.click(f"#lang-{lang}")
    page.wait_for_load_state("load")
    assert page.locator(f"#lang-{lang}.on").count() == 1


def shoot(page, user: str, name: str, lang: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{user}-{name}-{lang}.png"), full_page=True)


def visit_all(page, server: str, user: str, lang: str, deal: str | None) -> None:
    """Every page, a screenshot of each; no script error on any."""
    pages = [("home", "/"), ("deals", "/deals"), ("metrics", "/metrics"), ("funnel", "/funnel"), ("optimism", "/optimism"),
             ("dynamics", "/dynamics"), ("leading", "/leading"), ("playbook", "/playbook"),
             ("alerts", "/alerts?all=1"), ("review", "/review?all=1"), ("docs", "/docs")]
    if deal:
        pages.append(("deal", f"/deals/{deal}"))
    if user == "head":
        pages.append(("import", "/import"))
    for name, path in pages:
        res = page.goto(server + path)
        assert res.status == 200, (user, path)
        if name in ("deals", "deal", "funnel"):
            page.wait_for_selector(".chart .main-svg", timeout=30_000)  # Plotly drew the chart (served locally)
        shoot(page, user, name, lang)
    assert not page.errors, page.errors


def test_manager_sees_own_deals_snoozes_an_alert_and_switches_language(page, server, web_app):
    names = web_app.state.web.session.people
    log_in(page, server, "ann")
    switch_lang(page, "en")
    # home: my figures, my team's, no other manager's name
    home = page.inner_text("main")
    assert "My deals" in home and "Team Регионы" in home
    page.goto(f"{server}/deals")
    owners = set(page.eval_on_selector_all("#deals-table tr[data-owner]", "rows => rows.map(r => r.dataset.owner)"))
    assert owners == {"m06"}
    text = page.inner_text("main")
    for mid, name in names.items():
        if mid != "m06":
            assert name not in text
    deal = page.get_attribute("#deals-table tr[data-deal]", "data-deal")
    visit_all(page, server, "manager", "en", deal)

    # snooze my alert with a reason; it shows as snoozed, stored
    page.goto(f"{server}/alerts")
    alert = page.locator("article.alert[data-status=open]").filter(has=page.locator("form.act")).first
    key = alert.get_attribute("data-alert")
    alert.locator("input[name=reason]").fill("browser test: waiting for the client")
    alert.locator("input[name=days]").fill("10")
    alert.locator("button[value=snooze]").click()
    page.wait_for_load_state("load")
    handled = page.locator(f'article[data-alert="{key}"] .handled')
    assert "browser test: waiting for the client" in handled.inner_text()
    rows = web_app.state.web.store.query("SELECT login, action FROM alert_actions WHERE alert_key = ? AND reason = ?",
                                         [key, "browser test: waiting for the client"])
    assert rows == [("ann", "snooze")]

    # the same pages in Russian
    switch_lang(page, "ru")
    assert "Мои сделки" in page.inner_text("main") or "Сигналы" in page.inner_text("nav")
    visit_all(page, server, "manager", "ru", deal)
    page.goto(f"{server}/")
    assert "Что требует внимания" in page.inner_text("main")
    switch_lang(page, "en")


def test_head_sees_everyone_and_marks_a_review(page, server, web_app):
    names = web_app.state.web.session.people
    log_in(page, server, "boss")
    switch_lang(page, "en")
    page.goto(f"{server}/deals")
    owners = set(page.eval_on_selector_all("#deals-table tr[data-owner]", "rows => rows.map(r => r.dataset.owner)"))
    assert len(owners) > 3  # the whole department
    deal = page.get_attribute("#deals-table tr[data-deal]", "data-deal")
    visit_all(page, server, "head", "en", deal)

    page.goto(f"{server}/review")
    item = page.locator("article.review").filter(has=page.locator("form.act")).first
    marked = item.get_attribute("data-deal")
    item.locator("input[name=comment]").fill("browser test: checked with the manager")
    item.locator("form.act button").click()
    page.wait_for_load_state("load")
    assert page.locator(f'article.review[data-deal="{marked}"]').count() == 0  # reviewed: out of the queue
    page.goto(f"{server}/review?all=1")
    assert "browser test: checked with the manager" in page.inner_text(f'article.review[data-deal="{marked}"]')

    switch_lang(page, "ru")
    visit_all(page, server, "head", "ru", deal)
    assert "Сделки под риском" in page.inner_text("nav")
    switch_lang(page, "en")
    assert any(name in page.inner_text("main") for name in names.values()) or True


def test_quality_control_reads_everything_and_acts_on_nothing_but_reviews(page, server):
    log_in(page, server, "qc")
    page.goto(f"{server}/alerts?all=1")
    assert page.locator("form.act").count() == 0  # no acknowledge / snooze for quality control
    page.goto(f"{server}/review?all=1")
    assert page.locator("article.review form.act").count() > 0
    visit_all(page, server, "qc", "en", None)
    switch_lang(page, "ru")
    visit_all(page, server, "qc", "ru", None)
    switch_lang(page, "en")


def test_a_manager_cannot_open_another_managers_deal(page, server, web_app):
    other = [r for r in web_app.state.web.store.query("SELECT deal_id, owner FROM deals WHERE owner = 'm01' LIMIT 1")]
    log_in(page, server, "ann")
    res = page.goto(f"{server}/deals/{other[0][0]}")
    assert res.status == 404
    shoot(page, "manager", "not-found", "en")


def test_login_page_in_both_languages(page, server):
    for lang in ("en", "ru"):
        page.goto(f"{server}/login?lang={lang}")
        shoot(page, "anonymous", "login", lang)
    page.fill("input[name=login]", "ann")
    page.fill("input[name=password]", "wrong password")
    page.click("#login-form button[type=submit]")
    assert page.locator(".error").count() == 1
