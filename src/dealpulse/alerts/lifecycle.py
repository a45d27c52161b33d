"""Alert lifecycle: open while the subject stays off its frozen baseline, resolved when it comes back.

(Interface first; the replay behind it is being written.)

    tracked_alerts(snap, lang=, settings=, resolved_within=timedelta(weeks=12)) -> list of alert rows
        each row = the `compute_alerts` row + "status" ("open" | "resolved"), "opened" (date),
        "resolved" (date | None); open ones first.
    alerts_between(snap, start, lang=, settings=) -> {"opened": [rows opened in (start, as_of]],
                                                     "resolved": [rows resolved in (start, as_of]]}
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dealpulse.alerts.detect import Settings
from dealpulse.alerts.explain import compute_alerts
from dealpulse.metrics.asof import Snapshot


def tracked_alerts(snap: Snapshot, *, lang: str = "en", settings: Settings | None = None,
                   resolved_within: timedelta = timedelta(weeks=12)) -> list[dict[str, Any]]:
    rows = compute_alerts(snap, lang=lang, settings=settings)
    for r in rows:
        r.update(status="open", opened=r.get("since"), resolved=None)
    return rows


def alerts_between(snap: Snapshot, start: datetime, *, lang: str = "en",
                   settings: Settings | None = None) -> dict[str, list[dict[str, Any]]]:
    rows = tracked_alerts(snap, lang=lang, settings=settings)
    return {"opened": [r for r in rows if r["status"] == "open"], "resolved": []}


__all__ = ["tracked_alerts", "alerts_between"]
