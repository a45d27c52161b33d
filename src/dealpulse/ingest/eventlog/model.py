"""The event-log mapping as data (rules, sources, attributes), its constants, and how a place in the
mapping is named in a message (`mapping.yaml, line 12`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from dealpulse.i18n import t

FORMAT = "eventlog"
XES_SUFFIXES = (".xes", ".xes.gz")
TOP_KEYS = ("format", "tz", "source", "sources", "stages", "stage_entries", "steps", "outcome", "owner", "name",
            "description", "version")
SOURCE_KEYS = ("file", "case", "activity", "timestamp", "resource", "lifecycle", "attributes")
OUTCOME_KEYS = ("won", "lost", "lifecycle", "attribute", "lost_after", "lost_after_reason")
OWNER_KEYS = ("ignore", "default", "activities")
RULE_KEYS = {"stages": ("stage", "lifecycle"), "steps": ("type", "lifecycle")}
STAGE_ENTRY_MODES = ("change", "first")
XES_DEFAULTS = {"case": "concept:name", "activity": "concept:name", "timestamp": "time:timestamp",
                "resource": "org:resource", "lifecycle": "lifecycle:transition"}
NATIVE_DEAL_FIELDS = ("account_id", "title", "segment", "channel", "amount", "currency")
RESERVED_FIELDS = ("deal_id", "owner", "status", "created_at", "closed_at", "lost_reason", "stage")
DEFAULT_OWNER = "unassigned"

OPENING = {"schedule", "assign", "reassign", "manualskip", "autoskip"}
STARTING = {"start", "resume"}
ENDING_CANCEL = {"withdraw", "ate_abort", "pi_abort"}

EVENT_TABLE = "events"
# quarantine reasons: the codes of dealpulse.ingest.checks, shown in the user's language when listed
Q_REQUIRED, Q_TIMESTAMP, Q_TIMESTAMP_GAP, Q_NUMBER = "required", "timestamp", "timestamp_gap", "number"


@dataclass(frozen=True)
class Rule:
    """An activity (optionally only with some lifecycle transitions) and what it means."""

    activity: str
    value: str
    lifecycles: frozenset[str] | None = None  # lower case; None = any

    def matches(self, lifecycle: str | None) -> bool:
        return self.lifecycles is None or (lifecycle or "") in self.lifecycles


@dataclass(frozen=True)
class Attr:
    target: str
    column: str | None = None
    value: str | None = None  # a constant
    line: int | None = None


@dataclass
class Source:
    file: str | None
    case: str | None
    activity: str | None
    activity_value: str | None
    timestamp: str | None
    resource: str | None
    lifecycle: str | None
    attributes: list[Attr]
    index: int
    line: int | None = None
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class EventLogMapping:
    sources: list[Source]
    stages: list[Rule]
    steps: list[Rule]
    won: list[Rule] = field(default_factory=list)
    lost: list[Rule] = field(default_factory=list)
    outcome_attribute: str | None = None
    lost_after: timedelta | None = None
    lost_after_reason: str = "no_outcome"
    stage_entries: str = "change"
    owner_ignore: frozenset[str] = frozenset()
    owner_default: str = DEFAULT_OWNER
    owner_activities: frozenset[str] | None = None
    source: str = "<mapping>"
    lines: dict[tuple, int] = field(default_factory=dict)
    tz: str | None = None

    @property
    def stage_names(self) -> list[str]:
        return list(dict.fromkeys(r.value for r in self.stages))

    @property
    def step_types(self) -> list[str]:
        return list(dict.fromkeys(r.value for r in self.steps))

    def line_of(self, *path: Any) -> int | None:
        return line_of(self.lines, tuple(path))


def line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    """The line of `path`, else of its nearest parent that has one; None for the top (unlike
    `dealpulse.yaml_lines.line_of`, which falls back to the document's line)."""
    p = path
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None


def where(file: str, line: int | None, lang: str) -> str:
    """`FILE, line N` in the user's language, or just FILE when the line is not known."""
    return t("eventlog.where_line", lang, file=file, line=line) if line else file


class Problems:
    """Every problem found in a mapping, each prefixed with its place."""

    def __init__(self, source: str, lines: dict[tuple, int], lang: str):
        self.source, self.lines, self.lang, self.items = source, lines, lang, []

    def line(self, path: tuple) -> int | None:
        return line_of(self.lines, path)

    def add(self, path: tuple, message_key: str, /, **kw: Any) -> None:
        self.items.append(f"{where(self.source, self.line(path), self.lang)}: {t(message_key, self.lang, **kw)}")


def closest(word: str, options: Any) -> str:
    """The option nearest to `word` (for "did you mean"), or ""."""
    near = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return near[0] if near else ""


def is_eventlog_mapping(mapping_path: str | Path | None) -> bool:
    """Does this mapping file say `format: eventlog` (so `import_path` hands it to this package)?"""
    if mapping_path is None:
        return False
    try:
        data = yaml.safe_load(Path(mapping_path).read_text(encoding="utf-8-sig"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and str(data.get("format", "")).strip().lower() == FORMAT


def is_eventlog_path(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(XES_SUFFIXES)
