"""Import a process-mining event log (XES, or CSV files of events) as native deal tables.

    frames, quarantine = read_eventlog(path, mapping_path, tz)

`path` is an `.xes`/`.xes.gz` file, a CSV file, or a folder holding the files the mapping names.
The mapping (YAML, `format: eventlog`; see docs/eventlogs.md) says where case id, activity,
timestamp, resource and lifecycle are, and how to read the events as a deal cycle:

- a case is a deal; `created_at` is the time of its first event (any activity);
- `stages`: activities that are stage entries. With `stage_entries: change` (the default) a row is
  written each time the case moves into a stage other than the one it is in (so a step back and
  forth is seen, and several activities mapped to one stage in a row give one entry); with
  `first`, only the first entry into each stage. Stage events after the outcome are ignored;
- `steps`: activities that are steps, each giving tasks of a type. Work items with a lifecycle
  (SCHEDULE/ASSIGN, START/RESUME, COMPLETE, WITHDRAW/ATE_ABORT/PI_ABORT) are paired per case and
  activity: a COMPLETE closes the item opened by the earliest SCHEDULE (else START) before it, giving
  a `done` task with created_at = that opening and completed_at = the COMPLETE; an event without a
  lifecycle (or one filtered by `lifecycle:`) is a task done at its time. An item never completed is
  `open` while the case is open and `cancelled` once it is closed;
- `outcome`: activities meaning won or lost; the first one of a case decides, at its time (with
  `lost_reason` from the mapping). Cases with neither stay open, unless `lost_after` makes a case
  with no outcome that long after its creation lost at that moment (if the log reaches it);
- `owner`: the resource of the first event whose resource is not in `ignore` (system users), so
  the owner is known from that moment: `field_history` gets the `default` owner from created_at and
  the chosen one from that event on; the deal's `owner` column is the chosen one;
- `attributes` of each source: deal fields (amount, segment, channel, account_id, title, currency)
  or any other field, from columns (known from the time of their row's event) or XES trace
  attributes (known from the case's first event). Every change goes to `field_history`, so as-of
  values never show what was not known yet; the deal's column holds the last value.

Only library code: no printing. Problems with the mapping raise MappingError listing every one
with its line; rows that cannot be read go to quarantine rows (dicts) and the rest is imported.

Modules: `model` (the mapping as data, constants), `mapping` (parse and check a mapping file),
`sources` (read one source: `xeslog` for XES, `csvlog` for CSV; quarantine), `frames` (events to
native frames; `tasks` pairs lifecycle events), `read` (the entry points below).
"""

from dealpulse.ingest.eventlog.frames import build_frames
from dealpulse.ingest.eventlog.mapping import check_against_playbook, load_mapping, parse_mapping
from dealpulse.ingest.eventlog.model import (
    DEFAULT_OWNER, ENDING_CANCEL, EVENT_TABLE, FORMAT, NATIVE_DEAL_FIELDS, OPENING, OUTCOME_KEYS, OWNER_KEYS,
    Q_NUMBER, Q_REQUIRED, Q_TIMESTAMP, Q_TIMESTAMP_GAP, RESERVED_FIELDS, RULE_KEYS, SOURCE_KEYS, STAGE_ENTRY_MODES,
    STARTING, TOP_KEYS, XES_DEFAULTS, XES_SUFFIXES, Attr, EventLogMapping, Rule, Source, is_eventlog_mapping,
    is_eventlog_path,
)
from dealpulse.ingest.eventlog.read import EventLogResult, import_eventlog, read_eventlog

__all__ = ["EventLogMapping", "EventLogResult", "build_frames", "check_against_playbook", "import_eventlog",
           "is_eventlog_mapping", "is_eventlog_path", "load_mapping", "parse_mapping", "read_eventlog"]
