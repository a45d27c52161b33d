"""`dealpulse sync amocrm` against a fake amoCRM server (tests/crm/fake_amocrm.py) serving a generated
department dressed as the API returns it (tests/crm/dress_amocrm.py).

Done when: a full pull at an earlier moment, then an incremental one, equal a file import of the same
data; an interrupted pull (the server going down, or the process killed) re-run duplicates nothing and
ends equal; the server never saw more than 7 requests in a second; the token never shows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.ingest import import_path
from dealpulse.store import connect
from tests.crm import dress_amocrm as dress
from tests.crm.fake_amocrm import FakeAmo, amo_as_of, write_dump
from tests.crm.sync_checks import assert_same_tables

TOKEN_VAR = "DP_TEST_AMO_TOKEN"
runner = CliRunner()


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """(the fake's final records, the moment t1 two thirds into the events, a file import of the final data, account.yaml)."""
    tmp = tmp_path_factory.mktemp("amo")
    frames = dress.department(deals=50, months=5)
    dress.dress_api(frames, tmp / "dump")
    acc = dress.write_account(tmp / "account.yaml")
    final = FakeAmo.from_folder(tmp / "dump").records
    write_dump(final, tmp / "final")  # the same records the fake serves, as a dump folder
    want = tmp / "file.duckdb"
    store = connect(str(want))
    try:
        import_path(store, tmp / "final", source="amocrm", mapping_path=acc)
    finally:
        store.close()
    times = sorted(e["created_at"] for e in final["events"])
    return final, times[len(times) * 2 // 3], want, acc


def _sync(fake: FakeAmo, db: Path, acc: Path, *extra: str, lang: str = "en", env: dict | None = None):
    return runner.invoke(app, ["sync", "amocrm", "--subdomain", "fakeco", "--token-env", TOKEN_VAR, "--mapping", str(acc),
                               "--base-url", fake.url, "--db", str(db), "--lang", lang, *extra],
                         env={TOKEN_VAR: fake.token, "DEALPULSE_SYNC_BACKOFF": "0.05", **(env or {})})


def _no_secret(fake: FakeAmo, *texts: str) -> None:
    for text in texts:
        assert fake.token not in text
        assert fake.token[:12] not in text


def test_full_then_incremental_pull_equals_a_file_import(account, tmp_path, store_url):
    """On DuckDB and (where DEALPULSE_TEST_PG_URL is set) PostgreSQL."""
    final, t1, want, acc = account
    fake = FakeAmo(amo_as_of(final, t1), now=t1 + 1)
    fake.server.fail_every = {"503": 13}  # the API fails now and then
    fake.server.failures = {4: "drop", 9: "cut", 17: "429"}
    pg = store_url.startswith("postgresql")
    db = store_url if pg else tmp_path / "sync.duckdb"
    env = {"DEALPULSE_SYNC_DIR": str(tmp_path / "staging")} if pg else None
    with fake:
        first = _sync(fake, db, acc, "--format", "json", env=env)
        assert first.exit_code == 0, first.output
        doc = json.loads(first.stdout)
        assert doc["mode"] == "full" and doc["records"]["leads"] < len(final["leads"])
        fake.set_records(final)  # the account moves on
        second = _sync(fake, db, acc, "--lang", "ru", env=env)
        assert second.exit_code == 0, second.output
        assert "изменения с прошлой синхронизации" in " ".join(second.stdout.split())
        third = _sync(fake, db, acc, "--format", "csv", env=env)  # nothing new: the overlap re-read changes nothing
        assert third.exit_code == 0, third.output
    assert fake.server.injected >= 4  # the failures happened and were retried
    assert fake.server.rejected == 0 and fake.server.max_rate() <= 7, (fake.server.rejected, fake.server.max_rate())
    incremental = [f for f in fake.seen_filters if "filter[updated_at][from]" in f]
    assert incremental, "the second pull did not ask for changes only"
    assert third.stdout.startswith("table,file,rows_read,imported")
    assert all(line.split(",")[3] == "0" for line in third.stdout.splitlines()[1:]), third.stdout
    assert_same_tables(db, want)
    assert not (tmp_path / "sync.duckdb.sync").exists() and not (tmp_path / "staging" / "amocrm-fakeco").exists()
    _no_secret(fake, first.output, second.output, third.output)


def test_pull_interrupted_by_an_outage_resumes_and_duplicates_nothing(account, tmp_path):
    final, _, want, acc = account
    fake = FakeAmo(final)
    fake.server.down_after = 14  # the server goes away mid-pull
    db = tmp_path / "sync.duckdb"
    with fake:
        broken = _sync(fake, db, acc)
        assert broken.exit_code == 6, broken.output
        assert "did not answer" in broken.output and "kept" in broken.output
        staged = list((tmp_path / "sync.duckdb.sync").rglob("*.json"))
        assert len(staged) > 5
        assert not db.exists()  # the store the failed first run created is gone; the pages stay beside it
        fake.server.down, fake.server.down_after = False, None
        before = len(fake.server.arrivals)
        again = _sync(fake, db, acc, "--format", "json")
        assert again.exit_code == 0, again.output
        doc = json.loads(again.stdout)
        assert doc["resumed"] is True and doc["mode"] == "full"
        assert len(fake.server.arrivals) - before < 14 + doc["http"]["requests"]  # fetched only the rest
        assert doc["http"]["requests"] < 30
    assert_same_tables(db, want)
    assert fake.server.rejected == 0 and fake.server.max_rate() <= 7
    _no_secret(fake, broken.output, again.output)


def test_killed_sync_process_reruns_to_the_same_store(account, tmp_path):
    final, _, want, acc = account
    fake = FakeAmo(final)
    db = tmp_path / "sync.duckdb"
    manifest = tmp_path / "sync.duckdb.sync" / "amocrm-fakeco" / "manifest.json"
    env = {**os.environ, TOKEN_VAR: fake.token}
    with fake:
        proc = subprocess.Popen([sys.executable, "-c", "from dealpulse.cli import main; main()", "sync", "amocrm", "--subdomain", "fakeco",
                                 "--token-env", TOKEN_VAR, "--mapping", str(acc), "--base-url", fake.url, "--db", str(db)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # stop it once it has fetched a few pages, mid-way
            try:
                pages = sum(len(e["pages"]) for e in json.loads(manifest.read_text())["entities"].values())
            except (OSError, ValueError, KeyError):
                pages = 0
            if pages >= 8 or proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        out, errs = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, errs)
        again = _sync(fake, db, acc, "--format", "json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["resumed"] is True
    assert_same_tables(db, want)
    assert fake.server.max_rate() <= 7
    _no_secret(fake, out, errs, again.output)


def test_bad_token_and_missing_variable_are_named_not_shown(account, tmp_path):
    final, _, _, acc = account
    fake = FakeAmo(final)
    db = tmp_path / "sync.duckdb"
    with fake:
        wrong = runner.invoke(app, ["sync", "amocrm", "--subdomain", "fakeco", "--token-env", TOKEN_VAR, "--mapping", str(acc),
                                    "--base-url", fake.url, "--db", str(db)], env={TOKEN_VAR: "wrong-token-abcdef123456"})
        assert wrong.exit_code == 6
        assert "401" in wrong.output and "wrong-token-abcdef123456" not in wrong.output
        unset = runner.invoke(app, ["sync", "amocrm", "--subdomain", "fakeco", "--token-env", "DP_NO_SUCH_VAR",
                                    "--mapping", str(acc), "--base-url", fake.url, "--db", str(db), "--lang", "ru"],
                              env={"DP_NO_SUCH_VAR": ""})
        assert unset.exit_code == 2 and "DP_NO_SUCH_VAR" in unset.output and "не задана" in unset.output
