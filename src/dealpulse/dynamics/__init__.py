"""Changes for the better and for the worse per segment and channel: inflow (count, amount, share of
all new deals), lead quality (early conversion, win rate by cohort), deal size and cycle — recent
window against the subject's own baseline, two-sided tests, Benjamini–Hochberg over everything
tested, minimum effects, change dates (docs/dynamics.md).

    compute_dynamics(snap, by=(("segment",), ("channel",)), window=timedelta(weeks=12), lang="en")
    dynamics_from_facts(facts, by=..., window=..., settings=None, lang="en", tz=None)
      -> [{subject, metric, before, after, change, unit, direction, good, since, q, significant,
           message, evidence}]
"""

from __future__ import annotations

from dealpulse.dynamics.compute import (DEFAULT_BY, METRICS, ROW_KEYS, WINDOW, Settings, compute_dynamics,
                                        dynamics_from_facts, extract_facts, normalize_by)

__all__ = ["compute_dynamics", "dynamics_from_facts", "extract_facts", "normalize_by", "Settings", "METRICS",
           "DEFAULT_BY", "WINDOW", "ROW_KEYS"]
