"""Steps as tasks: lifecycle events of each (case, activity) paired into work items."""

from __future__ import annotations

import polars as pl

from dealpulse.ingest.eventlog.model import ENDING_CANCEL, OPENING, STARTING, EventLogMapping


def build_tasks(ev: pl.DataFrame, mapping: EventLogMapping, closed: set[str]) -> pl.DataFrame:
    """Pair lifecycle events of each (case, activity) into tasks (see the module's docstring).

    Column-wise: the events of a (case, activity) are cut into segments, each ending at a closing
    event (COMPLETE, no lifecycle, or a cancelling one); a segment's task was opened by its first
    other event (SCHEDULE/ASSIGN, else START/RESUME) and closed by that closing event. A last segment
    with no closing event is a task still open (or cancelled, when its case is closed)."""
    from dealpulse.ingest.tables import native_schema

    schema = native_schema("tasks")
    filtered = [r.activity for r in mapping.steps if r.lifecycles is not None]
    lc = pl.col("lc")
    ev = ev.sort(["case", "activity", "_i"]).with_columns(
        _kind=pl.when(pl.col("activity").is_in(filtered) | lc.is_null()).then(pl.lit("done"))
        .when(lc.is_in(sorted(ENDING_CANCEL))).then(pl.lit("cancelled"))
        .when(lc.is_in(sorted(OPENING | STARTING))).then(pl.lit("open"))
        .otherwise(pl.lit("done")),
    ).with_columns(_close=pl.col("_kind") != "open")
    ev = ev.with_columns(
        _seg=pl.col("_close").cast(pl.Int64).cum_sum().over(["case", "activity"]) - pl.col("_close").cast(pl.Int64)
    )
    opening = ~pl.col("_close")
    closing = pl.col("_close")
    seg = ev.group_by(["case", "activity", "_seg"], maintain_order=True).agg(
        open_ts=pl.col("ts").filter(opening).first(),
        open_res=pl.col("resource").filter(opening).first(),
        has_close=closing.any(),
        close_ts=pl.col("ts").filter(closing).first(),
        close_res=pl.col("resource").filter(closing).first(),
        close_kind=pl.col("_kind").filter(closing).first(),
        type=pl.col("type").last(),
        _file=pl.col("_file").last(),
        _row=pl.col("_row").last(),
    )
    closed_list = sorted(closed)
    frame = seg.select(
        deal_id="case",
        type="type",
        owner=pl.when(pl.col("has_close")).then(pl.coalesce("close_res", "open_res")).otherwise(pl.col("open_res")),
        created_at=pl.coalesce("open_ts", "close_ts"),
        completed_at=pl.when(pl.col("close_kind") == "done").then(pl.col("close_ts")),
        status=pl.when(pl.col("has_close")).then(pl.col("close_kind"))
        .when(pl.col("case").is_in(closed_list)).then(pl.lit("cancelled")).otherwise(pl.lit("open")),
        _file="_file",
        _row=pl.col("_row").cast(pl.Int64),
    )
    frame = frame.sort(["deal_id", "type", "created_at", "completed_at"], nulls_last=True, maintain_order=True)
    frame = frame.with_columns(
        task_id=pl.concat_str([pl.col("deal_id"), pl.col("type"), (pl.int_range(pl.len()).over(["deal_id", "type"]) + 1).cast(pl.Utf8)], separator=":"),
        due_at=pl.lit(None, dtype=pl.Datetime("us")),
    )
    return frame.select([pl.col(c).cast(d) for c, d in schema.items()] + [pl.col("_file"), pl.col("_row")])
