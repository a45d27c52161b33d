"""The playbook: the digitized deal cycle (stages, steps with deadlines, client card, segments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dealpulse.playbook.rules import Rule

TERMINAL_STAGES = ("won", "lost")
ANCHOR_DEAL_CREATED = "deal_created"
ANCHOR_STAGE_ENTERED = "stage_entered"


@dataclass(frozen=True)
class Step:
    """A step inside a stage: done by the first `done` task of type `task_type` on the deal,
    due `within` after its anchor (`deal_created`, `stage_entered` or another step's completion)."""

    name: str
    stage: str
    within: timedelta
    anchor: str = ANCHOR_STAGE_ENTERED
    by_segment: dict[str, timedelta] = field(default_factory=dict)
    task_type: str = ""

    def __post_init__(self) -> None:
        if not self.task_type:
            object.__setattr__(self, "task_type", self.name)

    def within_for(self, segment: str | None) -> timedelta:
        return self.by_segment.get(segment, self.within) if segment else self.within


@dataclass(frozen=True)
class Segment:
    name: str
    rule: Rule


@dataclass(frozen=True)
class Playbook:
    stages: tuple[str, ...]
    steps: tuple[Step, ...] = ()
    segments: tuple[Segment, ...] = ()
    card_fields: tuple[str, ...] = ()
    card_complete_by: str | None = None
    stale_after: timedelta = timedelta(days=14)
    stale_by_segment: dict[str, timedelta] = field(default_factory=dict)
    reviewers: tuple[str, ...] = ()
    source: str = "<built-in>"
    # an open deal untouched this long counts as lost from the moment it crosses it (None: never);
    # for CRMs that never record a loss (leads never won simply stay open)
    lost_after: timedelta | None = None
    # what people read instead of the names, per language: {"ru": {"proposal_sent": "КП отправлено"}}
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def stale_for(self, segment: str | None) -> timedelta:
        return self.stale_by_segment.get(segment, self.stale_after) if segment else self.stale_after

    def stage_index(self, stage: str) -> int | None:
        try:
            return self.stages.index(stage)
        except ValueError:
            return None

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments)
