"""`dealpulse sync bitrix24` against a fake Bitrix24 portal (tests/crm/fake_bitrix24.py) serving a
generated department dressed as REST returns it (tests/crm/dress_bitrix24.py).

Done when: a full pull at an earlier moment, then an incremental one, equal file imports of the same
data (the dump at that moment, then the final dump: a sync that saw the earlier state keeps what it
saw - an open deal's planned close as of then - as a file import of both dumps does); an interrupted
pull re-run duplicates nothing and ends equal; the portal's request budget held; the webhook secret
never shows, in output or in log records."""

from __future__ import annotations

import json
import logging
from datetime import timezone

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.ingest import import_path
from dealpulse.store import connect
from dealpulse.sync import RetryPolicy, sync_bitrix24
from tests.crm import dress_bitrix24 as dress
from tests.crm.fake_bitrix24 import FakeBitrix, bitrix_as_of, parse_time, write_rest_dump
from tests.crm.sync_checks import assert_same_tables, tables_of

HOOK_VAR = "DP_TEST_B24_WEBHOOK"
runner = CliRunner()


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """(final records, t1, the moment-t1 records, a store of both dumps imported in turn, one of the final
    dump only, account.yaml)."""
    tmp = tmp_path_factory.mktemp("b24")
    frames = dress.department(deals=60, months=5)
    acc = dress.dress_rest(frames, tmp / "rest")
    final = FakeBitrix.from_folder(tmp / "rest").records
    times = sorted(parse_time(h["CREATED_TIME"]) for h in final["crm.stagehistory.list"])
    t1 = times[len(times) * 2 // 3]
    earlier = bitrix_as_of(final, t1)
    write_rest_dump(earlier, tmp / "t1")
    write_rest_dump(final, tmp / "final")
    both, only_final = tmp / "both.duckdb", tmp / "final.duckdb"
    for db, dumps in ((both, ("t1", "final")), (only_final, ("final",))):
        store = connect(str(db))
        try:
            for d in dumps:
                import_path(store, tmp / d, source="bitrix24", mapping_path=acc)
        finally:
            store.close()
    return final, t1, earlier, both, only_final, acc


def _sync(fake: FakeBitrix, db, acc, *extra: str, lang: str = "en"):
    return runner.invoke(app, ["sync", "bitrix24", "--webhook-env", HOOK_VAR, "--mapping", str(acc), "--db", str(db),
                               "--lang", lang, *extra],
                         env={HOOK_VAR: fake.webhook, "DEALPULSE_SYNC_BACKOFF": "0.05"})


def _no_secret(fake: FakeBitrix, *texts: str) -> None:
    for text in texts:
        assert fake.secret not in text


def test_full_then_incremental_pull_equals_file_imports(portal, tmp_path, caplog):
    final, t1, earlier, both, _, acc = portal
    fake = FakeBitrix(earlier, now=t1)
    fake.server.fail_every = {"503": 7}
    fake.server.failures = {2: "drop", 5: "cut"}
    db = tmp_path / "sync.duckdb"
    caplog.set_level(logging.DEBUG)  # httpx logs every request's URL - which holds the secret
    with fake:
        first = _sync(fake, db, acc, "--format", "json")
        assert first.exit_code == 0, first.output
        doc = json.loads(first.stdout)
        assert doc["mode"] == "full" and 0 < doc["records"]["crm.deal.list"] < len(final["crm.deal.list"])
        fake.set_records(final)
        second = _sync(fake, db, acc, "--format", "json")
        assert second.exit_code == 0, second.output
        doc = json.loads(second.stdout)
        assert doc["mode"] == "incremental"
        assert doc["records"]["crm.deal.list"] < len(final["crm.deal.list"])  # only what changed
        third = _sync(fake, db, acc, "--lang", "ru")  # nothing new
        assert third.exit_code == 0, third.output
    changed = [p for m, p in fake.calls if m == "crm.deal.list" and ">=DATE_MODIFY" in (p.get("filter") or {})]
    assert changed, "the second pull did not ask for changes only"
    assert any(m == "crm.stagehistory.list" and ">ID" in (p.get("filter") or {}) for m, p in fake.calls)
    assert fake.server.injected >= 3
    assert fake.server.rejected == 0 and fake.max_level <= 50
    assert_same_tables(db, both)
    _no_secret(fake, first.output, second.output, third.output, caplog.text,
               *(str(r.msg) for r in caplog.records))
    assert any("/rest/1/***/" in r.getMessage() for r in caplog.records if r.name.startswith("httpx"))


def test_a_sync_differs_from_one_final_dump_only_by_what_it_saw_earlier(portal, tmp_path):
    """The only rows a file import of the final dump lacks: open deals' planned close dates as they were
    when the earlier pull saw them."""
    final, t1, earlier, _, only_final, acc = portal
    fake = FakeBitrix(earlier, now=t1)
    db = tmp_path / "sync.duckdb"
    with fake:
        assert _sync(fake, db, acc).exit_code == 0
        fake.set_records(final)
        assert _sync(fake, db, acc).exit_code == 0
    got, want = tables_of(db), tables_of(only_final)
    for name in want:
        if name != "field_history":
            assert got[name] == want[name], name
    extra = set(got["field_history"]) - set(want["field_history"])
    assert set(want["field_history"]) <= set(got["field_history"])
    assert extra and {r[2] for r in extra} == {"expected_close"}
    seen_by = t1.astimezone(timezone.utc).replace(tzinfo=None)  # the store keeps UTC
    assert all(r[4] <= seen_by for r in extra)


def test_pull_interrupted_by_an_outage_resumes_and_duplicates_nothing(portal, tmp_path):
    final, _, _, _, only_final, acc = portal
    fake = FakeBitrix(final)
    fake.server.down_after = 7
    db = tmp_path / "sync.duckdb"
    with fake:
        broken = _sync(fake, db, acc, "--lang", "ru")
        assert broken.exit_code == 6, broken.output
        assert "не ответила" in broken.output and "сохранены" in broken.output
        assert not db.exists()
        fake.server.down, fake.server.down_after = False, None
        again = _sync(fake, db, acc, "--format", "json")
        assert again.exit_code == 0, again.output
        doc = json.loads(again.stdout)
        assert doc["resumed"] is True and doc["http"]["requests"] < len(fake.server.arrivals)
    assert_same_tables(db, only_final)
    _no_secret(fake, broken.output, again.output)


def test_the_request_budget_holds_when_the_pull_needs_many_requests(portal, tmp_path):
    """A small bucket (10, draining 4 a second) and batches of 2 commands: the pull needs far more
    requests than the bucket holds, waits for room, and the portal never refuses one."""
    final, _, _, _, only_final, acc = portal
    fake = FakeBitrix(final, capacity=10, drain=4.0)
    with fake:
        store = connect(str(tmp_path / "sync.duckdb"))
        try:
            rep = sync_bitrix24(store, webhook=fake.webhook, mapping_path=acc, bucket=(10, 4.0), batch_size=2,
                                retry=RetryPolicy(backoff=0.05), root=tmp_path / "staging")
        finally:
            store.close()
    assert rep.http["requests"] > 20
    assert fake.server.rejected == 0 and fake.max_level <= 10, (fake.server.rejected, fake.max_level)
    assert_same_tables(tmp_path / "sync.duckdb", only_final)
    # the control: a client that ignores the budget is refused (503 QUERY_LIMIT_EXCEEDED) and retries
    fake2 = FakeBitrix(final, capacity=10, drain=4.0)
    with fake2:
        store = connect(str(tmp_path / "greedy.duckdb"))
        try:
            rep2 = sync_bitrix24(store, webhook=fake2.webhook, mapping_path=acc, bucket=(1000, 1000.0), batch_size=2,
                                 retry=RetryPolicy(backoff=0.05, max_attempts=12), root=tmp_path / "staging2")
        finally:
            store.close()
    assert fake2.server.rejected > 0 and rep2.http["by_status"].get("503", 0) > 0


def test_wrong_webhook_is_refused_without_showing_it(portal, tmp_path):
    final, _, _, _, _, acc = portal
    fake = FakeBitrix(final)
    with fake:
        wrong = f"{fake.server.url}/rest/1/n0tth3r1ghtk3y/"
        res = runner.invoke(app, ["sync", "bitrix24", "--webhook-env", HOOK_VAR, "--mapping", str(acc),
                                  "--db", str(tmp_path / "x.duckdb")], env={HOOK_VAR: wrong})
        assert res.exit_code == 6 and "401" in res.output
        assert "n0tth3r1ghtk3y" not in res.output
        bad = runner.invoke(app, ["sync", "bitrix24", "--webhook-env", HOOK_VAR, "--mapping", str(acc),
                                  "--db", str(tmp_path / "x.duckdb")], env={HOOK_VAR: "1/n0tth3r1ghtk3y"})
        assert bad.exit_code == 2 and "n0tth3r1ghtk3y" not in bad.output
