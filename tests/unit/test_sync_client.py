"""The sync's HTTP pieces on their own: rate limiters on a simulated clock, retries and back-off
(Retry-After honoured), secrets masked, the Bitrix24 webhook and batch-query encodings."""

from __future__ import annotations

import httpx
import pytest

from dealpulse.errors import InputError
from dealpulse.sync.bitrix24 import php_query, webhook_url
from dealpulse.sync.http import ApiClient, RetryPolicy, SyncError, _retry_after
from dealpulse.sync.limits import BucketLimiter, WindowLimiter
from dealpulse.sync.secrets import Redactor, secret_from_env
from tests.crm.fake_bitrix24 import php_params


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_window_limiter_never_lets_more_than_the_limit_into_a_second():
    clock = Clock()
    lim = WindowLimiter(7, 1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(60):
        lim.acquire()
        starts.append(clock.now)
        clock.now += 0.01  # each request takes 10 ms
    assert starts[0] >= 1001.0  # primed: a run right after another waits a full window first
    for i, t in enumerate(starts):
        assert sum(1 for u in starts if t <= u < t + 1.0) <= 7, i
    assert 60 / (starts[-1] - starts[0] + 1) > 6  # and it is not needlessly slow


def test_window_limiter_hold_keeps_what_was_already_sent():
    clock = Clock()
    lim = WindowLimiter(7, 1.0, margin=0.0, primed=False, clock=clock, sleep=clock.sleep)
    for _ in range(7):
        lim.acquire()
    lim.penalise(0.0)  # a 429 with Retry-After: 0 must not open a fresh window
    lim.acquire()
    assert clock.now >= 1001.0


def test_bucket_limiter_keeps_the_portal_bucket_from_overflowing():
    clock = Clock()
    lim = BucketLimiter(50, 2.0, reserve=2, clock=clock, sleep=clock.sleep)
    level, at = 0.0, clock.now
    for _ in range(200):
        lim.acquire()
        level = max(0.0, level - (clock.now - at) * 2.0) + 1  # the portal's own count
        at = clock.now
        assert level <= 50
        clock.now += 0.02
    assert clock.slept  # it had to wait: 200 requests do not fit a bucket of 50


def _client(handler, clock: Clock, **kw) -> ApiClient:
    return ApiClient("https://fake.example", limiter=WindowLimiter(100, 1.0, primed=False, clock=clock, sleep=clock.sleep),
                     redact=Redactor("s3cr3t-t0ken"), headers={"Authorization": "Bearer s3cr3t-t0ken"},
                     retry=RetryPolicy(backoff=0.5, jitter=0.0, **kw), sleep=clock.sleep,
                     transport=httpx.MockTransport(handler))


def test_429_waits_as_long_as_retry_after_says_then_succeeds():
    answers = [httpx.Response(429, headers={"Retry-After": "3"}, json={"title": "Too Many Requests"}),
               httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED"}),
               httpx.Response(200, json={"ok": True})]
    clock = Clock()
    with _client(lambda req: answers.pop(0), clock) as c:
        resp = c.get("/api/v4/leads")
    assert resp.body == {"ok": True}
    assert clock.slept[0] >= 3.0  # Retry-After honoured (more than the 0.5 s back-off)
    assert 0.9 <= clock.slept[1] <= 1.1  # then the back-off doubles: 0.5, 1.0, ...
    assert c.stats.retries == 2 and c.stats.by_status == {429: 1, 503: 1, 200: 1}


def test_network_errors_are_retried_then_reported_without_the_secret():
    clock = Clock()

    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {req.url} with s3cr3t-t0ken")

    with _client(handler, clock, max_attempts=4) as c:
        with pytest.raises(SyncError) as exc:
            c.get("/api/v4/leads?token=s3cr3t-t0ken")
    assert c.stats.requests == 4 and len(clock.slept) == 3
    assert [round(s, 2) for s in clock.slept] == [0.5, 1.0, 2.0]
    assert "s3cr3t-t0ken" not in str(exc.value) and "***" in str(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_401_is_not_retried():
    clock = Clock()
    with _client(lambda req: httpx.Response(401, json={"title": "Unauthorized"}), clock) as c:
        with pytest.raises(SyncError, match="401"):
            c.get("/api/v4/account")
    assert c.stats.requests == 1 and not clock.slept


def test_retry_after_forms():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_redactor_masks_plain_and_url_encoded_forms():
    r = Redactor("a/b+c=d", "xy")  # too short a secret is ignored, not masked everywhere
    assert r("x a/b+c=d a%2Fb%2Bc%3Dd xy") == "x *** *** xy"


def test_secret_from_env_names_the_variable_never_the_value(monkeypatch):
    monkeypatch.setenv("DP_T", "  tok-123456  ")
    assert secret_from_env("DP_T") == "tok-123456"
    with pytest.raises(InputError, match="DP_MISSING"):
        secret_from_env("DP_MISSING")
    with pytest.raises(InputError, match="--token-env"):
        secret_from_env("tok-123456 not a name")


def test_webhook_url_keeps_only_the_key_secret():
    url, secrets = webhook_url("https://portal.bitrix24.ru/rest/7/abc123def/")
    assert url == "https://portal.bitrix24.ru/rest/7/abc123def/" and secrets == ["abc123def"]
    url, _ = webhook_url("https://portal.bitrix24.ru/rest/7/abc123def", "http://127.0.0.1:9000")
    assert url == "http://127.0.0.1:9000/rest/7/abc123def/"
    url, secrets = webhook_url("7/abc123def", "https://portal.bitrix24.ru/")
    assert url == "https://portal.bitrix24.ru/rest/7/abc123def/" and "abc123def" in secrets
    with pytest.raises(ValueError):
        webhook_url("7/abc123def")


def test_php_query_is_what_bitrix_batch_commands_expect():
    params = {"order": {"ID": "ASC"}, "filter": {">=DATE_MODIFY": "2024-01-01T00:00:00+03:00", "@ID": [1, 2]},
              "select": ["*", "UF_*"], "start": 50}
    text = php_query(params)
    assert "filter%5B%3E%3DDATE_MODIFY%5D=2024-01-01T00%3A00%3A00%2B03%3A00" in text
    back = php_params(text)
    assert back == {"order": {"ID": "ASC"}, "filter": {">=DATE_MODIFY": "2024-01-01T00:00:00+03:00", "@ID": ["1", "2"]},
                    "select": ["*", "UF_*"], "start": "50"}


def test_operating_budget_waits_before_a_method_spends_its_last_share():
    from dealpulse.sync.limits import OperatingBudget

    clock = Clock()
    budget = OperatingBudget(480, 600, share=0.85, clock=clock.__call__, sleep=clock.sleep)
    for _ in range(13):  # 13 calls of 30 s of the portal's time: 390 s
        budget.acquire("crm.deal.list")
        budget.record("crm.deal.list", 30.0)
        clock.now += 1
    budget.acquire("crm.activity.list")  # another method has its own budget
    assert not clock.slept
    budget.acquire("crm.deal.list")  # 390 + 30 > 408: wait until the first call leaves the 10 minutes
    assert clock.slept and clock.now >= 1000.0 + 600


def test_staging_is_one_run_per_account_and_resumes_only_its_own_cursor(tmp_path):
    from dealpulse.sync.state import Staging

    first = Staging.open(tmp_path, "amocrm", "acme", {"leads": 5})
    first.save_page("leads", "p0001", {"_embedded": {"leads": [{"id": 1}]}}, state={"next_page": 2})
    with pytest.raises(InputError, match="Another sync"):
        Staging.open(tmp_path, "amocrm", "acme", {"leads": 5})
    Staging.open(tmp_path, "amocrm", "other", {}).release()  # another account is not blocked
    first.release()
    again = Staging.open(tmp_path, "amocrm", "acme", {"leads": 5})
    assert again.resumed and again.has_page("leads", "p0001")
    again.release()
    moved_on = Staging.open(tmp_path, "amocrm", "acme", {"leads": 9})  # the cursor advanced since: stale pages go
    assert not moved_on.resumed and not list(moved_on.pages.iterdir())
    moved_on.clear()
    assert not (tmp_path / "amocrm-acme").exists() and not (tmp_path / "amocrm-acme.lock").exists()
