"""The header: the moment, the window, the store's size, the playbook and who the managers are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dealpulse.metrics.asof import Snapshot, store_tz, window_bounds
from dealpulse.report.sections.values import missing, pydatetime


@dataclass
class Header:
    as_of: datetime
    tz: ZoneInfo
    window: timedelta
    prev_start: datetime
    start: datetime
    deals: int
    open_deals: int
    won: int
    lost: int
    managers: int
    first_at: datetime | None
    playbook_source: str
    stages: tuple[str, ...]
    steps: int
    currency: str | None = None  # the one currency of every amount, else None
    people: dict[str, str] = field(default_factory=dict)  # manager id -> the name to show
    teams: dict[str, str] = field(default_factory=dict)  # manager id -> team

    def who(self, manager_id: Any) -> str:
        if manager_id is None:
            return "—"
        return self.people.get(str(manager_id), str(manager_id))


def people_of(store: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Manager names (unique: a shared name gets its id) and teams from the managers table."""
    rows = store.query("SELECT manager_id, name, team FROM managers")
    names = {str(i): str(n).strip() for i, n, _ in rows if n is not None and str(n).strip()}
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    people = {i: (n if counts[n] == 1 else f"{n} ({i})") for i, n in names.items()}
    teams = {str(i): str(t) for i, _, t in rows if t is not None and str(t).strip()}
    return people, teams


def build_header(snap: Snapshot, deals: Any, window: timedelta) -> Header:
    prev_start, start, _ = window_bounds(snap.as_of, window)
    pb = snap.playbook
    first = deals["created_at"].min() if len(deals) else None
    currencies = sorted(str(c) for c in deals["currency"].dropna().unique()) if len(deals) else []
    people, teams = people_of(snap.store)
    return Header(
        as_of=snap.as_of, tz=store_tz(snap.store), window=window, prev_start=prev_start, start=start,
        deals=len(deals), open_deals=int((deals["status"] == "open").sum()),
        won=int((deals["status"] == "won").sum()), lost=int((deals["status"] == "lost").sum()),
        managers=int(deals["owner"].dropna().nunique()),
        first_at=None if missing(first) else pydatetime(first),
        playbook_source=pb.source, stages=tuple(pb.stages), steps=len(pb.steps),
        currency=currencies[0] if len(currencies) == 1 else None,
        people=people, teams=teams,
    )
