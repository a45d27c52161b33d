"""Is an open deal alive, stale or dead? One rule, used by `score`, `changes` and the report.

- stale: no client touch for longer than the playbook's `stale_after` for its segment;
- dead: no client touch for more than `DEAD_TOUCH_FACTOR` × `stale_after` AND longer in its current stage
  than won deals of its segment took there (the median dwell of won deals, the model's reference norm).
  Where no norm is known for the stage, the touch rule alone decides;
- alive: otherwise.

A touch is a stage entry or a completed task (what `risk.features` calls `days_since_touch`).
"""

from __future__ import annotations

import math
from typing import Any

from dealpulse.playbook.model import Playbook

DEAD_TOUCH_FACTOR = 2.0
STATES = ("alive", "stale", "dead")


def as_number(v: Any) -> float | None:
    """A float, or None for None, NaN and what is not a number."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def deal_state(days_since_touch: Any, days_in_stage: Any, stale_after_days: float,
               won_dwell_days: float | None) -> str:
    """alive | stale | dead (see the module docstring)."""
    touch = as_number(days_since_touch)
    if touch is None or touch <= stale_after_days:
        return "alive"
    dwell, norm = as_number(days_in_stage), as_number(won_dwell_days)
    past_norm = norm is None or (dwell is not None and dwell > norm)
    if touch > DEAD_TOUCH_FACTOR * stale_after_days and past_norm:
        return "dead"
    return "stale"


def state_of(row: dict, ref: Any, playbook: Playbook) -> str:
    """The state of a deal from its features row (`risk.features`) and the model's reference norms."""
    seg = row.get("segment") or ""
    stage = row.get("stage")
    norm = ref.dwell_won.get((seg, stage), ref.dwell_won_stage.get(stage)) if ref is not None else None
    stale = playbook.stale_for(row.get("segment")).total_seconds() / 86400
    return deal_state(row.get("days_since_touch"), row.get("days_in_stage"), stale, norm)


__all__ = ["as_number", "deal_state", "state_of", "DEAD_TOUCH_FACTOR", "STATES"]
