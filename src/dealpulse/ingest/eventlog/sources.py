"""Reading one source of a mapping (an XES or CSV file) into events, with quarantine rows for the
events that cannot be read (no case, no activity, no or a bad timestamp)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import polars as pl

from dealpulse.errors import InputError, MappingError
from dealpulse.i18n import t
from dealpulse.ingest.eventlog.csvlog import csv_frame
from dealpulse.ingest.eventlog.model import (
    EVENT_TABLE, Q_REQUIRED, Q_TIMESTAMP, Q_TIMESTAMP_GAP, EventLogMapping, Source, closest, is_eventlog_path, where,
)
from dealpulse.ingest.eventlog.xeslog import xes_frame


@dataclass
class SourceRead:
    events: pl.DataFrame  # case, activity, lc, ts, resource, _src, _seq, _file, _row, a:<target>...
    quarantine: list[dict]


def resolve(path: Path, source: Source, mapping: EventLogMapping, lang: str) -> Path:
    """The file of `source`: its `file:` beside `path` (a folder or a file), else `path` itself."""
    if source.file is None:
        if path.is_dir():
            raise MappingError(
                t("eventlog.map.source_needs_file_for_dir", lang, where=_where(mapping, source, "file", lang), folder=str(path)),
                suggestion=t("eventlog.map.suggestion", lang))
        return path
    f = Path(source.file).expanduser()
    if f.is_absolute():
        target = f
    else:
        base = path if path.is_dir() else path.parent
        target = base / f
        if not target.exists() and path.is_file() and path.name == f.name:
            target = path
    if not target.is_file():
        near = ""
        folder = target.parent
        if folder.is_dir():
            near = closest(target.name, [p.name for p in folder.iterdir()])
        raise InputError(
            t("eventlog.source_missing", lang, where=_where(mapping, source, "file", lang), file=str(target)),
            suggestion=(t("eventlog.map.did_you_mean", lang, name=near) + " " if near else "")
            + t("eventlog.file_missing.suggestion", lang),
        )
    return target


def _where(mapping: EventLogMapping, source: Source, key: str, lang: str = "en") -> str:
    return where(mapping.source, source.lines.get(key) or source.line, lang)


def read_source(path: Path, source: Source, mapping: EventLogMapping, tz: str, lang: str,
                progress: Callable[..., None] | None) -> SourceRead:
    from dealpulse.ingest.parse import parse_timestamps

    if is_eventlog_path(path):
        frame, _ = xes_frame(path, source, mapping, lang, progress)
    else:
        frame, _ = csv_frame(path, source, mapping, lang)
    n = frame.height
    frame = frame.with_columns(
        pl.lit(source.index, dtype=pl.Int32).alias("_src"),
        pl.int_range(n, dtype=pl.Int64).alias("_seq"),
        pl.lit(path.name).alias("_file"),
    )
    ts, problem = parse_timestamps(frame["ts_raw"], tz)
    frame = frame.with_columns(ts.alias("ts"), problem.alias("_ts_problem"))
    frame = _midnight_gaps(frame, tz)
    quarantine: list[dict] = []
    bad = frame.filter(
        pl.col("case").is_null() | pl.col("activity").is_null() | pl.col("ts").is_null()
    )
    if bad.height:
        raw_cols = [c for c in bad.columns if not c.startswith("_") and c != "ts"]
        for r in bad.iter_rows(named=True):
            if r["case"] is None:
                column, reason, expected, found = source.case, Q_REQUIRED, None, None
            elif r["activity"] is None:
                column, reason, expected, found = source.activity or "activity", Q_REQUIRED, None, None
            elif r["ts_raw"] is None:
                column, reason, expected, found = source.timestamp, Q_REQUIRED, None, None
            elif r["_ts_problem"] == "timestamp_gap":
                column, reason, expected, found = source.timestamp, Q_TIMESTAMP_GAP, tz, r["ts_raw"]
            else:
                column, reason, expected, found = source.timestamp, Q_TIMESTAMP, None, r["ts_raw"]
            quarantine.append({
                "table_name": EVENT_TABLE, "file": r["_file"], "row_number": r["_row"], "column_name": column or "",
                "reason": reason, "expected": expected, "found": found,
                "raw": json.dumps({c: r[c] for c in raw_cols}, ensure_ascii=False, default=str),
            })
        frame = frame.filter(pl.col("case").is_not_null() & pl.col("activity").is_not_null() & pl.col("ts").is_not_null())
    frame = frame.drop("ts_raw", "_ts_problem")
    return SourceRead(frame, quarantine)


_DATE_ONLY = r"^\s*(?:\d{4}-\d{2}-\d{2}|\d{2}\.\d{2}\.\d{4})\s*$"


def _midnight_gaps(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """A bare date means the start of that day; where the clocks moved forward at midnight
    (Brazil, 2017-10-15), 00:00 does not exist and the day starts at the moment of the change."""
    gap = (pl.col("_ts_problem") == "timestamp_gap") & pl.col("ts_raw").str.contains(_DATE_ONLY)
    if not frame.select(gap.any()).item():
        return frame
    from zoneinfo import ZoneInfo
    from datetime import timezone

    zone = ZoneInfo(tz)
    fixed = []
    for raw in frame.filter(gap)["ts_raw"].to_list():
        text = raw.strip()
        if "." in text:
            d, m, y = text.split(".")
            text = f"{y}-{m}-{d}"
        local = datetime.fromisoformat(text).replace(tzinfo=zone)  # fold=0: the offset before the change
        fixed.append(local.astimezone(timezone.utc).replace(tzinfo=None))
    idx = frame.with_row_index("_k").filter(gap)["_k"]
    ts = frame["ts"].scatter(idx, pl.Series(fixed, dtype=pl.Datetime("us")))
    problem = frame["_ts_problem"].scatter(idx, pl.Series([None] * len(fixed), dtype=pl.Utf8))
    return frame.with_columns(ts.alias("ts"), problem.alias("_ts_problem"))
