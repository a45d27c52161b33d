"""What changed between a start moment S and as_of T: the pipeline waterfall (`waterfall.py`), the live
deals whose chance of winning moved most and the ones that slipped (`movers.py`), and the alerts opened
and resolved in (S, T] (`dealpulse.alerts.lifecycle`).

    compute_changes(snap, since, lang="en", limit=10, trained=None) -> dict
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Sequence

from dealpulse.changes.movers import LIMIT, compute_movers, movers_from
from dealpulse.changes.waterfall import BUCKET_RULE_KEY, BUCKETS, compute_waterfall
from dealpulse.errors import InputError
from dealpulse.i18n import t

DEFAULT_SINCE = timedelta(days=7)
_SPAN = re.compile(r"^\s*(\d+)\s*([dw])\s*$", re.IGNORECASE)


def parse_since(text: str | timedelta | datetime | date | None, as_of: datetime, tz: Any, lang: str = "en") -> datetime:
    """The start moment S (naive UTC): `7d`, `2w` before as_of, or a date/time in the export's zone."""
    from dealpulse.metrics.asof import parse_moment

    if text is None:
        return as_of - DEFAULT_SINCE
    if isinstance(text, timedelta):
        start = as_of - text
    elif isinstance(text, (datetime, date)):
        start = parse_moment(text, tz)
    else:
        m = _SPAN.match(str(text))
        if m:
            n = int(m.group(1))
            start = as_of - (timedelta(days=n) if m.group(2).lower() == "d" else timedelta(weeks=n))
        else:
            try:
                start = parse_moment(str(text), tz)
            except InputError:
                raise InputError(t("changes.bad_since", lang, got=text),
                                 suggestion=t("changes.bad_since.suggestion", lang)) from None
    if start >= as_of:
        raise InputError(t("changes.since_after", lang, got=text), suggestion=t("changes.bad_since.suggestion", lang))
    return start


def alerts_between(snap: Any, start: datetime, lang: str = "en") -> dict[str, list[dict]]:
    """Alerts opened and resolved in (start, as_of] (the alerts' lifecycle module)."""
    from dealpulse.alerts.lifecycle import alerts_between as between

    got = between(snap, start, lang=lang)
    return {"opened": list(got.get("opened", [])), "resolved": list(got.get("resolved", []))}


def compute_changes(snap: Any, since: timedelta | datetime | str | None = None, *, lang: str = "en",
                    langs: Sequence[str] | None = None, limit: int = LIMIT, trained: Any = None,
                    alerts: bool = True) -> dict[str, Any]:
    """Everything `dealpulse changes` shows, as plain values (ids, not display names):

    {"as_of", "start", "waterfall": [buckets], "reconciles", "bucket_rule", "currency", "currencies",
     "no_amount", "deals": [per-deal flows], "movers": {"up", "down", "slipped", "live", ...},
     "alerts": {"opened", "resolved"}, "method"}
    `since`: a timedelta before as_of, the start moment (naive UTC datetime), or the CLI's text.
    """
    from dealpulse.metrics.asof import store_tz

    langs = tuple(langs or (lang,))
    if isinstance(since, datetime):
        start = since
    else:
        start = parse_since(since, snap.as_of, store_tz(snap.store), lang)
    wf = compute_waterfall(snap, start)
    titles = {f.deal_id: f.title for f in wf["flows"]}
    mv = compute_movers(snap, start, trained=trained, langs=langs, limit=limit)
    for group in ("up", "down", "slipped"):
        for r in mv[group]:
            r["title"] = titles.get(r["deal_id"])
    return {
        "as_of": snap.as_of, "start": start,
        "waterfall": [{**b, "label": t(f"changes.bucket.{b['bucket']}", lang)} for b in wf["buckets"]],
        "reconciles": wf["reconciles"],
        "bucket_rule": t(BUCKET_RULE_KEY, lang),
        "currency": wf["currency"], "currencies": wf["currencies"], "no_amount": wf["no_amount"],
        "deals": [deal_row(f) for f in wf["flows"]],
        "movers": {k: mv[k] for k in ("up", "down", "slipped", "slipped_total", "live")},
        "alerts": alerts_between(snap, start, lang) if alerts else {"opened": [], "resolved": []},
        "method": t("changes.method", lang),
    }


def deal_row(f: Any) -> dict[str, Any]:
    """A followed deal as a plain row (JSON/CSV)."""
    return {
        "deal_id": f.deal_id, "bucket": f.bucket, "buckets": sorted(f.flows, key=BUCKETS.index),
        "title": f.title, "owner": f.owner, "segment": f.segment,
        "status_start": f.status_start, "status_end": f.status_end, "stage_start": f.stage_start, "stage_end": f.stage_end,
        "amount_start": f.amount_start, "amount_end": f.amount_end,
        "expected_close_start": f.close_start, "expected_close_end": f.close_end,
        "count_change": sum(c for c, _ in f.flows.values()), "amount_change": sum(a for _, a in f.flows.values()) / 100,
    }


__all__ = ["compute_changes", "compute_waterfall", "compute_movers", "movers_from", "parse_since", "alerts_between",
           "deal_row", "BUCKETS", "DEFAULT_SINCE"]
