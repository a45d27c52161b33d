"""The alert lifecycle: an alert opens when a subject is caught drifting, stays `open` while the subject
stays off the baseline it had *before the change*, and is `resolved` (with the date) when it comes back.

Why: the detectors compare a recent window with the weeks before it. Half a year into an ongoing
problem those weeks are the problem itself, and a rolling comparison would go quiet — a head of sales
would read that as "fixed". Here the baseline is frozen when the alert opens.

The state is derived from the data as of the moment, never from a log of earlier runs: the alarms are
replayed on a grid ending at as_of — weekly over the last `WEEKLY`, every `COARSE` before that, back
`HISTORY` and not before the data can be tested — each date
from the facts known at as_of cut back to that date (`Facts.at`: every stage entry, completion and close
after the date is removed). The deal attributes (owner, segment, channel) are those known at as_of for
every date — the best knowledge of who owned what; nothing after as_of is read. At each date D:

1. every subject is tested as `dealpulse alerts` does (`detect.test_all`, one false-discovery control);
2. an alarm that fires with no open alert of its kind and subject **opens** one: `opened` = D,
   `since` = the change date estimated then, and the **frozen baseline** = the `Settings.baseline`
   weeks before `since`;
3. every open alert is **checked** against its frozen baseline (also when the scan still fires — a scan
   window can hold weeks of the problem after it ended): the subject's cases of
   the last `CHECK_WINDOW` (shares: cases due/closed then; durations: cases that started then) against
   the cases of the frozen baseline, by the kind's own test. It is **resolved** at D when the recent
   effect is below the kind's minimum *and* the recent cases are not even weakly worse (one-sided
   p > `RESOLVE_P`); with too few recent cases to tell, it stays open; with no case at all for
   `GONE_AFTER` (a manager who left, a channel closed) it is resolved as `no_data`;
4. a resolved alert is over; the same subject drifting again later opens a new one — on evidence from
   after the recovery (a scan window that starts before the resolution does not reopen it).

An alert that is firing keeps the severity of its worst date. `tracked_alerts(snap)` gives the open ones
and those resolved within `resolved_within`; `alerts_between(snap, start)` those opened or resolved in
(start, as_of]; `Tracker` runs the same machine over any dates (the benchmarks replay with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from dealpulse.alerts.cases import CaseCache
from dealpulse.alerts.changepoint import estimate
from dealpulse.alerts.detect import (SPECS, Candidate, Settings, Windows, compare, firing, inflow_comparison, medians,
                                     severity, test_all)
from dealpulse.alerts.facts import Facts, extract
from dealpulse.metrics.asof import Snapshot

WEEKLY = timedelta(weeks=26)  # the replay behind the state: weekly over the last half year,
COARSE = timedelta(weeks=4)  # every four weeks before that,
HISTORY = timedelta(weeks=156)  # back to three years (not before the data can be tested)
STEP = timedelta(weeks=1)
CHECK_WINDOW = timedelta(weeks=6)
RESOLVE_P = 0.10
GONE_AFTER = timedelta(weeks=12)
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass
class Tracked:
    """One alert's life: the candidate it opened on, the latest evidence, and its state."""

    kind: str
    subject: dict[str, str]
    opened: datetime
    since: datetime | None
    baseline_from: datetime
    baseline_to: datetime
    severity: str
    latest: Candidate  # the firing candidate, or the latest check against the frozen baseline
    last_fired: datetime
    checked: datetime | None = None
    status: str = "open"
    resolved: datetime | None = None
    resolved_reason: str | None = None  # "back_to_baseline" | "no_data"
    history: list[tuple[datetime, str]] = field(default_factory=list)  # (date, "fired" | "open" | "resolved")

    @property
    def key(self) -> tuple:
        return (self.kind, tuple(sorted(self.subject.items())))


def _key(c: Candidate) -> tuple:
    return (c.kind, tuple(sorted(c.subject.items())))


class Tracker:
    """The lifecycle machine: feed it `Facts` at increasing dates with `step(facts)`."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.alerts: list[Tracked] = []
        self.now: datetime | None = None
        self.tested = 0  # how many subject tests the last date ran

    @property
    def open(self) -> list[Tracked]:
        return [a for a in self.alerts if a.status == "open"]

    def step(self, facts: Facts) -> list[Tracked]:
        """Advance to `facts.as_of`; returns the alerts opened at this date."""
        s, D = self.settings, facts.as_of
        self.now = D
        cache = CaseCache(facts)
        tested = test_all(facts, s, cache)
        self.tested = len(tested)
        fired = {_key(c): c for c in firing(tested, s)}
        opened: list[Tracked] = []
        open_keys = set()
        for a in self.open:
            open_keys.add(a.key)
            c = fired.get(a.key)
            if c is not None:  # still caught by the scan: the latest evidence and the worst severity
                a.latest, a.last_fired = c, D
                sev = severity(c, s)
                if SEVERITY_RANK[sev] < SEVERITY_RANK[a.severity]:
                    a.severity = sev
            # the state comes from the check against the frozen baseline: a scan window can still hold
            # weeks of the problem after it has ended
            self._check(a, cache, D, keep_latest=c is not None)
        resolved_at = {}
        for a in self.alerts:
            if a.status == "resolved" and a.resolved is not None:
                resolved_at[a.key] = max(resolved_at.get(a.key, a.resolved), a.resolved)
        for key, c in fired.items():
            if key in open_keys:
                continue
            if key in resolved_at and c.evidence["recent_from"] < resolved_at[key]:
                continue  # evidence from before the recovery does not reopen it
            since_at = estimate(c.series)
            anchor = since_at or c.evidence["recent_from"]
            a = Tracked(kind=c.kind, subject=dict(c.subject), opened=D, since=since_at,
                        baseline_from=anchor - s.baseline, baseline_to=anchor, severity=severity(c, s), latest=c,
                        last_fired=D, history=[(D, "fired")])
            self.alerts.append(a)
            opened.append(a)
        return opened

    def _check(self, a: Tracked, cache: CaseCache, D: datetime, keep_latest: bool = False) -> None:
        s = self.settings
        a.checked = D
        if a.kind == "channel_inflow":
            part, kind = None, None
        else:
            kind = SPECS[a.kind]
            frame = cache[kind.cases]
            mask = np.ones(len(frame), dtype=bool)
            for col, name in zip(kind.columns, kind.names):
                mask &= (frame[col].astype(object) == a.subject[name]).to_numpy()
            part = frame[mask]
        cmp, last_case = self._compare(a, part, kind, cache.facts, D)
        if cmp is None:
            if last_case is None or last_case <= D - GONE_AFTER:
                self._resolve(a, D, "no_data")
            else:
                a.history.append((D, "fired" if keep_latest else "open"))
            return
        if not keep_latest:
            a.latest = cmp
        if cmp.effect < s.min_effect(a.kind) and cmp.p > RESOLVE_P:
            self._resolve(a, D, "back_to_baseline")
        else:
            a.history.append((D, "fired" if keep_latest else "open"))

    def _compare(self, a: Tracked, part: pd.DataFrame | None, kind: Any, facts: Facts,
                 D: datetime) -> tuple[Candidate | None, datetime | None]:
        """The subject's last `CHECK_WINDOW` against its frozen baseline, as a Candidate (q: none — a check
        of an alert already raised, not a new discovery); and the time of its latest case."""
        s = self.settings
        w = Windows(recent_from=D - CHECK_WINDOW, baseline_from=a.baseline_from, end=D, baseline_to=a.baseline_to)
        if kind is None:  # a channel's share of new deals
            d = facts.deals
            mine = d.loc[(d["channel"] == a.subject["channel"]).to_numpy(), "created_at"]
            last = mine.max() if len(mine) else None
            cmp = inflow_comparison(d, a.subject["channel"], w, s)
            if cmp is None:
                return None, last
            ev = {**cmp.evidence, "test": cmp.evidence["test"] + "_frozen_baseline"}
            return _checked(a, cmp.p, cmp.effect, ev, s), last
        if part is None or part.empty:
            return None, None
        times = part[kind.time]
        last = times.max()
        recent, base = w.flags(times)
        cmp = compare(kind, part, recent, base, s)
        if cmp is None:
            return None, last
        extra = medians(part, recent, base) if kind.unit == "days" else {}
        ev = {**w.evidence(), **cmp.evidence, **extra, "test": cmp.evidence["test"] + "_frozen_baseline"}
        return _checked(a, cmp.p, cmp.effect, ev, s), last

    def _resolve(self, a: Tracked, D: datetime, reason: str) -> None:
        a.status, a.resolved, a.resolved_reason = "resolved", D, reason
        a.history.append((D, "resolved"))

    def run(self, facts_at: Callable[[datetime], Facts], dates: Iterable[datetime],
            progress: Callable[[int, int], Any] | None = None) -> "Tracker":
        dates = sorted(set(dates))
        for i, d in enumerate(dates):
            self.step(facts_at(d))
            if progress:
                progress(i + 1, len(dates))
        return self


def _checked(a: Tracked, p: float, effect: float, evidence: dict[str, Any], s: Settings) -> Candidate:
    ev = dict(evidence, p_value=p, q_value=None, effect=effect, min_effect=s.min_effect(a.kind),
              check="frozen_baseline")
    return Candidate(kind=a.kind, subject=dict(a.subject), p=p, effect=effect, evidence=ev, series=a.latest.series)


# -- replays ending at a snapshot ---------------------------------------------------------------------------
def attributes_at(deals: pd.DataFrame, moment: datetime) -> pd.DataFrame:
    """The deals known at as_of, as they stood at an earlier `moment`: created by then; a close after it
    not happened yet. Owner, segment and channel: as known at as_of."""
    T = pd.Timestamp(moment)
    d = deals[deals["created_at"] <= T].copy()
    later = d["closed_at"].notna() & (d["closed_at"] > T)
    d.loc[later, "closed_at"] = pd.NaT
    d.loc[later, "status"] = "open"
    return d


def grid(facts: Facts, history: timedelta = HISTORY, settings: Settings | None = None,
         weekly: timedelta = WEEKLY) -> list[datetime]:
    """The replay dates ending at `facts.as_of`: weekly over the last `weekly`, every `COARSE` before
    that, back `history`; not before the first deal plus a baseline (nothing could be tested earlier)."""
    s = settings or Settings()
    T = facts.as_of
    first = facts.deals["created_at"].min() if not facts.deals.empty else None
    earliest = T - history
    if first is not None and pd.notna(first):
        earliest = max(earliest, pd.Timestamp(first).to_pydatetime() + s.baseline)
    dates, d = [], T
    while d >= earliest:
        dates.append(d)
        d -= STEP if T - d < weekly else COARSE
    return sorted(dates) or [T]


def track(facts: Facts, *, settings: Settings | None = None, history: timedelta = HISTORY,
          progress: Callable[[int, int], Any] | None = None) -> Tracker:
    """The lifecycle machine run over the weekly grid ending at `facts.as_of`."""
    def facts_at(d: datetime) -> Facts:
        return facts if d == facts.as_of else facts.at(d, attributes_at(facts.deals, d))

    return Tracker(settings).run(facts_at, grid(facts, history, settings), progress)


def tracker_for(snap: Snapshot, *, settings: Settings | None = None,
                progress: Callable[[int, int], Any] | None = None) -> Tracker:
    """The lifecycle machine as of `snap.as_of`, run once per snapshot and settings (the report, the alerts
    section and "what changed" share it; texts in each language are made from it by `rows`)."""
    cache = snap.__dict__.setdefault("_alert_trackers", {})
    key = settings or Settings()
    if key not in cache:
        cache[key] = track(extract(snap), settings=key, progress=progress)
    return cache[key]


def rows(tracker: Tracker, *, lang: str = "en", include_resolved_after: datetime | None = None,
         only: Callable[[Tracked], bool] | None = None, people: dict[str, str] | None = None,
         playbook: Any = None) -> list[dict[str, Any]]:
    """Alert rows (JSON-able, most severe open ones first): the `compute_alerts` row of the latest
    evidence + status, opened, resolved, resolved_reason, last_fired, baseline_frozen."""
    from dealpulse.alerts.explain import _plain, alert_row

    out = []
    for a in tracker.alerts:
        if only is not None:
            if not only(a):
                continue
        elif a.status != "open" and not (include_resolved_after and a.resolved and a.resolved > include_resolved_after):
            continue
        r = alert_row(a.latest, tracker.settings, lang, since_at=a.since, people=people, playbook=playbook)
        r.update(severity=a.severity, status=a.status, opened=a.opened.date(), resolved=a.resolved.date() if a.resolved else None,
                 resolved_reason=a.resolved_reason, last_fired=a.last_fired.date(),
                 baseline_frozen={"from": a.baseline_from, "to": a.baseline_to})
        out.append(r)
    out.sort(key=lambda r: (r["status"] != "open", SEVERITY_RANK[r["severity"]], r["evidence"]["p_value"] or 0.0,
                            r["kind"], sorted(r["subject"].items())))
    return [_plain(r) for r in out]


def tracked_alerts(snap: Snapshot, *, lang: str = "en", settings: Settings | None = None,
                   resolved_within: timedelta | None = timedelta(weeks=12)) -> list[dict[str, Any]]:
    """The open alerts as of `snap.as_of` (and, with `resolved_within`, those resolved in that span)."""
    tr = tracker_for(snap, settings=settings)
    after = snap.as_of - resolved_within if resolved_within else None
    from dealpulse.labels import people_of_store

    return rows(tr, lang=lang, include_resolved_after=after, people=people_of_store(snap.store), playbook=snap.playbook)


def alerts_between(snap: Snapshot, start: datetime, *, lang: str = "en",
                   settings: Settings | None = None) -> dict[str, list[dict[str, Any]]]:
    """The alerts opened, and those resolved, in (start, snap.as_of]."""
    tr = tracker_for(snap, settings=settings)
    from dealpulse.labels import people_of_store

    people = people_of_store(snap.store)
    return {"opened": rows(tr, lang=lang, only=lambda a: a.opened > start, people=people, playbook=snap.playbook),
            "resolved": rows(tr, lang=lang, only=lambda a: a.resolved is not None and a.resolved > start,
                             people=people, playbook=snap.playbook)}


__all__ = ["Tracker", "Tracked", "track", "tracker_for", "grid", "rows", "attributes_at", "tracked_alerts", "alerts_between",
           "HISTORY", "CHECK_WINDOW", "RESOLVE_P", "GONE_AFTER"]
