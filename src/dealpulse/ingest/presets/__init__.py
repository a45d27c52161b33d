"""CRM presets: `dealpulse import PATH --source amocrm|bitrix24` reads a CRM's own export shapes.

Each preset lives in a module of this package named after it, exposing `PRESET` (see `base.Preset`).
`PRESETS` holds the presets whose modules are present; `get_preset(name, lang)` returns one or
raises InputError listing the known names.
"""

from __future__ import annotations

import importlib

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.ingest.presets.account import Account, load_account, parse_account
from dealpulse.ingest.presets.base import Exploration, Preset, PresetRead

NAMES = ("amocrm", "bitrix24")


def _load(name: str) -> Preset | None:
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise
    return getattr(module, "PRESET", None)


class _Registry(dict):
    """name -> Preset, each module imported on first use."""

    def _fill(self) -> None:
        for name in NAMES:
            if not dict.__contains__(self, name) and (preset := _load(name)) is not None:
                super().__setitem__(name, preset)

    def __getitem__(self, name: str) -> Preset:
        self._fill()
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        self._fill()
        return super().__contains__(name)

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def keys(self):  # type: ignore[override]
        self._fill()
        return super().keys()

    def items(self):  # type: ignore[override]
        self._fill()
        return super().items()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()


PRESETS: dict[str, Preset] = _Registry()


def get_preset(name: str, lang: str = "en") -> Preset:
    key = (name or "").strip().lower()
    if key not in PRESETS:
        raise InputError(t("presets.err.unknown", lang, found=name, expected=", ".join(PRESETS.keys()) or "—"),
                         suggestion=t("presets.err.unknown.suggestion", lang))
    return PRESETS[key]


__all__ = ["Account", "Exploration", "PRESETS", "Preset", "PresetRead", "get_preset", "load_account", "parse_account"]
