import re
from importlib import resources

import yaml

from dealpulse.i18n import catalogue, default_lang, t

PLACEHOLDER = re.compile(r"{(\w+)")


def test_both_languages_have_the_same_files_keys_and_placeholders():
    root = resources.files("dealpulse.i18n")
    en_files = sorted(e.name for e in root.joinpath("en").iterdir() if e.name.endswith(".yaml"))
    ru_files = sorted(e.name for e in root.joinpath("ru").iterdir() if e.name.endswith(".yaml"))
    assert en_files == ru_files
    for name in en_files:
        en = yaml.safe_load(root.joinpath("en", name).read_text(encoding="utf-8")) or {}
        ru = yaml.safe_load(root.joinpath("ru", name).read_text(encoding="utf-8")) or {}
        assert set(en) == set(ru), f"{name}: keys differ: {set(en) ^ set(ru)}"
        for key in en:
            assert set(PLACEHOLDER.findall(str(en[key]))) == set(PLACEHOLDER.findall(str(ru[key]))), f"{name}: {key}"


def test_russian_texts_are_russian():
    ru = catalogue("ru")
    for key, text in ru.items():
        if key.endswith((".code", ".unit")):
            continue
        assert re.search("[а-яА-Я]", text) or not re.search("[a-zA-Z]{4,}", text), f"{key}: {text!r} looks untranslated"


def test_t_formats_and_falls_back():
    assert t("common.as_of", "ru", as_of="2025-01-01") == "На момент 2025-01-01"
    assert t("common.as_of", "en", as_of="x") == "As of x"
    assert t("no.such.key", "ru") == "no.such.key"


def test_default_lang_from_environment(monkeypatch):
    for var in ("DEALPULSE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    assert default_lang() == "ru"
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    assert default_lang() == "en"
    monkeypatch.setenv("DEALPULSE_LANG", "ru")
    assert default_lang() == "ru"
