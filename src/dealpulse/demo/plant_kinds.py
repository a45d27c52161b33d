"""The kinds of problems that can be planted in the synthetic department, one frozen dataclass each.

Every plant starts on `since` and has one magnitude with a default; `code` is its text form (what
`plants.parse_plant` reads back; the magnitude is written only when it is not the default),
`describe(lang)` a sentence for people. What each kind does to the simulated world lives in
`plant_effects.py`; reading texts, checking and drawing random plants in `plants.py`.

| kind            | text                                         | magnitude (default)                     |
|-----------------|----------------------------------------------|-----------------------------------------|
| late_step       | late_<step>:<manager>:<date>[:factor]        | how much later late steps are (4)       |
| slow_steps      | slow_steps:<manager>:<date>[:factor]         | time to every step, multiplied (1.5)    |
| skip_step       | skip_<step>:<manager>:<date>[:share]         | share of the step never done (0.7)      |
| late_lost       | late_lost:<manager>:<date>[:days]            | mean days from death to lost mark (45)  |
| overcommit      | overcommit:<manager>:<date>[:share]          | share of deals called early (0.85)      |
| slow_stage      | slow_<stage>:<segment>:<date>[:factor]       | time in the stage, multiplied (3)       |
| drop_conversion | drop_<stage>:<segment>:<date>[:logit]        | logit of moving on, added (-0.9)        |
| surge           | surge:<channel>:<date>[:factor]              | the channel's inflow, multiplied (2)    |
| junk            | junk:<channel>:<date>[:drop]                 | hidden quality, lowered by (1.2)        |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Union

from dealpulse.i18n import t

STEP_ALIASES = {"proposals": "proposal_sent", "proposal": "proposal_sent", "contracts": "contract_sent"}
LATE_FACTOR = 4.0  # LateStep's default: the behaviour before the factor existed


class _Plant:
    """Shared behaviour: `str(p)` is the code; `magnitude` the value of the magnitude field."""

    kind = ""
    magnitude_field = ""

    @property
    def magnitude(self) -> float:
        return float(getattr(self, self.magnitude_field))

    def __str__(self) -> str:
        return self.code  # type: ignore[attr-defined]

    def _with_magnitude(self, text: str, default: float) -> str:
        return text if self.magnitude == default else f"{text}:{self.magnitude:g}"


@dataclass(frozen=True)
class LateStep(_Plant):
    """From `since`, `manager` completes `step` late most of the time, and late ones `factor`/4 times
    as late as the default plant makes them (the on-time share falls with the factor)."""

    manager: str
    since: date
    step: str = "proposal_sent"
    factor: float = LATE_FACTOR
    kind = "late_step"
    magnitude_field = "factor"

    @property
    def code(self) -> str:
        name = "proposals" if self.step == "proposal_sent" else self.step
        return self._with_magnitude(f"late_{name}:{self.manager}:{self.since.isoformat()}", LATE_FACTOR)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.late_step", lang, since=self.since.isoformat(), manager=self.manager, step=self.step,
                 factor=f"{self.factor:g}")


@dataclass(frozen=True)
class SlowSteps(_Plant):
    """From `since`, `manager` takes `factor` times as long to complete every step (from its anchor)."""

    manager: str
    since: date
    factor: float = 1.5
    kind = "slow_steps"
    magnitude_field = "factor"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"slow_steps:{self.manager}:{self.since.isoformat()}", 1.5)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.slow_steps", lang, since=self.since.isoformat(), manager=self.manager,
                 factor=f"{self.factor:g}")


@dataclass(frozen=True)
class SkipStep(_Plant):
    """From `since`, `manager` never does `step` in a `share` of the deals where it is due."""

    manager: str
    since: date
    step: str = "follow_up_call"
    share: float = 0.7
    kind = "skip_step"
    magnitude_field = "share"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"skip_{self.step}:{self.manager}:{self.since.isoformat()}", 0.7)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.skip_step", lang, since=self.since.isoformat(), manager=self.manager, step=self.step,
                 percent=f"{100 * self.share:.0f}")


@dataclass(frozen=True)
class LateLoss(_Plant):
    """From `since`, deals of `manager` that die are marked lost only about `days` days later."""

    manager: str
    since: date
    days: float = 45.0
    kind = "late_lost"
    magnitude_field = "days"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"late_lost:{self.manager}:{self.since.isoformat()}", 45.0)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.late_lost", lang, since=self.since.isoformat(), manager=self.manager,
                 days=f"{self.days:.0f}")


@dataclass(frozen=True)
class OverCommit(_Plant):
    """From `since`, `manager` calls a `share` of their deals commit one or two stages early."""

    manager: str
    since: date
    share: float = 0.85
    kind = "overcommit"
    magnitude_field = "share"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"overcommit:{self.manager}:{self.since.isoformat()}", 0.85)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.overcommit", lang, since=self.since.isoformat(), manager=self.manager,
                 percent=f"{100 * self.share:.0f}")


@dataclass(frozen=True)
class SlowStage(_Plant):
    """From `since`, deals of `segment` that enter `stage` stay in it `factor` times longer."""

    stage: str
    segment: str
    since: date
    factor: float = 3.0
    kind = "slow_stage"
    magnitude_field = "factor"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"slow_{self.stage}:{self.segment}:{self.since.isoformat()}", 3.0)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.slow_stage", lang, since=self.since.isoformat(), stage=self.stage,
                 segment=self.segment, factor=f"{self.factor:g}")


@dataclass(frozen=True)
class ConversionDrop(_Plant):
    """From `since`, deals of `segment` in `stage` move on less often: `logit` (negative) is added to
    the logit of moving on, so more of them are lost there."""

    stage: str
    segment: str
    since: date
    logit: float = -0.9
    kind = "drop_conversion"
    magnitude_field = "logit"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"drop_{self.stage}:{self.segment}:{self.since.isoformat()}", -0.9)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.drop_conversion", lang, since=self.since.isoformat(), stage=self.stage,
                 segment=self.segment, odds=f"{math.exp(self.logit):.2f}")


@dataclass(frozen=True)
class ChannelSurge(_Plant):
    """From `since`, `channel` brings `factor` times as many deals, the extra ones larger."""

    channel: str
    since: date
    factor: float = 2.0
    kind = "surge"
    magnitude_field = "factor"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"surge:{self.channel}:{self.since.isoformat()}", 2.0)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.surge", lang, since=self.since.isoformat(), channel=self.channel,
                 factor=f"{self.factor:g}")


@dataclass(frozen=True)
class ChannelQuality(_Plant):
    """From `since`, deals from `channel` have a hidden quality lower by `drop`."""

    channel: str
    since: date
    drop: float = 1.2
    kind = "junk"
    magnitude_field = "drop"

    @property
    def code(self) -> str:
        return self._with_magnitude(f"junk:{self.channel}:{self.since.isoformat()}", 1.2)

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.junk", lang, since=self.since.isoformat(), channel=self.channel)


Plant = Union[LateStep, SlowSteps, SkipStep, LateLoss, OverCommit, SlowStage, ConversionDrop, ChannelSurge,
              ChannelQuality]
PLANT_TYPES = (LateStep, SlowSteps, SkipStep, LateLoss, OverCommit, SlowStage, ConversionDrop, ChannelSurge,
               ChannelQuality)
KINDS = tuple(cls.kind for cls in PLANT_TYPES)
MANAGER_PLANTS = (LateStep, SlowSteps, SkipStep, LateLoss, OverCommit)  # those with a `manager`
