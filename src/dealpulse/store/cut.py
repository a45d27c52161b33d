"""Cut a store at a moment: what an export taken at `as_of` would have contained.

`cut_store(src, dst, as_of)` replaces the native tables of `dst` with:

- deals created by `as_of`, with owner, amount, segment, channel and account as of then (as the
  as-of engine reads them), status and closed_at as of then, lost_reason only if lost by then;
- stage_history entered by `as_of` (with the terminal `won`/`lost` rows the as-of engine
  synthesises from closed_at where the export had none, so a close that was later undone stays);
- tasks created by `as_of`, with completed_at and status as of then;
- field_history changed by `as_of`;
- attributes: a field with history gets its value as of then (dropped if it had none yet);
  a field without history is kept as it is;
- accounts, managers and meta as they are;
- review marks (`reviews`, not part of an export but dealpulse's own as-of aware data) made by
  `as_of` on the deals kept, so the review queue as of `as_of` is the same on both.

Computing anything as of `as_of` (or earlier) on the cut store gives what it gives on the full
store: the key test of the as-of engine (no leak from the future).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import ibis
import polars as pl

from dealpulse.metrics.asof import Snapshot, parse_moment, store_tz
from dealpulse.ingest.tables import ATTRIBUTES_COLUMNS, TABLES, native_schema
from dealpulse.playbook import playbook_for_store
from dealpulse.store.schema import TABLE_KEYS

# Parents before children, as the schema lists them; the columns and types of the native format.
NATIVE_TABLES = tuple(TABLE_KEYS)
SCHEMAS: dict[str, dict[str, Any]] = {
    **{name: native_schema(name) for name in TABLES},
    "attributes": {c: pl.Utf8 for c in ATTRIBUTES_COLUMNS},
}


def _deals(snap: Snapshot) -> Any:
    d = snap.deals
    raw = snap.store.table("deals").select(r_id="deal_id", r_segment="segment", r_lost_reason="lost_reason")
    seg = snap.field_values(["segment"]).rename(s_id="entity_id", s_value="segment")
    pres = snap._history_presence(("segment",)).rename(p_id="entity_id")
    j = (d.left_join(raw, d.deal_id == raw.r_id).left_join(seg, d.deal_id == seg.s_id)
         .left_join(pres, d.deal_id == pres.p_id))
    # the segment as written in the deal (before the account's segment and the playbook's rules)
    segment_own = ibis.ifelse(j.has_segment.fill_null(False), j.s_value, j.r_segment)
    return j.select(
        "deal_id", "account_id", "title", "owner", segment=segment_own, channel=j.channel, amount=j.amount,
        currency=j.currency, created_at=j.created_at, status=j.status, closed_at=j.closed_at,
        lost_reason=ibis.ifelse(j.status == "lost", j.r_lost_reason, ibis.null("string")),
    )


def _stage_history(snap: Snapshot) -> Any:
    ev = snap.stage_events
    raw = snap.store.table("stage_history")
    raw = raw.select(r_id=raw.deal_id, r_stage=raw.stage, r_at=raw.entered_at, changed_by=raw.changed_by)
    j = ev.left_join(raw, (ev.deal_id == raw.r_id) & (ev.stage == raw.r_stage) & (ev.entered_at == raw.r_at))
    return j.select("deal_id", "stage", "entered_at", "changed_by")


def _field_history(snap: Snapshot) -> Any:
    fh = snap.store.table("field_history")
    return fh.filter(fh.changed_at <= snap.T)


def _attributes(snap: Snapshot) -> Any:
    at = snap.store.table("attributes")
    fh = snap.store.table("field_history")
    pres = fh.select(p_entity=fh.entity, p_id=fh.entity_id, p_field=fh.field).distinct()
    known = fh.filter(fh.changed_at <= snap.T)
    w = ibis.window(group_by=[known.entity, known.entity_id, known.field], order_by=[ibis.desc(known.changed_at)])
    known = known.mutate(_rn=ibis.row_number().over(w))
    last = known.filter(known._rn == 0).select(l_entity="entity", l_id="entity_id", l_field="field", l_value="value",
                                               l_at="changed_at")
    j = (at.left_join(pres, (at.entity == pres.p_entity) & (at.entity_id == pres.p_id) & (at.field == pres.p_field))
         .left_join(last, (at.entity == last.l_entity) & (at.entity_id == last.l_id) & (at.field == last.l_field)))
    has_history = j.p_id.notnull()
    j = j.filter(~has_history | j.l_at.notnull())
    deals = snap.deals.deal_id
    j = j.filter((j.entity != "deal") | j.entity_id.isin(deals))
    return j.select("entity", "entity_id", "field", value=ibis.ifelse(has_history, j.l_value, j.value))


def _frame(expr: Any, table: str) -> pl.DataFrame:
    schema = SCHEMAS[table]
    df = expr.select(*schema).to_polars() if hasattr(expr, "to_polars") else pl.DataFrame(expr)
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


REVIEW_COLUMNS = ("review_id", "deal_id", "reviewed_at", "reviewer", "comment", "reasons", "recorded_at")


def _cut_reviews(src: Any, dst: Any, moment: datetime, deal_ids: list[str]) -> None:
    """Replace dst's review marks with src's made at or before `moment` on the deals kept."""
    cols = ", ".join(REVIEW_COLUMNS)
    rows = src.query(f"SELECT {cols} FROM reviews WHERE reviewed_at <= ?", [moment])
    keep = set(deal_ids)
    dst.execute("DELETE FROM reviews")
    marks = ", ".join("?" for _ in REVIEW_COLUMNS)
    for row in rows:
        if row[1] in keep:
            dst.execute(f"INSERT INTO reviews ({cols}) VALUES ({marks})", list(row))


def cut_store(src: Any, dst: Any, as_of: str | datetime | date) -> datetime:
    """Write into `dst` (replacing its native tables) what an export taken at `as_of` would have held.
    Returns the moment used (naive UTC); a bare date is 00:00 in the source's zone."""
    moment = parse_moment(as_of, store_tz(src))
    snap = Snapshot(store=src, as_of=moment, playbook=playbook_for_store(src), materialize=False)
    exprs = {
        "managers": src.table("managers"),
        "accounts": src.table("accounts"),
        "deals": _deals(snap),
        "stage_history": _stage_history(snap),
        "tasks": snap.tasks,
        "field_history": _field_history(snap),
        "attributes": _attributes(snap),
    }
    frames = {name: _frame(e, name) for name, e in exprs.items()}
    meta = src.query("SELECT key, value FROM meta")
    with dst.transaction():
        for name in reversed(NATIVE_TABLES):
            dst.execute(f"DELETE FROM {name}")
        for name in NATIVE_TABLES:
            df = frames[name]
            if df.height == 0:
                continue
            dst.load_frame("_dp_cut", df)
            cols = ", ".join(df.columns)
            dst.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _dp_cut")
        dst.execute('DROP TABLE IF EXISTS "_dp_cut"')
        _cut_reviews(src, dst, moment, frames["deals"]["deal_id"].to_list())
        for key, value in meta:
            dst.set_meta(key, value)
    return moment
