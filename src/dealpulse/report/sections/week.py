"""What changed this week (the report's first section): the pipeline waterfall from a week ago to now (it
reconciles exactly), the live deals whose chance of winning moved most and why, the deals that slipped
from alive to stale or dead, and the alerts opened and resolved in the week (`dealpulse.changes`).

Reading the store (`week_facts`: the two moments' deals, the history as of the week's start, the alerts)
happens in the caller's thread; scoring the deals at both moments (`week_section`) needs only the win model
the report trains once, so it runs in the model's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Sequence

from dealpulse.metrics.asof import Snapshot
from dealpulse.report.sections.values import num, optional

WEEK = timedelta(days=7)
MOVERS_TOP = 8


@dataclass
class WeekBucket:
    bucket: str  # changes.waterfall.BUCKETS
    deals: int
    count: int  # change of the number of open deals (the totals for open_start / open_end)
    amount: float


@dataclass
class WeekMover:
    deal_id: str
    title: str | None
    owner: str | None
    stage: str | None
    amount: float | None
    p_before: float
    p_after: float
    state_before: str
    state_after: str
    added: dict[str, list[str]] = field(default_factory=dict)  # lang -> reasons present now, not then
    removed: dict[str, list[str]] = field(default_factory=dict)  # lang -> reasons present then, not now

    @property
    def delta(self) -> float:
        return self.p_after - self.p_before


@dataclass
class WeekAlert:
    kind: str
    subject: dict[str, str]
    severity: str
    since: date | None
    status: str
    message: dict[str, str] = field(default_factory=dict)  # lang -> text


@dataclass
class WeekFacts:
    """What `week_section` needs from the store."""

    start: datetime
    end: datetime
    waterfall: dict[str, Any]
    history_start: Any  # risk.history.History as of start
    alerts: dict[str, dict[str, list[dict]]] | None = None  # lang -> {"opened": [...], "resolved": [...]}


@dataclass
class WeekSection:
    start: datetime
    end: datetime
    buckets: list[WeekBucket]
    reconciles: bool
    currency: str | None
    up: list[WeekMover] | None  # None: no win model (its section says why)
    down: list[WeekMover] | None
    slipped: list[WeekMover] | None
    slipped_total: int
    live: int
    opened: list[WeekAlert] | None  # None: the alerts could not be computed
    resolved: list[WeekAlert] | None

    def bucket(self, name: str) -> WeekBucket:
        return next(b for b in self.buckets if b.bucket == name)


def week_facts(snap: Snapshot, since: timedelta = WEEK) -> WeekFacts:
    """Read the waterfall and the history as of the week's start (store access: the caller's thread)."""
    from dealpulse.changes.waterfall import compute_waterfall
    from dealpulse.risk.history import load_history

    start = snap.as_of - since
    wf = compute_waterfall(snap, start)
    hist = load_history(snap.at(start))
    return WeekFacts(start=start, end=snap.as_of, waterfall=wf, history_start=hist)


def week_alerts(snap: Snapshot, start: datetime, langs: Sequence[str]) -> dict[str, dict[str, list[dict]]]:
    """The alerts opened and resolved in (start, as_of], in each language (store access)."""
    from dealpulse.changes import alerts_between as between

    return {lang: between(snap, start, lang) for lang in langs}


def _since(v: Any) -> date | None:
    if v is None or isinstance(v, date):
        return v.date() if isinstance(v, datetime) else v
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def _alerts(facts: WeekFacts, key: str, langs: Sequence[str]) -> list[WeekAlert] | None:
    if facts.alerts is None:
        return None
    first = facts.alerts[langs[0]][key]
    out = []
    for i, a in enumerate(first):
        subject = {str(k): str(v) for k, v in (a.get("subject") or {}).items()}
        messages = {}
        for lang in langs:
            rows = facts.alerts[lang][key]
            messages[lang] = str(rows[i].get("message") or "") if i < len(rows) else ""
        out.append(WeekAlert(kind=str(a.get("kind")), subject=subject, severity=str(a.get("severity") or "low"),
                             since=_since(a.get("since")), status=str(a.get("status") or key), message=messages))
    return out


def _mover(r: dict, titles: dict[str, str], langs: Sequence[str]) -> WeekMover:
    return WeekMover(
        deal_id=str(r["deal_id"]), title=titles.get(str(r["deal_id"])), owner=optional(r.get("owner")),
        stage=optional(r.get("stage")), amount=num(r.get("amount")), p_before=float(r["p_before"]),
        p_after=float(r["p_after"]), state_before=r["state_before"], state_after=r["state_after"],
        added={lang: [x["texts"].get(lang, "") for x in r["reasons_added"]] for lang in langs},
        removed={lang: [x["texts"].get(lang, "") for x in r["reasons_removed"]] for lang in langs},
    )


def week_section(facts: WeekFacts, trained: Any, langs: Sequence[str], titles: dict[str, str] | None = None,
                 top: int = MOVERS_TOP) -> WeekSection:
    """Score the live deals at both moments with the report's one model (no store access) and assemble.
    Without a model (`trained` None) the movers are None and the rest is still there."""
    titles = dict(titles or {})
    titles.update({f.deal_id: f.title for f in facts.waterfall["flows"] if f.title})
    wf = facts.waterfall
    if trained is not None:
        from dealpulse.changes.movers import movers_from

        mv = movers_from(trained, facts.history_start, langs=langs, limit=top)
    else:
        mv = {"up": None, "down": None, "slipped": None, "slipped_total": 0, "live": 0}

    def movers(key: str) -> list[WeekMover] | None:
        return None if mv[key] is None else [_mover(r, titles, langs) for r in mv[key]]

    return WeekSection(
        start=facts.start, end=facts.end,
        buckets=[WeekBucket(b["bucket"], int(b["deals"]), int(b["count"]), float(b["amount"])) for b in wf["buckets"]],
        reconciles=bool(wf["reconciles"]), currency=wf["currency"],
        up=movers("up"), down=movers("down"), slipped=movers("slipped"), slipped_total=int(mv["slipped_total"]),
        live=int(mv["live"]), opened=_alerts(facts, "opened", langs), resolved=_alerts(facts, "resolved", langs),
    )


__all__ = ["WeekSection", "WeekFacts", "WeekBucket", "WeekMover", "WeekAlert", "week_facts", "week_alerts", "week_section", "WEEK"]
