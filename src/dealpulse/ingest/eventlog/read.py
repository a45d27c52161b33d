"""The entry points: read an event log by its mapping into native frames and quarantine rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl

from dealpulse.errors import InputError, MappingError
from dealpulse.i18n import t
from dealpulse.ingest.eventlog.frames import build_frames
from dealpulse.ingest.eventlog.mapping import load_mapping
from dealpulse.ingest.eventlog.model import EventLogMapping, closest, is_eventlog_path
from dealpulse.ingest.eventlog.sources import SourceRead, read_source, resolve


@dataclass
class EventLogResult:
    frames: dict[str, pl.DataFrame]
    quarantine: list[dict]
    warnings: list[str]
    mapping: EventLogMapping
    events: int
    seconds_read: float = 0.0


def read_eventlog(path: str | Path, mapping_path: str | Path | None, tz: str | None = None,
                  progress: Callable[..., None] | None = None, *, lang: str = "en",
                  warnings: list[str] | None = None) -> tuple[dict[str, pl.DataFrame], list[dict]]:
    """(typed native frames, quarantine rows) from the event log at `path` read by the mapping.

    Frames: deals, stage_history, tasks, field_history, managers (with `_file`/`_row` on the first
    three). Messages for the user (activities the mapping names that the log never has, ...) are
    appended to `warnings` when a list is given."""
    result = import_eventlog(path, mapping_path, tz, progress, lang=lang)
    if warnings is not None:
        warnings.extend(result.warnings)
    return result.frames, result.quarantine


def import_eventlog(path: str | Path, mapping_path: str | Path | None, tz: str | None = None,
                    progress: Callable[..., None] | None = None, *, lang: str = "en") -> EventLogResult:
    from dealpulse.ingest.parse import check_tz

    path = Path(path)
    if not path.exists():
        raise InputError(t("eventlog.file_missing", lang, file=str(path)), suggestion=t("eventlog.file_missing.suggestion", lang))
    xes = is_eventlog_path(path)
    if mapping_path is None:
        raise MappingError(t("eventlog.map.needed", lang, file=str(path)), suggestion=t("eventlog.map.needed.suggestion", lang))
    mapping = load_mapping(mapping_path, is_xes=xes, lang=lang)
    zone = tz or mapping.tz or "UTC"
    try:
        tz_name = check_tz(zone)
    except ValueError:
        raise InputError(t("eventlog.bad_tz", lang, tz=zone), suggestion=t("eventlog.bad_tz.suggestion", lang)) from None
    reads: list[SourceRead] = []
    for source in mapping.sources:
        file = resolve(path, source, mapping, lang)
        _progress(progress, f"read:{file.name}", 0, 1)
        reads.append(read_source(file, source, mapping, tz_name, lang, progress))
        _progress(progress, f"read:{file.name}", 1, 1)
    quarantine = [q for r in reads for q in r.quarantine]
    events = pl.concat([r.events for r in reads], how="diagonal_relaxed") if reads else pl.DataFrame()
    targets = list(dict.fromkeys(a.target for s in mapping.sources for a in s.attributes))
    for target in targets:
        if f"a:{target}" not in events.columns:
            events = events.with_columns(pl.lit(None, dtype=pl.Utf8).alias(f"a:{target}"))
    seen = set(events["activity"].unique().to_list()) if events.height else set()
    warnings = _unseen_activities(mapping, seen, lang)
    if events.height == 0:
        raise InputError(t("eventlog.no_events", lang, file=str(path)), suggestion=t("eventlog.no_events.suggestion", lang))
    label = f"check:{path.name}"  # the CLI shows "Checking NAME" (ingest.progress.check)
    _progress(progress, label, 0, 1)
    frames = build_frames(events, targets, mapping, lang, quarantine)
    _progress(progress, label, 1, 1)
    return EventLogResult(frames=frames, quarantine=quarantine, warnings=warnings, mapping=mapping, events=events.height)


def _unseen_activities(mapping: EventLogMapping, seen: set, lang: str) -> list[str]:
    """A warning (with its line) for each activity the mapping names that the log never has."""
    warnings: list[str] = []
    for section, rules in (("stages", mapping.stages), ("steps", mapping.steps), ("outcome", mapping.won + mapping.lost)):
        if section == "outcome" and mapping.outcome_attribute is not None:
            continue
        for r in rules:
            if r.activity not in seen:
                line = mapping.line_of(section, r.activity) or mapping.line_of("outcome")
                near = closest(r.activity, seen)
                warnings.append(
                    t("eventlog.warn.unseen_activity", lang, where=t("eventlog.where_line", lang, file=mapping.source, line=line),
                      activity=r.activity)
                    + (f" {t('eventlog.map.did_you_mean', lang, name=near)}" if near else ""))
    return warnings


def _progress(progress: Callable[..., None] | None, label: str, done: int, total: int) -> None:
    """`progress(label, done, total)`, as `dealpulse.ingest.import_path` passes it on."""
    if progress is not None:
        progress(label, done, total)
