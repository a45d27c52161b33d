"""Users, roles, API tokens and login sessions (dealpulse.web.users) on DuckDB and PostgreSQL, and the
`dealpulse user add|list` / `dealpulse token create` commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from dealpulse.errors import InputError, NotFound
from dealpulse.store import connect
from dealpulse.web import users as U

runner = CliRunner()


def _managers(store) -> None:
    store.execute("INSERT INTO managers (manager_id, name, team) VALUES ('m01', 'Анна', 'north'), ('m02', 'Борис', 'south')")


def test_migration_4_makes_the_web_tables(store):
    for table in ("users", "api_tokens", "web_sessions", "alert_actions"):
        assert store.has_table(table)


def test_add_authenticate_token_and_session(store):
    _managers(store)
    u = U.add_user(store, "anna", "manager", "correct horse", manager_id="m01")
    assert (u.role, u.manager_id, u.team) == ("manager", "m01", "north")  # the team from the data
    digest = store.query("SELECT password_hash FROM users WHERE login = 'anna'")[0][0]
    assert digest.startswith("$argon2id$") and "correct horse" not in digest
    assert U.authenticate(store, "anna", "correct horse").login == "anna"
    assert U.authenticate(store, "anna", "wrong password") is None
    assert U.authenticate(store, "nobody", "correct horse") is None

    token = U.create_token(store, "anna", label="ci")
    assert token.startswith("dp_") and store.query("SELECT count(*) FROM api_tokens WHERE token_hash = ?", [token])[0][0] == 0
    assert U.user_of_token(store, token).login == "anna"
    assert U.user_of_token(store, token + "x") is None and U.user_of_token(store, "") is None
    with pytest.raises(NotFound):
        U.create_token(store, "ghost")

    sid, csrf = U.start_session(store, "anna")
    user, csrf_back = U.session_user(store, sid)
    assert user.login == "anna" and csrf_back == csrf
    assert store.query("SELECT count(*) FROM web_sessions WHERE session_hash = ?", [sid])[0][0] == 0  # only a hash
    U.end_session(store, sid)
    assert U.session_user(store, sid) is None

    U.set_lang(store, "anna", "ru")
    assert U.get_user(store, "anna").lang == "ru"


def test_bad_users_are_refused_with_every_problem_named(store):
    _managers(store)
    with pytest.raises(InputError) as exc:
        U.add_user(store, "x y", "boss", "short")
    text = str(exc.value)
    assert "x y" in text and "boss" in text and "8" in text
    with pytest.raises(InputError, match="--manager"):
        U.add_user(store, "m", "manager", "long enough")
    with pytest.raises(InputError, match="m99"):
        U.add_user(store, "m", "manager", "long enough", manager_id="m99")
    with pytest.raises(InputError, match="--team"):
        U.add_user(store, "l", "lead", "long enough")
    U.add_user(store, "l", "lead", "long enough", team="north")
    with pytest.raises(InputError, match="exists"):
        U.add_user(store, "l", "head", "long enough")
    assert U.add_user(store, "l", "head", "other password", replace=True).role == "head"
    assert U.authenticate(store, "l", "other password") is not None


def test_login_limiter_counts_failures_per_login_and_address():
    lim = U.LoginLimiter(attempts=3, window=60)
    for _ in range(3):
        assert lim.blocked("anna", "1.2.3.4") == 0
        lim.failed("anna", "1.2.3.4")
    assert lim.blocked("anna", "1.2.3.4") > 0
    assert lim.blocked("anna", "5.6.7.8") == 0 and lim.blocked("boris", "1.2.3.4") == 0
    lim.succeeded("anna", "1.2.3.4")
    assert lim.blocked("anna", "1.2.3.4") == 0


def test_user_and_token_commands(tmp_path):
    db = str(tmp_path / "users.duckdb")
    s = connect(db)
    _managers(s)
    s.close()
    res = runner.invoke(app, ["user", "add", "boss", "--role", "head", "--db", db, "--lang", "en"], input="long enough\n")
    assert res.exit_code == 0, res.output
    assert "boss" in res.output and "head" in res.output
    res = runner.invoke(app, ["user", "add", "anna", "--role", "manager", "--manager", "m01", "--db", db, "--lang", "ru"],
                        input="long enough\n")
    assert res.exit_code == 0 and "m01" in res.output
    bad = runner.invoke(app, ["user", "add", "x", "--role", "lead", "--db", db, "--lang", "en"], input="short\n")
    assert bad.exit_code == 2 and "--team" in bad.output and "8" in bad.output
    empty = runner.invoke(app, ["user", "add", "y", "--role", "head", "--db", db, "--lang", "en"], input="")
    assert empty.exit_code == 2 and "stdin" in empty.output
    listed = runner.invoke(app, ["user", "list", "--db", db, "--format", "json"])
    users = json.loads(listed.stdout)
    assert [u["login"] for u in users] == ["anna", "boss"] and users[0]["team"] == "north"
    assert "hash" not in listed.stdout
    tok = runner.invoke(app, ["token", "create", "anna", "--db", db, "--lang", "en"])
    assert tok.exit_code == 0
    token = tok.stdout.strip().splitlines()[-1]
    s = connect(db)
    try:
        assert U.user_of_token(s, token).login == "anna"
    finally:
        s.close()
    ghost = runner.invoke(app, ["token", "create", "ghost", "--db", db, "--lang", "en"])
    assert ghost.exit_code == 4 and "ghost" in ghost.output


def test_removing_a_user_ends_their_tokens_and_sessions(tmp_path):
    db = str(tmp_path / "rm.duckdb")
    s = connect(db)
    try:
        U.add_user(s, "boss", "head", "long enough")
        token = U.create_token(s, "boss")
        sid, _ = U.start_session(s, "boss")
    finally:
        s.close()
    res = runner.invoke(app, ["user", "remove", "boss", "--db", db, "--lang", "en"])
    assert res.exit_code == 0 and "boss" in res.output
    s = connect(db)
    try:
        assert U.get_user(s, "boss") is None and U.user_of_token(s, token) is None and U.session_user(s, sid) is None
    finally:
        s.close()
    assert runner.invoke(app, ["user", "remove", "boss", "--db", db]).exit_code == 4
