"""Drift alarms: a manager's step compliance or lateness, a stage's conversion or dwell in a segment,
a channel's inflow or quality changed — recent window against the subject's own baseline, with the
change date, the effect size and false-discovery control across everything tested (docs/alerts.md).

    compute_alerts(snap, lang="en") -> list of alerts (plain dicts, JSON-able):
      {"kind", "subject", "since", "severity", "evidence", "message"}
"""

from __future__ import annotations

from dealpulse.alerts.detect import KINDS, Settings
from dealpulse.alerts.explain import alerts_from_facts, compute_alerts

__all__ = ["compute_alerts", "alerts_from_facts", "Settings", "KINDS"]
