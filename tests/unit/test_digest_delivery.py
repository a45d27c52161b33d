"""Digest delivery: e-mail received by a local SMTP server (aiosmtpd) with the right subject and body, Telegram
messages to a fake Bot API that answers 429 once (the client waits retry_after) and holds one message a
second per chat, a webhook receiving the typed digest as JSON; a failing channel is retried with back-off,
reported and logged, and a re-run sends only what was not delivered; secrets never in the outcomes or logs.
Hand-made digests on a store with users only: fast."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import pytest

from dealpulse.digest.content import AlertItem, DealToSave, Digest, Flow, Mover
from dealpulse.digest.deliver import Channels, Job, RateLimiter, Retry, deliver
from dealpulse.digest.people import recipients
from dealpulse.store import connect
from tests.unit.digest_fakes import HttpFake, SmtpFake, telegram_fake

TOKEN = "123456:AAE-very-secret-token"
BUCKETS = ("open_start", "new", "reopened", "advanced", "moved_back", "pushed_out", "pulled_in", "unchanged",
           "amount_up", "amount_down", "won", "lost", "open_end")


def digest(login: str = "anna", lang: str = "en", role: str = "manager") -> Digest:
    flows = {"open_start": (10, 10, 1_000_000.0), "new": (2, 2, 300_000.0), "won": (1, -1, -250_000.0),
             "open_end": (11, 11, 1_050_000.0)}
    mv = Mover("d7", "Licences — Acme", "m01", "Anna Petrova", "proposal", "proposal", 400_000.0, 0.6, 0.35, -0.25,
               "alive", "alive", ("no touch for 9 d",))
    return Digest(
        login=login, role=role, lang=lang, scope_team="North", scope_manager="m01", scope_manager_name="Anna Petrova",
        as_of=datetime(2024, 6, 30, 15, 0), start=datetime(2024, 6, 23, 15, 0), tz="Europe/Moscow", currency="RUB",
        waterfall=tuple(Flow(b, *flows.get(b, (0, 0, 0.0))) for b in BUCKETS), reconciles=True,
        movers_up=(), movers_down=(mv,), slipped=(), slipped_total=0, live=9,
        alerts=(AlertItem("manager_pace", {"manager": "m01"}, {"manager": "Anna Petrova"}, "high", "2024-06-10",
                          "2024-06-25", True, "Anna Petrova does steps 1.8× slower since 2024-06-10"),),
        alerts_total=1, alerts_resolved=0,
        to_save=(DealToSave("d9", "Integration — Beta <Corp>", "m01", "Anna Petrova", "negotiation", "negotiation",
                            2_000_000.0, 0.3, 1_400_000.0, ("in negotiation for 40 d",), ("dwell",)),),
        at_risk_total=1_400_000.0)


@pytest.fixture
def store(tmp_path):
    s = connect(str(tmp_path / "d.duckdb"))
    yield s
    s.close()


@pytest.fixture
def any_store(store_url):
    """DuckDB and, where DEALPULSE_TEST_PG_URL is set, PostgreSQL (the digest_log and the users' addresses)."""
    s = connect(store_url)
    yield s
    s.close()


def add(store, login, role="manager", *, lang="en", email=None, chat=None, webhook=None, manager="m01"):
    store.execute("INSERT INTO users (login, role, manager_id, team, password_hash, lang, active, created_at, email, "
                  "telegram_chat_id, webhook_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [login, role, manager, "North", "x", lang, True, datetime(2024, 1, 1), email, chat, webhook])
    return recipients(store, login=login)[0]


def test_email_reaches_the_smtp_server_with_subject_and_both_bodies(store, monkeypatch):
    anna = add(store, "anna", lang="ru", email="anna@example.com")
    with SmtpFake(login=("digest", "s3cret-pw")) as smtp:
        monkeypatch.setenv("DEALPULSE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DEALPULSE_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("DEALPULSE_SMTP_USER", "digest")
        monkeypatch.setenv("DEALPULSE_SMTP_PASSWORD_ENV", "MY_SMTP_PW")
        monkeypatch.setenv("MY_SMTP_PW", "s3cret-pw")
        monkeypatch.setenv("DEALPULSE_SMTP_FROM", "dealpulse@sales.example")
        d = digest(lang="ru")
        ch = Channels()
        got = deliver(store, [Job(anna, "email", d)], ch)
        ch.close()
    assert [o.status for o in got] == ["sent"] and got[0].attempts == 1
    assert smtp.logins == ["digest"]
    assert smtp.envelopes == [("dealpulse@sales.example", ["anna@example.com"])]
    msg = smtp.messages[0]
    assert msg["Subject"] == "Сводка dealpulse по 2024-06-30: ваши сделки (Anna Petrova)"
    assert msg["To"] == "anna@example.com"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Что изменилось" in plain and "Открытые алерты (1)" in plain and "Сделки, которые надо спасать" in plain
    assert "Период: 2024-06-23 18:00 – 2024-06-30 18:00 (Europe/Moscow)" in plain  # the export's zone, named
    assert "Anna Petrova" in plain and "под угрозой 1,4\u00a0млн RUB" in plain
    assert "Beta &lt;Corp&gt;" in html and "<Corp>" not in html  # data escaped in the HTML
    row = store.query("SELECT status, attempts, error, sent_at FROM digest_log")[0]
    assert row[0] == "sent" and row[1] == 1 and row[2] is None and row[3] is not None
    assert "s3cret-pw" not in repr(got)


def test_telegram_waits_retry_after_on_429_and_one_message_a_second_per_chat(store, caplog):
    anna = add(store, "anna", chat="1001")
    boss = add(store, "boss", role="head", chat="1002", manager=None)
    with telegram_fake(TOKEN, busy_once=1) as api:
        ch = Channels(telegram_api=api.url, env={"DEALPULSE_TELEGRAM_TOKEN": TOKEN})
        caplog.set_level(logging.DEBUG)
        t0 = time.monotonic()
        got = deliver(store, [Job(anna, "telegram", digest()), Job(anna, "telegram", digest(lang="ru")),
                              Job(boss, "telegram", digest("boss", role="head"))], ch)
        elapsed = time.monotonic() - t0
        ch.close()
    assert [o.status for o in got] == ["sent", "already", "sent"]  # the same person, channel and period: once
    bodies = [(p, b) for _, p, b in api.requests]
    assert len(bodies) == 3  # the 429-ed one, then it again, then boss
    assert bodies[0][1] == bodies[1][1] and bodies[1][1]["chat_id"] == "1001" and bodies[2][1]["chat_id"] == "1002"
    assert bodies[1][1]["parse_mode"] == "HTML" and "<b>What changed</b>" in bodies[1][1]["text"]
    assert api.requests[1][0] - api.requests[0][0] >= 0.95  # retry_after = 1 s was waited out
    assert elapsed < 10
    assert got[0].attempts == 1  # a 429 is not a failed attempt
    text = repr(got) + caplog.text
    assert TOKEN not in text


def test_rate_limiter_holds_one_a_second_per_chat_and_thirty_a_second_overall():
    clock = {"t": 0.0}
    waits = []

    def sleep(s):
        waits.append(s)
        clock["t"] += s

    lim = RateLimiter(clock=lambda: clock["t"], sleep=sleep)
    for _ in range(3):
        lim.wait("a")
    assert clock["t"] == pytest.approx(2.0)  # one a second to one chat
    clock["t"] = 10.0
    for i in range(31):
        lim.wait(f"c{i}")
    assert clock["t"] == pytest.approx(11.0)  # the 31st in the same second waits for the window


def test_webhook_gets_the_digest_as_json(store):
    hook = HttpFake(lambda path, body: (200, {"ok": True}))
    with hook:
        anna = add(store, "anna", webhook=f"{hook.url}/hooks/T000/SECRETPATH")
        ch = Channels()
        got = deliver(store, [Job(anna, "webhook", digest())], ch)
        ch.close()
    assert got[0].status == "sent" and "SECRETPATH" not in got[0].address
    _, path, doc = hook.requests[0]
    assert path == "/hooks/T000/SECRETPATH"
    assert doc["kind"] == "dealpulse.digest" and doc["login"] == "anna" and doc["role"] == "manager"
    assert doc["as_of"] == {"local": "2024-06-30T18:00:00+03:00", "utc": "2024-06-30T15:00:00Z", "tz": "Europe/Moscow"}
    assert [f["bucket"] for f in doc["waterfall"]][:2] == ["open_start", "new"] and doc["to_save"][0]["deal_id"] == "d9"
    assert doc["alerts"][0]["kind"] == "manager_pace" and doc["period"] == "2024-06-23T15:00:00/2024-06-30T15:00:00"
    assert doc["subject"].startswith("dealpulse digest to 2024-06-30") and "What changed" in doc["text"]


def test_a_failing_channel_is_retried_reported_and_a_rerun_sends_only_the_missing(any_store):
    store = any_store
    state = {"down": True}
    hits: dict[str, int] = {}

    def answer(path, body):
        hits[path] = hits.get(path, 0) + 1
        if path.startswith("/bad") and state["down"]:
            return 503, {"error": "down"}
        return 200, {"ok": True}

    slept: list[float] = []
    with HttpFake(answer) as hook:
        good = add(store, "anna", webhook=f"{hook.url}/good/k1")
        bad = add(store, "bob", webhook=f"{hook.url}/bad/k2", manager="m02")
        jobs = [Job(good, "webhook", digest()), Job(bad, "webhook", digest("bob"))]
        ch = Channels()
        first = deliver(store, jobs, ch, retry=Retry(attempts=3, sleep=slept.append))
        assert [(o.login, o.status, o.attempts) for o in first] == [("anna", "sent", 1), ("bob", "failed", 3)]
        assert "503" in first[1].error and "k2" not in first[1].error  # why, with the URL's secret path masked
        assert slept == [1.0, 2.0]  # back-off
        log = dict(((r[0], r[1]), r[2:]) for r in store.query("SELECT recipient, status, attempts, error FROM digest_log"))
        assert log[("anna", "sent")][0] == 1 and log[("bob", "failed")][0] == 3
        # the receiver comes back: a re-run sends bob's only
        state["down"] = False
        again = deliver(store, jobs, ch, retry=Retry(attempts=3, sleep=slept.append))
        ch.close()
    assert [(o.login, o.status) for o in again] == [("anna", "already"), ("bob", "sent")]
    assert hits == {"/good/k1": 1, "/bad/k2": 4}
    assert store.query("SELECT attempts, status FROM digest_log WHERE recipient = 'bob'")[0] == (4, "sent")


def test_not_retried_when_retrying_cannot_help_and_missing_settings_are_reported(store):
    anna = add(store, "anna", chat="@nochat", email="anna@example.com")
    with telegram_fake(TOKEN) as api:
        ch = Channels(telegram_api=api.url, env={"DEALPULSE_TELEGRAM_TOKEN": TOKEN})
        got = deliver(store, [Job(anna, "telegram", digest()), Job(anna, "email", digest())], ch,
                      retry=Retry(sleep=lambda s: None))
        ch.close()
    assert [(o.status, o.attempts) for o in got] == [("failed", 1), ("failed", 1)]
    assert "chat not found" in got[0].error and TOKEN not in got[0].error
    assert "DEALPULSE_SMTP_HOST" in got[1].error
    # a wrong token: 401, named without the token
    with telegram_fake("other:token") as api:
        ch = Channels(telegram_api=api.url, env={"DEALPULSE_TELEGRAM_TOKEN": TOKEN})
        got = deliver(store, [Job(add(store, "cat", chat="77"), "telegram", digest("cat"))], ch, retry=Retry(sleep=lambda s: None))
        ch.close()
    assert got[0].status == "failed" and "401" in got[0].error and TOKEN not in got[0].error


def test_dry_run_sends_and_logs_nothing(store):
    hook = HttpFake(lambda path, body: (200, {}))
    with hook:
        anna = add(store, "anna", webhook=f"{hook.url}/x")
        got = deliver(store, [Job(anna, "webhook", digest())], Channels(), dry_run=True)
    assert got[0].status == "dry_run" and hook.requests == []
    assert store.query("SELECT count(*) FROM digest_log")[0][0] == 0


def test_a_long_telegram_digest_goes_in_parts_and_a_retry_resumes_at_the_failed_part(store, monkeypatch):
    from dealpulse.digest import render

    calls = {"n": 0}

    def answer(path, body):
        calls["n"] += 1
        if calls["n"] == 2:  # the second message fails once
            return 502, {"ok": False, "description": "Bad Gateway"}
        return 200, {"ok": True, "result": {}}

    real = render.telegram
    monkeypatch.setattr(render, "telegram", lambda d, limit=render.TELEGRAM_LIMIT: real(d, limit=300))
    anna = add(store, "anna", chat="5")
    with HttpFake(lambda p, b: answer(p, b)) as api:
        ch = Channels(telegram_api=api.url, env={"DEALPULSE_TELEGRAM_TOKEN": TOKEN},
                      limiter=RateLimiter(per_chat=0.0))
        got = deliver(store, [Job(anna, "telegram", digest())], ch, retry=Retry(sleep=lambda s: None))
        ch.close()
    texts = [b["text"] for _, _, b in api.requests]
    parts = real(digest(), limit=300)
    assert len(parts) >= 3 and got[0].status == "sent" and got[0].attempts == 2
    assert texts == [parts[0], parts[1], *parts[1:]]  # part 2 again after its failure, part 1 not twice
