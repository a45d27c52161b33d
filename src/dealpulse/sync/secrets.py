"""Secrets come from the environment only, and never reach output, logs or error messages.

`secret_from_env(var)` reads a token or webhook URL from the named variable (the error names the
variable, never a value). `Redactor` replaces every known secret (and its URL-encoded form) in a
text before it is shown; the HTTP client passes every message it raises through it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any
from urllib.parse import quote

from dealpulse.errors import InputError
from dealpulse.i18n import t

MASK = "***"


def secret_from_env(var: str, lang: str = "en", *, option: str = "--token-env") -> str:
    name = (var or "").strip()
    if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise InputError(t("sync.err.bad_env_name", lang, option=option, name=name),
                         suggestion=t("sync.err.bad_env_name.suggestion", lang, option=option))
    value = os.environ.get(name, "").strip()
    if not value:
        raise InputError(t("sync.err.no_secret", lang, var=name),
                         suggestion=t("sync.err.no_secret.suggestion", lang, var=name))
    return value


class Redactor:
    """Masks secrets in text. Parts shorter than 4 characters are not treated as secrets."""

    def __init__(self, *secrets: str):
        self._parts: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < 4:
            return
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            if form not in self._parts:
                self._parts.append(form)
        self._parts.sort(key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for part in self._parts:
            out = out.replace(part, MASK)
        return out


class RedactLogs(logging.Filter):
    """A log filter that passes every record through `redact` (any text -> text callable): added to the
    httpx/httpcore loggers while a sync or a digest delivery runs, so a secret in a URL never reaches a log."""

    def __init__(self, redact: Any):
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call is not ours to fix
            return True
        clean = self.redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True
