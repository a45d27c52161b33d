"""The open pipeline by stage and what it is expected to bring: Σ amount, Σ amount × p_win (the model) and
Σ amount × the stage-and-segment win rate (the baseline), from scored open deals (`risk.score` rows). The
report's deals-at-risk section shows it; any surface with scored deals can ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence


@dataclass
class StageOutlook:
    stage: str
    deals: int
    amount: float
    expected: float  # Σ amount × p_win
    baseline_expected: float  # Σ amount × the stage-and-segment win rate


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if f != f else f


def expected_amount(deals: Iterable[Any]) -> float:
    """Σ amount × p_win over scored deals (dicts with amount and p_win, or objects with those attributes);
    a deal without a supported chance counts as 0."""
    return sum(_num(_get(d, "amount")) * _num(_get(d, "p_win")) for d in deals)


def _get(d: Any, key: str) -> Any:
    return d.get(key) if isinstance(d, dict) else getattr(d, key, None)


def pipeline_by_stage(deals: Iterable[Any], stages: Sequence[str] = ()) -> list[StageOutlook]:
    """The open pipeline per stage, in the playbook's stage order (stages it does not know after, by name)."""
    outlook: dict[str, StageOutlook] = {}
    for d in deals:
        stage = _get(d, "stage") or "—"
        s = outlook.setdefault(stage, StageOutlook(stage, 0, 0.0, 0.0, 0.0))
        amount = _num(_get(d, "amount"))
        s.deals += 1
        s.amount += amount
        s.expected += amount * _num(_get(d, "p_win"))
        s.baseline_expected += amount * _num(_get(d, "baseline_p_win"))
    order = {st: i for i, st in enumerate(stages)}
    return sorted(outlook.values(), key=lambda s: (order.get(s.stage, len(order)), s.stage))


__all__ = ["StageOutlook", "pipeline_by_stage", "expected_amount"]
