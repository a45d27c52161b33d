"""Russian and English message catalogues.

Every user-facing text lives in `en/*.yaml` and `ru/*.yaml` (one file per module, same file names)
under the same key; a test checks that both catalogues have the same keys and the same {placeholders}.
Use `t("key", lang, name=value)`.
"""

from __future__ import annotations

import locale
import os
from functools import lru_cache
from importlib import resources

import yaml

LANGS = ("en", "ru")


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    out: dict[str, str] = {}
    folder = resources.files(__package__).joinpath(lang)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            out.update({str(k): str(v) for k, v in data.items()})
    return out


def t(key: str, lang: str = "en", /, **kwargs: object) -> str:
    """The text for `key` in `lang`, formatted with kwargs. A missing key falls back to English."""
    cat = catalogue(lang)
    template = cat.get(key)
    if template is None:
        template = catalogue("en").get(key, key)
    return template.format(**kwargs) if kwargs else template


def default_lang() -> str:
    """`DEALPULSE_LANG`, else the locale's language if it is Russian, else English."""
    env = os.environ.get("DEALPULSE_LANG")
    if env in LANGS:
        return env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "ru" if value.lower().startswith("ru") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "ru" if loc.lower().startswith("ru") else "en"
