"""Import a process-mining event log (XES, or CSV files of events) as native deal tables.

    frames, quarantine = read_eventlog(path, mapping_path, tz)

`path` is an `.xes`/`.xes.gz` file, a CSV file, or a folder holding the files the mapping names.
The mapping (YAML, `format: eventlog`; see docs/eventlogs.md) says where case id, activity,
timestamp, resource and lifecycle are, and how to read the events as a deal cycle:

- a case is a deal; `created_at` is the time of its first event (any activity);
- `stages`: activities that are stage entries. With `stage_entries: change` (the default) a row is
  written each time the case moves into a stage other than the one it is in (so a step back and
  forth is seen, and several activities mapped to one stage in a row give one entry); with
  `first`, only the first entry into each stage. Stage events after the outcome are ignored;
- `steps`: activities that are steps, each giving tasks of a type. Work items with a lifecycle
  (SCHEDULE/ASSIGN, START/RESUME, COMPLETE, WITHDRAW/ATE_ABORT/PI_ABORT) are paired per case and
  activity: a COMPLETE closes the item opened by the earliest SCHEDULE (else START) before it, giving
  a `done` task with created_at = that opening and completed_at = the COMPLETE; an event without a
  lifecycle (or one filtered by `lifecycle:`) is a task done at its time. An item never completed is
  `open` while the case is open and `cancelled` once it is closed;
- `outcome`: activities meaning won or lost; the first one of a case decides, at its time (with
  `lost_reason` from the mapping). Cases with neither stay open, unless `lost_after` makes a case
  with no outcome that long after its creation lost at that moment (if the log reaches it);
- `owner`: the resource of the first event whose resource is not in `ignore` (system users), so
  the owner is known from that moment: `field_history` gets the `default` owner from created_at and
  the chosen one from that event on; the deal's `owner` column is the chosen one;
- `attributes` of each source: deal fields (amount, segment, channel, account_id, title, currency)
  or any other field, from columns (known from the time of their row's event) or XES trace
  attributes (known from the case's first event). Every change goes to `field_history`, so as-of
  values never show what was not known yet; the deal's column holds the last value.

Only library code: no printing. Problems with the mapping raise MappingError listing every one
with its line; rows that cannot be read go to quarantine rows (dicts) and the rest is imported.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import polars as pl
import yaml

from dealpulse.errors import InputError, MappingError
from dealpulse.i18n import t
from dealpulse.playbook.durations import parse_duration
from dealpulse.yaml_lines import to_python
from dealpulse.playbook.model import TERMINAL_STAGES

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


# -- the mapping ------------------------------------------------------------------------------------
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
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


class _Problems:
    def __init__(self, source: str, lines: dict[tuple, int], lang: str):
        self.source, self.lines, self.lang, self.items = source, lines, lang, []

    def line(self, path: tuple) -> int | None:
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    def add(self, path: tuple, message_key: str, /, **kw: Any) -> None:
        line = self.line(path)
        where = t("eventlog.where_line", self.lang, file=self.source, line=line) if line else self.source
        self.items.append(f"{where}: {t(message_key, self.lang, **kw)}")


def _close(word: str, options: Any) -> str:
    near = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return near[0] if near else ""


def is_eventlog_mapping(mapping_path: str | Path | None) -> bool:
    """Does this mapping file say `format: eventlog` (so `import_path` hands it to this module)?"""
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


def _texts(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    return None


def _lifecycles(value: Any, path: tuple, problems: _Problems) -> frozenset[str] | None:
    if value is None:
        return None
    items = _texts(value)
    if not items:
        problems.add(path, "eventlog.map.bad_lifecycle", found=repr(value))
        return None
    return frozenset(v.strip().lower() for v in items)


def _rules(data: Any, section: str, problems: _Problems) -> list[Rule]:
    """`{ACTIVITY: NAME}` or `{ACTIVITY: {stage|type: NAME, lifecycle: [..]}}`."""
    if data is None:
        return []
    what = RULE_KEYS[section][0]
    if not isinstance(data, dict):
        problems.add((section,), "eventlog.map.section_not_mapping", section=section, what=what)
        return []
    out = []
    for activity, spec in data.items():
        path = (section, activity)
        lifecycles = None
        if isinstance(spec, dict):
            for k in spec:
                if k not in RULE_KEYS[section]:
                    problems.add(path + (k,), "eventlog.map.unknown_key", key=k, where=f"{section}.{activity}",
                                 expected=", ".join(RULE_KEYS[section]))
            name = spec.get(what)
            lifecycles = _lifecycles(spec.get("lifecycle"), path + ("lifecycle",), problems)
        else:
            name = spec
        if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
            problems.add(path, "eventlog.map.rule_needs_name", activity=activity, what=what)
            continue
        name = str(name).strip()
        if section == "stages" and name in TERMINAL_STAGES:
            problems.add(path, "eventlog.map.terminal_stage", activity=activity, stage=name)
            continue
        out.append(Rule(str(activity), name, lifecycles))
    return out


def _outcome_rules(value: Any, path: tuple, problems: _Problems, lifecycles: frozenset[str] | None,
                   reasons: bool) -> list[Rule]:
    if value is None:
        return []
    if isinstance(value, dict) and reasons:
        out = []
        for act, reason in value.items():
            if reason is not None and not isinstance(reason, (str, int)):
                problems.add(path + (act,), "eventlog.map.bad_reason", activity=act, found=repr(reason))
                continue
            out.append(Rule(str(act), str(reason) if reason is not None else str(act), lifecycles))
        return out
    items = _texts(value)
    if items is None:
        problems.add(path, "eventlog.map.bad_outcome_list", key=path[-1], found=repr(value))
        return []
    return [Rule(a, a, lifecycles) for a in items]


def parse_mapping(text: str, source: str = "<mapping>", *, is_xes: bool = False, lang: str = "en") -> EventLogMapping:
    """Check the whole mapping; MappingError lists every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = t("eventlog.where_line", lang, file=source, line=mark.line + 1) if mark else source
        raise MappingError(t("eventlog.map.not_yaml", lang, where=where, error=getattr(exc, "problem", None) or str(exc)),
                           suggestion=t("eventlog.map.suggestion", lang)) from None
    lines: dict[tuple, int] = {}
    data = to_python(node, lines) if node is not None else None
    if not isinstance(data, dict):
        raise MappingError(t("eventlog.map.not_mapping", lang, file=source), suggestion=t("eventlog.map.suggestion", lang))
    problems = _Problems(source, lines, lang)
    fmt = data.get("format")
    if str(fmt).strip().lower() != FORMAT:
        problems.add(("format",), "eventlog.map.bad_format", found=repr(fmt))
    for key in data:
        if key not in TOP_KEYS:
            near = _close(key, TOP_KEYS)
            problems.add((key,), "eventlog.map.unknown_top", key=key, expected=", ".join(TOP_KEYS),
                         hint=t("eventlog.map.did_you_mean", lang, name=near) if near else "")

    # sources
    sources: list[Source] = []
    if "source" in data and "sources" in data:
        problems.add(("sources",), "eventlog.map.source_and_sources")
    raw_sources: list[tuple[tuple, Any]] = []
    if "sources" in data:
        if not isinstance(data["sources"], list) or not data["sources"]:
            problems.add(("sources",), "eventlog.map.sources_list")
        else:
            raw_sources = [(("sources", i), s) for i, s in enumerate(data["sources"])]
    elif "source" in data:
        raw_sources = [(("source",), data["source"])]
    elif is_xes:
        raw_sources = [(("source",), {})]
    else:
        problems.add((), "eventlog.map.no_source")
    for i, (path, spec) in enumerate(raw_sources):
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            problems.add(path, "eventlog.map.source_not_mapping")
            continue
        for k in spec:
            if k not in SOURCE_KEYS:
                near = _close(k, SOURCE_KEYS)
                problems.add(path + (k,), "eventlog.map.unknown_key", key=k, where="source",
                             expected=", ".join(SOURCE_KEYS) + (f" ({t('eventlog.map.did_you_mean', lang, name=near)})" if near else ""))
        file = spec.get("file")
        xes = is_eventlog_path(file) if file else (is_xes and len(raw_sources) == 1)
        def col(key: str) -> str | None:
            v = spec.get(key)
            if v is None:
                return XES_DEFAULTS[key] if xes else None
            if isinstance(v, (str, int)) and not isinstance(v, bool):
                return str(v)
            problems.add(path + (key,), "eventlog.map.column_text", key=key, found=repr(v))
            return None
        act = spec.get("activity")
        act_value = None
        if isinstance(act, dict):
            if set(act) != {"value"} or not isinstance(act.get("value"), (str, int)):
                problems.add(path + ("activity",), "eventlog.map.activity_value", found=repr(act))
            else:
                act_value = str(act["value"])
            activity = None
        else:
            activity = col("activity")
        case, timestamp = col("case"), col("timestamp")
        for key, val in (("case", case), ("timestamp", timestamp)):
            if val is None and spec.get(key) is None:
                problems.add(path, "eventlog.map.source_needs", key=key)
        if activity is None and act_value is None and act is None:
            problems.add(path, "eventlog.map.source_needs", key="activity")
        attrs: list[Attr] = []
        raw_attrs = spec.get("attributes") or {}
        if not isinstance(raw_attrs, dict):
            problems.add(path + ("attributes",), "eventlog.map.attributes_mapping")
            raw_attrs = {}
        for target, src in raw_attrs.items():
            apath = path + ("attributes", target)
            target = str(target)
            if target in RESERVED_FIELDS:
                problems.add(apath, "eventlog.map.reserved_field", field=target)
                continue
            if isinstance(src, dict) and set(src) == {"value"} and src["value"] is not None:
                attrs.append(Attr(target, value=str(src["value"]), line=problems.line(apath)))
            elif isinstance(src, (str, int)) and not isinstance(src, bool):
                attrs.append(Attr(target, column=str(src), line=problems.line(apath)))
            else:
                problems.add(apath, "eventlog.map.attribute_source", field=target, found=repr(src))
        src_lines = {k: problems.line(path + (k,)) or 0 for k in SOURCE_KEYS}
        sources.append(Source(
            file=str(file) if file is not None else None, case=case, activity=activity, activity_value=act_value,
            timestamp=timestamp, resource=col("resource"), lifecycle=col("lifecycle"), attributes=attrs,
            index=i, line=problems.line(path), lines=src_lines,
        ))
    if len(sources) > 1 and any(s.file is None for s in sources):
        problems.add(("sources",), "eventlog.map.sources_need_file")

    stages = _rules(data.get("stages"), "stages", problems)
    if not stages and "stages" not in data:
        problems.add((), "eventlog.map.no_stages")
    steps = _rules(data.get("steps"), "steps", problems)
    mode = str(data.get("stage_entries", "change")).strip().lower()
    if mode not in STAGE_ENTRY_MODES:
        problems.add(("stage_entries",), "eventlog.map.bad_mode", found=repr(data.get("stage_entries")),
                     expected=", ".join(STAGE_ENTRY_MODES))

    outcome = data.get("outcome") or {}
    won: list[Rule] = []
    lost: list[Rule] = []
    attribute = None
    lost_after = None
    lost_after_reason = "no_outcome"
    if not isinstance(outcome, dict):
        problems.add(("outcome",), "eventlog.map.outcome_mapping")
        outcome = {}
    for k in outcome:
        if k not in OUTCOME_KEYS:
            problems.add(("outcome", k), "eventlog.map.unknown_key", key=k, where="outcome", expected=", ".join(OUTCOME_KEYS))
    olc = _lifecycles(outcome.get("lifecycle"), ("outcome", "lifecycle"), problems)
    won = _outcome_rules(outcome.get("won"), ("outcome", "won"), problems, olc, reasons=False)
    lost = _outcome_rules(outcome.get("lost"), ("outcome", "lost"), problems, olc, reasons=True)
    if outcome.get("attribute") is not None:
        attribute = str(outcome["attribute"])
    both = {r.activity for r in won} & {r.activity for r in lost}
    for act in sorted(both):
        problems.add(("outcome", "lost"), "eventlog.map.won_and_lost", activity=act)
    if outcome.get("lost_after") is not None:
        try:
            lost_after = parse_duration(outcome["lost_after"])
        except InputError as exc:
            problems.add(("outcome", "lost_after"), "eventlog.map.bad_duration", error=str(exc))
    if outcome.get("lost_after_reason") is not None:
        lost_after_reason = str(outcome["lost_after_reason"])

    owner = data.get("owner") or {}
    ignore: frozenset[str] = frozenset()
    default = DEFAULT_OWNER
    owner_acts = None
    if not isinstance(owner, dict):
        problems.add(("owner",), "eventlog.map.owner_mapping")
        owner = {}
    for k in owner:
        if k not in OWNER_KEYS:
            problems.add(("owner", k), "eventlog.map.unknown_key", key=k, where="owner", expected=", ".join(OWNER_KEYS))
    if owner.get("ignore") is not None:
        items = _texts(owner["ignore"])
        if items is None:
            problems.add(("owner", "ignore"), "eventlog.map.list_of_texts", key="owner.ignore")
        else:
            ignore = frozenset(items)
    if owner.get("default") is not None:
        if not isinstance(owner["default"], (str, int)) or not str(owner["default"]).strip():
            problems.add(("owner", "default"), "eventlog.map.list_of_texts", key="owner.default")
        else:
            default = str(owner["default"]).strip()
    if owner.get("activities") is not None:
        items = _texts(owner["activities"])
        if items is None:
            problems.add(("owner", "activities"), "eventlog.map.list_of_texts", key="owner.activities")
        else:
            owner_acts = frozenset(items)

    if problems.items:
        raise MappingError(
            t("eventlog.map.problems", lang, file=source, n=len(problems.items)),
            problems=problems.items, suggestion=t("eventlog.map.suggestion", lang),
        )
    return EventLogMapping(
        sources=sources, stages=stages, steps=steps, won=won, lost=lost, outcome_attribute=attribute,
        lost_after=lost_after, lost_after_reason=lost_after_reason, stage_entries=mode,
        owner_ignore=ignore, owner_default=default, owner_activities=owner_acts, source=source, lines=lines,
        tz=str(data["tz"]) if data.get("tz") is not None else None,
    )


def load_mapping(mapping_path: str | Path, *, is_xes: bool = False, lang: str = "en") -> EventLogMapping:
    p = Path(mapping_path)
    if not p.is_file():
        raise MappingError(t("eventlog.map.missing", lang, file=str(p)), suggestion=t("eventlog.map.missing.suggestion", lang))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise MappingError(t("eventlog.map.not_utf8", lang, file=str(p)), suggestion=t("eventlog.map.suggestion", lang)) from None
    return parse_mapping(text, str(p), is_xes=is_xes, lang=lang)


def check_against_playbook(mapping: EventLogMapping, playbook: Any, lang: str = "en") -> list[str]:
    """Problems (with lines) where the mapping names stages or step types the playbook lacks."""
    out = []
    stages = set(getattr(playbook, "stages", ()))
    types = {s.task_type for s in getattr(playbook, "steps", ())}
    for r in mapping.stages:
        if r.value not in stages:
            line = mapping.line_of("stages", r.activity)
            out.append(f"{t('eventlog.where_line', lang, file=mapping.source, line=line)}: "
                       + t("eventlog.map.stage_not_in_playbook", lang, stage=r.value, activity=r.activity,
                           stages=", ".join(sorted(stages))))
    for r in mapping.steps:
        if types and r.value not in types:
            line = mapping.line_of("steps", r.activity)
            out.append(f"{t('eventlog.where_line', lang, file=mapping.source, line=line)}: "
                       + t("eventlog.map.step_not_in_playbook", lang, type=r.value, activity=r.activity))
    return out


# -- reading the sources -------------------------------------------------------------------------
@dataclass
class _Read:
    events: pl.DataFrame  # case, activity, lc, ts, resource, _src, _seq, _file, _row, a:<target>...
    quarantine: list[dict]


def _resolve(path: Path, source: Source, mapping: EventLogMapping, lang: str) -> Path:
    if source.file is None:
        if path.is_dir():
            raise MappingError(
                t("eventlog.map.source_needs_file_for_dir", lang, where=_where(mapping, source, "file", lang), folder=str(path)),
                suggestion=t("eventlog.map.suggestion", lang))
        return path
    f = Path(source.file).expanduser()
    if f.is_absolute():
        target = f
    else:
        base = path if path.is_dir() else path.parent
        target = base / f
        if not target.exists() and path.is_file() and path.name == f.name:
            target = path
    if not target.is_file():
        near = ""
        folder = target.parent
        if folder.is_dir():
            near = _close(target.name, [p.name for p in folder.iterdir()])
        raise InputError(
            t("eventlog.source_missing", lang, where=_where(mapping, source, "file", lang), file=str(target)),
            suggestion=(t("eventlog.map.did_you_mean", lang, name=near) + " " if near else "")
            + t("eventlog.file_missing.suggestion", lang),
        )
    return target


def _where(mapping: EventLogMapping, source: Source, key: str, lang: str = "en") -> str:
    line = source.lines.get(key) or source.line
    return t("eventlog.where_line", lang, file=mapping.source, line=line) if line else mapping.source


def _read_source(path: Path, source: Source, mapping: EventLogMapping, tz: str, lang: str,
                 progress: Callable[..., None] | None) -> _Read:
    from dealpulse.ingest.parse import parse_timestamps

    if is_eventlog_path(path):
        frame, attr_cols = _xes_frame(path, source, mapping, lang, progress)
        names = {"case": source.case, "activity": source.activity, "timestamp": source.timestamp}
    else:
        frame, attr_cols = _csv_frame(path, source, mapping, lang)
        names = {"case": source.case, "activity": source.activity, "timestamp": source.timestamp}
    n = frame.height
    frame = frame.with_columns(
        pl.lit(source.index, dtype=pl.Int32).alias("_src"),
        pl.int_range(n, dtype=pl.Int64).alias("_seq"),
        pl.lit(path.name).alias("_file"),
    )
    ts, problem = parse_timestamps(frame["ts_raw"], tz)
    frame = frame.with_columns(ts.alias("ts"), problem.alias("_ts_problem"))
    frame = _midnight_gaps(frame, tz)
    quarantine: list[dict] = []
    bad = frame.filter(
        pl.col("case").is_null() | pl.col("activity").is_null() | pl.col("ts").is_null()
    )
    if bad.height:
        raw_cols = [c for c in bad.columns if not c.startswith("_") and c != "ts"]
        for r in bad.iter_rows(named=True):
            if r["case"] is None:
                column, reason, expected, found = names["case"], Q_REQUIRED, None, None
            elif r["activity"] is None:
                column, reason, expected, found = names["activity"] or "activity", Q_REQUIRED, None, None
            elif r["ts_raw"] is None:
                column, reason, expected, found = names["timestamp"], Q_REQUIRED, None, None
            elif r["_ts_problem"] == "timestamp_gap":
                column, reason, expected, found = names["timestamp"], Q_TIMESTAMP_GAP, tz, r["ts_raw"]
            else:
                column, reason, expected, found = names["timestamp"], Q_TIMESTAMP, None, r["ts_raw"]
            quarantine.append({
                "table_name": EVENT_TABLE, "file": r["_file"], "row_number": r["_row"], "column_name": column or "",
                "reason": reason, "expected": expected, "found": found,
                "raw": json.dumps({c: r[c] for c in raw_cols}, ensure_ascii=False, default=str),
            })
        frame = frame.filter(pl.col("case").is_not_null() & pl.col("activity").is_not_null() & pl.col("ts").is_not_null())
    frame = frame.drop("ts_raw", "_ts_problem")
    return _Read(frame, quarantine)


_DATE_ONLY = r"^\s*(?:\d{4}-\d{2}-\d{2}|\d{2}\.\d{2}\.\d{4})\s*$"


def _midnight_gaps(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """A bare date means the start of that day; where the clocks moved forward at midnight
    (Brazil, 2017-10-15), 00:00 does not exist and the day starts at the moment of the change."""
    gap = (pl.col("_ts_problem") == "timestamp_gap") & pl.col("ts_raw").str.contains(_DATE_ONLY)
    if not frame.select(gap.any()).item():
        return frame
    from zoneinfo import ZoneInfo
    from datetime import timezone

    zone = ZoneInfo(tz)
    fixed = []
    for raw in frame.filter(gap)["ts_raw"].to_list():
        text = raw.strip()
        if "." in text:
            d, m, y = text.split(".")
            text = f"{y}-{m}-{d}"
        local = datetime.fromisoformat(text).replace(tzinfo=zone)  # fold=0: the offset before the change
        fixed.append(local.astimezone(timezone.utc).replace(tzinfo=None))
    idx = frame.with_row_index("_k").filter(gap)["_k"]
    ts = frame["ts"].scatter(idx, pl.Series(fixed, dtype=pl.Datetime("us")))
    problem = frame["_ts_problem"].scatter(idx, pl.Series([None] * len(fixed), dtype=pl.Utf8))
    return frame.with_columns(ts.alias("ts"), problem.alias("_ts_problem"))


def _xes_frame(path: Path, source: Source, mapping: EventLogMapping, lang: str,
               progress: Callable[..., None] | None) -> tuple[pl.DataFrame, list[str]]:
    from dealpulse.ingest.xes import read_xes

    keys = [k for k in (source.activity, source.timestamp, source.resource, source.lifecycle) if k]
    keys += [a.column for a in source.attributes if a.column]
    log = read_xes(path, keys, lang=lang)
    trace_cols: dict[str, list[Any]] = {"_trace": list(range(len(log.traces)))}
    trace_keys = set()
    for tr in log.traces:
        trace_keys.update(tr)
    wanted_trace = [k for k in dict.fromkeys([source.case] + [a.column for a in source.attributes if a.column]) if k in trace_keys]
    for k in wanted_trace:
        trace_cols[f"t:{k}"] = [tr.get(k) for tr in log.traces]
    traces = pl.DataFrame(trace_cols, schema={"_trace": pl.Int64, **{f"t:{k}": pl.Utf8 for k in wanted_trace}})
    ev = log.events.join(traces, on="_trace", how="left")
    def pick(key: str | None) -> pl.Expr:
        if key is None:
            return pl.lit(None, dtype=pl.Utf8)
        return pl.col(key) if key in ev.columns else pl.lit(None, dtype=pl.Utf8)
    # the case id is a trace attribute (an event attribute of that name is the activity, or so)
    case_expr = pl.col(f"t:{source.case}") if source.case in trace_keys else pl.lit(None, dtype=pl.Utf8)
    cols = [
        case_expr.str.strip_chars().alias("case"),
        (pl.lit(source.activity_value) if source.activity_value is not None else pick(source.activity)).cast(pl.Utf8).alias("activity"),
        pick(source.timestamp).alias("ts_raw"),
        pick(source.resource).alias("resource"),
        pick(source.lifecycle).str.strip_chars().str.to_lowercase().alias("lc"),
        pl.col("_line").alias("_row"),
    ]
    attr_cols = []
    for a in source.attributes:
        name = f"a:{a.target}"
        if a.value is not None:
            cols.append(pl.lit(a.value, dtype=pl.Utf8).alias(name))
        elif a.column in trace_keys:
            cols.append(pl.col(f"t:{a.column}").alias(name))
        else:
            cols.append(pick(a.column).alias(name))
        attr_cols.append(name)
    frame = ev.select(cols)
    return _blank_to_null(frame), attr_cols


def _blank_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    text = [c for c, d in frame.schema.items() if d == pl.Utf8]
    return frame.with_columns([
        pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0).then(pl.col(c)).alias(c) for c in text
    ])


def _csv_frame(path: Path, source: Source, mapping: EventLogMapping, lang: str) -> tuple[pl.DataFrame, list[str]]:
    from dealpulse.ingest.readers import normalise_header, read_csv

    raw = read_csv(path, lang)
    frame = raw.frame
    available = raw.columns
    problems = []

    def column(key: str, name: str | None, line: int | None) -> pl.Expr:
        if name is None:
            return pl.lit(None, dtype=pl.Utf8)
        norm = normalise_header(name)
        if norm in frame.columns:
            return pl.col(norm)
        near = _close(norm, available)
        where = t("eventlog.where_line", lang, file=mapping.source, line=line) if line else mapping.source
        problems.append(
            f"{where}: " + t("eventlog.map.no_column", lang, key=key, column=name, file=path.name,
                              columns=", ".join(raw.headers.get(c, c) for c in available))
            + (f" {t('eventlog.map.did_you_mean', lang, name=raw.headers.get(near, near))}" if near else "")
        )
        return pl.lit(None, dtype=pl.Utf8)

    cols = [
        column("case", source.case, source.lines.get("case")).alias("case"),
        (pl.lit(source.activity_value, dtype=pl.Utf8) if source.activity_value is not None
         else column("activity", source.activity, source.lines.get("activity"))).alias("activity"),
        column("timestamp", source.timestamp, source.lines.get("timestamp")).alias("ts_raw"),
        column("resource", source.resource, source.lines.get("resource")).alias("resource"),
        column("lifecycle", source.lifecycle, source.lines.get("lifecycle")).str.to_lowercase().alias("lc"),
        pl.col("_row"),
    ]
    attr_cols = []
    for a in source.attributes:
        name = f"a:{a.target}"
        if a.value is not None:
            cols.append(pl.lit(a.value, dtype=pl.Utf8).alias(name))
        else:
            cols.append(column(f"attributes.{a.target}", a.column, a.line).alias(name))
        attr_cols.append(name)
    if problems:
        raise MappingError(t("eventlog.map.problems", lang, file=mapping.source, n=len(problems)),
                           problems=problems, suggestion=t("eventlog.map.columns_suggestion", lang))
    return frame.select(cols), attr_cols


def _progress(progress: Callable[..., None] | None, label: str, done: int, total: int) -> None:
    """`progress(label, done, total)`, as `dealpulse.ingest.import_path` passes it on."""
    if progress is not None:
        progress(label, done, total)


# -- from events to native tables -------------------------------------------------------------------
def _rule_frame(rules: list[Rule], value_name: str) -> pl.DataFrame:
    rows = []
    for r in rules:
        if r.lifecycles is None:
            rows.append((r.activity, None, True, r.value))
        else:
            for lc in sorted(r.lifecycles):
                rows.append((r.activity, lc, False, r.value))
    return pl.DataFrame(rows, schema={"activity": pl.Utf8, "lc_rule": pl.Utf8, "any_lc": pl.Boolean, value_name: pl.Utf8}, orient="row")


def _match(events: pl.DataFrame, rules: list[Rule], value_name: str) -> pl.DataFrame:
    """Events matched by the rules (first rule of an activity wins), with the rule's value."""
    if not rules:
        return events.head(0).with_columns(pl.lit(None, dtype=pl.Utf8).alias(value_name))
    rf = _rule_frame(rules, value_name)
    j = events.join(rf, on="activity", how="inner")
    j = j.filter(pl.col("any_lc") | (pl.col("lc").fill_null("") == pl.col("lc_rule")))
    return j.unique(subset=["_i"], keep="first", maintain_order=True).drop("lc_rule", "any_lc")


def _num_text(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(x)


def build_frames(events: pl.DataFrame, attr_targets: list[str], mapping: EventLogMapping,
                 lang: str = "en", quarantine: list[dict] | None = None) -> dict[str, pl.DataFrame]:
    """The native frames from valid events (see the module's docstring for the reading)."""
    from dealpulse.ingest.parse import parse_numbers
    from dealpulse.ingest.tables import native_schema

    quarantine = quarantine if quarantine is not None else []
    events = events.sort(["case", "ts", "_src", "_seq"]).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
    log_end = events["ts"].max() if events.height else None

    first = events.group_by("case", maintain_order=True).agg(
        created_at=pl.col("ts").first(), _file=pl.col("_file").first(), _row=pl.col("_row").first(),
        _first_i=pl.col("_i").first(),
    )

    # outcome: the first won/lost event
    by_activity = mapping.outcome_attribute is None  # else won/lost list values of that attribute
    won = _match(events, mapping.won if by_activity else [], "_reason").with_columns(pl.lit("won").alias("status"), pl.lit(None, dtype=pl.Utf8).alias("_reason"))
    lost = _match(events, mapping.lost if by_activity else [], "_reason").with_columns(pl.lit("lost").alias("status"))
    closing = pl.concat([won, lost.select(won.columns)]).sort("_i")
    closing = closing.group_by("case", maintain_order=True).agg(
        status=pl.col("status").first(), closed_at=pl.col("ts").first(), lost_reason=pl.col("_reason").first(),
        _close_i=pl.col("_i").first(), _closed_by=pl.col("resource").first(),
    )
    if mapping.outcome_attribute is not None:
        attr_col = f"a:{mapping.outcome_attribute}"
        if attr_col in events.columns:
            won_vals = [r.activity for r in mapping.won]
            lost_map = {r.activity: r.value for r in mapping.lost}
            by_attr = events.filter(pl.col(attr_col).is_in(won_vals + list(lost_map))).group_by("case", maintain_order=True).agg(
                _v=pl.col(attr_col).first())
            last = events.group_by("case").agg(closed_at=pl.col("ts").last(), _close_i=pl.col("_i").last(),
                                               _closed_by=pl.col("resource").last())
            by_attr = by_attr.join(last, on="case").select(
                "case",
                status=pl.when(pl.col("_v").is_in(won_vals)).then(pl.lit("won")).otherwise(pl.lit("lost")),
                closed_at="closed_at",
                lost_reason=pl.when(pl.col("_v").is_in(won_vals)).then(None).otherwise(pl.col("_v").replace(lost_map)),
                _close_i="_close_i", _closed_by="_closed_by",
            )
            closing = pl.concat([closing, by_attr]).sort("_close_i").unique("case", keep="first")
    deals = first.join(closing, on="case", how="left")
    if mapping.lost_after is not None and log_end is not None:
        deadline = pl.col("created_at") + pl.duration(microseconds=int(mapping.lost_after / timedelta(microseconds=1)))
        timeout = (deadline <= log_end) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > deadline))
        deals = deals.with_columns(
            status=pl.when(timeout).then(pl.lit("lost")).otherwise(pl.col("status")),
            lost_reason=pl.when(timeout).then(pl.lit(mapping.lost_after_reason)).otherwise(pl.col("lost_reason")),
            _close_i=pl.when(timeout).then(None).otherwise(pl.col("_close_i")),
            _closed_by=pl.when(timeout).then(None).otherwise(pl.col("_closed_by")),
            closed_at=pl.when(timeout).then(deadline).otherwise(pl.col("closed_at")),
        )
    deals = deals.with_columns(status=pl.col("status").fill_null("open"))

    # owner: the resource of the first event not ignored
    cand = events.filter(pl.col("resource").is_not_null() & ~pl.col("resource").is_in(list(mapping.owner_ignore)))
    if mapping.owner_activities is not None:
        cand = cand.filter(pl.col("activity").is_in(list(mapping.owner_activities)))
    owners = cand.group_by("case", maintain_order=True).agg(owner=pl.col("resource").first(), _owner_at=pl.col("ts").first())
    deals = deals.join(owners, on="case", how="left").with_columns(owner=pl.col("owner").fill_null(mapping.owner_default))

    # stage entries before the outcome
    close_info = deals.select("case", "_close_i", "closed_at")
    st = _match(events, mapping.stages, "stage").join(close_info, on="case", how="left")
    st = st.filter(
        pl.when(pl.col("_close_i").is_not_null()).then(pl.col("_i") < pl.col("_close_i"))
        .when(pl.col("closed_at").is_not_null()).then(pl.col("ts") <= pl.col("closed_at"))
        .otherwise(True)
    ).sort("_i")
    if mapping.stage_entries == "first":
        st = st.unique(["case", "stage"], keep="first", maintain_order=True)
    else:
        st = st.filter(pl.col("stage") != pl.col("stage").shift(1).over("case").fill_null(""))
    stage_rows = st.select(deal_id="case", stage="stage", entered_at="ts", changed_by="resource", _file="_file", _row="_row")
    terminal = deals.filter(pl.col("status") != "open").select(
        deal_id="case", stage="status", entered_at="closed_at", changed_by="_closed_by", _file="_file", _row="_row")
    stage_history = pl.concat([stage_rows, terminal.cast(stage_rows.schema)]).unique(
        ["deal_id", "stage", "entered_at"], keep="first", maintain_order=True).sort(["deal_id", "entered_at"], maintain_order=True)

    # steps -> tasks
    tasks = _tasks(_match(events, mapping.steps, "type"), mapping, set(deals.filter(pl.col("status") != "open")["case"].to_list()))

    # attributes -> deal columns and field history
    fh_rows: list[pl.DataFrame] = []
    deal_cols: dict[str, pl.DataFrame] = {}
    for target in attr_targets:
        col = f"a:{target}"
        vals = events.filter(pl.col(col).is_not_null()).select("case", "ts", "_i", "_file", "_row", "_src", v=pl.col(col))
        if target == "amount":
            nums = parse_numbers(vals["v"])
            badmask = nums.is_null()
            if badmask.any():
                # a trace attribute is on every event of its trace: one problem per case and value
                bad = vals.filter(badmask).unique(["case", "_src", "v"], keep="first", maintain_order=True)
                for r in bad.iter_rows(named=True):
                    quarantine.append({
                        "table_name": EVENT_TABLE, "file": r["_file"], "row_number": r["_row"], "column_name": _attr_column(mapping, r["_src"], target),
                        "reason": Q_NUMBER, "expected": None,
                        "found": r["v"], "raw": json.dumps({"case": r["case"], target: r["v"]}, ensure_ascii=False),
                    })
            vals = vals.with_columns(num=nums).filter(~badmask)
            vals = vals.with_columns(v=pl.col("num").map_elements(_num_text, return_dtype=pl.Utf8))
        changes = vals.sort("_i").filter(pl.col("v") != pl.col("v").shift(1).over("case").fill_null("\x00"))
        changes = changes.unique(["case", "ts"], keep="last", maintain_order=True)
        fh_rows.append(changes.select(
            entity=pl.lit("deal"), entity_id="case", field=pl.lit(target), value="v", changed_at="ts",
            changed_by=pl.lit(None, dtype=pl.Utf8)))
        if target in NATIVE_DEAL_FIELDS:
            last = vals.sort("_i").group_by("case").agg(pl.col("num" if target == "amount" else "v").last().alias(target))
            deal_cols[target] = last
    for target, last in deal_cols.items():
        deals = deals.join(last, on="case", how="left")

    # owner history: the default from creation, the owner from the event that chose it
    own = deals.select("case", "created_at", "owner", "_owner_at")
    default_rows = own.filter(pl.col("_owner_at").is_null() | (pl.col("_owner_at") > pl.col("created_at"))).select(
        entity=pl.lit("deal"), entity_id="case", field=pl.lit("owner"), value=pl.lit(mapping.owner_default),
        changed_at="created_at", changed_by=pl.lit(None, dtype=pl.Utf8))
    chosen_rows = own.filter(pl.col("_owner_at").is_not_null()).select(
        entity=pl.lit("deal"), entity_id="case", field=pl.lit("owner"), value="owner",
        changed_at="_owner_at", changed_by=pl.lit(None, dtype=pl.Utf8))
    fh_rows += [default_rows, chosen_rows]

    deal_schema = native_schema("deals")
    deals_out = deals.rename({"case": "deal_id"}).with_columns(
        [pl.lit(None, dtype=d).alias(c) for c, d in deal_schema.items() if c not in deals.columns and c != "deal_id"]
    ).select([pl.col(c).cast(d) for c, d in deal_schema.items()] + [pl.col("_file"), pl.col("_row").cast(pl.Int64)])

    fh_schema = native_schema("field_history")
    field_history = pl.concat([f.select([pl.col(c).cast(d) for c, d in fh_schema.items()]) for f in fh_rows]) if fh_rows else pl.DataFrame(schema=fh_schema)
    field_history = field_history.sort(["entity_id", "field", "changed_at"])

    sh_schema = native_schema("stage_history")
    stage_history = stage_history.select([pl.col(c).cast(d) for c, d in sh_schema.items()] + [pl.col("_file"), pl.col("_row").cast(pl.Int64)])

    people = pl.concat([
        deals_out.select(manager_id="owner"),
        tasks.select(manager_id="owner"),
        stage_history.select(manager_id="changed_by"),
    ]).drop_nulls().unique(maintain_order=True)
    mg_schema = native_schema("managers")
    managers = people.with_columns(
        name=pl.col("manager_id"),
        role=pl.when(pl.col("manager_id").is_in(list(mapping.owner_ignore))).then(pl.lit("system")).otherwise(None),
    ).with_columns([pl.lit(None, dtype=d).alias(c) for c, d in mg_schema.items() if c not in ("manager_id", "name", "role")]).select(
        [pl.col(c).cast(d) for c, d in mg_schema.items()])
    return {"deals": deals_out, "stage_history": stage_history, "tasks": tasks, "field_history": field_history,
            "managers": managers}


def _attr_column(mapping: EventLogMapping, src: int, target: str) -> str:
    for a in mapping.sources[src].attributes:
        if a.target == target:
            return a.column or target
    return target


def _tasks(ev: pl.DataFrame, mapping: EventLogMapping, closed: set[str]) -> pl.DataFrame:
    """Pair lifecycle events of each (case, activity) into tasks (see the module's docstring).

    Column-wise: the events of a (case, activity) are cut into segments, each ending at a closing
    event (COMPLETE, no lifecycle, or a cancelling one); a segment's task was opened by its first
    other event (SCHEDULE/ASSIGN, else START/RESUME) and closed by that closing event. A last segment
    with no closing event is a task still open (or cancelled, when its case is closed)."""
    from dealpulse.ingest.tables import native_schema

    schema = native_schema("tasks")
    filtered = [r.activity for r in mapping.steps if r.lifecycles is not None]
    lc = pl.col("lc")
    ev = ev.sort(["case", "activity", "_i"]).with_columns(
        _kind=pl.when(pl.col("activity").is_in(filtered) | lc.is_null()).then(pl.lit("done"))
        .when(lc.is_in(sorted(ENDING_CANCEL))).then(pl.lit("cancelled"))
        .when(lc.is_in(sorted(OPENING | STARTING))).then(pl.lit("open"))
        .otherwise(pl.lit("done")),
    ).with_columns(_close=pl.col("_kind") != "open")
    ev = ev.with_columns(
        _seg=pl.col("_close").cast(pl.Int64).cum_sum().over(["case", "activity"]) - pl.col("_close").cast(pl.Int64)
    )
    opening = ~pl.col("_close")
    closing = pl.col("_close")
    seg = ev.group_by(["case", "activity", "_seg"], maintain_order=True).agg(
        open_ts=pl.col("ts").filter(opening).first(),
        open_res=pl.col("resource").filter(opening).first(),
        has_close=closing.any(),
        close_ts=pl.col("ts").filter(closing).first(),
        close_res=pl.col("resource").filter(closing).first(),
        close_kind=pl.col("_kind").filter(closing).first(),
        type=pl.col("type").last(),
        _file=pl.col("_file").last(),
        _row=pl.col("_row").last(),
    )
    closed_list = sorted(closed)
    frame = seg.select(
        deal_id="case",
        type="type",
        owner=pl.when(pl.col("has_close")).then(pl.coalesce("close_res", "open_res")).otherwise(pl.col("open_res")),
        created_at=pl.coalesce("open_ts", "close_ts"),
        completed_at=pl.when(pl.col("close_kind") == "done").then(pl.col("close_ts")),
        status=pl.when(pl.col("has_close")).then(pl.col("close_kind"))
        .when(pl.col("case").is_in(closed_list)).then(pl.lit("cancelled")).otherwise(pl.lit("open")),
        _file="_file",
        _row=pl.col("_row").cast(pl.Int64),
    )
    frame = frame.sort(["deal_id", "type", "created_at", "completed_at"], nulls_last=True, maintain_order=True)
    frame = frame.with_columns(
        task_id=pl.concat_str([pl.col("deal_id"), pl.col("type"), (pl.int_range(pl.len()).over(["deal_id", "type"]) + 1).cast(pl.Utf8)], separator=":"),
        due_at=pl.lit(None, dtype=pl.Datetime("us")),
    )
    return frame.select([pl.col(c).cast(d) for c, d in schema.items()] + [pl.col("_file"), pl.col("_row")])


# -- the entry point ---------------------------------------------------------------------------------
@dataclass
class EventLogResult:
    frames: dict[str, pl.DataFrame]
    quarantine: list[dict]
    warnings: list[str]
    mapping: EventLogMapping
    events: int
    seconds_read: float = 0.0


def read_eventlog(path: str | Path, mapping_path: str | Path | None, tz: str | None = None,
                  progress: Callable[..., None] | None = None, *, lang: str = "en",
                  warnings: list[str] | None = None) -> tuple[dict[str, pl.DataFrame], list[dict]]:
    """(typed native frames, quarantine rows) from the event log at `path` read by the mapping.

    Frames: deals, stage_history, tasks, field_history, managers (with `_file`/`_row` on the first
    three). Messages for the user (activities the mapping names that the log never has, ...) are
    appended to `warnings` when a list is given."""
    result = import_eventlog(path, mapping_path, tz, progress, lang=lang)
    if warnings is not None:
        warnings.extend(result.warnings)
    return result.frames, result.quarantine


def import_eventlog(path: str | Path, mapping_path: str | Path | None, tz: str | None = None,
                    progress: Callable[..., None] | None = None, *, lang: str = "en") -> EventLogResult:
    from dealpulse.ingest.parse import check_tz

    path = Path(path)
    if not path.exists():
        raise InputError(t("eventlog.file_missing", lang, file=str(path)), suggestion=t("eventlog.file_missing.suggestion", lang))
    xes = is_eventlog_path(path)
    if mapping_path is None:
        raise MappingError(t("eventlog.map.needed", lang, file=str(path)), suggestion=t("eventlog.map.needed.suggestion", lang))
    mapping = load_mapping(mapping_path, is_xes=xes, lang=lang)
    zone = tz or mapping.tz or "UTC"
    try:
        tz_name = check_tz(zone)
    except ValueError:
        raise InputError(t("eventlog.bad_tz", lang, tz=zone), suggestion=t("eventlog.bad_tz.suggestion", lang)) from None
    reads: list[_Read] = []
    for source in mapping.sources:
        file = _resolve(path, source, mapping, lang)
        _progress(progress, f"read:{file.name}", 0, 1)
        reads.append(_read_source(file, source, mapping, tz_name, lang, progress))
        _progress(progress, f"read:{file.name}", 1, 1)
    quarantine = [q for r in reads for q in r.quarantine]
    events = pl.concat([r.events for r in reads], how="diagonal_relaxed") if reads else pl.DataFrame()
    targets = list(dict.fromkeys(a.target for s in mapping.sources for a in s.attributes))
    for target in targets:
        if f"a:{target}" not in events.columns:
            events = events.with_columns(pl.lit(None, dtype=pl.Utf8).alias(f"a:{target}"))
    warnings: list[str] = []
    seen = set(events["activity"].unique().to_list()) if events.height else set()
    for section, rules in (("stages", mapping.stages), ("steps", mapping.steps), ("outcome", mapping.won + mapping.lost)):
        if section == "outcome" and mapping.outcome_attribute is not None:
            continue
        for r in rules:
            if r.activity not in seen:
                line = mapping.line_of(section, r.activity) or mapping.line_of("outcome")
                near = _close(r.activity, seen)
                warnings.append(
                    t("eventlog.warn.unseen_activity", lang, where=t("eventlog.where_line", lang, file=mapping.source, line=line),
                      activity=r.activity)
                    + (f" {t('eventlog.map.did_you_mean', lang, name=near)}" if near else ""))
    if events.height == 0:
        raise InputError(t("eventlog.no_events", lang, file=str(path)), suggestion=t("eventlog.no_events.suggestion", lang))
    label = f"check:{path.name}"  # the CLI shows "Checking NAME" (ingest.progress.check)
    _progress(progress, label, 0, 1)
    frames = build_frames(events, targets, mapping, lang, quarantine)
    _progress(progress, label, 1, 1)
    return EventLogResult(frames=frames, quarantine=quarantine, warnings=warnings, mapping=mapping, events=events.height)


__all__ = ["EventLogMapping", "EventLogResult", "build_frames", "check_against_playbook", "import_eventlog",
           "is_eventlog_mapping", "is_eventlog_path", "load_mapping", "parse_mapping", "read_eventlog"]
