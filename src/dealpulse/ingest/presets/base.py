"""The contract between a CRM preset and the importer, and helpers presets share.

A preset reads a CRM's export (a file or a folder) and hands the importer native tables as text
(`RawFile`s whose columns are native column names; deals may carry attribute columns too; `_row`
is the row in the source and `label` the source file, so quarantine names file, row, column).
Those tables then take the same path as a file import: `mapping.resolve` (identity mapping) ->
`checks.check_table` -> `write.write_tables`, all or nothing, re-import changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Protocol

import polars as pl
import yaml

from dealpulse.ingest.presets.account import Account
from dealpulse.ingest.readers import RawFile


@dataclass
class PresetRead:
    tables: dict[str, RawFile]  # native table name -> text table (columns = native names)
    warnings: list[str] = field(default_factory=list)  # what the shape cannot carry, in the user's language


@dataclass
class Item:
    """One thing an exploration lists: a stage, a task type, a custom field, a user, a value."""

    id: str | None
    name: str | None
    count: int = 0
    kind: str | None = None  # stage: "won"/"lost"/None; field: its CRM type
    values: list["Item"] = field(default_factory=list)


@dataclass
class Pipeline:
    id: str | None
    name: str | None
    stages: list[Item] = field(default_factory=list)


@dataclass
class Exploration:
    """What an export holds that an account.yaml maps: pipelines and stages, task types, custom
    fields and their values, users, each with how many deals (tasks) carry it."""

    source: str
    path: str
    deals: int = 0
    pipelines: list[Pipeline] = field(default_factory=list)
    task_types: list[Item] = field(default_factory=list)
    fields: list[Item] = field(default_factory=list)
    users: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what this shape cannot carry (same as import warnings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Preset(Protocol):
    name: str

    def read(self, path: Path, account: Account, lang: str) -> PresetRead: ...

    def explore(self, path: Path, lang: str) -> Exploration: ...

    def starter_account(self, exploration: Exploration, *, playbook: Any = None, lang: str = "en") -> str: ...
        # YAML text of a starter account.yaml (`starter_yaml` below writes the common form)


# -- helpers ------------------------------------------------------------------------------------
def text_table(path: Path, label: str, frame: pl.DataFrame | dict[str, list[Any]]) -> RawFile:
    """A RawFile of native column names from a frame or {column: values}: every cell as text
    (empty -> null); `_row` kept if the frame has it, else 1, 2, 3..."""
    if isinstance(frame, dict):
        frame = pl.DataFrame({k: pl.Series(k, [None if v is None else str(v) for v in vals], dtype=pl.Utf8)
                              for k, vals in frame.items()})
    cols = [c for c in frame.columns if c != "_row"]
    out = frame.with_columns([pl.col(c).cast(pl.Utf8) for c in cols])
    out = out.with_columns([pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0).then(pl.col(c).str.strip_chars())
                            .alias(c) for c in cols])
    if "_row" not in out.columns:
        out = out.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_row"))
    out = out.with_columns(pl.col("_row").cast(pl.Int64))
    return RawFile(path=path, label=label, frame=out.select(cols + ["_row"]), headers={c: c for c in cols})


def iso_utc(seconds: Any) -> str | None:
    """Unix seconds as an ISO time with its offset (the importer converts it to the store's UTC)."""
    if seconds is None or seconds == "" or isinstance(seconds, bool):
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)  # left as found: the check quarantines it, naming the row
    if value <= 0:
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc).isoformat()


def counted(values: Iterable[Any]) -> list[tuple[str, int]]:
    """(value, count) most frequent first, ties by value; None left out."""
    counts: dict[str, int] = {}
    for v in values:
        if v is None or v == "":
            continue
        counts[str(v)] = counts.get(str(v), 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _q(value: Any) -> str:
    """A YAML scalar key or value, quoted when needed (safe_dump does the quoting)."""
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _ident(item: Item) -> str:
    return f"id {item.id}, " if item.id and item.name else ""


def few_values(values: list[Any], limit: int = 30) -> list[Item]:
    """A field's values with counts, when it has few distinct ones (a list field); [] for free text."""
    pairs = counted(values)
    return [Item(id=None, name=v, count=c) for v, c in pairs] if pairs and len(pairs) <= limit else []


def starter_yaml(exploration: Exploration, *, playbook: Any = None, lang: str = "en",
                 value_fields_limit: int = 12) -> str:
    """A starter account.yaml: every stage, task type and custom field of the export as a key with
    an empty target (null: left unmapped until filled in) and comments with counts and choices."""
    from dealpulse.i18n import t
    from dealpulse.playbook import load_playbook

    pb = playbook or load_playbook(None)
    stage_choices = ", ".join(list(pb.stages) + ["won", "lost"])
    step_choices = ", ".join(s.name for s in pb.steps)
    lines = [t("presets.starter.head", lang, source=exploration.source, path=exploration.path), ""]
    lines.append(f"# {t('presets.starter.stages', lang, choices=stage_choices)}")
    lines.append("stages:")
    any_stage = False
    for p in exploration.pipelines:
        if p.name or p.id:
            lines.append(f"  # {t('presets.starter.pipeline', lang, name=p.name or '—', id=p.id or '—')}")
        for s in p.stages:
            ident = f" ({s.id})" if s.id and s.name else ""
            if s.kind in ("won", "lost"):
                lines.append(f"  # {s.name or s.id}{ident}: {s.kind} — {t('presets.starter.builtin', lang)}")
                continue
            any_stage = True
            key = s.name if s.name else s.id
            lines.append(f"  {_q(key)}: null    # {_ident(s)}{t('presets.starter.deals', lang, n=s.count)}")
    if not any_stage:
        lines.append("  {}")
    lines.append("")
    lines.append(f"# {t('presets.starter.steps', lang, choices=step_choices)}")
    lines.append("steps:")
    if exploration.task_types:
        for tt in exploration.task_types:
            key = tt.name if tt.name else tt.id
            lines.append(f"  {_q(key)}: null    # {_ident(tt)}{t('presets.starter.tasks', lang, n=tt.count)}")
    else:
        lines.append("  {}")
    lines.append("")
    lines.append(f"# {t('presets.starter.fields', lang)}")
    lines.append("fields:")
    if exploration.fields:
        for f in exploration.fields:
            key = f.name if f.name else f.id
            lines.append(f"  {_q(key)}: null    # {_ident(f)}{t('presets.starter.deals', lang, n=f.count)}")
    else:
        lines.append("  {}")
    lines.append("")
    lines.append(f"# {t('presets.starter.values', lang)}")
    lines.append("values:")
    shown = 0
    for f in exploration.fields:
        if not f.values or shown >= value_fields_limit:
            continue
        shown += 1
        lines.append(f"  # {f.name or f.id}: " + ", ".join(f"{_q(v.name)}: null" for v in f.values[:12]))
    lines.append("  {}")
    lines.append("")
    lines.append("tz: Europe/Moscow    # " + t("presets.starter.tz", lang))
    return "\n".join(lines) + "\n"
