"""Who gets a digest, where it goes, and what they may see.

A recipient is a user of the web app (the `users` table, `dealpulse user add`) with the delivery addresses
of migration 5 (`email`, `telegram_chat_id`, `webhook_url`; `dealpulse user contact`). Scope, the same rule
as the web app's: a manager sees their own deals and alerts, a lead their team's (the managers of their
`team` in the data), the head everything; quality control gets the review queue's summary. Only what is
shown is scoped: the model, the baselines and the alerts are those of the whole department.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

from dealpulse.errors import InputError, NotFound
from dealpulse.i18n import t

ROLES = ("head", "lead", "manager", "qc")
CHANNELS = ("email", "telegram", "webhook")
_ADDRESS = {"email": "email", "telegram": "telegram_chat_id", "webhook": "webhook_url"}


@dataclass(frozen=True)
class Recipient:
    """One person a digest is for (the interface the digests need from the users table)."""

    login: str
    role: str
    manager_id: str | None = None
    team: str | None = None
    lang: str | None = None
    email: str | None = None
    telegram_chat_id: str | None = None
    webhook_url: str | None = None

    def address(self, channel: str | None) -> str | None:
        if channel is None:
            return None
        value = getattr(self, _ADDRESS[channel])
        return str(value).strip() if value is not None and str(value).strip() else None

    def channels(self) -> list[str]:
        return [c for c in CHANNELS if self.address(c)]


@dataclass(frozen=True)
class Scope:
    """What a recipient sees: `owners` None = every deal; else the managers whose deals and alerts are theirs."""

    role: str
    owners: frozenset[str] | None = None
    team: str | None = None
    manager_id: str | None = None
    review: bool = field(default=False)  # quality control: the review queue

    def sees(self, owner: Any) -> bool:
        return self.owners is None or (owner is not None and str(owner) in self.owners)

    def sees_subject(self, subject: dict | None) -> bool:
        """An alert about a manager with the manager; one about a stage, segment or channel is a department
        figure with no names in it, seen by everyone (as in the web app, `dealpulse.web.scope`)."""
        subject = subject or {}
        if "manager" in subject:
            return self.sees(subject["manager"])
        return True


def masked(channel: str, address: str | None) -> str:
    """An address as it may be printed: a webhook URL without its path and query (they often hold a token)."""
    if not address:
        return "—"
    if channel == "webhook":
        parts = urlsplit(address)
        return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"
    return address


def _columns(store: Any) -> set[str]:
    try:
        cur = store.query_frame("SELECT * FROM users WHERE 1 = 0")
    except Exception:  # noqa: BLE001 - no users table yet
        return set()
    return set(cur.columns)


def recipients(store: Any, *, login: str | None = None, role: str | None = None, lang: str = "en") -> list[Recipient]:
    """The active users (one of them with `login`, those of `role`), with their delivery addresses."""
    cols = _columns(store)
    if not cols:
        raise NotFound(t("digest.error.no_users", lang), suggestion=t("digest.error.no_users.suggestion", lang))
    if role is not None and role not in ROLES:
        raise InputError(t("digest.error.role", lang, role=role, roles=", ".join(ROLES)))
    wanted = ["login", "role", "manager_id", "team", "lang", "email", "telegram_chat_id", "webhook_url"]
    select = ", ".join(c if c in cols else f"NULL AS {c}" for c in wanted)
    sql, params = f"SELECT {select} FROM users WHERE active", []
    if login is not None:
        sql += " AND login = ?"
        params.append(login)
    if role is not None:
        sql += " AND role = ?"
        params.append(role)
    rows = store.query(sql + " ORDER BY login", params)
    out = [Recipient(*[None if v is None else str(v) for v in r]) for r in rows]
    if not out and login is None and role is None:
        raise NotFound(t("digest.error.no_users", lang), suggestion=t("digest.error.no_users.suggestion", lang))
    if login is not None and not out:
        raise NotFound(t("digest.error.unknown_login", lang, login=login),
                       suggestion=t("digest.error.unknown_login.suggestion", lang))
    return out


def set_contact(store: Any, login: str, *, email: str | None = None, telegram_chat_id: str | None = None,
                webhook_url: str | None = None, lang: str = "en") -> Recipient:
    """Set (a given value) or clear (an empty string) a user's delivery addresses."""
    found = recipients(store, login=login, lang=lang)
    problems = []
    if email and ("@" not in email or any(c.isspace() for c in email)):
        problems.append(t("digest.error.email", lang, value=email))
    if webhook_url and urlsplit(webhook_url).scheme not in ("http", "https"):
        problems.append(t("digest.error.webhook", lang, value=masked("webhook", webhook_url)))
    if telegram_chat_id and not telegram_chat_id.lstrip("-").isdigit() and not telegram_chat_id.startswith("@"):
        problems.append(t("digest.error.telegram", lang, value=telegram_chat_id))
    if problems:
        raise InputError(t("digest.error.cannot_set", lang, login=login), problems=problems)
    for column, value in (("email", email), ("telegram_chat_id", telegram_chat_id), ("webhook_url", webhook_url)):
        if value is not None:
            store.execute(f"UPDATE users SET {column} = ? WHERE login = ?", [value.strip() or None, login])
    return recipients(store, login=found[0].login, lang=lang)[0]


def team_members(store: Any, team: str | None) -> frozenset[str]:
    if not team:
        return frozenset()
    return frozenset(str(r[0]) for r in store.query("SELECT manager_id FROM managers WHERE team = ?", [team]))


def scope_of(store: Any, r: Recipient) -> Scope:
    """What `r` may see: the web app's rule (`dealpulse.web.scope.scope_of`) when it is there, else the same
    rule here (a manager their own deals, a lead their team's, head and qc everything)."""
    try:
        from dealpulse.web.scope import scope_of as web_scope
        from dealpulse.web.users import User
    except ImportError:  # the web app is not installed in this build
        web_scope = None
    if web_scope is not None:
        ws = web_scope(User(login=r.login, role=r.role, manager_id=r.manager_id, team=r.team, lang=r.lang), store)
        return Scope(r.role, ws.managers, team=r.team, manager_id=r.manager_id, review=r.role == "qc")
    if r.role == "manager":
        return Scope("manager", frozenset([r.manager_id]) if r.manager_id else frozenset(), team=r.team,
                     manager_id=r.manager_id)
    if r.role == "lead":
        members = team_members(store, r.team) | (frozenset([r.manager_id]) if r.manager_id else frozenset())
        return Scope("lead", members, team=r.team, manager_id=r.manager_id)
    return Scope(r.role, None, review=r.role == "qc")


def pick(found: Iterable[Recipient], channel: str | None) -> list[tuple[Recipient, str | None]]:
    """(recipient, channel) pairs to deliver: the one channel asked, else every channel they have an address for."""
    pairs: list[tuple[Recipient, str | None]] = []
    for r in found:
        chosen = [channel] if channel else r.channels()
        pairs.extend((r, c) for c in chosen or [None])  # None: no address at all (reported, not sent)
    return pairs


__all__ = ["Recipient", "Scope", "ROLES", "CHANNELS", "recipients", "set_contact", "scope_of", "team_members",
           "masked", "pick"]
