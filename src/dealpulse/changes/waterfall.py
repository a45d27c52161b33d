"""The pipeline waterfall between two moments S < T: open at S → what came in, moved, closed → open at T.

Every deal that was open at S or at T, created in (S, T], or closed in (S, T] is followed from its state
at S (not yet created / open / closed) to its state at T (open / won / lost), each state read from its own
snapshot (stage history and field values as of that moment). Counts and amounts are flows that add up
exactly: `open at S + Σ buckets = open at T`, for the number of deals and for their amount.

The rule (also in `BUCKET_RULE_KEY`, shown with every output):

- new: created in (S, T] — +1 deal, + its amount at T;
- reopened: closed at S, open again after S (a non-terminal stage entry after its close) — +1, + amount at T;
- won / lost: won or lost at T with the close in (S, T] — −1, − its amount at T. A deal created (or
  reopened) and closed inside the window is in both "new" (or "reopened") and "won"/"lost": it nets to 0;
- amount up / amount down: deals open at S and open or closed in the window at T — amount at T − amount at S
  (only the change; the amount they had at S is in "open at S");
- advanced / moved back / pushed out / pulled in / unchanged: deals open at both moments, each in exactly
  one of them by priority advanced > moved back > pushed out > pulled in > unchanged — stage at T later /
  earlier in the playbook than the stage at S (the two endpoints only: forward then back to the same stage
  is unchanged; a stage outside the playbook has no order), then expected close at T later / earlier than
  at S (both known). They move no deal and no amount (0 and 0): their amount changes are in amount up/down.
- An amount that is not known (null) counts as 0; `no_amount` says how many deals had none.
- A deal closed at S and closed again at T with its last close in (S, T] (reopened and closed again) is in
  "reopened" and in "won"/"lost". One closed at both moments with the close before S is not followed.

Each deal also gets ONE primary bucket (the per-deal list), by priority won > lost > reopened > new >
advanced > moved back > pushed out > pulled in > unchanged.
Amounts are summed in cents (integers), so the reconciliation is exact, not up to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from dealpulse.metrics.asof import Snapshot
from dealpulse.risk.state import as_number

EXPECTED_CLOSE = "expected_close"  # the deal field with the CRM's expected close date (native format)
FLOW_BUCKETS = ("new", "reopened", "advanced", "moved_back", "pushed_out", "pulled_in", "unchanged",
                "amount_up", "amount_down", "won", "lost")
BUCKETS = ("open_start", *FLOW_BUCKETS, "open_end")
PRIMARY_ORDER = ("won", "lost", "reopened", "new", "advanced", "moved_back", "pushed_out", "pulled_in", "unchanged")
BUCKET_RULE_KEY = "changes.bucket_rule"
_COLUMNS = ("deal_id", "title", "owner", "segment", "stage", "amount", "currency", "status", "created_at", "closed_at")


@dataclass
class DealFlow:
    """One followed deal: its state at S and at T and what it contributed."""

    deal_id: str
    bucket: str  # primary bucket (PRIMARY_ORDER)
    flows: dict[str, tuple[int, int]]  # bucket -> (count change, amount change in cents)
    status_start: str | None  # None: not yet created at S
    status_end: str
    stage_start: str | None
    stage_end: str | None
    amount_start: float | None
    amount_end: float | None
    close_start: date | None
    close_end: date | None
    title: str | None = None
    owner: str | None = None
    segment: str | None = None
    currency: str | None = None


def cents(amount: Any) -> int:
    """An amount in whole cents (null and NaN: 0)."""
    if amount is None:
        return 0
    try:
        v = float(amount)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(v) or math.isinf(v) else int(round(v * 100))


def parse_day(text: Any) -> date | None:
    """An expected-close value as a date: ISO `2024-05-31` (a time after it is ignored) or `31.05.2024`."""
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    raw = str(text).strip()[:10]
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def _frame(expr: Any) -> pl.DataFrame:
    df = expr.to_polars()
    for c in ("created_at", "closed_at"):
        if c in df.columns and isinstance(df.schema[c], pl.Datetime) and df.schema[c].time_zone is not None:
            df = df.with_columns(pl.col(c).dt.replace_time_zone(None))
    return df


def _states(snap: Snapshot, keep: Any) -> dict[str, dict]:
    """deal_id -> the deal as of `snap` (with its expected close), for the deals `keep(deals)` selects."""
    d = snap.deals
    d = d.filter(keep(d)).select(*_COLUMNS)
    ec = snap.field_values([EXPECTED_CLOSE])
    d = d.left_join(ec, d.deal_id == ec.entity_id).select(*_COLUMNS, EXPECTED_CLOSE)
    out = {}
    for r in _frame(d).iter_rows(named=True):
        r["amount"] = as_number(r["amount"])
        r[EXPECTED_CLOSE] = parse_day(r[EXPECTED_CLOSE])
        out[str(r["deal_id"])] = r
    return out


def follow_deals(snap: Snapshot, start: datetime) -> tuple[dict[str, dict], dict[str, dict]]:
    """(at_start, at_end): the followed deals as of `start` and as of `snap.as_of` (deal_id -> row)."""
    import ibis

    if start >= snap.as_of:
        raise ValueError(f"the start {start} must be before as_of {snap.as_of}")
    S = ibis.literal(start, type="timestamp")
    s_snap = snap.at(start)
    open_s = s_snap.deals.filter(s_snap.deals.status == "open").deal_id

    def followed(d: Any) -> Any:
        return (d.status == "open") | (d.created_at > S) | (d.closed_at > S) | d.deal_id.isin(open_s)

    t_deals = snap.deals
    end_ids = t_deals.filter(followed(t_deals)).deal_id
    end = _states(snap, followed)
    at_start = _states(s_snap, lambda d: (d.status == "open") | d.deal_id.isin(end_ids))
    return at_start, end


def _order(stages: tuple[str, ...], stage: str | None) -> int | None:
    return stages.index(stage) if stage in stages else None


def classify(s: dict | None, e: dict, start: datetime, stages: tuple[str, ...]) -> DealFlow | None:
    """What one deal contributed between S and T (None: not followed — closed at both, closed before S)."""
    st_s = s["status"] if s is not None else None
    st_e = e["status"]
    a_s = s["amount"] if s is not None else None
    a_e = e["amount"]
    closed_in_window = st_e in ("won", "lost") and e["closed_at"] is not None and e["closed_at"] > start
    flows: dict[str, tuple[int, int]] = {}
    if st_s is None:
        flows["new"] = (1, cents(a_e))
    elif st_s in ("won", "lost"):
        if st_e == "open" or closed_in_window:
            flows["reopened"] = (1, cents(a_e))
        else:
            return None
    if st_s == "open":
        diff = cents(a_e) - cents(a_s)
        if diff > 0:
            flows["amount_up"] = (0, diff)
        elif diff < 0:
            flows["amount_down"] = (0, diff)
    if st_e in ("won", "lost"):
        if not closed_in_window:  # open at S, closed at T: the close is after S by construction
            if st_s != "open":
                return None
        flows[st_e] = (-1, -cents(a_e))
    moved = None
    if st_s == "open" and st_e == "open":
        o_s, o_e = _order(stages, s["stage"]), _order(stages, e["stage"])
        c_s, c_e = s[EXPECTED_CLOSE], e[EXPECTED_CLOSE]
        if o_s is not None and o_e is not None and o_e > o_s:
            moved = "advanced"
        elif o_s is not None and o_e is not None and o_e < o_s:
            moved = "moved_back"
        elif c_s is not None and c_e is not None and c_e > c_s:
            moved = "pushed_out"
        elif c_s is not None and c_e is not None and c_e < c_s:
            moved = "pulled_in"
        else:
            moved = "unchanged"
        flows[moved] = (0, 0)
    primary = next(b for b in PRIMARY_ORDER if b in flows)
    return DealFlow(
        deal_id=str(e["deal_id"]), bucket=primary, flows=flows, status_start=st_s, status_end=st_e,
        stage_start=s["stage"] if s is not None else None, stage_end=e["stage"], amount_start=a_s, amount_end=a_e,
        close_start=s[EXPECTED_CLOSE] if s is not None else None, close_end=e[EXPECTED_CLOSE],
        title=e.get("title"), owner=e.get("owner"), segment=e.get("segment"), currency=e.get("currency"),
    )


def compute_waterfall(snap: Snapshot, start: datetime) -> dict[str, Any]:
    """The waterfall between `start` (naive UTC) and `snap.as_of`:

    {"buckets": [{"bucket", "deals", "count", "amount"}, ...] in BUCKETS order ("open_start" and "open_end"
     carry the totals, the others the changes), "reconciles": bool, "currency": the one currency or None,
     "currencies": [...], "no_amount": {"start": n, "end": n}, "flows": [DealFlow, ...]}
    """
    at_start, at_end = follow_deals(snap, start)
    stages = tuple(snap.playbook.stages)
    flows = []
    for deal_id in sorted(at_end):
        f = classify(at_start.get(deal_id), at_end[deal_id], start, stages)
        if f is not None:
            flows.append(f)
    open_s = [r for r in at_start.values() if r["status"] == "open"]
    open_e = [r for r in at_end.values() if r["status"] == "open"]
    start_row = {"bucket": "open_start", "deals": len(open_s), "count": len(open_s),
                 "amount_cents": sum(cents(r["amount"]) for r in open_s)}
    end_row = {"bucket": "open_end", "deals": len(open_e), "count": len(open_e),
               "amount_cents": sum(cents(r["amount"]) for r in open_e)}
    rows = [start_row]
    for b in FLOW_BUCKETS:
        members = [f for f in flows if b in f.flows]
        rows.append({"bucket": b, "deals": len(members), "count": sum(f.flows[b][0] for f in members),
                     "amount_cents": sum(f.flows[b][1] for f in members)})
    rows.append(end_row)
    reconciles = (start_row["count"] + sum(r["count"] for r in rows[1:-1]) == end_row["count"]
                  and start_row["amount_cents"] + sum(r["amount_cents"] for r in rows[1:-1]) == end_row["amount_cents"])
    for r in rows:
        r["amount"] = r.pop("amount_cents") / 100
    currencies = sorted({str(r["currency"]) for r in [*open_s, *at_end.values()] if r.get("currency")})
    return {
        "buckets": rows, "reconciles": reconciles,
        "currency": currencies[0] if len(currencies) == 1 else None, "currencies": currencies,
        "no_amount": {"start": sum(1 for r in open_s if r["amount"] is None),
                      "end": sum(1 for r in open_e if r["amount"] is None)},
        "flows": flows,
    }


__all__ = ["BUCKETS", "FLOW_BUCKETS", "PRIMARY_ORDER", "BUCKET_RULE_KEY", "DealFlow", "compute_waterfall",
           "follow_deals", "classify", "cents", "parse_day", "EXPECTED_CLOSE"]
