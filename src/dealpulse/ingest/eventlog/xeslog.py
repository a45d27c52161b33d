"""The events of an XES file (read by `dealpulse.ingest.xes`) as the columns the event-log reader uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import polars as pl

from dealpulse.ingest.eventlog.columns import attribute_columns
from dealpulse.ingest.eventlog.model import Attr, EventLogMapping, Source


def xes_frame(path: Path, source: Source, mapping: EventLogMapping, lang: str,
              progress: Callable[..., None] | None) -> tuple[pl.DataFrame, list[str]]:
    """case, activity, ts_raw, resource, lc, _row and a:<field> columns; blank texts are null."""
    from dealpulse.ingest.xes import read_xes

    keys = [k for k in (source.activity, source.timestamp, source.resource, source.lifecycle) if k]
    keys += [a.column for a in source.attributes if a.column]
    log = read_xes(path, keys, lang=lang)
    trace_cols: dict[str, list[Any]] = {"_trace": list(range(len(log.traces)))}
    trace_keys = set()
    for tr in log.traces:
        trace_keys.update(tr)
    wanted_trace = [k for k in dict.fromkeys([source.case] + [a.column for a in source.attributes if a.column]) if k in trace_keys]
    for k in wanted_trace:
        trace_cols[f"t:{k}"] = [tr.get(k) for tr in log.traces]
    traces = pl.DataFrame(trace_cols, schema={"_trace": pl.Int64, **{f"t:{k}": pl.Utf8 for k in wanted_trace}})
    ev = log.events.join(traces, on="_trace", how="left")

    def pick(key: str | None) -> pl.Expr:
        if key is None:
            return pl.lit(None, dtype=pl.Utf8)
        return pl.col(key) if key in ev.columns else pl.lit(None, dtype=pl.Utf8)

    def attribute(a: Attr) -> pl.Expr:  # a trace attribute, else an event attribute
        return pl.col(f"t:{a.column}") if a.column in trace_keys else pick(a.column)

    # the case id is a trace attribute (an event attribute of that name is the activity, or so)
    case_expr = pl.col(f"t:{source.case}") if source.case in trace_keys else pl.lit(None, dtype=pl.Utf8)
    cols = [
        case_expr.str.strip_chars().alias("case"),
        (pl.lit(source.activity_value) if source.activity_value is not None else pick(source.activity)).cast(pl.Utf8).alias("activity"),
        pick(source.timestamp).alias("ts_raw"),
        pick(source.resource).alias("resource"),
        pick(source.lifecycle).str.strip_chars().str.to_lowercase().alias("lc"),
        pl.col("_line").alias("_row"),
    ]
    attr_cols, attr_names = attribute_columns(source, attribute)
    frame = ev.select(cols + attr_cols)
    return _blank_to_null(frame), attr_names


def _blank_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    text = [c for c, d in frame.schema.items() if d == pl.Utf8]
    return frame.with_columns([
        pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0).then(pl.col(c)).alias(c) for c in text
    ])
