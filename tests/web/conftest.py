"""A small generated department (6 managers in 3 teams, 18 months), imported once per test session, with
one user per role; the web app on it, warmed up once (the model trained, the alerts replayed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dealpulse.store import connect

PASSWORD = "long enough password"
# login -> (role, manager id, team). The demo's teams: m01, m02 "Ключевые клиенты"; m03, m04 "Москва";
# m05, m06 "Регионы"; m06 has the planted late proposals, so the one alert is about m06.
USERS = {
    "boss": ("head", None, None),
    "lead": ("lead", None, "Регионы"),
    "lead_msk": ("lead", None, "Москва"),
    "ann": ("manager", "m06", None),
    "max": ("manager", "m01", None),
    "qc": ("qc", None, None),
}


@pytest.fixture(scope="session")
def web_export(tmp_path_factory) -> Path:
    from dealpulse.demo.generator import generate

    folder = tmp_path_factory.mktemp("web_demo") / "export"
    generate(folder, deals=1600, managers=6, months=18, seed=7)
    return folder


def fill_store(url: str, export: Path) -> None:
    """Import the export into the store at `url` and add one user per role."""
    from dealpulse.ingest.importer import import_path
    from dealpulse.web.users import add_user

    store = connect(url)
    try:
        import_path(store, export)
        for login, (role, manager, team) in USERS.items():
            add_user(store, login, role, PASSWORD, manager_id=manager, team=team, lang="en")
    finally:
        store.close()


@pytest.fixture(scope="session")
def web_db(web_export) -> str:
    path = str(web_export.parent / "web.duckdb")
    fill_store(path, web_export)
    return path


@pytest.fixture(scope="session")
def web_app(web_db):
    """The app on the session's store, with every analysis of the latest moment computed once."""
    from fastapi.testclient import TestClient

    from dealpulse.web.app import create_app

    store = connect(web_db)
    app = create_app(store)
    warm = TestClient(app)
    login(warm, "boss")
    assert warm.get("/").status_code == 200
    yield app
    store.close()


def login(client, user: str, password: str = PASSWORD):
    """Log `client` in through the form (the CSRF token read from the page, as a browser sends it)."""
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    res = client.post("/login", data={"login": user, "password": password, "csrf": token, "next": "/"},
                      follow_redirects=False)
    return res


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
