"""Early warning: the open alerts of `dealpulse.alerts` as of the report's moment (the lifecycle:
`alerts.lifecycle`), most severe first, with the evidence numbers and the message in every language the
report is gathered for. The replay behind the state runs once; only the texts are made per language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

from dealpulse.metrics.asof import Snapshot
from dealpulse.report.sections.values import num, optional, to_int


@dataclass
class AlertItem:
    kind: str
    subject: dict[str, str]
    since: date | None
    severity: str  # high | medium | low
    unit: str | None  # share | days | per_week (what recent_value and baseline_value are)
    recent_value: float | None
    baseline_value: float | None
    recent_followup_days: float | None  # durations: a median not reached yet is "more than" this
    recent_n: int | None
    baseline_n: int | None
    q_value: float | None
    message: dict[str, str] = field(default_factory=dict)  # lang -> text
    opened: date | None = None  # the first replay date it was caught
    status: str = "open"

    @property
    def key(self) -> tuple:
        return (self.kind, tuple(sorted(self.subject.items())))


def _since(v: Any) -> date | None:
    if v is None or isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def _item(a: dict[str, Any]) -> AlertItem:
    ev = a.get("evidence") or {}
    return AlertItem(
        kind=str(a["kind"]), subject={str(k): str(v) for k, v in (a.get("subject") or {}).items()},
        since=_since(a.get("since")), severity=str(a.get("severity") or "low"), unit=optional(ev.get("unit")),
        recent_value=num(ev.get("recent_value")), baseline_value=num(ev.get("baseline_value")),
        recent_followup_days=num(ev.get("recent_followup_days")),
        recent_n=to_int(ev.get("recent_n")), baseline_n=to_int(ev.get("baseline_n")), q_value=num(ev.get("q_value")),
        opened=_since(a.get("opened")), status=str(a.get("status") or "open"),
    )


def alert_items(snap: Snapshot, langs: Sequence[str]) -> list[AlertItem]:
    """The open alerts as of `snap.as_of` (most severe first)."""
    from dealpulse.alerts.lifecycle import rows, tracker_for

    tracker = tracker_for(snap)
    items: list[AlertItem] = []
    for i, lang in enumerate(langs):
        found = rows(tracker, lang=lang)
        if i == 0:
            items = [_item(a) for a in found]
        by_key = {_item(a).key: a["message"] for a in found}
        for it in items:
            it.message[lang] = by_key.get(it.key, "")
    return items
