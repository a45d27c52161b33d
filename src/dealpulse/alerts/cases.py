"""The cases every alarm counts, one frame per kind of case, from the `Facts` known at a moment.

Each frame has the subject columns (owner, segment, channel, step, stage), a time column that puts a
case in a window, and either `_good` (a share: on time, moved forward) or `_duration` + `_observed`
(a right-censored duration in days). The detectors (`detect.py`) and the alert lifecycle
(`lifecycle.py`) read the same frames, so an alert is judged by the same cases it was raised on.

| frame | one row per | time | value |
|---|---|---|---|
| `judged_steps` | step instance judged on time / late / missed | deadline | `_good` = on time |
| `late_steps` | judged instance not done on time | deadline | days past the deadline until done (censored: not done yet, or the deal closed) |
| `step_pace` | step instance whose anchor happened | anchor_at | days from the anchor to the first completion (censored at the close or now) |
| `stage_exits` | deal leaving a playbook stage | exit_at | `_good` = moved forward (not lost) |
| `stage_dwell` | deal entering a playbook stage | entered_at | days in the stage (censored while still there) |
| `first_stage_exits` | deal leaving the first stage | exit_at | `_good` = moved forward |
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from dealpulse.alerts.facts import Facts, days
from dealpulse.metrics.steps import LATE, MISSED, ON_TIME


def judged_steps(facts: Facts) -> pd.DataFrame:
    inst = facts.instances
    if inst.empty:
        return inst.assign(_good=pd.Series(dtype=bool))
    return inst[inst["status"].isin([ON_TIME, LATE, MISSED])].assign(_good=lambda d: d["status"] == ON_TIME)


def late_steps(facts: Facts) -> pd.DataFrame:
    judged = judged_steps(facts)
    late = judged[~judged["_good"]].copy()
    if late.empty:
        return late.assign(_duration=pd.Series(dtype=float), _observed=pd.Series(dtype=bool))
    T = pd.Timestamp(facts.as_of)
    # not done: censored at the close (if the deal closed after its deadline) or now
    stop = late["closed_at"].where(late["closed_at"].notna() & (late["closed_at"] <= T), T)
    end = late["completed_at"].fillna(stop)
    late["_duration"] = days(end - late["deadline"]).clip(lower=0.0)
    late["_observed"] = late["completed_at"].notna()
    return late


def step_pace(facts: Facts) -> pd.DataFrame:
    """Every step instance from its anchor: how long until it was done. Not done: censored at the deal's
    close (nothing left to do) or at the moment. The pace of all of a manager's steps, read together
    (stratified by step and segment), shows a manager who got somewhat slower at everything."""
    inst = facts.instances
    if inst.empty:
        return inst.assign(_duration=pd.Series(dtype=float), _observed=pd.Series(dtype=bool))
    T = pd.Timestamp(facts.as_of)
    f = inst.copy()
    stop = f["closed_at"].where(f["closed_at"].notna() & (f["closed_at"] <= T), T)
    end = f["completed_at"].fillna(stop)
    f["_duration"] = days(end - f["anchor_at"]).clip(lower=0.0)
    f["_observed"] = f["completed_at"].notna()
    return f


def _playbook_spells(facts: Facts) -> pd.DataFrame:
    sp = facts.spells
    if sp.empty:
        return sp
    return sp[sp["stage"].isin(facts.playbook.stages or facts.stages)]


def stage_exits(facts: Facts) -> pd.DataFrame:
    sp = _playbook_spells(facts)
    if sp.empty:
        return sp.assign(_good=pd.Series(dtype=bool))
    return sp[sp["exit_stage"].notna()].assign(_good=lambda d: d["exit_stage"] != "lost")


def stage_dwell(facts: Facts) -> pd.DataFrame:
    sp = _playbook_spells(facts).copy()
    if sp.empty:
        return sp.assign(_duration=pd.Series(dtype=float), _observed=pd.Series(dtype=bool))
    T = pd.Timestamp(facts.as_of)
    sp["_duration"] = days(sp["exit_at"].fillna(T) - sp["entered_at"]).clip(lower=0.0)
    sp["_observed"] = sp["exit_at"].notna()
    return sp


def first_stage_exits(facts: Facts) -> pd.DataFrame:
    exits = stage_exits(facts)
    first = (facts.playbook.stages or facts.stages or (None,))[0]
    if exits.empty or first is None:
        return exits.iloc[0:0]
    return exits[exits["stage"] == first]


CASES: dict[str, Callable[[Facts], pd.DataFrame]] = {
    "judged_steps": judged_steps, "late_steps": late_steps, "step_pace": step_pace,
    "stage_exits": stage_exits, "stage_dwell": stage_dwell, "first_stage_exits": first_stage_exits,
}


class CaseCache:
    """The case frames of one `Facts`, each built once."""

    def __init__(self, facts: Facts):
        self.facts = facts
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = CASES[name](self.facts)
        return self._frames[name]


__all__ = ["CASES", "CaseCache", "judged_steps", "late_steps", "step_pace", "stage_exits", "stage_dwell",
           "first_stage_exits"]
