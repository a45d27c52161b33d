"""Problems planted in the synthetic department, for the report, the alerts and the benchmarks to find.

Nine kinds (`plant_kinds.py` has the table and the dataclasses; `plant_effects.py` what each does),
written as text (`late_proposals:m07:2024-09-01`, several separated by commas) or as dataclasses:

- a manager: `late_<step>` one step late, `slow_steps` every step slower, `skip_<step>` a step
  skipped, `late_lost` dead deals marked lost weeks late, `overcommit` deals called commit early;
- a stage in a segment: `slow_<stage>` it takes longer, `drop_<stage>` fewer deals get past it;
- a channel: `surge` more and larger deals from it, `junk` worse leads from it.

`late_<step>` and `skip_<step>` name any playbook step (`late_proposals` means `proposal_sent`),
`slow_<stage>` and `drop_<stage>` any stage; `slow_steps` and `late_lost` are the fixed names of
their kinds. An optional last part sets the magnitude: `slow_contract:enterprise:2024-10-01:3`.
`random_plant` draws a plant of a kind with a random subject, a moderate magnitude and a start date.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable, Sequence

import numpy as np

from dealpulse.demo.clock import add_months
from dealpulse.demo.params import CHANNELS, SEGMENTS
from dealpulse.demo.plant_kinds import (
    KINDS, MANAGER_PLANTS, PLANT_TYPES, STEP_ALIASES, ChannelQuality, ChannelSurge, ConversionDrop,
    LateLoss, LateStep, OverCommit, Plant, SkipStep, SlowStage, SlowSteps,
)
from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.playbook.model import Playbook

__all__ = [
    "AUTO", "KINDS", "ChannelQuality", "ChannelSurge", "ConversionDrop", "LateLoss", "LateStep", "OverCommit",
    "Plant", "SkipStep", "SlowStage", "SlowSteps", "choose_plants", "default_plants", "parse_plant",
    "random_plant", "resolve_plants",
]

AUTO = "auto"  # the default plants (`default_plants`)

# The text form of each kind: what follows the kind (the subject, the date, the magnitude).
FORMS = {
    "late_step": "late_<step>:<manager>:<date>[:<factor>]",
    "slow_steps": "slow_steps:<manager>:<date>[:<factor>]",
    "skip_step": "skip_<step>:<manager>:<date>[:<share>]",
    "late_lost": "late_lost:<manager>:<date>[:<days>]",
    "overcommit": "overcommit:<manager>:<date>[:<share>]",
    "slow_stage": "slow_<stage>:<segment>:<date>[:<factor>]",
    "drop_conversion": "drop_<stage>:<segment>:<date>[:<logit>]",
    "surge": "surge:<channel>:<date>[:<factor>]",
    "junk": "junk:<channel>:<date>[:<drop>]",
}
_CLASS = {cls.kind: cls for cls in PLANT_TYPES}
# The allowed magnitudes (inclusive; for drop_conversion the size of the drop) and an example.
RANGES = {"late_step": (1.0, 20.0, "3"), "slow_steps": (1.0, 10.0, "1.5"), "skip_step": (0.01, 1.0, "0.7"),
          "late_lost": (1.0, 365.0, "45"), "overcommit": (0.01, 1.0, "0.85"), "slow_stage": (0.1, 20.0, "2.5"),
          "drop_conversion": (0.01, 5.0, "0.9"), "surge": (1.0, 10.0, "2"), "junk": (0.01, 5.0, "1.2")}


def _reason(key: str, **kw: object) -> str:
    return t(f"demo.plant.reason.{key}", "en", **kw)


def _bad(text: str, reason: str) -> InputError:
    return InputError(t("demo.plant.bad", "en", text=text, reason=reason), suggestion=t("demo.plant.bad.suggestion", "en"))


def _kind_of(head: str) -> tuple[str | None, str | None]:
    """(kind, the step or stage named in the head) of a text's first part; (None, None) if unknown."""
    if head in ("slow_steps", "late_lost", "overcommit", "surge", "junk"):  # fixed names go first
        return head, None
    for prefix, kind in (("late_", "late_step"), ("skip_", "skip_step"), ("slow_", "slow_stage"),
                         ("drop_", "drop_conversion")):
        if head.startswith(prefix) and len(head) > len(prefix):
            name = head[len(prefix):]
            return kind, (STEP_ALIASES.get(name, name) if kind in ("late_step", "skip_step") else name)
    return None, None


def parse_plant(text: str, playbook: Playbook) -> Plant:
    """A plant from its text, e.g. `late_proposals:m07:2024-09-01` or `surge:partner:2024-05-01:2`;
    the step, stage, segment, channel and magnitude are checked here, the manager by `resolve_plants`."""
    parts = [p.strip() for p in str(text).split(":")]
    kind, named = _kind_of(parts[0])
    if kind is None:
        raise _bad(text, _reason("kind", kind=parts[0], forms=", ".join(f.split(":")[0] for f in FORMS.values())))
    if len(parts) not in (3, 4):
        raise _bad(text, _reason("form", form=FORMS[kind]))
    cls = _CLASS[kind]
    kw: dict[str, object] = {"since": _date(text, parts[2])}
    if cls in MANAGER_PLANTS:
        kw["manager"] = parts[1]
    elif kind in ("surge", "junk"):
        kw["channel"] = parts[1]
    else:
        kw["segment"] = parts[1]
    if kind in ("late_step", "skip_step"):
        kw["step"] = named
    elif kind in ("slow_stage", "drop_conversion"):
        kw["stage"] = named
    if len(parts) == 4:
        value = _number(text, parts[3], cls.magnitude_field, RANGES[kind][2])
        kw[cls.magnitude_field] = -abs(value) if kind == "drop_conversion" else value  # a drop is always down
    plant = cls(**kw)
    problems = check_plant(plant, playbook)
    if problems:
        raise _bad(text, problems[0])
    return plant


def check_plant(plant: Plant, playbook: Playbook, manager_ids: Iterable[str] | None = None) -> list[str]:
    """What is wrong with a plant (empty if nothing): an unknown manager (when `manager_ids` is given),
    step, stage, segment or channel, or a magnitude out of range."""
    out = []
    if manager_ids is not None and isinstance(plant, MANAGER_PLANTS):
        managers = sorted(set(manager_ids))
        if plant.manager not in managers:
            out.append(_reason("manager", manager=plant.manager, first=managers[0] if managers else "-",
                               last=managers[-1] if managers else "-"))
    steps = [s.name for s in playbook.steps]
    if isinstance(plant, (LateStep, SkipStep)) and plant.step not in steps:
        out.append(_reason("step", step=plant.step, steps=", ".join(steps)))
    if isinstance(plant, (SlowStage, ConversionDrop)):
        if plant.stage not in playbook.stages:
            out.append(_reason("stage", stage=plant.stage, stages=", ".join(playbook.stages)))
        if plant.segment not in SEGMENTS:
            out.append(_reason("segment", segment=plant.segment, segments=", ".join(SEGMENTS)))
    if isinstance(plant, (ChannelSurge, ChannelQuality)) and plant.channel not in CHANNELS:
        out.append(_reason("channel", channel=plant.channel, channels=", ".join(CHANNELS)))
    low, high, _ = RANGES[plant.kind]
    size = abs(plant.magnitude) if isinstance(plant, ConversionDrop) else plant.magnitude
    if not low <= size <= high or (isinstance(plant, ConversionDrop) and plant.logit > 0):
        out.append(_reason("range", name=plant.magnitude_field, low=f"{low:g}", high=f"{high:g}",
                           value=f"{plant.magnitude:g}"))
    return out


def _date(text: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad(text, _reason("date", raw=raw)) from None


def _number(text: str, raw: str, name: str, example: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _bad(text, _reason("number", name=name, example=example, raw=raw)) from None
    if not np.isfinite(value):
        raise _bad(text, _reason("number", name=name, example=example, raw=raw))
    return value


def resolve_plants(plants: Iterable[str | Plant], playbook: Playbook, manager_ids: Iterable[str]) -> tuple[Plant, ...]:
    """Parse and check every planted problem; report all bad ones together."""
    managers = list(manager_ids)
    out: list[Plant] = []
    problems: list[str] = []
    for p in plants:
        try:
            plant = parse_plant(p, playbook) if isinstance(p, str) else p
        except InputError as exc:
            problems.append(exc.message)
            continue
        if not isinstance(plant, PLANT_TYPES):
            problems.append(t("demo.plant.bad", "en", text=repr(plant), reason=_reason("type")))
            continue
        reasons = check_plant(plant, playbook, managers)
        if reasons:
            problems.append(t("demo.plant.bad", "en", text=plant.code, reason="; ".join(reasons)))
            continue
        out.append(plant)
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0], suggestion=t("demo.plant.bad.suggestion", "en"))
        raise InputError(t("demo.plant.many", "en", count=len(problems)), problems=problems,
                         suggestion=t("demo.plant.bad.suggestion", "en"))
    return tuple(out)


def choose_plants(plant: str | Plant | Sequence[str | Plant] | None, playbook: Playbook, start: date, months: int,
                  manager_ids: Sequence[str]) -> tuple[Plant, ...]:
    """The plants a `plant=` argument asks for: AUTO (`default_plants`), None or () for none, one text
    or several separated by commas, or a list of texts and plant objects."""
    if plant == AUTO:
        return default_plants(start, months, manager_ids)
    if isinstance(plant, PLANT_TYPES):
        plant = [plant]
    elif isinstance(plant, str):  # one text, or several separated by commas
        plant = [p for p in plant.split(",") if p.strip()]
    return resolve_plants(plant or (), playbook, manager_ids)


def default_plants(start: date, months: int, manager_ids: Sequence[str]) -> tuple[Plant, ...]:
    """Both problems, late in the timeline: late proposals by m07 from month 20 of 24 (5/6 of the way),
    slow enterprise contracts from month 21 (7/8 of the way). None for a timeline under six months:
    there would be no time left to see them."""
    if months < 6:
        return ()
    late_on = add_months(start, max(1, round(months * 5 / 6)))
    slow_on = add_months(start, max(1, round(months * 7 / 8)))
    who = "m07" if "m07" in manager_ids else manager_ids[-1]
    return (LateStep(manager=who, since=late_on), SlowStage(stage="contract", segment="enterprise", since=slow_on))


# Moderate magnitudes for `random_plant`: big enough to matter, far from extreme.
RANDOM_MAGNITUDE = {"late_step": (2.5, 4.0), "slow_steps": (1.4, 1.8), "skip_step": (0.5, 0.8),
                    "late_lost": (30.0, 60.0), "overcommit": (0.7, 0.95), "slow_stage": (2.0, 3.0),
                    "drop_conversion": (0.7, 1.2), "surge": (1.8, 2.5), "junk": (1.0, 1.5)}


def random_plant(kind: str, rng: np.random.Generator, *, manager_ids: Sequence[str], start: date, end: date,
                 playbook: Playbook) -> Plant:
    """A plant of `kind` (one of `KINDS`) with a random subject, a moderate magnitude
    (`RANDOM_MAGNITUDE`, two decimals, whole days) and a start day in [start, end].

    Managers are drawn from `manager_ids` without the last two when there are six or more: the
    simulation hires those mid-timeline, and a ramping-up newcomer would blur the planted change."""
    if kind not in KINDS:
        raise InputError(t("demo.plant.bad", "en", text=kind, reason=_reason("kind", kind=kind, forms=", ".join(KINDS))))
    if end < start:
        raise InputError(t("demo.plant.bad", "en", text=kind, reason=_reason("window", start=start, end=end)))
    ids = list(manager_ids)
    if not ids:
        raise InputError(t("demo.plant.bad", "en", text=kind, reason=_reason("no_managers")))
    pool = ids[:-2] if len(ids) >= 6 else ids
    low, high = RANDOM_MAGNITUDE[kind]
    size = round(float(rng.uniform(low, high)), 0 if kind == "late_lost" else 2)
    since = start + timedelta(days=int(rng.integers(0, (end - start).days + 1)))
    steps = [s.name for s in playbook.steps]

    def pick(options: Sequence[str]) -> str:
        return str(options[int(rng.integers(len(options)))])

    if kind == "late_step":
        return LateStep(manager=pick(pool), since=since, step=pick(steps), factor=size)
    if kind == "slow_steps":
        return SlowSteps(manager=pick(pool), since=since, factor=size)
    if kind == "skip_step":
        return SkipStep(manager=pick(pool), since=since, step=pick(steps), share=size)
    if kind == "late_lost":
        return LateLoss(manager=pick(pool), since=since, days=size)
    if kind == "overcommit":
        return OverCommit(manager=pick(pool), since=since, share=size)
    if kind == "slow_stage":
        return SlowStage(stage=pick(playbook.stages), segment=pick(SEGMENTS), since=since, factor=size)
    if kind == "drop_conversion":
        return ConversionDrop(stage=pick(playbook.stages), segment=pick(SEGMENTS), since=since, logit=-size)
    if kind == "surge":
        return ChannelSurge(channel=pick(CHANNELS), since=since, factor=size)
    return ChannelQuality(channel=pick(CHANNELS), since=since, drop=size)

