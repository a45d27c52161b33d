"""Replay the alarms over past moments: how early they fire and how often they are right.

`replay(store, playbook, dates)` computes the alerts as of every date, each from what was known
then: the facts are extracted once at the last date and cut back to each earlier one (exact, see
`facts.py`), with the deal attributes (owner, segment, channel, status) read from a snapshot at that
date — one query per date instead of a full snapshot.

`backtest_alerts(store, playbook, dates)` adds the verdict, with these definitions:

- episode: a run of replay dates on which the same (kind, subject) alarm fired (one quiet date in
  between does not end it); `first_fired` is its first date, `since` the change date estimated then;
- lagging metric of a subject — the outcome it drives: the won deals of its manager, segment or
  channel (stage alarms: of the segment; step alarms: of the manager). It "moved" at a replay date D
  when, among the subject's deals closed in the 8 weeks before D against the 26 weeks before those,
  the win rate fell by at least 10 points or the won deals per week fell by at least 30%, each
  one-sided with mid-p ≤ 0.01 (the same tests as the alarms);
- lead time of an episode: the first date D in [first_fired − 8 weeks, first_fired + 26 weeks]
  (within the replay) at which its lagging metric moved, minus first_fired, in days — positive when
  the alarm came before the outcome moved;
- precision: of the episodes whose outcome is known (the lagging metric moved, or 26 weeks of replay
  followed the first firing), the share followed by a move of the lagging metric;
- how often: the number of alerts at each date, and per month of replay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from dealpulse.alerts.detect import Settings
from dealpulse.alerts.explain import alerts_from_facts
from dealpulse.alerts.facts import deal_attributes, extract
from dealpulse.alerts.stats import rate_drop_p
from dealpulse.metrics.asof import Snapshot
from dealpulse.playbook.model import Playbook

LAG_RECENT = timedelta(weeks=8)
LAG_BASELINE = timedelta(weeks=26)
LAG_P = 0.01
LAG_MIN_RATE_DROP = 0.10
LAG_MIN_COUNT_DROP = 0.30
LOOK_BEFORE = timedelta(weeks=8)
HORIZON = timedelta(weeks=26)
_SUBJECT_COLUMN = {"manager": "owner", "segment": "segment", "channel": "channel"}


def replay(store: Any, playbook: Playbook, dates: Sequence[datetime], *, lang: str = "en",
           settings: Settings | None = None, with_deals: bool = False,
           progress: Callable[[int, int], Any] | None = None) -> dict[datetime, Any]:
    """{date: alerts as of that date}; with `with_deals`, {date: (alerts, deal attributes then)}.
    `progress(done, total)` is called after each date."""
    moments = sorted(set(dates))
    if not moments:
        return {}
    last = Snapshot(store=store, as_of=moments[-1], playbook=playbook)
    out: dict[datetime, Any] = {}
    try:
        facts = extract(last)
        for moment in moments:
            if moment == last.as_of:
                now = facts
            else:  # the attributes in one lazy query: no temporary tables per date
                now = facts.at(moment, deal_attributes(Snapshot(store, moment, playbook, materialize=False)))
            alerts = alerts_from_facts(now, lang=lang, settings=settings)
            out[moment] = (alerts, now.deals) if with_deals else alerts
            if progress:
                progress(len(out), len(moments))
    finally:
        last.release()
    return out


def _lag_subject(subject: dict[str, str]) -> tuple[str, str]:
    for key in ("manager", "segment", "channel"):
        if key in subject:
            return key, subject[key]
    raise KeyError(subject)


def lagging_moved(deals: pd.DataFrame, as_of: datetime, key: str, value: str) -> dict[str, Any]:
    """Did the subject's won deals fall (see the module docstring)? From the deals known at `as_of`."""
    col = _SUBJECT_COLUMN[key]
    d = deals[(deals[col] == value) & deals["status"].isin(["won", "lost"]) & deals["closed_at"].notna()]
    t = d["closed_at"].to_numpy(dtype="datetime64[us]")
    end = np.datetime64(as_of, "us")
    rf = np.datetime64(as_of - LAG_RECENT, "us")
    bf = np.datetime64(as_of - LAG_RECENT - LAG_BASELINE, "us")
    won = (d["status"] == "won").to_numpy()
    recent, base = (t > rf) & (t <= end), (t > bf) & (t <= rf)
    n1, n0, k1, k0 = int(recent.sum()), int(base.sum()), int((recent & won).sum()), int((base & won).sum())
    res: dict[str, Any] = {"recent_closed": n1, "baseline_closed": n0, "recent_won": k1, "baseline_won": k0, "moved": False}
    if n1 and n0:
        p_rate = float(rate_drop_p([k1], [n1], [k0], [n0])[0])
        drop = k0 / n0 - k1 / n1
        res.update(p_rate=p_rate, rate_drop=drop)
        res["moved"] |= bool(p_rate <= LAG_P and drop >= LAG_MIN_RATE_DROP)
    if k0:
        share = LAG_RECENT / (LAG_RECENT + LAG_BASELINE)  # of the won deals, the recent window's expected share
        p_count = _poisson_drop_p(k1, k0, share)
        rate1, rate0 = k1 / (LAG_RECENT / timedelta(weeks=1)), k0 / (LAG_BASELINE / timedelta(weeks=1))
        res.update(p_count=p_count, count_drop=1 - rate1 / rate0)
        res["moved"] |= bool(p_count <= LAG_P and 1 - rate1 / rate0 >= LAG_MIN_COUNT_DROP)
    return res


def _poisson_drop_p(k1: int, k0: int, share: float) -> float:
    """Mid-p that the recent count is low: given the total, k1 ~ Binomial(k1 + k0, share)."""
    from scipy import stats as _st

    n = k1 + k0
    return float(_st.binom.cdf(k1 - 1, n, share) + 0.5 * _st.binom.pmf(k1, n, share))


def _episodes(per_date: dict[datetime, list[dict]], moments: list[datetime]) -> list[dict[str, Any]]:
    runs: dict[tuple, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    index = {m: i for i, m in enumerate(moments)}
    for moment in moments:
        for a in per_date[moment]:
            key = (a["kind"], tuple(sorted(a["subject"].items())))
            run = runs.get(key)
            if run is not None and index[moment] - index[run["last_fired"]] <= 2:
                run["last_fired"] = moment
                run["n_dates"] += 1
                continue
            if run is not None:
                done.append(run)
            runs[key] = {"kind": a["kind"], "subject": a["subject"], "first_fired": moment, "last_fired": moment,
                         "since": a["since"], "severity": a["severity"], "n_dates": 1}
    return sorted(done + list(runs.values()), key=lambda r: (r["first_fired"], r["kind"], str(r["subject"])))


def backtest_alerts(store: Any, playbook: Playbook, dates: list[datetime], *, lang: str = "en",
                    settings: Settings | None = None, progress: Callable[[int, int], Any] | None = None) -> dict[str, Any]:
    """Replay the alerts at `dates` and judge them (definitions in the module docstring).

    Returns a JSON-able dict: `per_date` (as_of, count, alerts), `episodes` (kind, subject,
    first_fired, last_fired, since, n_dates, lagging_moved_at, lead_days, followed_by_change),
    `summary` (dates, alerts, alerts_per_date, alerts_per_month, episodes, episodes_per_month,
    resolved, precision, lead_days_median, lead_days_min, lead_days_max) and `definitions`."""
    moments = sorted(set(dates))
    res = replay(store, playbook, moments, lang=lang, settings=settings, with_deals=True, progress=progress)
    per_date = {m: res[m][0] for m in moments}
    deals_at = {m: res[m][1] for m in moments}
    episodes = _episodes(per_date, moments)
    lag_cache: dict[tuple, bool] = {}

    def moved(key: str, value: str, m: datetime) -> bool:
        k = (key, value, m)
        if k not in lag_cache:
            lag_cache[k] = lagging_moved(deals_at[m], m, key, value)["moved"]
        return lag_cache[k]

    for ep in episodes:
        key, value = _lag_subject(ep["subject"])
        first = ep["first_fired"]
        window = [m for m in moments if first - LOOK_BEFORE <= m <= first + HORIZON]
        hit = next((m for m in window if moved(key, value, m)), None)
        ep["lagging"] = {"of": key, "value": value}
        ep["lagging_moved_at"] = hit
        ep["lead_days"] = (hit - first).days if hit else None
        resolved = hit is not None or moments[-1] >= first + HORIZON
        ep["followed_by_change"] = (hit is not None) if resolved else None
    span_days = max((moments[-1] - moments[0]).days, 1) if moments else 1
    months = span_days / 30.4375
    resolved = [e for e in episodes if e["followed_by_change"] is not None]
    leads = [e["lead_days"] for e in episodes if e["lead_days"] is not None]
    counts = [len(per_date[m]) for m in moments]
    summary = {
        "dates": len(moments), "first_date": moments[0] if moments else None, "last_date": moments[-1] if moments else None,
        "alerts": int(sum(counts)), "alerts_per_date": (sum(counts) / len(counts)) if counts else None,
        "dates_with_alerts": int(sum(1 for c in counts if c)),
        "episodes": len(episodes), "episodes_per_month": len(episodes) / months if moments else None,
        "resolved": len(resolved),
        "precision": (sum(1 for e in resolved if e["followed_by_change"]) / len(resolved)) if resolved else None,
        "lead_days_median": float(np.median(leads)) if leads else None,
        "lead_days_min": min(leads) if leads else None, "lead_days_max": max(leads) if leads else None,
    }
    from dealpulse.alerts.explain import _plain

    return _plain({
        "per_date": [{"as_of": m, "count": len(per_date[m]), "alerts": per_date[m]} for m in moments],
        "episodes": episodes,
        "summary": summary,
        "definitions": {
            "episode": "consecutive replay dates with the same kind and subject firing (one quiet date allowed)",
            "lagging": f"won deals of the subject's manager, segment or channel: win rate down >= {LAG_MIN_RATE_DROP:.0%} points "
                       f"or won deals per week down >= {LAG_MIN_COUNT_DROP:.0%}, last {LAG_RECENT.days} days vs the "
                       f"{LAG_BASELINE.days} before, one-sided mid-p <= {LAG_P}",
            "lead_days": "first date the lagging metric moved (searched from 8 weeks before to 26 weeks after the first "
                         "firing) minus the first firing, in days",
            "precision": "share of resolved episodes followed by a move of the lagging metric; resolved = it moved, "
                         "or 26 weeks of replay followed",
        },
    })


__all__ = ["replay", "backtest_alerts", "lagging_moved"]
