"""Russian and English message catalogues.

Every user-facing text lives in `en/*.yaml` and `ru/*.yaml` (one file per module, same file names)
under the same key; a test checks that both catalogues have the same keys and the same {placeholders}.
Use `t("key", lang, name=value)`.
"""

from __future__ import annotations

import locale
import os
import re
import string
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


_PLURAL = re.compile(r"(?<!\{)\{(\w+)\|([^{}]*)\}")
# the order plural forms are written in a template, per language (CLDR categories, by Babel)
PLURAL_ORDER = {"en": ("one", "other"), "ru": ("one", "few", "many")}
_FALLBACK = {"other": "few", "two": "few", "zero": "many"}  # ru "other" is fractions: 1,5 сделки


def plural(n: object, forms: "list[str] | tuple[str, ...]", lang: str) -> str:
    """The form of a word for the number `n` in `lang` by CLDR plural rules (Babel): in ru
    `plural(21, ["сделка", "сделки", "сделок"], "ru")` is "сделка", 22 "сделки", 25 and 11 "сделок"."""
    from babel import Locale

    try:
        value = abs(float(str(n).replace("\u00a0", "").replace(" ", "").replace(",", ".")))
    except ValueError:
        return forms[-1]
    if value == int(value):
        value = int(value)
    tag = Locale.parse(lang if lang in LANGS else "en").plural_form(value)
    order = PLURAL_ORDER.get(lang, PLURAL_ORDER["en"])
    if tag not in order:
        tag = _FALLBACK.get(tag, order[-1]) if _FALLBACK.get(tag) in order else order[-1]
    return forms[min(order.index(tag), len(forms) - 1)]


def number(value: object, lang: str, digits: "int | None" = None) -> str:
    """A number as a reader of `lang` writes it (Babel): `1 234,5` (non-breaking space) / `1,234.5`.
    `digits` fixes the decimals; None: integers as they are, others with up to 1 decimal (2 under 1)."""
    from babel.numbers import format_decimal

    v = float(value)  # type: ignore[arg-type]
    if digits is None:
        digits = 0 if v == int(v) else (1 if abs(v) >= 1 else 2)
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
    else:
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(v, format=pattern, locale=lang if lang in LANGS else "en")


# numbers that are names, not quantities: written as they are (port 8000, row 1234, HTTP 429, year 2024)
RAW_PARAMS = {"port", "year", "line", "row", "column", "id", "status", "code", "seed", "pid", "version",
              "http_status", "attempt", "page", "exit_code"}


def _shown(value: object, lang: str, name: str = "") -> object:
    """A parameter as text: numbers in the language's format, everything else as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or name in RAW_PARAMS or name.endswith("_id"):
        return value
    if isinstance(value, float) and value != value:
        return "—"
    return number(value, lang)


def t(key: str, lang: str = "en", /, **kwargs: object) -> str:
    """The text for `key` in `lang`, formatted with kwargs. A missing key falls back to English.

    Numbers given as int/float are written as `lang` writes them (Babel; a placeholder with a format
    spec such as {p:.2f} gets the raw value). `{n|сделка|сделки|сделок}` is the word for the number
    `n`, forms in the order of PLURAL_ORDER (ru: one|few|many, en: one|other)."""
    cat = catalogue(lang)
    template = cat.get(key)
    if template is None:
        template = catalogue("en").get(key, key)
        lang = "en" if key in catalogue("en") else lang
    if not kwargs:
        return template
    if "|" in template:
        template = _PLURAL.sub(lambda m: plural(kwargs.get(m.group(1), 0), m.group(2).split("|"), lang)
                               if m.group(1) in kwargs else m.group(0), template)
    specced = {f for _, f, spec, conv in string.Formatter().parse(template) if f and (spec or conv)}
    return template.format(**{k: v if k in specced else _shown(v, lang, k) for k, v in kwargs.items()})


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
