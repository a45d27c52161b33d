"""Days in each stage: recent entries against earlier ones (Kaplan-Meier, log-rank, Benjamini-Hochberg),
next to the norms learned from won deals (playbook.norms) and the playbook's step deadlines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dealpulse.metrics.asof import Snapshot
from dealpulse.playbook import Playbook
from dealpulse.metrics.dwell_shift import DwellShift, dwell_comparison
from dealpulse.report.sections.values import in_days, num, rows_of

NORMS_RESAMPLES = 100  # the report uses the norms' medians, not their bootstrap intervals
DWELL_RECENT_WINDOWS = 3  # "recent" stage entries: the last three windows...
DWELL_RECENT_MIN = timedelta(days=84)  # ...and at least twelve weeks


@dataclass
class StepDeadline:
    step: str
    days: float  # the default `within`
    after: str | None  # None: from entering the stage (or the deal's creation); else the step it follows
    by_segment: dict[str, float] = field(default_factory=dict)
    suggested_days: float | None = None  # learned from won deals (playbook.norms), if available


@dataclass
class DwellRow:
    """Days in one stage: deals that entered it recently against those that entered it before,
    next to the norms learned from won deals and the playbook's deadlines."""

    stage: str
    n_recent: int
    median_days: float | None  # recent entries, Kaplan-Meier (still in the stage = censored)
    p80_days: float | None
    n_before: int
    before_median_days: float | None
    before_p80_days: float | None
    norm_won_days: float | None  # median dwell of won deals (the learned norm)
    norm_lost_days: float | None
    norm_won_p75_days: float | None
    deadlines: list[StepDeadline]  # the playbook's steps of this stage
    stage_deadline_days: float | None = None  # when the stage's last step is due, from entering it
    shift: str = "same"  # slower | faster | same: recent against before, beyond chance (log-rank + BH)


def learned_norms(snap: Snapshot) -> dict[tuple[str, str], dict[str, float | None]]:
    """(kind, name) -> won median / p75, lost median, suggested deadline: the norms over all segments."""
    from dealpulse.playbook.norms import learn_norms

    try:  # the report shows medians, p75 and suggestions, not the bootstrap intervals: keep those cheap
        result = learn_norms(snap, n_resamples=NORMS_RESAMPLES)
    except TypeError:
        result = learn_norms(snap)
    out: dict[tuple[str, str], dict[str, float | None]] = {}
    for r in rows_of(result):
        if r.get("segment") not in (None, "") or r.get("kind") not in ("stage", "step"):
            continue
        out[(str(r["kind"]), str(r["name"]))] = {
            "won": num(r.get("won_median")), "won_p75": num(r.get("won_p75")),
            "lost": num(r.get("lost_median")), "suggested": num(r.get("suggested_days")),
        }
    return out


def stage_deadlines(playbook: Playbook, stage: str) -> tuple[list[StepDeadline], float | None]:
    """The stage's steps with their deadlines, and when its last step is due counted from entering
    the stage (a step anchored on another step of the stage adds up; `deal_created` counts as the
    entry, which it is for the first stage)."""
    steps = [s for s in playbook.steps if s.stage == stage]
    due: dict[str, float] = {}

    def due_of(name: str, seen: tuple[str, ...] = ()) -> float:
        if name in due:
            return due[name]
        step = playbook.step(name)
        own = in_days(step.within)
        base = 0.0
        if step.anchor in {s.name for s in steps} and step.anchor not in seen:
            base = due_of(step.anchor, seen + (name,))
        due[name] = base + own
        return due[name]

    out = []
    names = {s.name for s in steps}
    for s in steps:
        due_of(s.name)
        out.append(StepDeadline(
            step=s.name, days=in_days(s.within),
            after=s.anchor if s.anchor in names else None,
            by_segment={seg: in_days(td) for seg, td in sorted(s.by_segment.items())},
        ))
    return out, max(due.values(), default=None)


def dwell_rows(snap: Snapshot, window: timedelta, norms: dict[tuple[str, str], dict[str, float | None]]
               ) -> tuple[list[DwellRow], list[DwellShift], datetime]:
    """Per stage: dwell of the deals that entered it in the recent period (DWELL_RECENT_WINDOWS windows, at
    least DWELL_RECENT_MIN) against those that entered before (`metrics.dwell_shift`: Kaplan-Meier, log-rank
    per stage over all segments and per segment, Benjamini-Hochberg), next to the norms and deadlines."""
    pb = snap.playbook
    since = snap.as_of - max(DWELL_RECENT_WINDOWS * window, DWELL_RECENT_MIN)
    comp = dwell_comparison(snap, since)
    rows: list[DwellRow] = []
    for g in comp.groups:
        if g.segment is not None:
            continue
        deadlines, last_due = stage_deadlines(pb, g.stage)
        for d in deadlines:
            d.suggested_days = norms.get(("step", d.step), {}).get("suggested")
        n = norms.get(("stage", g.stage), {})
        rows.append(DwellRow(
            g.stage, g.n_recent, g.recent.median, g.recent.p80, g.n_before, g.before.median, g.before.p80,
            n.get("won"), n.get("lost"), n.get("won_p75"), deadlines, last_due,
        ))
    for shift in comp.shifts:
        if shift.segment is None:
            next(r for r in rows if r.stage == shift.stage).shift = shift.direction
    return rows, comp.shifts, since
