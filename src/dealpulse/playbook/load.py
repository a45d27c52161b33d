"""Read a playbook YAML file, check all of it, and report every problem with its line."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any


from dealpulse.errors import InputError, PlaybookError
from dealpulse.playbook.durations import parse_duration
from dealpulse.playbook.model import (
    ANCHOR_DEAL_CREATED,
    ANCHOR_STAGE_ENTERED,
    TERMINAL_STAGES,
    Playbook,
    Segment,
    Step,
)
from dealpulse.playbook.rules import parse_rule
from dealpulse.yaml_lines import YamlSyntaxError, line_of, read_with_lines

TOP_KEYS = {"stages", "segments", "steps", "client_card", "stale_after", "lost_after", "review", "version", "name",
            "labels"}
STEP_KEYS = {"stage", "within", "from", "by_segment", "type", "description"}


class _Problems:
    def __init__(self, source: str, lines: dict[tuple, int]):
        self.source, self.lines, self.items = source, lines, []

    def add(self, path: tuple, message: str) -> None:
        line = line_of(self.lines, path)
        where = f"{self.source}, line {line}" if line else self.source
        self.items.append(f"{where}: {message}")


def _duration(value: Any, path: tuple, problems: _Problems) -> timedelta | None:
    try:
        return parse_duration(value)
    except InputError as exc:
        problems.add(path, str(exc))
        return None


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    try:
        data, lines = read_with_lines(text)
    except YamlSyntaxError as exc:
        where = f"{source}, line {exc.line}" if exc.line else source
        raise PlaybookError(f"{where}: not valid YAML: {exc.problem}") from None
    data = {} if data is None else data
    problems = _Problems(source, lines)
    if not isinstance(data, dict):
        raise PlaybookError(f"{source}: a playbook is a mapping with at least `stages:`")

    for key in data:
        if key not in TOP_KEYS:
            problems.add((key,), f"unknown key {key!r}; expected one of {', '.join(sorted(TOP_KEYS))}")

    stages_raw = data.get("stages")
    stages: list[str] = []
    if not isinstance(stages_raw, list) or not stages_raw:
        problems.add(("stages",), "`stages` must be a non-empty list such as [new, qualification, proposal]")
    else:
        for i, s in enumerate(stages_raw):
            if not isinstance(s, str) or not s.strip():
                problems.add(("stages", i), f"a stage name must be a text, got {s!r}")
            elif s in TERMINAL_STAGES:
                problems.add(("stages", i), f"{s!r} is a terminal stage and is implied; leave it out of `stages`")
            elif s in stages:
                problems.add(("stages", i), f"stage {s!r} is listed twice")
            else:
                stages.append(s)

    segments: list[Segment] = []
    seg_raw = data.get("segments") or {}
    if isinstance(seg_raw, list):  # a plain list of names: segments come from the data
        seg_raw = {name: "false" for name in seg_raw}
    if not isinstance(seg_raw, dict):
        problems.add(("segments",), "`segments` must map a segment name to a rule such as \"amount >= 1000000\"")
        seg_raw = {}
    for name, rule_text in seg_raw.items():
        try:
            segments.append(Segment(str(name), parse_rule(rule_text if rule_text is not None else "false")))
        except InputError as exc:
            problems.add(("segments", name), f"segment {name!r}: {exc}")
    seg_names = {s.name for s in segments}

    steps: list[Step] = []
    steps_raw = data.get("steps") or {}
    if not isinstance(steps_raw, dict):
        problems.add(("steps",), "`steps` must map a step name to {stage, within, from}")
        steps_raw = {}
    step_names = set(steps_raw)
    for name, spec in steps_raw.items():
        path = ("steps", name)
        problems_before = len(problems.items)
        if not isinstance(spec, dict):
            problems.add(path, f"step {name!r} must be a mapping such as {{stage: proposal, within: 5d, from: stage_entered}}")
            continue
        for key in spec:
            if key not in STEP_KEYS:
                problems.add(path + (key,), f"step {name!r}: unknown key {key!r}; expected one of {', '.join(sorted(STEP_KEYS))}")
        stage = spec.get("stage")
        if stage not in stages:
            problems.add(path + ("stage",), f"step {name!r}: stage {stage!r} is not in `stages` ({', '.join(stages)})")
        within = _duration(spec.get("within"), path + ("within",), problems) if "within" in spec else None
        if "within" not in spec:
            problems.add(path, f"step {name!r}: `within` is missing (a deadline such as 5d)")
        anchor = spec.get("from", ANCHOR_STAGE_ENTERED)
        if anchor not in (ANCHOR_DEAL_CREATED, ANCHOR_STAGE_ENTERED) and anchor not in step_names:
            problems.add(path + ("from",), f"step {name!r}: `from` must be deal_created, stage_entered or another step, got {anchor!r}")
        elif anchor == name:
            problems.add(path + ("from",), f"step {name!r} cannot be anchored on itself")
        by_segment: dict[str, timedelta] = {}
        for seg, dur in (spec.get("by_segment") or {}).items():
            if seg_names and seg not in seg_names:
                problems.add(path + ("by_segment", seg), f"step {name!r}: segment {seg!r} is not defined in `segments`")
            d = _duration(dur, path + ("by_segment", seg), problems)
            if d is not None:
                by_segment[str(seg)] = d
        if len(problems.items) == problems_before:
            steps.append(Step(name=str(name), stage=stage, within=within, anchor=anchor,
                              by_segment=by_segment, task_type=str(spec.get("type") or name)))
    # anchors must not form a cycle
    graph = {n: (s or {}).get("from") for n, s in steps_raw.items() if isinstance(s, dict)}
    for start in graph:
        seen, cur = [], start
        while cur in graph and cur not in seen:
            seen.append(cur)
            cur = graph[cur]
        if cur == start and len(seen) > 1:
            problems.add(("steps", start, "from"), f"steps anchored in a cycle: {' -> '.join(seen + [start])}")

    card = data.get("client_card") or {}
    card_fields: tuple[str, ...] = ()
    complete_by = None
    if not isinstance(card, dict):
        problems.add(("client_card",), "`client_card` must be {fields: [...], complete_by: STAGE}")
    else:
        fields = card.get("fields") or []
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            problems.add(("client_card", "fields"), "`client_card.fields` must be a list of field names")
        else:
            card_fields = tuple(fields)
        complete_by = card.get("complete_by")
        if complete_by is not None and complete_by not in stages:
            problems.add(("client_card", "complete_by"), f"`complete_by` must be one of the stages, got {complete_by!r}")

    stale = data.get("stale_after", "14d")
    stale_default, stale_by = timedelta(days=14), {}
    if isinstance(stale, dict):
        stale_default = _duration(stale.get("default", "14d"), ("stale_after", "default"), problems) or stale_default
        for seg, dur in (stale.get("by_segment") or {}).items():
            if seg_names and seg not in seg_names:
                problems.add(("stale_after", "by_segment", seg), f"stale_after: segment {seg!r} is not defined in `segments`")
            d = _duration(dur, ("stale_after", "by_segment", seg), problems)
            if d is not None:
                stale_by[str(seg)] = d
    else:
        stale_default = _duration(stale, ("stale_after",), problems) or stale_default

    lost_after = None
    if data.get("lost_after") is not None:
        lost_after = _duration(data["lost_after"], ("lost_after",), problems)
        if lost_after is not None and lost_after <= timedelta(0):
            problems.add(("lost_after",), f"`lost_after` must be a positive duration such as 90d, got {data['lost_after']!r}")
            lost_after = None

    review = data.get("review") or {}
    reviewers = tuple(review.get("reviewers") or ()) if isinstance(review, dict) else ()

    labels: dict[str, dict[str, str]] = {}  # labels: {ru: {proposal_sent: "КП отправлено"}, en: {...}}
    raw_labels = data.get("labels")
    if raw_labels is not None:
        if not isinstance(raw_labels, dict):
            problems.add(("labels",), "`labels` maps a language to names and their labels, such as {ru: {proposal_sent: \"КП отправлено\"}}")
        else:
            for lang_code, names in raw_labels.items():
                if not isinstance(names, dict):
                    problems.add(("labels", lang_code), f"labels for {lang_code!r} must map names to texts, got {names!r}")
                    continue
                labels[str(lang_code)] = {str(k): str(v) for k, v in names.items() if v is not None}

    if problems.items:
        raise PlaybookError(
            f"The playbook {source} has {len(problems.items)} problem(s):",
            problems=problems.items,
            suggestion="Fix each line named above; `dealpulse playbook check FILE` checks it again.",
        )
    return Playbook(
        stages=tuple(stages), steps=tuple(steps), segments=tuple(segments), card_fields=card_fields,
        card_complete_by=complete_by, stale_after=stale_default, stale_by_segment=stale_by,
        reviewers=reviewers, source=source, lost_after=lost_after, labels=labels,
    )


def load_playbook(path: str | Path | None = None) -> Playbook:
    """Load a playbook file; with no path, the built-in default."""
    return parse_playbook(*playbook_text_for_store(None, path))


def default_playbook_text() -> str:
    return resources.files(__package__).joinpath("default.yaml").read_text(encoding="utf-8")


def playbook_text_for_store(store: Any, path: str | Path | None = None) -> tuple[str, str]:
    """(YAML text, source) of the playbook in use: `path` if given, else the one saved at import
    (when there is a store), else the built-in."""
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise InputError(f"The playbook file {p} does not exist.",
                             suggestion="Check the path, or leave --playbook out to use the built-in one.")
        return p.read_text(encoding="utf-8-sig"), str(p)
    text = store.get_meta("playbook_yaml") if store is not None else None
    if text:
        return text, store.get_meta("playbook_source") or "<playbook saved in the store>"
    return default_playbook_text(), "<built-in playbook>"


def playbook_for_store(store: Any, path: str | Path | None = None) -> Playbook:
    """The playbook to compute with: `path` if given, else the one saved at import, else the built-in."""
    return parse_playbook(*playbook_text_for_store(store, path))


def save_playbook_to_store(store: Any, path: str | Path) -> Playbook:
    """Check the playbook file and keep its text in the store for later commands."""
    pb = load_playbook(path)
    store.set_meta("playbook_yaml", Path(path).read_text(encoding="utf-8-sig"))
    store.set_meta("playbook_source", str(path))
    return pb
