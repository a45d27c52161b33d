"""The Bitrix24 preset: `dealpulse import PATH --source bitrix24 [--mapping account.yaml]`.

PATH is one of Bitrix24's own export shapes (read by `bitrix24_shapes`, `bitrix24_grid`):
BI-connector datasets (a folder with crm_deal, crm_deal_stage_history, crm_activity, crm_deal_uf,
user), a REST dump folder (crm.deal.list*.json, crm.stagehistory.list*.json, ...), or the deal
grid's «Excel» export (an HTML table named .xls). `bitrix24_build` turns it into native tables; the
account.yaml maps stages, steps, custom fields and values. `--explore` lists what the export holds
and writes a starter account.yaml.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from pathlib import Path
from typing import Any

from dealpulse.i18n import t
from dealpulse.ingest.presets.account import Account
from dealpulse.ingest.presets.base import Exploration, Item, Pipeline, PresetRead, starter_yaml, text_table
from dealpulse.ingest.presets.bitrix24_build import (
    ACTIVITY_TYPES, PROVIDER_TYPES, FINAL_IDS, FINAL_NAMES, _col, _stage_parts, build, shape_notes,
)
from dealpulse.ingest.presets.bitrix24_shapes import GRID, Portal, read_portal

STEP_LIKE_PROVIDERS = {"crm_todo", "tasks", "tasks_task", "crm_meeting", "crm_call_tracker", "rest_app"}


class Bitrix24Preset:
    name = "bitrix24"

    def read(self, path: Path, account: Account, lang: str) -> PresetRead:
        portal = read_portal(Path(path), lang)
        built = build(portal, account, account.tz or "UTC", lang)
        tables = {name: text_table(Path(path), built.labels.get(name, name), frame)
                  for name, frame in built.tables.items()}
        for name, raw in tables.items():  # messages name the Bitrix24 field: "DATE_CREATE (created_at)"
            raw.headers.update(built.headers.get(name, {}))
        return PresetRead(tables=tables, warnings=[t("presets.bitrix24.shape." + portal.shape, lang,
                                                     files=portal.described_files())] + built.warnings)

    def explore(self, path: Path, lang: str) -> Exploration:
        portal = read_portal(Path(path), lang)
        return explore_portal(portal, str(path), lang)

    def starter_account(self, exploration: Exploration, *, playbook: Any = None, lang: str = "en") -> str:
        """The common starter, but a stage name met again in a later pipeline (new pipelines copy
        the default names) is keyed by its id there, its name in the comment (the grid, which has
        no ids: by "Pipeline: Stage"): one key per line."""
        ex = copy.deepcopy(exploration)
        seen: dict[str, Item] = {}
        renamed: dict[str, str] = {}
        for p in ex.pipelines:
            kept = []
            for s in p.stages:
                first = seen.get(s.name or "")
                if first is not None and s.kind is None and s.id:
                    renamed[s.id] = s.name or ""
                    s.name = None
                elif first is not None and s.kind is None:  # the grid has no ids: "Pipeline: Stage"
                    s.name = f"{p.name}: {s.name}" if p.name else s.name
                elif s.name:
                    seen[s.name] = s
                kept.append(s)
            p.stages = kept
        text = starter_yaml(ex, playbook=playbook, lang=lang)
        for sid, name in renamed.items():
            line = re.compile(rf"^(  ['\"]?{re.escape(sid)}['\"]?: null\s+# )", re.M)
            text = line.sub(lambda m, name=name: f"{m.group(1)}«{name}», ", text, count=1)
        return text


def _semantic(portal: Portal, sid: str | None, name: str | None, given: str | None) -> str | None:
    if given in ("S", "F", "P"):
        return given
    if sid and (sem := portal.stage_semantics.get(sid)):
        return sem
    if sid and (sem := FINAL_IDS.get(sid.split(":")[-1].upper())):
        return sem
    return FINAL_NAMES.get((name or "").strip().lower())


def explore_portal(portal: Portal, path: str, lang: str = "en") -> Exploration:
    """Pipelines and their stages (each id once, its name, deals now and entries in the history),
    activity kinds, custom fields with their values, users: each with counts."""
    d = portal.deals
    ex = Exploration(source="bitrix24", path=path, deals=d.height)
    stage_count: Counter = Counter()
    names: dict[str, str | None] = {}
    sems: dict[str, str | None] = {}
    pipeline_of: dict[str, str] = {}
    frames = [(d, True)] + ([(portal.history, False)] if portal.history is not None else [])
    for frame, is_deal in frames:
        sid, sname = _stage_parts(frame)
        cat = _col(frame, "category_id", "category_name")
        for a, b, c, s in zip(sid.to_list(), sname.to_list(), cat.to_list(), _col(frame, "stage_semantic_id").to_list()):
            key = a or (f"{c or ''}\x1f{b}" if b else "?")  # the grid names stages; a name may be in two pipelines
            if is_deal:
                stage_count[key] += 1
            else:
                stage_count.setdefault(key, 0)
            names.setdefault(key, portal.stage_names.get(a or "") or b)
            if names[key] is None:
                names[key] = portal.stage_names.get(a or "") or b
            sems.setdefault(key, _semantic(portal, a, names[key], s))
            prefix = key.split(":")[0][1:] if key.startswith("C") and ":" in key else "0"
            pipeline_of.setdefault(key, c if c is not None else prefix if portal.shape != GRID else "")
    for sid, name in portal.stage_names.items():  # stages no deal is in (REST crm.status.list)
        if sid not in stage_count:
            stage_count[sid] = 0
            names[sid] = name
            sems[sid] = _semantic(portal, sid, name, None)
            pipeline_of[sid] = sid.split(":")[0][1:] if sid.startswith("C") and ":" in sid else "0"
    by_pipe: dict[str, list[Item]] = {}
    for key in stage_count:
        kind = {"S": "won", "F": "lost"}.get(sems.get(key) or "")
        item = Item(id=key if portal.shape != GRID else None, name=names.get(key), count=stage_count[key], kind=kind)
        by_pipe.setdefault(pipeline_of.get(key) or "", []).append(item)
    for pid, items in sorted(by_pipe.items()):
        pname = portal.categories.get(pid) or (t("presets.bitrix24.main_pipeline", lang) if pid in ("0", "") else
                                               pid if portal.shape == GRID else None)
        ex.pipelines.append(Pipeline(id=(pid or None) if portal.shape != GRID else None, name=pname, stages=items))
    if portal.activities is not None:
        a = portal.activities
        kinds: Counter = Counter()
        for subj, prov, tid in zip(_col(a, "subject").to_list(), _col(a, "provider_id").to_list(), _col(a, "type_id").to_list()):
            generic = PROVIDER_TYPES.get((prov or "").lower()) or ACTIVITY_TYPES.get(tid or "")
            if (prov or "").lower() in STEP_LIKE_PROVIDERS or tid in ("3", "6"):
                kinds[(prov or tid or "", subj)] += 1  # a to-do or task: its subject may be a playbook step
            else:
                kinds[(prov or tid or "", generic)] += 1
        ex.task_types = [Item(id=k[0], name=k[1], count=n) for k, n in kinds.most_common(40)]
    for key, uf in portal.fields.items():
        if key not in d.columns:
            continue
        vals = Counter(v for v in d[key].to_list() if v)
        shown = Counter()
        for v, n in vals.items():
            for part in (str(v).split(",") if uf.items else [v]):
                shown[uf.items.get(part.strip(), part.strip())] += n
        values = [Item(id=None, name=v, count=n) for v, n in shown.most_common(12)] if len(shown) <= 30 else []
        ex.fields.append(Item(id=uf.code if uf.code != uf.label else None, name=uf.label or uf.code,
                              count=sum(vals.values()), values=values))
    if portal.shape == GRID:
        owners = Counter(_col(d, "assigned_name").drop_nulls().to_list())
        ex.users = [Item(id=None, name=n, count=c) for n, c in owners.most_common()]
    else:
        owners = Counter(_col(d, "assigned_by_id").drop_nulls().to_list())
        ex.users = [Item(id=u, name=portal.users.get(u), count=c) for u, c in owners.most_common()]
    ex.notes = shape_notes(portal, lang)
    return ex


PRESET = Bitrix24Preset()
