"""The rows of a CSV file of events as the columns the event-log reader uses."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dealpulse.errors import MappingError
from dealpulse.i18n import t
from dealpulse.ingest.eventlog.columns import attribute_columns
from dealpulse.ingest.eventlog.model import EventLogMapping, Source, closest, where


def csv_frame(path: Path, source: Source, mapping: EventLogMapping, lang: str) -> tuple[pl.DataFrame, list[str]]:
    """case, activity, ts_raw, resource, lc, _row and a:<field> columns. A column the mapping names
    that the file lacks is a problem; MappingError lists them all."""
    from dealpulse.ingest.readers import normalise_header, read_csv

    raw = read_csv(path, lang)
    frame = raw.frame
    available = raw.columns
    problems = []

    def column(key: str, name: str | None, line: int | None) -> pl.Expr:
        if name is None:
            return pl.lit(None, dtype=pl.Utf8)
        norm = normalise_header(name)
        if norm in frame.columns:
            return pl.col(norm)
        near = closest(norm, available)
        problems.append(
            f"{where(mapping.source, line, lang)}: "
            + t("eventlog.map.no_column", lang, key=key, column=name, file=path.name,
                columns=", ".join(raw.headers.get(c, c) for c in available))
            + (f" {t('eventlog.map.did_you_mean', lang, name=raw.headers.get(near, near))}" if near else "")
        )
        return pl.lit(None, dtype=pl.Utf8)

    cols = [
        column("case", source.case, source.lines.get("case")).alias("case"),
        (pl.lit(source.activity_value, dtype=pl.Utf8) if source.activity_value is not None
         else column("activity", source.activity, source.lines.get("activity"))).alias("activity"),
        column("timestamp", source.timestamp, source.lines.get("timestamp")).alias("ts_raw"),
        column("resource", source.resource, source.lines.get("resource")).alias("resource"),
        column("lifecycle", source.lifecycle, source.lines.get("lifecycle")).str.to_lowercase().alias("lc"),
        pl.col("_row"),
    ]
    attr_cols, attr_names = attribute_columns(source, lambda a: column(f"attributes.{a.target}", a.column, a.line))
    if problems:
        raise MappingError(t("eventlog.map.problems", lang, file=mapping.source, n=len(problems)),
                           problems=problems, suggestion=t("eventlog.map.columns_suggestion", lang))
    return frame.select(cols + attr_cols), attr_names
