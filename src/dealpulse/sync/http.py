"""The HTTP client every sync uses: httpx, a rate limiter, retries with exponential back-off.

- Before every attempt the limiter is asked for a slot (see `limits`).
- 429, 500, 502, 503, 504 and network errors (refused, reset, dropped mid-answer, timed out) are
  retried up to `max_attempts` times, waiting `backoff * 2**n` (with jitter, at most `max_wait`),
  or what the server's `Retry-After` says if it says more. 429/503 also tell the limiter to hold.
- 401/403 are not retried: the token or webhook is wrong or lacks rights.
- Every message raised goes through the `Redactor`: no token or webhook secret is ever shown;
  httpx's own log lines are redacted too while a client is open.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from dealpulse.errors import DealpulseError
from dealpulse.i18n import t
from dealpulse.sync.secrets import RedactLogs, Redactor

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})


class SyncError(DealpulseError):
    """A sync could not reach the CRM or the CRM refused; what was fetched is kept for a re-run."""

    exit_code = 6


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    backoff: float = 0.5  # first wait, doubled each time
    max_wait: float = 60.0
    jitter: float = 0.1  # +- this share of the wait

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """Defaults, or DEALPULSE_SYNC_ATTEMPTS / DEALPULSE_SYNC_BACKOFF (seconds) when set."""
        policy = cls()
        try:
            if os.environ.get("DEALPULSE_SYNC_ATTEMPTS"):
                policy.max_attempts = max(1, int(os.environ["DEALPULSE_SYNC_ATTEMPTS"]))
            if os.environ.get("DEALPULSE_SYNC_BACKOFF"):
                policy.backoff = max(0.0, float(os.environ["DEALPULSE_SYNC_BACKOFF"]))
        except ValueError:
            pass
        return policy


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    network_errors: int = 0
    waited: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries, "network_errors": self.network_errors,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())}, "waited_s": round(self.waited, 2)}


@dataclass
class Response:
    status: int
    headers: httpx.Headers
    body: Any  # parsed JSON; None for 204 No Content

    @property
    def server_time(self) -> float | None:
        """The server's clock (unix seconds) from the Date header, if it sent one."""
        raw = self.headers.get("date")
        if not raw:
            return None
        try:
            return email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            return None


class ApiClient:
    """GET/POST JSON against one CRM account, politely."""

    def __init__(self, base_url: str, *, limiter: Any, redact: Redactor, headers: dict[str, str] | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0, lang: str = "en",
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None,
                 label: str = "CRM"):
        self.limiter = limiter
        self.redact = redact
        self.retry = retry or RetryPolicy.from_env()
        self.lang = lang
        self.label = label
        self.stats = Stats()
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url, headers=headers or {}, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), follow_redirects=False)
        self._log_filter = RedactLogs(redact)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(self._log_filter)

    def close(self) -> None:
        self._http.close()
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).removeFilter(self._log_filter)

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------------
    def get(self, path: str, params: Any = None) -> Response:
        return self.request("GET", path, params=params)

    def post(self, path: str, payload: Any) -> Response:
        return self.request("POST", path, json_body=payload)

    def request(self, method: str, path: str, *, params: Any = None, json_body: Any = None) -> Response:
        what = self.redact(f"{method} {path}")
        last_problem = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            self.limiter.acquire()
            self.stats.requests += 1
            try:
                resp = self._http.request(method, path, params=params, json=json_body)
                body_bytes = resp.read()
            except httpx.TransportError as exc:
                self.stats.network_errors += 1
                last_problem = t("sync.err.network", self.lang, kind=type(exc).__name__)
                self._wait(attempt, None)
                continue
            status = resp.status_code
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status in RETRY_STATUS:
                retry_after = _retry_after(resp.headers.get("retry-after"))
                if status in (429, 503):
                    self.limiter.penalise(retry_after if retry_after is not None else self.retry.backoff)
                last_problem = t("sync.err.status", self.lang, status=status, detail=self._detail(body_bytes))
                self._wait(attempt, retry_after)
                continue
            if status in AUTH_STATUS:
                raise SyncError(t("sync.err.auth", self.lang, crm=self.label, status=status, what=what),
                                suggestion=t("sync.err.auth.suggestion", self.lang)) from None
            if status >= 400:
                raise SyncError(t("sync.err.refused", self.lang, crm=self.label, what=what, status=status,
                                  detail=self._detail(body_bytes)),
                                suggestion=t("sync.err.refused.suggestion", self.lang)) from None
            if status == 204 or not body_bytes.strip():
                return Response(status, resp.headers, None)
            try:
                body = json.loads(body_bytes)
            except ValueError:
                last_problem = t("sync.err.not_json", self.lang)
                self._wait(attempt, None)
                continue
            return Response(status, resp.headers, body)
        raise SyncError(t("sync.err.gave_up", self.lang, crm=self.label, what=what, n=self.retry.max_attempts,
                          problem=last_problem),
                        suggestion=t("sync.err.gave_up.suggestion", self.lang)) from None

    def _detail(self, body: bytes) -> str:
        """The server's error code or title, redacted and short."""
        try:
            data = json.loads(body)
        except ValueError:
            return ""
        if isinstance(data, dict):
            parts = [str(data[k]) for k in ("error", "title", "error_description", "detail") if data.get(k)]
            return self.redact(": ".join(parts))[:200]
        return ""

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        if attempt >= self.retry.max_attempts:
            return
        self.stats.retries += 1
        wait = self.retry.backoff * (2 ** (attempt - 1))
        wait *= 1 + random.uniform(-self.retry.jitter, self.retry.jitter)
        if retry_after is not None:
            wait = max(wait, retry_after)
        wait = min(wait, self.retry.max_wait)
        self.stats.waited += wait
        self._sleep(wait)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number of seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
