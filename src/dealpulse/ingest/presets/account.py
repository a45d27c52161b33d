"""`account.yaml`: what is specific to one CRM account, in the short form a preset reads.

    stages: {"КП отправлено": proposal, "C1:PREPAYMENT_INVOIC": proposal}   # CRM stage (name or id) -> playbook stage
    steps:  {"Отправить КП": proposal_sent, 3100002: proposal_sent}         # task type / activity subject or id -> step
    fields: {"Сегмент клиента": segment, UF_CRM_1704100000001: segment, "ЛПР": decision_maker}
    values: {segment: {"Крупный бизнес": enterprise}, channel: {"Вебинар": webinar}}
    tz: Europe/Moscow

Everything the CRM itself defines (won/lost, columns, timestamps) comes from the preset. Keys are
matched ignoring case and extra spaces; a YAML number key (3100002) is compared as text. The file
is read with the safe loader (nothing is evaluated) and checked whole: every problem names its line.
`Account.check(playbook)` checks the stage and step targets against the playbook at import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dealpulse.errors import MappingError
from dealpulse.i18n import t
from dealpulse.ingest.readers import normalise_header
from dealpulse.yaml_lines import YamlSyntaxError, line_of, read_with_lines

TOP_KEYS = ("stages", "steps", "fields", "values", "tz", "name", "version")
TERMINAL = ("won", "lost")
# deal columns a custom field may feed (anything else becomes a deal attribute under that name)
DEAL_FIELD_COLUMNS = ("segment", "channel", "title", "account_id", "amount", "currency", "lost_reason")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def key_of(value: Any) -> str:
    """How a CRM name or id is compared: text, trimmed, lower case, inner spaces collapsed."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return normalise_header(value)


@dataclass
class Account:
    """The parsed account.yaml. Keys of every map are `key_of(...)` forms; values are native names."""

    source: str = "<no account.yaml>"
    stages: dict[str, str] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {key_of(crm value): native}
    tz: str | None = None
    lines: dict[tuple, int] = field(default_factory=dict)

    # -- lookups a preset uses ---------------------------------------------------------------------
    def stage_of(self, *names_or_ids: Any) -> str | None:
        """The playbook stage of a CRM stage given by any of its names or ids, or None."""
        for v in names_or_ids:
            if v is not None and (hit := self.stages.get(key_of(v))) is not None:
                return hit
        return None

    def step_of(self, *names_or_ids: Any) -> str | None:
        for v in names_or_ids:
            if v is not None and (hit := self.steps.get(key_of(v))) is not None:
                return hit
        return None

    def field_of(self, *names_or_ids: Any) -> str | None:
        """The native column or attribute a CRM field (name or id) feeds, or None (not wanted)."""
        for v in names_or_ids:
            if v is not None and (hit := self.fields.get(key_of(v))) is not None:
                return hit
        return None

    def value_of(self, column: str, value: Any) -> Any:
        """A CRM value translated by `values:` of `column`; unlisted values are kept as they are."""
        if value is None:
            return None
        vmap = self.values.get(column)
        if not vmap:
            return value
        return vmap.get(key_of(value), value)

    def where(self, *path: Any) -> str:
        line = line_of(self.lines, tuple(path))
        return f"{self.source}, line {line}" if line else self.source

    # -- checks against the playbook ---------------------------------------------------------------
    def check(self, playbook: Any, lang: str = "en") -> None:
        """MappingError naming the line of every stage or step target the playbook does not have."""
        problems: list[str] = []
        stages = tuple(playbook.stages) + TERMINAL
        steps = tuple(s.name for s in playbook.steps)
        for section, known, table in (("stages", stages, self._raw_stages), ("steps", steps, self._raw_steps)):
            for crm, target in table.items():
                if target not in known:
                    problems.append(_where(self, (section, crm), lang) + ": " + t(
                        f"presets.account.unknown_{section[:-1]}", lang, found=target, crm=crm, expected=", ".join(known)))
        if problems:
            raise MappingError(t("presets.account.problems", lang, source=self.source, n=len(problems)),
                               problems=problems, suggestion=t("presets.account.suggestion", lang))

    _raw_stages: dict[Any, str] = field(default_factory=dict, repr=False)
    _raw_steps: dict[Any, str] = field(default_factory=dict, repr=False)


def _where(acc: Account, path: tuple, lang: str) -> str:
    line = line_of(acc.lines, path)
    return t("ingest.map.where", lang, source=acc.source, line=line) if line else acc.source


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip() or None


def parse_account(text: str, source: str = "account.yaml", lang: str = "en") -> Account:
    """Parse and check an account.yaml; MappingError lists every problem with its line."""
    try:
        data, lines = read_with_lines(text)
    except YamlSyntaxError as exc:
        where = t("ingest.map.where", lang, source=source, line=exc.line) if exc.line else source
        raise MappingError(t("ingest.map.bad_yaml", lang, where=where, error=exc.problem),
                           suggestion=t("presets.account.suggestion", lang)) from None
    data = {} if data is None else data
    acc = Account(source=source, lines=lines)
    problems: list[str] = []

    def add(path: tuple, key: str, **kw: Any) -> None:
        problems.append(_where(acc, path, lang) + ": " + t(key, lang, **kw))

    if not isinstance(data, dict):
        raise MappingError(t("presets.account.not_a_mapping", lang, source=source),
                           suggestion=t("presets.account.suggestion", lang))
    for key, value in data.items():
        if key not in TOP_KEYS:
            add((key,), "presets.account.unknown_key", found=key, expected=", ".join(TOP_KEYS))
            continue
        if key in ("tz", "name", "version"):
            if key == "tz" and value is not None:
                acc.tz = _text(value)
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            add((key,), "presets.account.not_a_map", key=key)
            continue
        if key in ("stages", "steps", "fields"):
            out: dict[str, str] = {}
            for crm, target in value.items():
                if target is None:
                    continue  # a starter's placeholder not filled in: that stage/step/field stays unmapped
                tgt = _text(target)
                if tgt is None:
                    add((key, crm), "presets.account.bad_target", key=key, crm=crm)
                    continue
                if key == "fields":
                    tgt = tgt.lower()
                    if not _NAME.match(tgt):
                        add((key, crm), "presets.account.bad_field", crm=crm, found=target)
                        continue
                out[key_of(crm)] = tgt
                if key == "stages":
                    acc._raw_stages[crm] = tgt
                elif key == "steps":
                    acc._raw_steps[crm] = tgt
            setattr(acc, key, out)
        else:  # values
            for column, vmap in value.items():
                if not isinstance(vmap, dict):
                    add((key, column), "presets.account.values_not_map", column=column)
                    continue
                col = str(column).strip().lower()
                inner: dict[str, str] = {}
                for crm, native in vmap.items():
                    tgt = _text(native)
                    if tgt is None:
                        add((key, column, crm), "presets.account.bad_value", column=column, crm=crm)
                        continue
                    inner[key_of(crm)] = tgt
                acc.values[col] = inner
    if problems:
        raise MappingError(t("presets.account.problems", lang, source=source, n=len(problems)),
                           problems=problems, suggestion=t("presets.account.suggestion", lang))
    return acc


def load_account(path: str | Path | None, lang: str = "en") -> Account:
    """The account.yaml at `path`; with None, an empty one (nothing account-specific mapped)."""
    if path is None:
        return Account()
    p = Path(path)
    if not p.is_file():
        raise MappingError(t("presets.account.missing", lang, path=str(p)),
                           suggestion=t("presets.account.missing.suggestion", lang))
    return parse_account(p.read_text(encoding="utf-8-sig"), p.name, lang)
