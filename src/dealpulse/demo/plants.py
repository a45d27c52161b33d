"""Problems planted in the synthetic department, for the report and the alerts to find.

Two kinds, written as text (the CLI's `--plant`) or as dataclasses:

- `late_proposals:m07:2024-09-01` (`LateStep`): from that day on, the manager completes the step
  late most of the time; `late_<step>` names any playbook step (`late_proposals` means
  `proposal_sent`). Later steps do not change, but the deals cool down: the manager's win rate
  falls some weeks afterwards.
- `slow_contract:enterprise:2024-10-01` (`SlowStage`): from that day on, deals of the segment that
  enter the stage stay in it `factor` times longer (3 by default); `slow_<stage>` names any stage.
  An optional fourth part sets the factor: `slow_contract:enterprise:2024-10-01:3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence, Union

from dealpulse.demo.clock import add_months
from dealpulse.demo.params import SEGMENTS
from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.playbook.model import Playbook

STEP_ALIASES = {"proposals": "proposal_sent", "proposal": "proposal_sent", "contracts": "contract_sent"}
AUTO = "auto"  # the default plants (`default_plants`)


@dataclass(frozen=True)
class LateStep:
    """From `since`, `manager` completes `step` late most of the time."""

    manager: str
    since: date
    step: str = "proposal_sent"

    @property
    def code(self) -> str:
        kind = "proposals" if self.step == "proposal_sent" else self.step
        return f"late_{kind}:{self.manager}:{self.since.isoformat()}"

    def __str__(self) -> str:
        return self.code

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.late_step", lang, since=self.since.isoformat(), manager=self.manager, step=self.step)


@dataclass(frozen=True)
class SlowStage:
    """From `since`, deals of `segment` that enter `stage` stay in it `factor` times longer."""

    stage: str
    segment: str
    since: date
    factor: float = 3.0

    @property
    def code(self) -> str:
        text = f"slow_{self.stage}:{self.segment}:{self.since.isoformat()}"
        return text if self.factor == 3.0 else f"{text}:{self.factor:g}"

    def __str__(self) -> str:
        return self.code

    def describe(self, lang: str = "en") -> str:
        return t("demo.plant.slow_stage", lang, since=self.since.isoformat(), stage=self.stage,
                 segment=self.segment, factor=f"{self.factor:g}")


Plant = Union[LateStep, SlowStage]


def _bad(text: str, reason: str) -> InputError:
    return InputError(t("demo.plant.bad", "en", text=text, reason=reason), suggestion=t("demo.plant.bad.suggestion", "en"))


def parse_plant(text: str, playbook: Playbook) -> Plant:
    """`late_proposals:m07:2024-09-01` or `slow_contract:enterprise:2024-10-01[:factor]`."""
    parts = [p.strip() for p in str(text).split(":")]
    kind = parts[0]
    if kind.startswith("late_"):
        if len(parts) != 3:
            raise _bad(text, "expected late_<step>:<manager>:<date>")
        step = STEP_ALIASES.get(kind[5:], kind[5:])
        if step not in {s.name for s in playbook.steps}:
            raise _bad(text, f"{step!r} is not a step of the playbook ({', '.join(s.name for s in playbook.steps)})")
        return LateStep(manager=parts[1], since=_date(text, parts[2]), step=step)
    if kind.startswith("slow_"):
        if len(parts) not in (3, 4):
            raise _bad(text, "expected slow_<stage>:<segment>:<date>[:<factor>]")
        stage = kind[5:]
        if stage not in playbook.stages:
            raise _bad(text, f"{stage!r} is not a stage of the playbook ({', '.join(playbook.stages)})")
        if parts[1] not in SEGMENTS:
            raise _bad(text, f"the segment must be one of {', '.join(SEGMENTS)}, got {parts[1]!r}")
        factor = 3.0
        if len(parts) == 4:
            try:
                factor = float(parts[3])
            except ValueError:
                raise _bad(text, f"the factor must be a number such as 2.5, got {parts[3]!r}") from None
            if not 0.1 <= factor <= 20:
                raise _bad(text, f"the factor must be between 0.1 and 20, got {factor:g}")
        return SlowStage(stage=stage, segment=parts[1], since=_date(text, parts[2]), factor=factor)
    raise _bad(text, f"unknown kind {kind!r}; expected late_<step> or slow_<stage>")


def _date(text: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad(text, f"expected a date such as 2024-09-01, got {raw!r}") from None


def resolve_plants(plants: Iterable[str | Plant], playbook: Playbook, manager_ids: Iterable[str]) -> tuple[Plant, ...]:
    """Parse and check every planted problem; report all bad ones together."""
    managers = set(manager_ids)
    out: list[Plant] = []
    problems: list[str] = []
    for p in plants:
        try:
            plant = parse_plant(p, playbook) if isinstance(p, str) else p
        except InputError as exc:
            problems.append(exc.message)
            continue
        if isinstance(plant, LateStep) and plant.manager not in managers:
            problems.append(t("demo.plant.bad", "en", text=plant.code,
                              reason=f"there is no manager {plant.manager!r} (managers are {min(managers)}..{max(managers)})"))
            continue
        if isinstance(plant, SlowStage) and plant.stage not in playbook.stages:
            problems.append(t("demo.plant.bad", "en", text=plant.code, reason=f"{plant.stage!r} is not a stage of the playbook"))
            continue
        out.append(plant)
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0], suggestion=t("demo.plant.bad.suggestion", "en"))
        raise InputError(f"{len(problems)} planted problems cannot be used:", problems=problems,
                         suggestion=t("demo.plant.bad.suggestion", "en"))
    return tuple(out)


def choose_plants(plant: str | Plant | Sequence[str | Plant] | None, playbook: Playbook, start: date, months: int,
                  manager_ids: Sequence[str]) -> tuple[Plant, ...]:
    """The plants a `plant=` argument asks for: AUTO (`default_plants`), None or () for none, one text
    or several separated by commas, or a list of texts and `LateStep` / `SlowStage` objects."""
    if plant == AUTO:
        return default_plants(start, months, manager_ids)
    if isinstance(plant, (LateStep, SlowStage)):
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
