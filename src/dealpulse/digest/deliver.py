"""Delivering digests: e-mail (SMTP), Telegram (Bot API sendMessage) and webhooks (POST JSON).

Never lost silently: every delivery is tried up to `Retry.attempts` times with back-off (1 s, 2 s, 4 s … by
default), and the outcome is written to the store's `digest_log` (recipient, channel, period, status,
attempts over every run, the last error, sent_at). A re-run of the same period sends only what is not
`sent` there (idempotent per recipient, channel and period); `dealpulse digest` exits non-zero and names
each recipient that failed and why.

Settings and secrets come from the environment and are never printed: the SMTP password is read from the
variable named by DEALPULSE_SMTP_PASSWORD_ENV, the Telegram token from DEALPULSE_TELEGRAM_TOKEN (it is part
of the Bot API's URL, so it is masked in every error and in httpx's log records); a webhook URL is shown
without its path and query (which often carry a token).

Telegram's limits (core.telegram.org/bots/faq): about one message per second to one chat and 30 per second
overall; a 429 answer carries `parameters.retry_after` (seconds), which is waited out before the same
message is sent again (a 429 is not counted as a failed attempt, up to `MAX_429` in a row).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable, Sequence

from dealpulse.digest.content import Digest
from dealpulse.digest.people import Recipient, masked
from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.sync.secrets import RedactLogs

TELEGRAM_API = "https://api.telegram.org"
MAX_429 = 5
log = logging.getLogger("dealpulse.digest")


class DeliveryError(Exception):
    """A delivery that did not go through: `retryable` (network, 5xx, 429) or not (a bad address, 4xx)."""

    def __init__(self, reason: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class Retry:
    attempts: int = 3
    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay, self.base * self.factor ** (attempt - 1))


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    telegram: list[str]
    json: bytes

    @classmethod
    def of(cls, d: Digest) -> "Rendered":
        from dealpulse.digest import render

        subject, body = render.text(d)
        return cls(subject=subject, text=body, html=render.email_html(d), telegram=render.telegram(d),
                   json=render.webhook_body(d))


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Redactor:
    """Replaces every secret (and a webhook URL by its masked form) in a text."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}

    def add(self, secret: str | None, shown: str = "***") -> None:
        if secret and len(secret) >= 4:
            self.secrets[secret] = shown

    def __call__(self, text: Any) -> str:
        out = str(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            out = out.replace(secret, self.secrets[secret])
        return out


# -- e-mail ---------------------------------------------------------------------------------------------
@dataclass
class SmtpSettings:
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "dealpulse@localhost"
    starttls: bool = False
    ssl: bool = False
    timeout: float = 30.0

    @classmethod
    def from_env(cls, lang: str = "en", env: dict[str, str] | None = None) -> "SmtpSettings":
        e = os.environ if env is None else env
        host = (e.get("DEALPULSE_SMTP_HOST") or "").strip()
        if not host:
            raise InputError(t("digest.error.smtp_host", lang), suggestion=t("digest.error.smtp_host.suggestion", lang))
        yes = ("1", "true", "yes", "on")
        starttls = (e.get("DEALPULSE_SMTP_STARTTLS") or "").strip().lower() in yes
        use_ssl = (e.get("DEALPULSE_SMTP_SSL") or "").strip().lower() in yes
        port = int(e.get("DEALPULSE_SMTP_PORT") or (465 if use_ssl else 587 if starttls else 25))
        user = (e.get("DEALPULSE_SMTP_USER") or "").strip() or None
        password = None
        pw_var = (e.get("DEALPULSE_SMTP_PASSWORD_ENV") or "").strip()
        if pw_var:
            password = e.get(pw_var)
            if not password:
                raise InputError(t("digest.error.smtp_password", lang, name=pw_var),
                                 suggestion=t("digest.error.smtp_host.suggestion", lang))
        sender = (e.get("DEALPULSE_SMTP_FROM") or user or "dealpulse@localhost").strip()
        return cls(host=host, port=port, user=user, password=password, sender=sender, starttls=starttls, ssl=use_ssl)


class EmailChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings, redact: Redactor):
        self.s = settings
        self.redact = redact
        redact.add(settings.password)

    def message(self, address: str, r: Rendered, lang: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = r.subject
        msg["From"] = self.s.sender
        msg["To"] = address
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.s.sender.rpartition("@")[2] or "localhost")
        msg["Content-Language"] = lang
        msg.set_content(r.text)
        msg.add_alternative(r.html, subtype="html")
        return msg

    def send(self, address: str, r: Rendered, lang: str = "en") -> None:
        msg = self.message(address, r, lang)
        try:
            if self.s.ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.s.host, self.s.port, timeout=self.s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.s.host, self.s.port, timeout=self.s.timeout)
            with smtp:
                if self.s.starttls and not self.s.ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.s.user and self.s.password:
                    smtp.login(self.s.user, self.s.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(self.redact(f"SMTP refused {address}: {_smtp_reason(exc)}"), retryable=False) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(self.redact(f"SMTP login failed: {exc.smtp_code}"), retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(self.redact(f"SMTP {exc.smtp_code}: {_decode(exc.smtp_error)}"),
                                retryable=400 <= exc.smtp_code < 500) from None  # 4xx: try later; 5xx: permanent
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(self.redact(f"SMTP {self.s.host}:{self.s.port}: {exc.__class__.__name__}: {exc}")) from None


def _decode(x: Any) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def _smtp_reason(exc: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{code} {_decode(msg)}" for code, msg in exc.recipients.values())


# -- Telegram -------------------------------------------------------------------------------------------
class RateLimiter:
    """At most one message per `per_chat` seconds to one chat and `overall` messages in any second."""

    def __init__(self, per_chat: float = 1.0, overall: int = 30, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_chat = per_chat
        self.overall = overall
        self.clock = clock
        self.sleep = sleep
        self.last: dict[str, float] = {}
        self.window: deque[float] = deque()
        self.waited = 0.0

    def wait(self, chat: str) -> None:
        while True:
            now = self.clock()
            while self.window and self.window[0] <= now - 1.0:
                self.window.popleft()
            need = 0.0
            if chat in self.last:
                need = max(need, self.last[chat] + self.per_chat - now)
            if len(self.window) >= self.overall:
                need = max(need, self.window[0] + 1.0 - now)
            if need <= 0:
                break
            self.waited += need
            self.sleep(need)
        now = self.clock()
        self.last[chat] = now
        self.window.append(now)

    def hold(self, chat: str, seconds: float) -> None:
        """The server asked this chat to wait (429)."""
        self.last[chat] = self.clock() + seconds - self.per_chat


class TelegramChannel:
    name = "telegram"

    def __init__(self, token: str, redact: Redactor, *, api_url: str | None = None, limiter: RateLimiter | None = None,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0, transport: Any = None):
        import httpx

        self.token = token
        self.redact = redact
        redact.add(token, "<token>")
        self.api = (api_url or TELEGRAM_API).rstrip("/")
        self.limiter = limiter or RateLimiter(sleep=sleep)
        self.sleep = sleep
        self.http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._filter = RedactLogs(redact)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(self._filter)
        self.retry_waits: list[float] = []
        self._done: dict[tuple[str, int], int] = {}

    def close(self) -> None:
        self.http.close()
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).removeFilter(self._filter)

    def send(self, chat_id: str, r: Rendered, lang: str = "en") -> None:
        """Every message of the digest; a retry after a failure goes on from the message that failed (the
        ones before it are not sent twice within a run)."""
        key = (str(chat_id), id(r))
        done = self._done.get(key, 0)
        for i, text in enumerate(r.telegram[done:], start=done):
            self._post(chat_id, text)
            self._done[key] = i + 1

    def _post(self, chat_id: str, text: str) -> None:
        import httpx

        url = f"{self.api}/bot{self.token}/sendMessage"
        body = {"chat_id": chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
        for _ in range(MAX_429 + 1):
            self.limiter.wait(str(chat_id))
            try:
                resp = self.http.post(url, json=body)
            except httpx.HTTPError as exc:
                raise DeliveryError(self.redact(f"Telegram: {exc.__class__.__name__}: {exc}")) from None
            try:
                data = resp.json()
            except ValueError:
                data = {}
            if resp.status_code == 200 and data.get("ok", True):
                return
            desc = str(data.get("description") or resp.reason_phrase or "")
            if resp.status_code == 429:
                after = _retry_after(data, resp.headers)
                self.retry_waits.append(after)
                self.limiter.hold(str(chat_id), after)
                log.info("Telegram asks to wait %.0f s (429)", after)
                continue
            raise DeliveryError(self.redact(f"Telegram {resp.status_code}: {desc}"),
                                retryable=resp.status_code >= 500) from None
        raise DeliveryError(f"Telegram 429: still rate-limited after {MAX_429} waits", retryable=True)


def _retry_after(data: dict, headers: Any) -> float:
    params = data.get("parameters") if isinstance(data, dict) else None
    value = (params or {}).get("retry_after") if isinstance(params, dict) else None
    if value is None:
        value = headers.get("retry-after")
    try:
        return max(0.0, min(float(value), 3600.0))
    except (TypeError, ValueError):
        return 1.0


# -- webhook --------------------------------------------------------------------------------------------
class WebhookChannel:
    name = "webhook"

    def __init__(self, redact: Redactor, *, sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0,
                 transport: Any = None):
        import httpx

        self.redact = redact
        self.sleep = sleep
        self.http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._filter = RedactLogs(redact)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(self._filter)

    def close(self) -> None:
        self.http.close()
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).removeFilter(self._filter)

    def send(self, url: str, r: Rendered, lang: str = "en") -> None:
        import httpx

        self.redact.add(url, masked("webhook", url))
        try:
            resp = self.http.post(url, content=r.json, headers={"Content-Type": "application/json; charset=utf-8",
                                                                 "User-Agent": "dealpulse-digest"})
        except httpx.HTTPError as exc:
            raise DeliveryError(self.redact(f"webhook {masked('webhook', url)}: {exc.__class__.__name__}: {exc}")) from None
        if 200 <= resp.status_code < 300:
            return
        retry_after = _retry_after({}, resp.headers) if resp.status_code == 429 else None
        raise DeliveryError(self.redact(f"webhook {masked('webhook', url)}: HTTP {resp.status_code}"),
                            retryable=resp.status_code in (408, 425, 429) or resp.status_code >= 500,
                            retry_after=retry_after)


# -- the log and the loop -------------------------------------------------------------------------------
@dataclass
class Job:
    recipient: Recipient
    channel: str | None  # None: the recipient has no address at all
    digest: Digest

    @property
    def address(self) -> str | None:
        return self.recipient.address(self.channel)


@dataclass
class Outcome:
    login: str
    role: str
    lang: str
    channel: str
    address: str  # as it may be shown (masked)
    period: str
    status: str  # sent | failed | already | dry_run | no_address
    attempts: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def logged(store: Any, login: str, channel: str, period: str) -> tuple[str, int] | None:
    rows = store.query("SELECT status, attempts FROM digest_log WHERE recipient = ? AND channel = ? AND period = ?",
                       [login, channel, period])
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


def record(store: Any, login: str, channel: str, period: str, status: str, attempts: int, error: str | None) -> None:
    at = _now()
    with store.transaction():
        store.execute("DELETE FROM digest_log WHERE recipient = ? AND channel = ? AND period = ?", [login, channel, period])
        store.execute("INSERT INTO digest_log (recipient, channel, period, status, attempts, error, sent_at, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [login, channel, period, status, attempts, error, at if status == "sent" else None, at])


class Channels:
    """The channels a run uses, made when first needed; a channel that cannot be made (no SMTP host, no
    token) fails every delivery through it with that reason."""

    def __init__(self, *, lang: str = "en", telegram_api: str | None = None, env: dict[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep, limiter: RateLimiter | None = None):
        self.lang = lang
        self.telegram_api = telegram_api
        self.env = os.environ if env is None else env
        self.sleep = sleep
        self.limiter = limiter
        self.redact = Redactor()
        self._made: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._made:
            try:
                self._made[name] = self._make(name)
            except InputError as exc:
                self._made[name] = exc
        made = self._made[name]
        if isinstance(made, InputError):
            raise DeliveryError(str(made), retryable=False)
        return made

    def _make(self, name: str) -> Any:
        if name == "email":
            return EmailChannel(SmtpSettings.from_env(self.lang, self.env), self.redact)
        if name == "telegram":
            token = (self.env.get("DEALPULSE_TELEGRAM_TOKEN") or "").strip()
            if not token:
                raise InputError(t("digest.error.telegram_token", self.lang))
            return TelegramChannel(token, self.redact, api_url=self.telegram_api, sleep=self.sleep,
                                   limiter=self.limiter or RateLimiter(sleep=self.sleep))
        if name == "webhook":
            return WebhookChannel(self.redact, sleep=self.sleep)
        raise ValueError(f"unknown channel {name!r}")

    def close(self) -> None:
        for made in self._made.values():
            if hasattr(made, "close"):
                made.close()


def deliver(store: Any, jobs: Sequence[Job], channels: Channels, *, retry: Retry | None = None, dry_run: bool = False,
            lang: str = "en", progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Send each job (unless `dry_run`), retrying with back-off, and log each outcome in `digest_log`."""
    retry = retry or Retry(sleep=channels.sleep)
    out = []
    for job in jobs:
        r, d = job.recipient, job.digest
        address = job.address
        o = Outcome(login=r.login, role=r.role, lang=d.lang, channel=job.channel or "—",
                    address=masked(job.channel or "", address),
                    period=d.period, status="failed")
        if address is None:
            o.status, o.error = "no_address", (t("digest.error.no_address", lang, login=r.login, channel=job.channel) if job.channel
                                           else t("digest.error.no_address_any", lang, login=r.login))
        elif dry_run:
            o.status = "dry_run"
        else:
            before = logged(store, r.login, job.channel, d.period)
            if before and before[0] == "sent":
                o.status, o.attempts = "already", before[1]
            else:
                o = _send(job, o, channels, retry, Rendered.of(d))
                record(store, r.login, job.channel, d.period, o.status, o.attempts + (before[1] if before else 0), o.error)
                o.attempts += before[1] if before else 0
        out.append(o)
        if progress is not None:
            progress(o)
    return out


def _send(job: Job, o: Outcome, channels: Channels, retry: Retry, rendered: Rendered) -> Outcome:
    tries = 0
    while True:
        tries += 1
        try:
            channels.get(job.channel).send(job.address, rendered, job.digest.lang)
            o.status, o.attempts, o.error = "sent", tries, None
            return o
        except DeliveryError as exc:
            o.error = channels.redact(exc.reason)
            o.attempts = tries
            if not exc.retryable or tries >= retry.attempts:
                o.status = "failed"
                log.warning("digest for %s via %s failed after %d attempt(s): %s", o.login, o.channel, tries, o.error)
                return o
            wait = max(retry.delay(tries), exc.retry_after or 0.0)
            retry.sleep(wait)


__all__ = ["run_digests", "DigestRun", "deliver", "Channels", "Retry", "Job", "Outcome", "Rendered", "DeliveryError", "EmailChannel",
           "TelegramChannel", "WebhookChannel", "SmtpSettings", "RateLimiter", "Redactor", "record", "logged"]


# -- one run: who, what, how ----------------------------------------------------------------------------
@dataclass
class DigestRun:
    """What `run_digests` did: the period, every delivery's outcome, and the digests (for a dry run's print)."""

    start: datetime
    as_of: datetime
    tz: Any
    jobs: list[Job]
    outcomes: list[Outcome]
    digests: dict[str, Digest]

    def failed(self, strict: bool = False) -> list[Outcome]:
        """The deliveries that did not go out (`strict`: a missing address counts too)."""
        return [o for o in self.outcomes if o.status == "failed" or (strict and o.status == "no_address")]


def run_digests(store: Any, *, login: str | None = None, role: str | None = None, since: Any = "7d",
                channel: str | None = None, as_of: Any = None, playbook: Any = None, lang: str = "en",
                forced_lang: str | None = None, dry_run: bool = False, telegram_api: str | None = None,
                attempts: int = 3, env: dict[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
                session: Any = None, on_computing: Any = None) -> DigestRun | None:
    """Build and deliver the digests of the chosen users (the CLI, a scheduler in `serve`, a cron job all call
    this). None when nobody is chosen. `session`: an open `dealpulse.app.Session` to reuse (its model cache)."""
    from contextlib import nullcontext

    from dealpulse.app import Session
    from dealpulse.digest.content import DigestBuilder
    from dealpulse.digest.people import pick, recipients, scope_of

    people = recipients(store, login=login, role=role, lang=lang)
    pairs = pick(people, channel)
    if not pairs:
        return None
    moment = (session or Session(store, playbook)).at(as_of)
    langs = {r.login: forced_lang or r.lang or lang for r, _ in pairs}
    with (on_computing or nullcontext()):
        builder = DigestBuilder(moment, since, langs=sorted(set(langs.values()), key=lambda x: x != lang),
                                scopes=[scope_of(store, r) for r in {r.login: r for r, _ in pairs}.values()])
        digests = {r.login: builder.for_person(r, langs[r.login]) for r, _ in pairs}
    jobs = [Job(r, c, digests[r.login]) for r, c in pairs]
    channels = Channels(lang=lang, telegram_api=telegram_api, env=env, sleep=sleep)
    try:
        outcomes = deliver(store, jobs, channels, retry=Retry(attempts=attempts, sleep=sleep), dry_run=dry_run, lang=lang)
    finally:
        channels.close()
    return DigestRun(start=builder.start, as_of=moment.as_of, tz=moment.tz, jobs=jobs, outcomes=outcomes, digests=digests)
