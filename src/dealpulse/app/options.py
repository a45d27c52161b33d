"""Options of the application layer's commands, checked once for every surface.

An option that does not parse raises `OptionError`: an `InputError` with a code (`bad_window`, ...), the
option's name as the library knows it (`window`, `min_deals`) and the parameters; its message names the
option plainly. A surface that spells options differently (the CLI's `--window`, a query parameter) asks
`exc.naming(...)` for the same message with its own spelling.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterable

from dealpulse.errors import InputError
from dealpulse.i18n import catalogue, t


class OptionError(InputError):
    """`key`: the message's catalogue key when it is not `options.<code>` (its `.suggestion` beside it);
    `suggestion_params`: parameters of the suggestion that differ from the message's."""

    def __init__(self, code: str, option: str, lang: str = "en", *, key: str | None = None,
                 suggestion_params: dict[str, Any] | None = None, **params: Any):
        self.code, self.option, self.lang, self.params = code, option, lang, params
        self.key, self.suggestion_params = key or f"options.{code}", suggestion_params or {}
        message, suggestion = self._texts(option)
        super().__init__(message, suggestion=suggestion)

    def _texts(self, spelled: str, command: str = "") -> tuple[str, str | None]:
        key = self.key
        message = t(key, self.lang, option=spelled, **self.params)
        has_suggestion = f"{key}.suggestion" in catalogue(self.lang) or f"{key}.suggestion" in catalogue("en")
        params = {**self.params, **self.suggestion_params}
        return message, (t(f"{key}.suggestion", self.lang, option=spelled, command=command, **params)
                         if has_suggestion else None)

    def naming(self, spelled: str, command: str = "") -> InputError:
        """The same error with the option spelled as a surface spells it (`--window`); `command`: what a
        suggestion's example starts with there (`dealpulse changes `)."""
        message, suggestion = self._texts(spelled, command)
        return InputError(message, suggestion=suggestion)


def parse_window(value: Any, lang: str = "en", *, option: str = "window") -> timedelta:
    """A positive length: `28d`, `4w`, `12h` or a timedelta."""
    from dealpulse.playbook.durations import parse_duration

    if isinstance(value, timedelta):
        td: timedelta | None = value
    else:
        try:
            td = parse_duration(str(value))
        except InputError:
            td = None
    if td is None or td <= timedelta(0):
        raise OptionError("bad_window", option, lang, value=str(value))
    return td


def parse_list(values: Any) -> list[str]:
    """`["manager", "segment"]`, `"manager,segment"` or repeated values, split on commas, stripped, in order."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for raw in values:
        for v in str(raw).split(","):
            v = v.strip()
            if v and v not in out:
                out.append(v)
    return out


def one_of(value: Any, choices: Iterable[str], lang: str, *, option: str) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise OptionError("not_one_of", option, lang, got=str(value), choices=", ".join(choices))
    return str(value)


def at_least(value: Any, low: int, lang: str, *, option: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = None
    if n is None or n < low or (isinstance(value, float) and value != n):
        raise OptionError("not_integer", option, lang, got=str(value), min=low)
    return n


__all__ = ["OptionError", "parse_window", "parse_list", "one_of", "at_least"]
