"""Users, roles, API tokens and login sessions of the web app, kept in the store (migration 4).

No web framework here: `dealpulse user add` / `dealpulse token create` and the web app both use it.
Passwords are hashed with argon2id (argon2-cffi); an API token and a session id are random (secrets) and
only their SHA-256 is stored, so a copy of the database lets nobody log in.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from dealpulse.errors import InputError, NotFound
from dealpulse.i18n import t

ROLES = ("head", "lead", "manager", "qc")
SESSION_TTL = timedelta(hours=12)
TOKEN_PREFIX = "dp_"


def now() -> datetime:
    """The wall clock, naive UTC (as the store keeps moments)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    login: str
    role: str
    manager_id: str | None = None
    team: str | None = None
    lang: str | None = None
    active: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"login": self.login, "role": self.role, "manager_id": self.manager_id, "team": self.team,
                "lang": self.lang, "active": self.active}


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- users ------------------------------------------------------------------------------------------
_COLS = "login, role, manager_id, team, lang, active"


def _user(row: tuple) -> User:
    login, role, manager_id, team, lang, active = row
    return User(login=login, role=role, manager_id=manager_id, team=team, lang=lang, active=bool(active))


def manager_team(store: Any, manager_id: str) -> str | None:
    rows = store.query("SELECT team FROM managers WHERE manager_id = ?", [manager_id])
    return rows[0][0] if rows else None


def check_user(store: Any, login: str, role: str, manager_id: str | None, team: str | None, password: str,
               lang: str = "en") -> tuple[str | None, str | None]:
    """Raise InputError naming what is wrong; returns (manager_id, team) as they will be stored (a manager's
    team is taken from the managers table when not given)."""
    problems = []
    if not login or not login.strip() or any(c.isspace() for c in login) or len(login) > 64:
        problems.append(t("user.error.login", lang, login=login))
    if role not in ROLES:
        problems.append(t("user.error.role", lang, role=role, roles=", ".join(ROLES)))
    if role == "manager":
        if not manager_id:
            problems.append(t("user.error.manager_needed", lang))
        else:
            known = store.query("SELECT count(*) FROM managers")[0][0]
            found = store.query("SELECT team FROM managers WHERE manager_id = ?", [manager_id])
            if known and not found:
                ids = [r[0] for r in store.query("SELECT manager_id FROM managers ORDER BY manager_id LIMIT 12")]
                problems.append(t("user.error.manager_unknown", lang, manager=manager_id, known=", ".join(ids)))
            elif found and not team:
                team = found[0][0]
    if role == "lead" and not team:
        problems.append(t("user.error.team_needed", lang))
    if len(password or "") < 8:
        problems.append(t("user.error.password_short", lang))
    if problems:
        raise InputError(t("user.error.cannot_add", lang, login=login), problems=problems)
    return (manager_id if role == "manager" else manager_id or None), team


def add_user(store: Any, login: str, role: str, password: str, *, manager_id: str | None = None,
             team: str | None = None, lang: str | None = None, msg_lang: str = "en", replace: bool = False) -> User:
    """Store a user (argon2 hash of the password). An existing login is an error unless `replace`."""
    login = (login or "").strip()
    manager_id, team = check_user(store, login, role, manager_id, team, password, msg_lang)
    exists = store.query("SELECT count(*) FROM users WHERE login = ?", [login])[0][0]
    if exists and not replace:
        raise InputError(t("user.error.exists", msg_lang, login=login), suggestion=t("user.error.exists.suggestion", msg_lang))
    digest = hash_password(password)
    with store.transaction():
        if exists:
            store.execute("DELETE FROM users WHERE login = ?", [login])
            store.execute("DELETE FROM web_sessions WHERE login = ?", [login])
        store.execute("INSERT INTO users (login, role, manager_id, team, password_hash, lang, active, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [login, role, manager_id, team, digest, lang, True, now()])
    return User(login=login, role=role, manager_id=manager_id, team=team, lang=lang)


def get_user(store: Any, login: str) -> User | None:
    rows = store.query(f"SELECT {_COLS} FROM users WHERE login = ?", [login])
    return _user(rows[0]) if rows else None


def list_users(store: Any) -> list[User]:
    return [_user(r) for r in store.query(f"SELECT {_COLS} FROM users ORDER BY login")]


def remove_user(store: Any, login: str, *, lang: str = "en") -> None:
    """Remove a user with their API tokens and login sessions (their review marks and alert actions stay)."""
    if get_user(store, login) is None:
        raise NotFound(t("user.error.unknown", lang, login=login), suggestion=t("user.error.unknown.suggestion", lang))
    with store.transaction():
        store.execute("DELETE FROM api_tokens WHERE login = ?", [login])
        store.execute("DELETE FROM web_sessions WHERE login = ?", [login])
        store.execute("DELETE FROM users WHERE login = ?", [login])


def set_lang(store: Any, login: str, lang: str) -> None:
    if lang not in ("en", "ru"):
        raise InputError(f"lang: expected en or ru, got {lang!r}")
    store.execute("UPDATE users SET lang = ? WHERE login = ?", [lang, login])


def authenticate(store: Any, login: str, password: str) -> User | None:
    """The user if the password matches (an unknown login costs a hash too: no timing hint)."""
    rows = store.query("SELECT password_hash, active FROM users WHERE login = ?", [login])
    if not rows:
        verify_password(_DUMMY_HASH(), password)
        return None
    digest, active = rows[0]
    if not active or not verify_password(digest, password):
        return None
    return get_user(store, login)


_dummy: list[str] = []


def _DUMMY_HASH() -> str:  # noqa: N802 - a constant made once, lazily
    if not _dummy:
        _dummy.append(hash_password(secrets.token_hex(16)))
    return _dummy[0]


# -- API tokens -------------------------------------------------------------------------------------
def create_token(store: Any, login: str, *, label: str | None = None, lang: str = "en") -> str:
    """A new random API token for `login`, returned once; only its SHA-256 is stored."""
    if get_user(store, login) is None:
        raise NotFound(t("user.error.unknown", lang, login=login), suggestion=t("user.error.unknown.suggestion", lang))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.execute("INSERT INTO api_tokens (token_hash, login, label, created_at) VALUES (?, ?, ?, ?)",
                  [sha256(token), login, label, now()])
    return token


def user_of_token(store: Any, token: str) -> User | None:
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    rows = store.query("SELECT login FROM api_tokens WHERE token_hash = ?", [sha256(token)])
    if not rows:
        return None
    user = get_user(store, rows[0][0])
    return user if user is not None and user.active else None


# -- login sessions ---------------------------------------------------------------------------------
def start_session(store: Any, login: str) -> tuple[str, str]:
    """(session id for the cookie, CSRF token of its forms)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    at = now()
    with store.transaction():
        store.execute("DELETE FROM web_sessions WHERE expires_at < ?", [at])
        store.execute("INSERT INTO web_sessions (session_hash, login, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                      [sha256(sid), login, csrf, at, at + SESSION_TTL])
    return sid, csrf


def session_user(store: Any, sid: str | None) -> tuple[User, str] | None:
    """(user, csrf token) of a live session, else None."""
    if not sid:
        return None
    rows = store.query("SELECT login, csrf FROM web_sessions WHERE session_hash = ? AND expires_at > ?", [sha256(sid), now()])
    if not rows:
        return None
    user = get_user(store, rows[0][0])
    if user is None or not user.active:
        return None
    return user, rows[0][1]


def end_session(store: Any, sid: str | None) -> None:
    if sid:
        store.execute("DELETE FROM web_sessions WHERE session_hash = ?", [sha256(sid)])


class LoginLimiter:
    """At most `attempts` failed logins per (login, client address) in `window` seconds; a success clears them."""

    def __init__(self, attempts: int = 5, window: float = 300.0):
        self.attempts = attempts
        self.window = window
        self._fails: dict[tuple[str, str], deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: tuple[str, str], at: float) -> deque:
        q = self._fails[key]
        while q and q[0] <= at - self.window:
            q.popleft()
        return q

    def blocked(self, login: str, address: str) -> float:
        """Seconds to wait (0: may try)."""
        at = time.monotonic()
        with self._lock:
            q = self._prune((login, address), at)
            return max(0.0, q[0] + self.window - at) if len(q) >= self.attempts else 0.0

    def failed(self, login: str, address: str) -> None:
        with self._lock:
            self._fails[(login, address)].append(time.monotonic())

    def succeeded(self, login: str, address: str) -> None:
        with self._lock:
            self._fails.pop((login, address), None)


__all__ = ["ROLES", "User", "add_user", "remove_user", "get_user", "list_users", "authenticate", "create_token", "user_of_token",
           "start_session", "session_user", "end_session", "set_lang", "LoginLimiter", "hash_password",
           "verify_password"]
