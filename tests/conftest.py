"""Shared fixtures. `store` runs a test on DuckDB and, where DEALPULSE_TEST_PG_URL points at a
PostgreSQL server (as .ci/run arranges), on a fresh PostgreSQL database too."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from dealpulse.store import connect

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
PG_URL = os.environ.get("DEALPULSE_TEST_PG_URL")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped (with the reason) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lives in ../shared/data beside the checkout)")
    return path


def _pg_database() -> str:
    import psycopg

    name = f"dp_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{name}", name


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """A URL of an empty store: a DuckDB file, or a new PostgreSQL database."""
    if request.param == "duckdb":
        yield str(tmp_path / "test.duckdb")
        return
    if not PG_URL:
        pytest.skip("DEALPULSE_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    url, name = _pg_database()
    try:
        yield url
    finally:
        _drop_pg(name)


@pytest.fixture
def store(store_url):
    s = connect(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def duck(tmp_path):
    """A DuckDB store only (for tests of engine-independent logic)."""
    s = connect(str(tmp_path / "duck.duckdb"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def other_store(store_url, tmp_path):
    """A second empty store on the same engine as `store` (to cut into, or to compare with)."""
    if store_url.startswith("postgresql"):
        url, name = _pg_database()
        s = connect(url)
        try:
            yield s
        finally:
            s.close()
            _drop_pg(name)
    else:
        s = connect(str(tmp_path / "other.duckdb"))
        try:
            yield s
        finally:
            s.close()


# --- the demo department, generated and imported once per test session -------------------------------

def _import_demo(url: str, folder: Path) -> None:
    from dealpulse.ingest.importer import import_path

    s = connect(url)
    try:
        import_path(s, folder)
    finally:
        s.close()


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory) -> Path:
    """The default demo export (5,000 deals, 20 managers, 2023-01-01..2024-12-31, seed 42) with both
    default planted problems: late proposals by m07 from 2024-09-01 and slow enterprise contracts from
    2024-10-01. Read-only: do not write into it."""
    from dealpulse.demo.generator import generate

    folder = tmp_path_factory.mktemp("demo_export")
    generate(folder)
    return folder


@pytest.fixture(scope="session")
def demo_db(demo_export, tmp_path_factory) -> str:
    """A DuckDB file with the default demo export imported (shared by the session: copy it before writing)."""
    path = str(tmp_path_factory.mktemp("demo_db") / "demo.duckdb")
    _import_demo(path, demo_export)
    return path


@pytest.fixture(scope="session")
def demo_pg(demo_export) -> str:
    """A PostgreSQL database with the default demo export imported (shared by the session)."""
    if not PG_URL:
        pytest.skip("DEALPULSE_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    url, name = _pg_database()
    _import_demo(url, demo_export)
    try:
        yield url
    finally:
        _drop_pg(name)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request, demo_db) -> str:
    """The demo store on DuckDB and, where PostgreSQL is available, on PostgreSQL (read-only)."""
    if request.param == "duckdb":
        return demo_db
    return request.getfixturevalue("demo_pg")
