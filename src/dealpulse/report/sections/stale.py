"""Stale deals: open deals nobody has touched for longer than the playbook allows, the costliest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dealpulse.metrics.asof import Snapshot
from dealpulse.report.sections.values import in_days, missing, num, optional, pydatetime

STALE_TOP = 50


@dataclass
class StaleDeal:
    deal_id: str
    title: str | None
    owner: str | None
    segment: str | None
    stage: str | None
    amount: float | None
    currency: str | None
    days_since_touch: float
    stale_after_days: float
    last_touch_at: datetime | None = None


def stale_deals(snap: Snapshot, deals: Any) -> tuple[list[StaleDeal], int, float]:
    """The top STALE_TOP stale deals, how many there are and their whole amount."""
    pb = snap.playbook
    open_ = deals[deals["status"] == "open"]
    out = []
    for r in open_.to_dict(orient="records"):
        touch = r.get("last_touch_at")
        if missing(touch):
            continue
        since = in_days(snap.as_of - touch)
        seg = optional(r.get("segment"))
        limit = in_days(pb.stale_for(seg))
        if since > limit:
            out.append(StaleDeal(
                deal_id=str(r["deal_id"]), title=optional(r.get("title")),
                owner=optional(r.get("owner")), segment=seg,
                stage=optional(r.get("stage")), amount=num(r.get("amount")),
                currency=optional(r.get("currency")),
                days_since_touch=since, stale_after_days=limit,
                last_touch_at=pydatetime(touch),
            ))
    out.sort(key=lambda d: (-(d.amount or 0) * d.days_since_touch, -d.days_since_touch, d.deal_id))
    return out[:STALE_TOP], len(out), sum(d.amount or 0 for d in out)
