"""Every analysis with a JSON document, behind one registry: `run(name, moment, **options)`.

The CLI (`dealpulse <name> --format json`), the web API (`GET /api/v1/<name>?option=value`) and the report
call the same functions here and get the same `Result` (`.document()` is the JSON both print). Options are
named as the CLI names them, snake_case (`min_deals` for `--min-deals`; `min-deals` is accepted too); text
values (query parameters) are converted to the option's type here, and a bad one is an `OptionError` that
names the option, never a CLI flag.

    with Session.open(db) as s:
        doc = run("funnel", s.at("2024-06-30"), lang="ru", by="segment").document()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from dealpulse.app.commands.alerts import alerts
from dealpulse.app.commands.changes import changes
from dealpulse.app.commands.dynamics import dynamics
from dealpulse.app.commands.funnel import funnel
from dealpulse.app.commands.metrics import metrics
from dealpulse.app.commands.norms import norms
from dealpulse.app.commands.optimism import optimism
from dealpulse.app.commands.review import review
from dealpulse.app.commands.score import score
from dealpulse.app.commands.validate_metrics import validate_metrics
from dealpulse.app.documents import Result
from dealpulse.app.options import OptionError, at_least, parse_list
from dealpulse.app.session import Moment

# option kinds: how a text value (a query parameter) becomes the option's value
TEXT, INT, FLOAT, FLAG, LIST = "text", "int", "float", "flag", "list"


@dataclass(frozen=True)
class Command:
    name: str
    fn: Callable[..., Result]
    options: dict[str, str] = field(default_factory=dict)  # option -> kind
    trains: bool = False  # uses the moment's win model (m.trained())


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("metrics", metrics, {"by": LIST, "window": TEXT}),
    Command("funnel", funnel, {"by": TEXT, "since": TEXT, "min_deals": INT}),
    Command("norms", norms, {"min_deals": INT, "seed": INT}),
    Command("score", score, {"sort": TEXT, "limit": INT, "owner": TEXT}, trains=True),
    Command("alerts", alerts, {"all": FLAG}),
    Command("optimism", optimism, {"min_deals": INT}, trains=True),
    Command("review", review, {"all": FLAG, "limit": INT, "closed_days": INT, "rare": FLOAT}),
    Command("dynamics", dynamics, {"by": LIST, "window": TEXT, "significant": FLAG}),
    Command("changes", changes, {"since": TEXT, "limit": INT}, trains=True),
    Command("validate-metrics", validate_metrics, {"seed": INT}),
)}

_TRUE, _FALSE = ("1", "true", "yes", "on", ""), ("0", "false", "no", "off")


def _convert(name: str, kind: str, value: Any, lang: str) -> Any:
    if value is None or not isinstance(value, str):
        if kind == LIST and value is not None and not isinstance(value, (list, tuple)):
            return [str(value)]
        return value
    if kind == INT:
        return at_least(value, -(2**31), lang, option=name) if value.strip() else None
    if kind == FLOAT:
        try:
            return float(value)
        except ValueError:
            raise OptionError("not_one_of", name, lang, got=value, choices="0.5, 1, 2.5") from None
    if kind == FLAG:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise OptionError("not_one_of", name, lang, got=value, choices="true, false")
    if kind == LIST:
        return parse_list(value) or None
    return value or None


def options_of(name: str, options: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """The options for `name` with their types: keys `min-deals`/`min_deals`, text values converted."""
    cmd = command(name, lang)
    out: dict[str, Any] = {}
    for key, value in options.items():
        opt = key.replace("-", "_")
        if opt not in cmd.options:
            from dealpulse.i18n import t

            from dealpulse.errors import InputError

            raise InputError(t("options.unknown_option", lang, name=name, option=key, choices=", ".join(cmd.options)))
        out[opt] = _convert(opt, cmd.options[opt], value, lang)
    return out


def command(name: str, lang: str = "en") -> Command:
    cmd = COMMANDS.get(name) or COMMANDS.get(name.replace("_", "-"))
    if cmd is None:
        from dealpulse.errors import NotFound
        from dealpulse.i18n import t

        raise NotFound(t("options.unknown_command", lang, name=name, choices=", ".join(COMMANDS)))
    return cmd


def run(name: str, moment: Moment, lang: str = "en", **options: Any) -> Result:
    """The analysis `name` at `moment`, in `lang`, with the CLI's options (typed values or query texts)."""
    cmd = command(name, lang)
    return cmd.fn(moment, lang=lang, **options_of(cmd.name, options, lang))


__all__ = ["COMMANDS", "Command", "run", "command", "options_of", "Result", "OptionError",
           "metrics", "funnel", "norms", "score", "alerts", "optimism", "review", "dynamics", "changes", "validate_metrics"]
