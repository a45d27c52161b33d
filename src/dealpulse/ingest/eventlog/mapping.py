"""Reading and checking an event-log mapping (YAML, `format: eventlog`; see docs/eventlogs.md).

The whole file is checked: MappingError lists every problem with its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any


from dealpulse.errors import InputError, MappingError
from dealpulse.i18n import t
from dealpulse.ingest.eventlog.model import (
    DEFAULT_OWNER, FORMAT, OUTCOME_KEYS, OWNER_KEYS, RESERVED_FIELDS, RULE_KEYS, SOURCE_KEYS, STAGE_ENTRY_MODES,
    TOP_KEYS, XES_DEFAULTS, Attr, EventLogMapping, Problems, Rule, Source, closest, is_eventlog_path,
)
from dealpulse.playbook.durations import parse_duration
from dealpulse.playbook.model import TERMINAL_STAGES
from dealpulse.yaml_lines import YamlSyntaxError, read_with_lines


def parse_mapping(text: str, source: str = "<mapping>", *, is_xes: bool = False, lang: str = "en") -> EventLogMapping:
    """Check the whole mapping; MappingError lists every problem with its line."""
    try:  # a tag the safe loader refuses (!!python/...) is an error too: never evaluated
        data, lines = read_with_lines(text)
    except YamlSyntaxError as exc:
        where = t("eventlog.where_line", lang, file=source, line=exc.line) if exc.line else source
        raise MappingError(t("eventlog.map.not_yaml", lang, where=where, error=exc.problem),
                           suggestion=t("eventlog.map.suggestion", lang)) from None
    if not isinstance(data, dict):
        raise MappingError(t("eventlog.map.not_mapping", lang, file=source), suggestion=t("eventlog.map.suggestion", lang))
    problems = Problems(source, lines, lang)
    fmt = data.get("format")
    if str(fmt).strip().lower() != FORMAT:
        problems.add(("format",), "eventlog.map.bad_format", found=repr(fmt))
    for key in data:
        if key not in TOP_KEYS:
            near = closest(key, TOP_KEYS)
            problems.add((key,), "eventlog.map.unknown_top", key=key, expected=", ".join(TOP_KEYS),
                         hint=t("eventlog.map.did_you_mean", lang, name=near) if near else "")

    sources = _sources(data, is_xes, problems, lang)
    stages = _rules(data.get("stages"), "stages", problems)
    if not stages and "stages" not in data:
        problems.add((), "eventlog.map.no_stages")
    steps = _rules(data.get("steps"), "steps", problems)
    mode = str(data.get("stage_entries", "change")).strip().lower()
    if mode not in STAGE_ENTRY_MODES:
        problems.add(("stage_entries",), "eventlog.map.bad_mode", found=repr(data.get("stage_entries")),
                     expected=", ".join(STAGE_ENTRY_MODES))
    won, lost, attribute, lost_after, lost_after_reason = _outcome(data, problems)
    ignore, default, owner_acts = _owner(data, problems)

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


# -- the sections --------------------------------------------------------------------------------
def _sources(data: dict, is_xes: bool, problems: Problems, lang: str) -> list[Source]:
    """`source:` (one) or `sources:` (a list); an XES file needs neither (its keys are the defaults)."""
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
    sources: list[Source] = []
    for i, (path, spec) in enumerate(raw_sources):
        source = _source(i, path, {} if spec is None else spec, is_xes and len(raw_sources) == 1, problems, lang)
        if source is not None:
            sources.append(source)
    if len(sources) > 1 and any(s.file is None for s in sources):
        problems.add(("sources",), "eventlog.map.sources_need_file")
    return sources


def _source(index: int, path: tuple, spec: Any, only_xes: bool, problems: Problems, lang: str) -> Source | None:
    if not isinstance(spec, dict):
        problems.add(path, "eventlog.map.source_not_mapping")
        return None
    for k in spec:
        if k not in SOURCE_KEYS:
            near = closest(k, SOURCE_KEYS)
            problems.add(path + (k,), "eventlog.map.unknown_key", key=k, where="source",
                         expected=", ".join(SOURCE_KEYS) + (f" ({t('eventlog.map.did_you_mean', lang, name=near)})" if near else ""))
    file = spec.get("file")
    xes = is_eventlog_path(file) if file else only_xes

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
    attrs = _attributes(spec.get("attributes") or {}, path, problems)
    src_lines = {k: problems.line(path + (k,)) or 0 for k in SOURCE_KEYS}
    return Source(
        file=str(file) if file is not None else None, case=case, activity=activity, activity_value=act_value,
        timestamp=timestamp, resource=col("resource"), lifecycle=col("lifecycle"), attributes=attrs,
        index=index, line=problems.line(path), lines=src_lines,
    )


def _attributes(raw_attrs: Any, path: tuple, problems: Problems) -> list[Attr]:
    """`{FIELD: COLUMN}` or `{FIELD: {value: CONSTANT}}`."""
    if not isinstance(raw_attrs, dict):
        problems.add(path + ("attributes",), "eventlog.map.attributes_mapping")
        return []
    attrs: list[Attr] = []
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
    return attrs


def _section(data: dict, key: str, allowed: tuple[str, ...], problems: Problems, not_mapping: str) -> dict:
    """The mapping under `key` (empty when absent), with a problem for each key it does not know."""
    value = data.get(key) or {}
    if not isinstance(value, dict):
        problems.add((key,), not_mapping)
        return {}
    for k in value:
        if k not in allowed:
            problems.add((key, k), "eventlog.map.unknown_key", key=k, where=key, expected=", ".join(allowed))
    return value


def _outcome(data: dict, problems: Problems) -> tuple[list[Rule], list[Rule], str | None, timedelta | None, str]:
    """(won, lost, attribute, lost_after, lost_after_reason) from `outcome:`."""
    outcome = _section(data, "outcome", OUTCOME_KEYS, problems, "eventlog.map.outcome_mapping")
    olc = _lifecycles(outcome.get("lifecycle"), ("outcome", "lifecycle"), problems)
    won = _outcome_rules(outcome.get("won"), ("outcome", "won"), problems, olc, reasons=False)
    lost = _outcome_rules(outcome.get("lost"), ("outcome", "lost"), problems, olc, reasons=True)
    attribute = str(outcome["attribute"]) if outcome.get("attribute") is not None else None
    both = {r.activity for r in won} & {r.activity for r in lost}
    for act in sorted(both):
        problems.add(("outcome", "lost"), "eventlog.map.won_and_lost", activity=act)
    lost_after = None
    if outcome.get("lost_after") is not None:
        try:
            lost_after = parse_duration(outcome["lost_after"])
        except InputError as exc:
            problems.add(("outcome", "lost_after"), "eventlog.map.bad_duration", error=str(exc))
    lost_after_reason = "no_outcome"
    if outcome.get("lost_after_reason") is not None:
        lost_after_reason = str(outcome["lost_after_reason"])
    return won, lost, attribute, lost_after, lost_after_reason


def _owner(data: dict, problems: Problems) -> tuple[frozenset[str], str, frozenset[str] | None]:
    """(ignore, default, activities) from `owner:`."""
    owner = _section(data, "owner", OWNER_KEYS, problems, "eventlog.map.owner_mapping")
    ignore = _text_set(owner, "ignore", problems)
    default = DEFAULT_OWNER
    if owner.get("default") is not None:
        if not isinstance(owner["default"], (str, int)) or not str(owner["default"]).strip():
            problems.add(("owner", "default"), "eventlog.map.list_of_texts", key="owner.default")
        else:
            default = str(owner["default"]).strip()
    return ignore or frozenset(), default, _text_set(owner, "activities", problems)


def _text_set(owner: dict, key: str, problems: Problems) -> frozenset[str] | None:
    """`owner.KEY` as a set of texts; None when absent or not a list of texts (a problem then)."""
    if owner.get(key) is None:
        return None
    items = _texts(owner[key])
    if items is None:
        problems.add(("owner", key), "eventlog.map.list_of_texts", key=f"owner.{key}")
        return None
    return frozenset(items)


# -- rules -----------------------------------------------------------------------------------------
def _texts(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    return None


def _lifecycles(value: Any, path: tuple, problems: Problems) -> frozenset[str] | None:
    if value is None:
        return None
    items = _texts(value)
    if not items:
        problems.add(path, "eventlog.map.bad_lifecycle", found=repr(value))
        return None
    return frozenset(v.strip().lower() for v in items)


def _rules(data: Any, section: str, problems: Problems) -> list[Rule]:
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


def _outcome_rules(value: Any, path: tuple, problems: Problems, lifecycles: frozenset[str] | None,
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
