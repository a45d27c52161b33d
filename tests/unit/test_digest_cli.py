"""`dealpulse digest` end to end on a small generated store: users added and given addresses from the command
line; --dry-run prints what would go out and sends nothing; a run delivers to a fake Telegram Bot API and a
webhook receiver, a failing receiver is retried and reported (exit 1, who and why), a re-run sends only the
missing one; --format json; the Telegram token and the webhook's secret path never in the output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.demo.simulation import simulate
from dealpulse.ingest.write import write_tables
from dealpulse.store import connect
from tests.unit.digest_fakes import HttpFake, telegram_fake

runner = CliRunner()
TOKEN = "987654:CLI-secret-token-value"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digestcli")
    path = str(tmp / "d.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEALPULSE_CONFIG_DIR", str(tmp / "cfg"))
        store = connect(path)
        write_tables(store, dict(simulate(deals=400, managers=4, months=8, seed=5).frames), [], source="test",
                     tz="Europe/Moscow")
        store.close()
        for login, args in (("anna", ["--role", "manager", "--manager", "m02", "--user-lang", "ru"]),
                            ("boss", ["--role", "head", "--user-lang", "en"]),
                            ("nobody", ["--role", "qc"])):
            res = runner.invoke(app, ["user", "add", login, *args, "--db", path], input="long-password\n")
            assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["user", "contact", "anna", "--telegram-chat", "4242", "--db", path])
        assert res.exit_code == 0, res.output
        yield path


def _run(*args, env=None):
    return runner.invoke(app, ["digest", *args], env={"DEALPULSE_TELEGRAM_TOKEN": TOKEN, "COLUMNS": "200", **(env or {})})


def test_dry_run_prints_what_would_be_sent_and_sends_nothing(db):
    with telegram_fake(TOKEN) as api, HttpFake(lambda p, b: (200, {})) as hook:
        res = runner.invoke(app, ["user", "contact", "boss", "--webhook", f"{hook.url}/hook/SECRETPATH", "--db", db])
        assert res.exit_code == 0 and "SECRETPATH" not in res.output
        res = _run("--db", db, "--dry-run", "--api-url", api.url)
        assert res.exit_code == 0, res.output
        out = res.stdout
        assert "── anna via telegram to 4242 ──" in out and "Сводка для anna: ваши сделки" in out
        assert "Digest for boss: the whole department" in out and "What changed" in out
        assert "would send" in out and "no address" in out  # nobody has no address: reported, not sent
        assert api.requests == [] and hook.requests == []
        assert TOKEN not in res.output and "SECRETPATH" not in res.output
    store = connect(db)
    try:
        assert store.query("SELECT count(*) FROM digest_log")[0][0] == 0
    finally:
        store.close()


def test_send_report_failure_and_rerun_only_the_missing(db):
    state = {"down": True}

    def answer(path, body):
        return (503, {"error": "busy"}) if state["down"] else (200, {"ok": True})

    with telegram_fake(TOKEN) as api, HttpFake(answer) as hook:
        res = runner.invoke(app, ["user", "contact", "boss", "--webhook", f"{hook.url}/hook/SECRETPATH", "--db", db])
        assert res.exit_code == 0
        first = _run("--db", db, "--attempts", "2", "--api-url", api.url)
        assert first.exit_code == 1  # boss's webhook is down: reported, the others still go out
        assert "boss · webhook" in first.stderr and "503" in first.stderr and "re-run" in first.stderr
        assert len(hook.requests) == 2  # retried once
        assert len(api.requests) >= 1 and all(r[2]["chat_id"] == "4242" for r in api.requests)
        assert all(r[2]["parse_mode"] == "HTML" for r in api.requests) and "Что изменилось" in api.requests[0][2]["text"]
        sent_to_anna = len(api.requests)
        state["down"] = False
        again = _run("--db", db, "--api-url", api.url, "--format", "json")
        assert again.exit_code == 0, again.output
        rows = {(d["login"], d["channel"]): d for d in json.loads(again.stdout)["deliveries"]}
        assert rows[("anna", "telegram")]["status"] == "already" and rows[("boss", "webhook")]["status"] == "sent"
        assert rows[("boss", "webhook")]["attempts"] == 3 and rows[("nobody", "—")]["status"] == "no_address"
        assert len(api.requests) == sent_to_anna and len(hook.requests) == 3  # only the missing one
        doc = hook.requests[-1][2]
        assert doc["login"] == "boss" and doc["role"] == "head" and doc["lang"] == "en"
        for text in (first.output, first.stderr, again.output):
            assert TOKEN not in text and "SECRETPATH" not in text


def test_an_unknown_user_is_named(db):
    res = _run("--db", db, "--for", "ghost", "--dry-run")
    assert res.exit_code != 0 and "ghost" in res.output
