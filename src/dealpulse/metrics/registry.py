"""The metric registry: every figure `compute_metrics` returns, as data.

Each metric has a stable snake_case name (it appears in the CLI, JSON, CSV and URLs), a kind
(`leading`: moves before revenue does; `lagging`: the outcome), a unit, a family (which part of the
computation produces it and which group keys apply) and a description in every language of the
i18n catalogues (`metrics.<name>.description`, `metrics.<name>.header`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dealpulse.i18n import LANGS, t

LEADING, LAGGING = "leading", "lagging"
COUNT, SHARE, DAYS, MONEY = "count", "share", "days", "money"

# Families. `steps` is grouped by step instance (its stage is the step's stage and `step` applies);
# the others are deal-level (stage = the deal's current stage; `step` does not apply).
STEPS, TASKS, CARD, PIPELINE, OUTCOMES = "steps", "tasks", "card", "pipeline", "outcomes"
FAMILIES = (STEPS, TASKS, CARD, PIPELINE, OUTCOMES)
DEAL_LEVEL_FAMILIES = (TASKS, CARD, PIPELINE, OUTCOMES)

# Group keys accepted by `by`; `manager` is the deal's owner as of then.
GROUP_KEYS = ("manager", "team", "segment", "channel", "stage", "step", "cohort")
PREV = "prev_"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    unit: str
    family: str

    def description(self, lang: str = "en") -> str:
        return t(f"metrics.{self.name}.description", lang)

    def header(self, lang: str = "en") -> str:
        return t(f"metrics.{self.name}.header", lang)

    @property
    def descriptions(self) -> dict[str, str]:
        return {lang: self.description(lang) for lang in LANGS}

    @property
    def is_rate(self) -> bool:
        return self.unit == SHARE


METRICS: tuple[Metric, ...] = (
    Metric("steps_on_time", LEADING, COUNT, STEPS),
    Metric("steps_late", LEADING, COUNT, STEPS),
    Metric("steps_missed", LEADING, COUNT, STEPS),
    Metric("on_time_rate", LEADING, SHARE, STEPS),
    Metric("overdue_tasks", LEADING, COUNT, TASKS),
    Metric("median_task_lateness_days", LEADING, DAYS, TASKS),
    Metric("card_complete_rate", LEADING, SHARE, CARD),
    Metric("open_deals", LEADING, COUNT, PIPELINE),
    Metric("stale_deals", LEADING, COUNT, PIPELINE),
    Metric("median_days_since_touch", LEADING, DAYS, PIPELINE),
    Metric("won", LAGGING, COUNT, OUTCOMES),
    Metric("lost", LAGGING, COUNT, OUTCOMES),
    Metric("win_rate", LAGGING, SHARE, OUTCOMES),
    Metric("revenue_won", LAGGING, MONEY, OUTCOMES),
    Metric("median_cycle_days", LAGGING, DAYS, OUTCOMES),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
# The columns of `compute_metrics`: each metric followed by its previous-window twin.
FIELDS: tuple[str, ...] = tuple(c for m in METRICS for c in (m.name, PREV + m.name))


def metric(name: str) -> Metric:
    for m in METRICS:
        if m.name == name:
            return m
    raise KeyError(name)


def registry_rows(lang: str = "en", *, translate: bool = False) -> list[dict[str, str]]:
    """The registry as rows for `dealpulse metrics --list`: kind, unit and family as stable codes,
    or (translate=True, for a table) as words in `lang`; the description always in `lang`."""
    def word(group: str, code: str) -> str:
        return t(f"metrics.{group}.{code}", lang) if translate else code

    return [
        {"name": m.name, "kind": word("kind", m.kind), "unit": word("unit", m.unit),
         "family": word("family", m.family), "description": m.description(lang)}
        for m in METRICS
    ]
