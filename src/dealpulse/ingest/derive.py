"""Stage history for a snapshot export: a deals table with its current stage and no stage history.

Each deal new to the store enters its current stage (or, if it is closed or has none, the
playbook's first stage) at `created_at`; a won or lost deal enters `won`/`lost` at `closed_at`.
A deal the store already has history for gets a new entry only if its stage changed: at the
export's latest moment (the latest created_at/closed_at in it), or just after its last entry.
The funnel built on this is a snapshot: the time spent in each stage is unknown.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from dealpulse.playbook.model import TERMINAL_STAGES, Playbook

COLUMNS = ["deal_id", "stage", "entered_at", "changed_by", "_file", "_row"]


def derive_stage_history(store: Any, deals: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    first_stage = playbook.stages[0]
    if not deals.height:
        return pl.DataFrame(schema={"deal_id": pl.Utf8, "stage": pl.Utf8, "entered_at": pl.Datetime("us"),
                                    "changed_by": pl.Utf8, "_file": pl.Utf8, "_row": pl.Int64})
    stage = pl.col("stage") if "stage" in deals.columns else pl.lit(None, pl.Utf8)
    d = deals.with_columns(
        _cur=pl.when(stage.is_not_null() & ~stage.is_in(list(TERMINAL_STAGES))).then(stage).otherwise(None)
    )
    latest = pl.concat([d["created_at"], d["closed_at"]]).max()
    last = _last_stored_stage(store, d["deal_id"])
    d = d.join(last, on="deal_id", how="left")
    fresh = d.filter(pl.col("_last_stage").is_null())
    known = d.filter(pl.col("_last_stage").is_not_null() & pl.col("_cur").is_not_null() & (pl.col("_cur") != pl.col("_last_stage")))
    entries = [
        fresh.select("deal_id", stage=pl.col("_cur").fill_null(pl.lit(first_stage)), entered_at="created_at",
                     changed_by=pl.lit(None, pl.Utf8), _file="_file", _row="_row"),
        known.select("deal_id", stage="_cur",
                     entered_at=pl.max_horizontal(pl.lit(latest, dtype=pl.Datetime("us")), pl.col("_last_at")),
                     changed_by=pl.lit(None, pl.Utf8), _file="_file", _row="_row"),
        d.filter(pl.col("status").is_in(list(TERMINAL_STAGES)) & pl.col("closed_at").is_not_null())
        .select("deal_id", stage="status", entered_at="closed_at", changed_by=pl.lit(None, pl.Utf8), _file="_file", _row="_row"),
    ]
    return pl.concat(entries, how="vertical_relaxed").select(COLUMNS)


def _last_stored_stage(store: Any, deal_ids: pl.Series) -> pl.DataFrame:
    empty = pl.DataFrame(schema={"deal_id": pl.Utf8, "_last_stage": pl.Utf8, "_last_at": pl.Datetime("us")})
    if not store.query("SELECT 1 FROM stage_history LIMIT 1"):
        return empty
    from dealpulse.ingest.write import stage_frame, unstage

    stage_frame(store, "_dp_ids", pl.DataFrame({"deal_id": deal_ids.unique()}))
    try:
        rows = store.query_frame(
            "SELECT s.deal_id, s.stage, s.entered_at FROM stage_history s JOIN _dp_ids i ON i.deal_id = s.deal_id "
            "WHERE s.stage NOT IN ('won', 'lost')"
        )
    finally:
        unstage(store, "_dp_ids")
    if not rows.height:
        return empty
    rows = rows.rename({rows.columns[0]: "deal_id", rows.columns[1]: "_last_stage", rows.columns[2]: "_last_at"})
    rows = rows.with_columns(pl.col("_last_at").cast(pl.Datetime("us")))
    return rows.sort(["deal_id", "_last_at", "_last_stage"]).group_by("deal_id", maintain_order=True).last()
