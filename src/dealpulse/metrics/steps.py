"""Step compliance: one row per playbook step instance, as of a snapshot.

Definition (the contract other modules rely on: report heat map, norms, early warning):

- a step instance exists once its anchor has happened: the deal's `created_at` (`deal_created`),
  the deal's FIRST entry into the step's stage (`stage_entered`), or, for a step anchored on another
  step, that step's completion = the first `done` task of that step's task type on the deal;
- deadline = anchor + `within` (the step's `by_segment` override for the deal's segment, else `within`);
- completed_at = the first `done` task (completed by as_of) of the step's task type on the deal;
- status: `on_time` (completed_at <= deadline), `late` (completed after the deadline), `missed`
  (not completed, deadline <= as_of, and the deal was not closed before the deadline), else `pending`;
- owner, team, segment, channel, cohort: the deal's, as of the snapshot's as_of;
- late_days: days past the deadline: completed_at - deadline when late, as_of - deadline when
  missed, 0 when on time, null when pending.
"""

from __future__ import annotations

from typing import Any

import ibis

from dealpulse.metrics.asof import Snapshot
from dealpulse.playbook.model import ANCHOR_DEAL_CREATED, ANCHOR_STAGE_ENTERED

ON_TIME, LATE, MISSED, PENDING = "on_time", "late", "missed", "pending"
STATUSES = (ON_TIME, LATE, MISSED, PENDING)
SECONDS_PER_DAY = 86400.0

INSTANCE_COLUMNS = ("deal_id", "step", "stage", "owner", "team", "segment", "channel", "cohort",
                    "anchor_at", "deadline", "completed_at", "status", "late_days")


def days_between(later: Any, earlier: Any) -> Any:
    """(later - earlier) in days, as a float64 Ibis expression (second precision)."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / SECONDS_PER_DAY


def _seconds(td: Any) -> int:
    return int(round(td.total_seconds()))


def _per_deal(snap: Snapshot) -> tuple[Any, dict[str, str], dict[str, str]]:
    """One row per deal known at as_of: its attributes, the first completion of each step task type
    and the first entry into each step stage, as columns (so each step is a projection of this one
    table: no per-step joins, which PostgreSQL plans badly over filtered CTEs).
    Returns (table, task type -> column, stage -> column)."""
    pb = snap.playbook
    types = sorted({s.task_type for s in pb.steps})
    stages = sorted({s.stage for s in pb.steps if s.anchor == ANCHOR_STAGE_ENTERED})
    type_col = {t_: f"_done{i}" for i, t_ in enumerate(types)}
    stage_col = {st: f"_entered{i}" for i, st in enumerate(stages)}
    d = snap.deals
    out = d.select(deal_id=d.deal_id, owner=d.owner, team=d.team, segment=d.segment, channel=d.channel,
                   cohort=d.cohort, created_at=d.created_at, closed_at=d.closed_at)
    tk = snap.tasks
    done = tk.filter((tk.status == "done") & tk.completed_at.notnull() & tk.type.isin(types))
    firsts = done.group_by(f_id=done.deal_id.cast("string")).aggregate(
        **{col: done.completed_at.min(where=done.type == t_) for t_, col in type_col.items()})
    out = out.left_join(firsts, out.deal_id == firsts.f_id).drop("f_id")
    if stage_col:
        fse = snap.first_stage_entries
        fse = fse.filter(fse.stage.isin(stages))
        entries = fse.group_by(e_id=fse.deal_id).aggregate(
            **{col: fse.entered_at.min(where=fse.stage == st) for st, col in stage_col.items()})
        out = out.left_join(entries, out.deal_id == entries.e_id).drop("e_id")
    return out, type_col, stage_col


def _deadline(anchor: Any, segment: Any, step: Any) -> Any:
    """anchor + `within` for the deal's segment (the step's by_segment override, else `within`)."""
    cases = [(segment == seg, _seconds(td)) for seg, td in sorted(step.by_segment.items())]
    secs = ibis.cases(*cases, else_=_seconds(step.within)) if cases else ibis.literal(_seconds(step.within))
    return (anchor + secs.as_interval("s")).cast("timestamp")


def step_instances(snap: Snapshot) -> Any:
    """One row per step instance known at `snap.as_of` (see the module docstring):
    deal_id, step, stage, owner, team, segment, channel, cohort, anchor_at, deadline, completed_at,
    status (on_time/late/missed/pending), late_days. Computed once per snapshot (`Snapshot.keep`)."""
    return snap.keep("step_instances", lambda: _build_step_instances(snap))


def _build_step_instances(snap: Snapshot) -> Any:
    pb = snap.playbook
    if not pb.steps:
        return _empty_instances(snap)
    w, type_col, stage_col = _per_deal(snap)
    parts = []
    for step in pb.steps:
        if step.anchor == ANCHOR_DEAL_CREATED:
            anchor = w.created_at
        elif step.anchor == ANCHOR_STAGE_ENTERED:
            anchor = w[stage_col[step.stage]]
        else:
            anchor = w[type_col[pb.step(step.anchor).task_type]]
        part = w.select(
            "deal_id", "owner", "team", "segment", "channel", "cohort", "closed_at",
            step=ibis.literal(step.name, type="string"), stage=ibis.literal(step.stage, type="string"),
            anchor_at=anchor.cast("timestamp"), deadline=_deadline(anchor, w.segment, step),
            completed_at=w[type_col[step.task_type]].cast("timestamp"),
        )
        parts.append(part.filter(part.anchor_at.notnull()))
    j = parts[0]
    for p_ in parts[1:]:
        j = j.union(p_)
    T = snap.T
    done = j.completed_at.notnull()
    closed_before = j.closed_at.notnull() & (j.closed_at < j.deadline)
    status = ibis.cases(
        (done & (j.completed_at <= j.deadline), ON_TIME),
        (done, LATE),
        ((j.deadline <= T) & ~closed_before, MISSED),
        else_=PENDING,
    )
    j = j.mutate(status=status)
    late_days = ibis.cases(
        (j.status == ON_TIME, ibis.literal(0.0)),
        (j.status == LATE, days_between(j.completed_at, j.deadline)),
        (j.status == MISSED, days_between(T, j.deadline)),
        else_=ibis.null("float64"),
    )
    return j.select(*INSTANCE_COLUMNS[:-1], late_days=late_days)


def _empty_instances(snap: Snapshot) -> Any:
    """No rows, the same columns (on the snapshot's backend)."""
    d = snap.deals
    d = d.filter(ibis.literal(False))
    types = {"anchor_at": "timestamp", "deadline": "timestamp", "completed_at": "timestamp", "late_days": "float64"}
    cols = {c: (d[c] if c in ("deal_id", "owner", "team", "segment", "channel", "cohort")
                else ibis.null(types.get(c, "string"))) for c in INSTANCE_COLUMNS}
    return d.select(**cols)
