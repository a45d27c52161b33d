"""Days in each stage: recent entries against earlier ones (Kaplan-Meier, log-rank, Benjamini-Hochberg),
next to the norms learned from won deals (playbook.norms) and the playbook's step deadlines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dealpulse.metrics.asof import Snapshot
from dealpulse.playbook import Playbook
from dealpulse.report import stats
from dealpulse.report.sections.values import in_days, need, num, rows_of

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


@dataclass
class DwellShift:
    """A stage (in a segment, or over all) where recent deals stay longer or shorter beyond chance."""

    stage: str
    segment: str | None
    direction: str  # slower | faster
    n_recent: int
    n_before: int
    median_days: float | None
    before_median_days: float | None
    p80_days: float | None
    before_p80_days: float | None
    p_adjusted: float


def learned_norms(snap: Snapshot) -> dict[tuple[str, str], dict[str, float | None]]:
    """(kind, name) -> won median / p75, lost median, suggested deadline: the norms over all segments."""
    learn_norms = need("dealpulse.playbook.norms", "learn_norms")
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


def _km(part: Any) -> Any:
    from dealpulse.metrics.survival import km_summary

    return km_summary(part["dwell_days"].to_numpy(dtype=float), part["left"].to_numpy(dtype=bool))


def _logrank(a: Any, b: Any) -> float:
    from lifelines.statistics import logrank_test

    res = logrank_test(a["dwell_days"].to_numpy(dtype=float), b["dwell_days"].to_numpy(dtype=float),
                       event_observed_A=a["left"].to_numpy(dtype=bool), event_observed_B=b["left"].to_numpy(dtype=bool))
    return float(res.p_value)


def _direction(recent: Any, before: Any) -> str:
    """slower when recent deals stay longer: a later median (or one not reached yet), else a later p80."""
    for q in ("median", "p80"):
        r, b = getattr(recent, q), getattr(before, q)
        if r is None and b is not None:
            return "slower"
        if r is not None and b is None:
            return "faster"
        if r is not None and b is not None and r != b:
            return "slower" if r > b else "faster"
    return "same"


def dwell_rows(snap: Snapshot, window: timedelta, norms: dict[tuple[str, str], dict[str, float | None]]
           ) -> tuple[list[DwellRow], list[DwellShift], datetime]:
    """Per stage: dwell of the deals that entered it in the recent period (DWELL_RECENT_WINDOWS
    windows, at least DWELL_RECENT_MIN) against those that entered before, with the log-rank test
    per stage over all segments and per segment, Benjamini-Hochberg over all of them."""
    fetch_spells = need("dealpulse.metrics.funnel", "fetch_spells")
    stage_order = need("dealpulse.metrics.funnel", "stage_order")
    pb = snap.playbook
    order, _ = stage_order(snap)
    spells = fetch_spells(snap, order)
    since = snap.as_of - max(DWELL_RECENT_WINDOWS * window, DWELL_RECENT_MIN)
    if not len(spells):  # no deal spent time in a stage (a closed-only export without dates): nothing to show
        return [], [], since
    is_recent = spells["entered_at"] > since
    segments = sorted(spells["segment"].dropna().unique().tolist(), key=str) if len(spells) else []
    rows: list[DwellRow] = []
    tests: list[tuple[str, str | None, Any, Any, int, int, float]] = []
    for stage in order:
        part = spells[spells["stage"] == stage] if len(spells) else spells
        if stage not in pb.stages and not len(part):
            continue
        for seg in [None, *segments]:
            sub = part if seg is None else part[part["segment"] == seg]
            recent, before = sub[is_recent.loc[sub.index]], sub[~is_recent.loc[sub.index]]
            km_r, km_b = _km(recent), _km(before)
            if seg is None:
                deadlines, last_due = stage_deadlines(pb, stage)
                for d in deadlines:
                    d.suggested_days = norms.get(("step", d.step), {}).get("suggested")
                n = norms.get(("stage", stage), {})
                rows.append(DwellRow(
                    stage, len(recent), km_r.median, km_r.p80, len(before), km_b.median, km_b.p80,
                    n.get("won"), n.get("lost"), n.get("won_p75"), deadlines, last_due,
                ))
            if len(recent) >= stats.MIN_SAMPLE_N and len(before) >= stats.MIN_SAMPLE_N and recent["left"].any():
                tests.append((stage, seg, km_r, km_b, len(recent), len(before), _logrank(recent, before)))
    shifts: list[DwellShift] = []
    for (stage, seg, km_r, km_b, n_r, n_b, _p), q in zip(tests, stats.adjust([t[-1] for t in tests])):
        direction = _direction(km_r, km_b)
        if q is None or q >= stats.ALPHA or direction == "same":
            continue
        shifts.append(DwellShift(stage, seg, direction, n_r, n_b, km_r.median, km_b.median, km_r.p80, km_b.p80, q))
        if seg is None:
            next(r for r in rows if r.stage == stage).shift = direction
    shifts.sort(key=lambda x: (x.direction != "slower", x.p_adjusted, order.index(x.stage), str(x.segment)))
    return rows, shifts, since
