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


def first_done(snap: Snapshot, task_types: list[str]) -> Any:
    """deal_id, type, done_at: the first completion (by as_of) of each task type on each deal."""
    tk = snap.tasks
    done = tk.filter((tk.status == "done") & tk.completed_at.notnull() & tk.type.isin(task_types))
    return done.group_by([done.deal_id.cast("string").name("deal_id"), done.type.cast("string").name("type")]).aggregate(
        done_at=done.completed_at.min()
    )


def _anchors(snap: Snapshot, firsts: Any) -> Any | None:
    """deal_id, step, stage, anchor_at, completed_at: one row per step whose anchor has happened."""
    pb = snap.playbook
    deals = snap.deals
    fse = snap.first_stage_entries
    parts = []
    for step in pb.steps:
        if step.anchor == ANCHOR_DEAL_CREATED:
            anchors = deals.select(deal_id=deals.deal_id, anchor_at=deals.created_at)
        elif step.anchor == ANCHOR_STAGE_ENTERED:
            f = fse.filter(fse.stage == step.stage)
            anchors = f.select(deal_id=f.deal_id, anchor_at=f.entered_at)
        else:
            f = firsts.filter(firsts.type == pb.step(step.anchor).task_type)
            anchors = f.select(deal_id=f.deal_id, anchor_at=f.done_at)
        comp = firsts.filter(firsts.type == step.task_type)
        comp = comp.select(done_of=comp.deal_id, completed_at=comp.done_at)
        j = anchors.left_join(comp, anchors.deal_id == comp.done_of)
        parts.append(j.select(
            deal_id=j.deal_id.cast("string"), step=ibis.literal(step.name, type="string"),
            stage=ibis.literal(step.stage, type="string"), anchor_at=j.anchor_at.cast("timestamp"),
            completed_at=j.completed_at.cast("timestamp"),
        ))
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p)
    return out


def _within_seconds(snap: Snapshot, step_col: Any, segment_col: Any) -> Any:
    """The step's deadline length in seconds for the deal's segment, as an Ibis case."""
    cases = []
    for step in snap.playbook.steps:
        for seg, td in sorted(step.by_segment.items()):
            cases.append(((step_col == step.name) & (segment_col == seg), _seconds(td)))
        cases.append((step_col == step.name, _seconds(step.within)))
    return ibis.cases(*cases, else_=ibis.null("int64"))


def step_instances(snap: Snapshot) -> Any:
    """One row per step instance known at `snap.as_of` (see the module docstring):
    deal_id, step, stage, owner, team, segment, channel, cohort, anchor_at, deadline, completed_at,
    status (on_time/late/missed/pending), late_days."""
    pb = snap.playbook
    types = sorted({s.task_type for s in pb.steps})
    firsts = first_done(snap, types)
    anchors = _anchors(snap, firsts)
    if anchors is None:
        return _empty_instances(snap)
    d = snap.deals
    d = d.select(d_id=d.deal_id, owner=d.owner, team=d.team, segment=d.segment, channel=d.channel,
                 cohort=d.cohort, closed_at=d.closed_at)
    j = anchors.inner_join(d, anchors.deal_id == d.d_id)
    secs = _within_seconds(snap, j.step, j.segment)
    j = j.mutate(deadline=(j.anchor_at + secs.as_interval("s")).cast("timestamp"))
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
