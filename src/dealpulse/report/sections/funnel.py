"""The funnel: metrics.funnel's survival-based conversions per stage, in stage order."""

from __future__ import annotations

from dataclasses import dataclass

from dealpulse.metrics.asof import Snapshot
from dealpulse.report.sections.values import num, rows_of, to_int


@dataclass
class FunnelRow:
    stage: str
    entered: int
    advanced: int | None
    lost: int | None
    in_stage: int | None
    conv_next: float | None
    conv_won: float | None
    dwell_median_days: float | None
    dwell_p80_days: float | None
    few_deals: bool = False  # fewer deals than metrics.funnel trusts
    undecided_next: float | None = None  # share still without an outcome after the longest time observed
    undecided_won: float | None = None
    bound_share: float = 0.10  # above this undecided share a conversion is a lower bound

    @property
    def next_is_bound(self) -> bool:
        return (self.undecided_next or 0) > self.bound_share

    @property
    def won_is_bound(self) -> bool:
        return (self.undecided_won or 0) > self.bound_share


def funnel_rows(snap: Snapshot) -> tuple[list[FunnelRow], int]:
    """metrics.funnel's rows (survival-based conversions), in its stage order."""
    from dealpulse.metrics.funnel import UNDECIDED_MARK, compute_funnel

    bound = float(UNDECIDED_MARK)
    result = compute_funnel(snap)
    rows = [FunnelRow(
        stage=str(r["stage"]), entered=to_int(r.get("entered")) or 0,
        advanced=to_int(r.get("advanced")), lost=to_int(r.get("lost")), in_stage=to_int(r.get("in_stage")),
        conv_next=num(r.get("conv_next")), conv_won=num(r.get("conv_won")),
        dwell_median_days=num(r.get("dwell_median_days")), dwell_p80_days=num(r.get("dwell_p80_days")),
        few_deals=bool(r.get("few_deals")), undecided_next=num(r.get("undecided_next")),
        undecided_won=num(r.get("undecided_won")), bound_share=bound,
    ) for r in rows_of(result) if r.get("stage") not in ("won", "lost")]
    order = {s: i for i, s in enumerate(getattr(result, "stages", snap.playbook.stages))}
    rows.sort(key=lambda r: order.get(r.stage, len(order)))
    return rows, int(getattr(result, "min_deals", 0) or 0)
