"""amoCRM (Kommo): the UI export of deals (CSV/XLSX) and an API v4 dump folder.

UI export (`amocrm_export_leads_YYYY-MM-DD.csv|xlsx`): one row per deal, Russian headers, the
current layout (`ID, Название сделки, Бюджет, Ответственный, Этап сделки, …, Дата создания, Дата
изменения, …`) or the older 76-column one (`… Дата создания сделки, Кем создана сделка, Дата
закрытия, Теги, Этап сделки, Воронка, …, utm_*`); stray spaces in headers; «не закрыта» in the close
date of an open deal; CSV in Windows-1251 or UTF-8 with a BOM, `;`; `DD.MM.YYYY HH:MM[:SS]` in the
account's zone. It is a snapshot: the current stage only, no tasks.

API v4 dump: a folder of JSON pages as the API returns them (`{"_page": n, "_embedded": {"leads":
[...]}}`, unix-second timestamps), one file per page named `<entity>[anything].json` (or a JSON
list of pages): leads, events, tasks, notes, users, pipelines, loss_reasons, task_types (or the
account's `_embedded.task_types` in `account*.json`), and optionally custom_fields. Statuses 142
(won) and 143 (lost) exist in every pipeline. Events carry the stage history
(`lead_status_changed`: value_before/value_after = [{"lead_status": {"id", "pipeline_id"}}]) and the
field history (`custom_field_value_changed` / `custom_field_<ID>_value_changed`: [{"custom_field_value":
{"field_id", "text"}}], `sale_field_changed`: [{"sale_field_value": {"sale"}}]). Tasks carry
`task_type_id`, `complete_till`, `is_completed`, `result.text` and no completion time: the
`updated_at` of a completed task is taken as its completion (said in a warning). Notes of logged
calls (`call_in`, `call_out`), e-mails, SMS and common notes become done activities.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.ingest.presets.account import DEAL_FIELD_COLUMNS, Account, key_of
from dealpulse.ingest.presets.base import (Exploration, Item, Pipeline, PresetRead, counted, few_values, iso_utc,
                                           starter_yaml, text_table)
from dealpulse.ingest.readers import CSV_SUFFIXES, XLSX_SUFFIXES, RawFile, normalise_header, read_file

WON_ID, LOST_ID = 142, 143
WON_NAMES = ("успешно реализовано", "closed - won", "closed won", "successfully realized")
LOST_NAMES = ("закрыто и не реализовано", "closed - lost", "closed lost", "closed and not realized")
NOT_CLOSED = ("не закрыта", "не закрыто", "not closed")
# API dump: file name prefix -> entity (longer prefixes first: task_types before tasks)
ENTITIES = ("task_types", "tasks", "loss_reasons", "leads", "events", "notes", "users", "pipelines",
            "custom_fields", "account")
# notes that are a person's logged activity, and the activity type each becomes unless `steps:` maps it
ACTIVITY_NOTES = {"call_in": "call", "call_out": "call", "amomail_message": "email", "sms_in": "sms",
                  "sms_out": "sms", "zoom_meeting": "meeting", "common": "note"}
_CF_EVENT = re.compile(r"^custom_field_(?:(\d+)_)?value_changed$")

# UI export: normalised header -> role. Headers not listed are account-specific (custom) fields.
UI_COLUMNS = {
    "id": "deal_id", "название сделки": "title", "бюджет": "amount", "ответственный": "owner",
    "этап сделки": "stage", "воронка": "pipeline", "компания": "account_id",
    "дата создания сделки": "created_at", "дата создания": "created_at",
    "дата закрытия": "closed_at", "дата изменения": "updated_at", "дата редактирования": "updated_at",
    "источник": "channel", "причина отказа": "lost_reason", "валюта": "currency",
}
_UI_NOISE = re.compile(r"^(примечание( \d+)?|теги( сделки)?|кем (создана сделка|редактирована)|ближайшая задача|"
                       r"основной контакт|полное имя контакта|компания контакта|ответственный за контакт|"
                       r".*\((контакт|компания)\)|.*телефон.*|.*e-?mail.*|utm_.*|roistat.*|yclid|gclid|"
                       r"_ym_uid|referrer|from|openstat_.*|fbclid|gclientid)$")


class AmoCRM:
    name = "amocrm"

    # -- entry points --------------------------------------------------------------------------
    def read(self, path: Path, account: Account, lang: str = "en") -> PresetRead:
        if path.is_dir() and _dump_files(path):
            return _read_api(path, account, lang)
        return _read_ui(_ui_file(path, lang), account, lang)

    def explore(self, path: Path, lang: str = "en") -> Exploration:
        if path.is_dir() and _dump_files(path):
            return _explore_api(path, lang)
        return _explore_ui(_ui_file(path, lang), lang)

    def starter_account(self, exploration: Exploration, *, playbook: Any = None, lang: str = "en") -> str:
        """The common starter; a stage name met again in a later pipeline is keyed `Pipeline: Stage`
        there (the plain name maps it in every pipeline, the qualified key in that one only)."""
        ex = copy.deepcopy(exploration)
        seen: set[str] = set()
        for p in ex.pipelines:
            for st in p.stages:
                if st.kind is None and st.name is not None:
                    if st.name in seen and p.name:
                        st.name = qualified(p.name, st.name)
                    seen.add(st.name)
        return starter_yaml(ex, playbook=playbook, lang=lang)


PRESET = AmoCRM()


# =============================================================================================
# UI export
# =============================================================================================
def _ui_file(path: Path, lang: str) -> Path:
    if path.is_file():
        return path
    tables = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CSV_SUFFIXES + XLSX_SUFFIXES
                    and not p.name.startswith((".", "~$")))
    exports = [p for p in tables if p.name.lower().startswith("amocrm_export_leads")]
    pick = exports or tables
    if not pick:
        raise InputError(t("presets.err.nothing", lang, path=str(path), source="amocrm"),
                         suggestion=t("presets.amocrm.err.nothing.suggestion", lang))
    return pick[-1]  # the latest export by its dated name


def _read_ui_raw(path: Path, lang: str) -> RawFile:
    raws = read_file(path, None, lang)
    raw = raws[0]
    roles = {UI_COLUMNS[c] for c in raw.columns if c in UI_COLUMNS}
    if not {"deal_id", "stage"} <= roles:
        raise InputError(t("presets.amocrm.err.not_export", lang, file=path.name,
                           found=", ".join(raw.headers.get(c, c) for c in raw.columns[:12])),
                         suggestion=t("presets.amocrm.err.not_export.suggestion", lang))
    return raw


def _role_columns(raw: RawFile) -> dict[str, str]:
    """role -> the normalised header feeding it (the first present; 'дата создания сделки' first)."""
    out: dict[str, str] = {}
    for header, role in UI_COLUMNS.items():
        if header in raw.columns and role not in out:
            out[role] = header
    return out


def _terminal(stage: str | None) -> str | None:
    if stage is None:
        return None
    low = key_of(stage)
    if low in WON_NAMES or low == str(WON_ID):
        return "won"
    if low in LOST_NAMES or low == str(LOST_ID):
        return "lost"
    return None


def qualified(pipeline: Any, stage: Any) -> str | None:
    """`Pipeline: Stage`, the account-file key of a stage of one pipeline only (names repeat across pipelines)."""
    return f"{pipeline}: {stage}" if pipeline is not None and stage is not None else None


def _stage_map(pairs: Iterable[tuple[str | None, str | None]], account: Account) -> tuple[dict[tuple, str], list[str]]:
    """(pipeline, CRM stage name) -> the stage written (the account's stage, by `Pipeline: Stage` or by
    name; else won/lost for the built-in closed stages; else the CRM name); the unmapped names."""
    out: dict[tuple, str] = {}
    unmapped: list[str] = []
    for pipe, name in pairs:
        if name is None or (pipe, name) in out:
            continue
        mapped = account.stage_of(qualified(pipe, name), name)
        term = _terminal(name)
        out[(pipe, name)] = mapped or term or name
        if mapped is None and term is None and name not in unmapped:
            unmapped.append(name)
    return out, unmapped


def _read_ui(path: Path, account: Account, lang: str) -> PresetRead:
    raw = _read_ui_raw(path, lang)
    f = raw.frame
    roles = _role_columns(raw)
    warnings = [t("presets.amocrm.warn.ui_snapshot", lang, file=path.name)]
    n = f.height

    def col(role: str) -> pl.Series:
        h = roles.get(role)
        return f[h] if h else pl.Series(role, [None] * n, dtype=pl.Utf8)

    stage_names, pipes = col("stage"), col("pipeline")
    pairs = pl.DataFrame({"p": pipes, "s": stage_names})
    stages, unmapped = _stage_map(pairs.unique(maintain_order=True).rows(), account)
    lookup = pl.DataFrame({"p": [k[0] for k in stages], "s": [k[1] for k in stages], "to": list(stages.values())},
                          schema={"p": pl.Utf8, "s": pl.Utf8, "to": pl.Utf8})
    stage = pairs.join(lookup, on=["p", "s"], how="left", nulls_equal=True, maintain_order="left")["to"]
    status = pl.select(pl.when(stage.is_in(["won", "lost"])).then(stage).otherwise(pl.lit("open"))).to_series()
    closed = col("closed_at")
    closed = pl.select(pl.when(closed.str.to_lowercase().str.strip_chars().is_in(list(NOT_CLOSED)))
                       .then(None).otherwise(closed)).to_series()
    closed = pl.select(pl.when(status == "open").then(None).otherwise(closed)).to_series()
    if "closed_at" not in roles:
        no_date = int((status != "open").sum())
        if no_date and "updated_at" in roles:
            closed = pl.select(pl.when(status == "open").then(None).otherwise(col("updated_at"))).to_series()
            warnings.append(t("presets.amocrm.warn.close_from_update", lang, file=path.name, n=no_date,
                              column=raw.headers.get(roles["updated_at"], roles["updated_at"])))
    deals: dict[str, pl.Series] = {
        "deal_id": col("deal_id"), "title": col("title"), "owner": col("owner"), "amount": col("amount"),
        "created_at": col("created_at"), "closed_at": closed, "status": status, "stage": stage,
    }
    if "account_id" in roles:
        deals["account_id"] = col("account_id")
    if "currency" in roles:
        deals["currency"] = col("currency")
    lost_reason = col("lost_reason") if "lost_reason" in roles else None
    channel = col("channel") if "channel" in roles else None
    # account-specific fields: any column the account's `fields:` names (custom fields, or a built-in one)
    used = set()
    for h in raw.columns:
        target = account.field_of(raw.headers.get(h, h), h)
        if target is None:
            continue
        used.add(h)
        values = _translate(f[h], account, target)
        if target == "channel":
            channel = values
        elif target == "lost_reason":
            lost_reason = values
        else:
            deals[target] = values
    if channel is not None:
        deals["channel"] = _translate(channel, account, "channel")
    if lost_reason is not None:
        deals["lost_reason"] = pl.select(pl.when(status == "lost").then(_translate(lost_reason, account, "lost_reason"))
                                         .otherwise(None)).to_series()
    if unmapped:
        warnings.append(t("presets.amocrm.warn.stages_unmapped", lang, stages=", ".join(f"«{s}»" for s in unmapped[:10])))
    frame = pl.DataFrame({k: v.alias(k) for k, v in deals.items()}).with_columns(f["_row"])
    tables = {"deals": text_table(path, path.name, frame)}
    owners = sorted({o for o in frame["owner"].to_list() if o})
    if owners:
        tables["managers"] = text_table(path, path.name, {"manager_id": owners, "name": owners})
    if "account_id" in deals:
        names = sorted({a for a in frame["account_id"].to_list() if a})
        if names:
            tables["accounts"] = text_table(path, path.name, {"account_id": names, "name": names})
    return PresetRead(tables=tables, warnings=warnings)


def _translate(values: pl.Series, account: Account, target: str) -> pl.Series:
    vmap = account.values.get(target)
    if not vmap:
        return values
    uniq = [v for v in values.unique().to_list() if v is not None]
    hits = {v: vmap[key_of(v)] for v in uniq if key_of(v) in vmap}
    if not hits:
        return values
    return values.replace_strict(list(hits), list(hits.values()), default=values, return_dtype=pl.Utf8)


def _explore_ui(path: Path, lang: str) -> Exploration:
    raw = _read_ui_raw(path, lang)
    f = raw.frame
    roles = _role_columns(raw)
    ex = Exploration(source="amocrm", path=path.name, deals=f.height,
                     notes=[t("presets.amocrm.warn.ui_snapshot", lang, file=path.name)])
    pipes = f[roles["pipeline"]].to_list() if "pipeline" in roles else [None] * f.height
    stages = f[roles["stage"]].to_list()
    by_pipe: dict[str | None, dict[str, int]] = {}
    for p, s in zip(pipes, stages):
        if s is None:
            continue
        by_pipe.setdefault(p, {})
        by_pipe[p][s] = by_pipe[p].get(s, 0) + 1
    for p, counts in by_pipe.items():
        items = [Item(id=None, name=s, count=c, kind=_terminal(s)) for s, c in counts.items()]
        items.sort(key=lambda i: (i.kind is not None, -i.count, i.name or ""))
        ex.pipelines.append(Pipeline(id=None, name=p, stages=items))
    for h in raw.columns:
        if h in UI_COLUMNS or _UI_NOISE.match(h):
            continue
        vals = f[h].to_list()
        filled = [v for v in vals if v is not None]
        ex.fields.append(Item(id=None, name=raw.headers.get(h, h), count=len(filled), values=few_values(filled)))
    if "owner" in roles:
        ex.users = [Item(id=None, name=v, count=c) for v, c in counted(f[roles["owner"]].to_list())]
    return ex


# =============================================================================================
# API v4 dump
# =============================================================================================
def _entity_of(name: str) -> str | None:
    low = name.lower()
    if not low.endswith(".json"):
        return None
    for e in ENTITIES:
        if low.startswith(e):
            return e
    return None


def _dump_files(folder: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    def natural(p: Path) -> list:  # leads_2.json before leads_10.json
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p.name.lower())]

    for p in sorted(folder.iterdir(), key=natural):
        if p.is_file() and not p.name.startswith(".") and (e := _entity_of(p.name)) is not None:
            out.setdefault(e, []).append(p)
    return out


class _Items:
    """The items of one entity across its page files: (file name, running number, item)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, dict]] = []

    def files(self) -> list[str]:
        seen: list[str] = []
        for name, _, _ in self.rows:
            if not seen or seen[-1] != name:
                if name not in seen:
                    seen.append(name)
        return seen

    def label(self) -> str:
        names = self.files()
        return names[0] if len(names) == 1 else f"{names[0]}…{names[-1]}" if names else "—"


def _load(folder: Path, lang: str) -> dict[str, _Items]:
    out: dict[str, _Items] = {}
    for entity, paths in _dump_files(folder).items():
        items = out.setdefault(entity, _Items())
        n = 0
        for p in paths:
            try:
                data = json.loads(p.read_text(encoding="utf-8-sig") or "null")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(t("presets.amocrm.err.bad_json", lang, file=p.name, error=str(exc).splitlines()[0]),
                                 suggestion=t("presets.amocrm.err.bad_json.suggestion", lang)) from None
            for item in _page_items(data, entity):
                n += 1
                items.rows.append((p.name, n, item))
    return out


def _page_items(data: Any, entity: str) -> Iterable[dict]:
    """The entity's items in one file: a page ({"_embedded": {entity: [...]}}), a list of pages, or a list of items."""
    key = {"account": "task_types"}.get(entity, entity)
    if data is None or data == "":
        return []
    pages = data if isinstance(data, list) else [data]
    out: list[dict] = []
    for page in pages:
        if not isinstance(page, dict):
            continue
        emb = page.get("_embedded")
        if isinstance(emb, dict) and isinstance(emb.get(key), list):
            out.extend(i for i in emb[key] if isinstance(i, dict))
        elif entity != "account" and "id" in page:
            out.append(page)  # a bare item (a list of items rather than of pages)
    return out


def _latest(items: _Items) -> list[tuple[str, int, dict]]:
    """One row per id: the latest updated_at (a later page wins a tie), in first-seen order."""
    best: dict[Any, tuple[str, int, dict]] = {}
    order: list[Any] = []
    for row in items.rows:
        key = row[2].get("id")
        if key is None:
            order.append(id(row))
            best[id(row)] = row
            continue
        if key not in best:
            order.append(key)
            best[key] = row
        elif (row[2].get("updated_at") or 0) >= (best[key][2].get("updated_at") or 0):
            best[key] = row
    return [best[k] for k in order]


def _s(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Statuses:
    """Pipelines and their statuses: names for ids, won/lost for 142/143 in every pipeline."""

    def __init__(self, pipelines: _Items | None):
        self.pipelines: dict[str, str | None] = {}
        self.status: dict[tuple[str, str], str | None] = {}
        self.by_id: dict[str, str | None] = {}
        self.order: dict[str, list[str]] = {}
        for _, _, p in (pipelines.rows if pipelines else []):
            pid = _s(p.get("id"))
            if pid is None:
                continue
            self.pipelines[pid] = _s(p.get("name"))
            statuses = ((p.get("_embedded") or {}).get("statuses") or [])
            statuses = sorted((s for s in statuses if isinstance(s, dict)), key=lambda s: s.get("sort") or 0)
            for s in statuses:
                sid = _s(s.get("id"))
                if sid is None:
                    continue
                self.status[(pid, sid)] = _s(s.get("name"))
                self.by_id.setdefault(sid, _s(s.get("name")))
                self.order.setdefault(pid, []).append(sid)

    def name(self, status_id: Any, pipeline_id: Any = None) -> str | None:
        sid, pid = _s(status_id), _s(pipeline_id)
        if sid is None:
            return None
        return self.status.get((pid, sid)) if (pid, sid) in self.status else self.by_id.get(sid)

    def stage(self, status_id: Any, pipeline_id: Any, account: Account, unmapped: set) -> str | None:
        sid = _s(status_id)
        if sid is None:
            return None
        if sid == str(WON_ID):
            return account.stage_of(sid) or "won"
        if sid == str(LOST_ID):
            return account.stage_of(sid) or "lost"
        name = self.name(sid, pipeline_id)
        mapped = account.stage_of(sid, qualified(self.pipelines.get(_s(pipeline_id) or ""), name), name)
        if mapped is not None:
            return mapped
        unmapped.add(name or sid)
        return name or sid


def _field_names(data: dict[str, _Items]) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for _, _, f in (data["custom_fields"].rows if "custom_fields" in data else []):
        if _s(f.get("id")) is not None:
            names[_s(f.get("id")) or ""] = _s(f.get("name"))
    for _, _, lead in (data["leads"].rows if "leads" in data else []):
        for cf in lead.get("custom_fields_values") or []:
            if isinstance(cf, dict) and _s(cf.get("field_id")) is not None:
                names.setdefault(_s(cf.get("field_id")) or "", _s(cf.get("field_name")))
    return names


def _cf_text(cf: dict) -> str | None:
    vals = [_s(v.get("value")) for v in (cf.get("values") or []) if isinstance(v, dict)]
    vals = [v for v in vals if v is not None]
    return ", ".join(vals) if vals else None


def _user(value: Any) -> str | None:
    s = _s(value)
    return None if s in (None, "0") else s  # 0: a robot or the system


def _read_api(folder: Path, account: Account, lang: str) -> PresetRead:
    data = _load(folder, lang)
    if "leads" not in data or not data["leads"].rows:
        raise InputError(t("presets.amocrm.err.no_leads", lang, path=str(folder)),
                         suggestion=t("presets.amocrm.err.no_leads.suggestion", lang))
    warnings: list[str] = []
    statuses = _Statuses(data.get("pipelines"))
    if not statuses.status:
        warnings.append(t("presets.amocrm.warn.no_pipelines", lang))
    field_names = _field_names(data)
    loss = {_s(r.get("id")): _s(r.get("name")) for _, _, r in (data["loss_reasons"].rows if "loss_reasons" in data else [])}
    unmapped_stages: set = set()
    tables: dict[str, RawFile] = {}

    # deals
    leads = [r for r in _latest(data["leads"]) if r[2].get("is_deleted") is not True]
    cols: dict[str, list] = {c: [] for c in ("deal_id", "title", "owner", "amount", "created_at", "closed_at",
                                             "status", "stage", "account_id", "lost_reason", "_row")}
    extra: dict[str, list] = {}
    current: dict[str, tuple[Any, Any]] = {}
    created: dict[str, Any] = {}
    closed_at: dict[str, Any] = {}
    for i, (_, row, lead) in enumerate(leads):
        did = _s(lead.get("id"))
        sid, pid = lead.get("status_id"), lead.get("pipeline_id")
        status = "won" if _s(sid) == str(WON_ID) else "lost" if _s(sid) == str(LOST_ID) else "open"
        emb = lead.get("_embedded") or {}
        companies = emb.get("companies") or []
        reason = None
        if status == "lost":
            reason = loss.get(_s(lead.get("loss_reason_id")))
            lr = emb.get("loss_reason")
            if reason is None and isinstance(lr, list) and lr and isinstance(lr[0], dict):
                reason = _s(lr[0].get("name"))
            reason = account.value_of("lost_reason", reason)
        cols["deal_id"].append(did)
        cols["title"].append(_s(lead.get("name")))
        cols["owner"].append(_user(lead.get("responsible_user_id")))
        cols["amount"].append(_s(lead.get("price")))
        cols["created_at"].append(iso_utc(lead.get("created_at")))
        cols["closed_at"].append(iso_utc(lead.get("closed_at")) if status != "open" else None)
        cols["status"].append(status)
        cols["stage"].append(statuses.stage(sid, pid, account, unmapped_stages))
        cols["account_id"].append(_s(companies[0].get("id")) if companies and isinstance(companies[0], dict) else None)
        cols["lost_reason"].append(reason)
        cols["_row"].append(row)
        if did is not None:
            current[did] = (sid, pid)
            created[did] = lead.get("created_at")
            closed_at[did] = lead.get("closed_at") if status != "open" else None
        for cf in lead.get("custom_fields_values") or []:
            if not isinstance(cf, dict):
                continue
            fid = _s(cf.get("field_id"))
            target = account.field_of(fid, cf.get("field_name") or field_names.get(fid or ""), cf.get("field_code"))
            if target is None:
                continue
            extra.setdefault(target, [None] * len(leads))[i] = account.value_of(target, _cf_text(cf))
    for target, values in extra.items():
        if target in cols and target in DEAL_FIELD_COLUMNS:  # a custom field the account prefers to the built-in one
            cols[target] = [v if v is not None else old for v, old in zip(values, cols[target])]
        else:
            cols[target] = values
    tables["deals"] = text_table(folder, data["leads"].label(), cols)

    # managers
    if "users" in data:
        users = _latest(data["users"])
        tables["managers"] = text_table(folder, data["users"].label(), {
            "manager_id": [_s(u.get("id")) for _, _, u in users], "name": [_s(u.get("name")) for _, _, u in users],
            "email": [_s(u.get("email")) for _, _, u in users], "_row": [r for _, r, _ in users]})
    else:
        warnings.append(t("presets.amocrm.warn.no_users", lang))

    # stage and field history from events
    if "events" in data:
        sh, fh = _histories(data["events"], statuses, account, field_names, current, created, closed_at, unmapped_stages)
        tables["stage_history"] = text_table(folder, data["events"].label(), sh)
        if fh["entity"]:
            tables["field_history"] = text_table(folder, data["events"].label(), fh)
    else:
        warnings.append(t("presets.amocrm.warn.no_events", lang))

    # tasks and logged activities
    types = {_s(r.get("id")): _s(r.get("name")) for key in ("task_types", "account") if key in data
             for _, _, r in data[key].rows}
    types.setdefault("1", t("presets.amocrm.task_type.call", lang))
    types.setdefault("2", t("presets.amocrm.task_type.meeting", lang))
    task_cols: dict[str, list] = {c: [] for c in ("task_id", "deal_id", "type", "owner", "created_at", "due_at",
                                                  "completed_at", "status", "_row")}
    done_by_update = not_deals = 0
    labels: list[str] = []
    row_base = 0
    if "tasks" in data:
        labels.append(data["tasks"].label())
        for _, row, task in _latest(data["tasks"]):
            if str(task.get("entity_type") or "").lower() not in ("leads", "lead"):
                not_deals += 1
                continue
            tid = _s(task.get("task_type_id"))
            name = types.get(tid)
            done = bool(task.get("is_completed"))
            task_cols["task_id"].append(_s(task.get("id")))
            task_cols["deal_id"].append(_s(task.get("entity_id")))
            task_cols["type"].append(account.step_of(tid, name) or name or tid)
            task_cols["owner"].append(_user(task.get("responsible_user_id")))
            task_cols["created_at"].append(iso_utc(task.get("created_at")))
            task_cols["due_at"].append(iso_utc(task.get("complete_till")))
            task_cols["completed_at"].append(iso_utc(task.get("updated_at")) if done else None)
            task_cols["status"].append("done" if done else "open")
            task_cols["_row"].append(row)
            done_by_update += int(done)
        row_base = len(data["tasks"].rows)
    else:
        warnings.append(t("presets.amocrm.warn.no_tasks", lang))
    if "notes" in data:
        labels.append(data["notes"].label())
        for _, row, note in _latest(data["notes"]):
            kind = _s(note.get("note_type"))
            if kind not in ACTIVITY_NOTES or str(note.get("entity_type") or "leads").lower() not in ("leads", "lead"):
                continue
            when = iso_utc(note.get("created_at"))
            task_cols["task_id"].append(f"note:{_s(note.get('id'))}")
            task_cols["deal_id"].append(_s(note.get("entity_id")))
            task_cols["type"].append(account.step_of(kind) or ACTIVITY_NOTES[kind])
            task_cols["owner"].append(_user(note.get("responsible_user_id")) or _user(note.get("created_by")))
            task_cols["created_at"].append(when)
            task_cols["due_at"].append(None)
            task_cols["completed_at"].append(when)
            task_cols["status"].append("done")
            task_cols["_row"].append(row_base + row)
    if task_cols["task_id"]:
        tables["tasks"] = text_table(folder, " + ".join(labels), task_cols)
    if not_deals:
        warnings.append(t("presets.amocrm.warn.tasks_not_of_deals", lang, n=not_deals))
    if done_by_update:
        warnings.append(t("presets.amocrm.warn.completed_at", lang, n=done_by_update))
    if unmapped_stages:
        warnings.append(t("presets.amocrm.warn.stages_unmapped", lang,
                          stages=", ".join(f"«{s}»" for s in sorted(unmapped_stages)[:10])))
    return PresetRead(tables=tables, warnings=warnings)


def _histories(events: _Items, statuses: _Statuses, account: Account, field_names: dict[str, str | None],
               current: dict[str, tuple[Any, Any]], created: dict[str, Any], closed_at: dict[str, Any],
               unmapped: set) -> tuple[dict[str, list], dict[str, list]]:
    sh: dict[str, list] = {c: [] for c in ("deal_id", "stage", "entered_at", "changed_by", "_row")}
    fh: dict[str, list] = {c: [] for c in ("entity", "entity_id", "field", "value", "changed_at", "changed_by", "_row")}
    first_before: dict[str, tuple[int, Any, Any, int]] = {}  # deal -> (time, status, pipeline, row) of its first change
    added: dict[str, tuple[Any, Any, int]] = {}
    moved: set[str] = set()

    def status_of(values: Any) -> tuple[Any, Any] | None:
        for v in values or []:
            if isinstance(v, dict) and isinstance(v.get("lead_status"), dict):
                return v["lead_status"].get("id"), v["lead_status"].get("pipeline_id")
        return None

    def add_stage(deal: str, sid: Any, pid: Any, when: Any, who: Any, row: int) -> None:
        stage = statuses.stage(sid, pid, account, unmapped)
        if stage is None:
            return
        sh["deal_id"].append(deal)
        sh["stage"].append(stage)
        sh["entered_at"].append(iso_utc(when))
        sh["changed_by"].append(_user(who))
        sh["_row"].append(row)

    for _, row, ev in _latest(events):
        kind = str(ev.get("type") or "")
        if str(ev.get("entity_type") or "lead").lower() not in ("lead", "leads"):
            continue
        deal = _s(ev.get("entity_id"))
        if deal is None:
            continue
        when, who = ev.get("created_at"), ev.get("created_by")
        if kind == "lead_status_changed":
            after = status_of(ev.get("value_after"))
            if after is None:
                continue
            moved.add(deal)
            add_stage(deal, after[0], after[1], when, who, row)
            before = status_of(ev.get("value_before"))
            if before is not None and (deal not in first_before or (when or 0) < first_before[deal][0]):
                first_before[deal] = (when or 0, before[0], before[1], row)
        elif kind == "lead_added":
            st = status_of(ev.get("value_after"))
            if st is not None:
                added[deal] = (st[0], st[1], row)
        elif kind == "sale_field_changed" or _CF_EVENT.match(kind):
            if kind == "sale_field_changed":
                field, value = "amount", None
                for v in ev.get("value_after") or []:
                    if isinstance(v, dict) and isinstance(v.get("sale_field_value"), dict):
                        value = _s(v["sale_field_value"].get("sale"))
            else:
                m = _CF_EVENT.match(kind)
                fid, value = (m.group(1) if m else None), None
                for v in ev.get("value_after") or []:
                    if isinstance(v, dict) and isinstance(v.get("custom_field_value"), dict):
                        cfv = v["custom_field_value"]
                        fid = _s(cfv.get("field_id")) or fid
                        text = _s(cfv.get("text"))
                        value = text if value is None else f"{value}, {text}" if text else value
                if fid is None:
                    for v in ev.get("value_before") or []:
                        if isinstance(v, dict) and isinstance(v.get("custom_field_value"), dict):
                            fid = _s(v["custom_field_value"].get("field_id"))
                field = account.field_of(fid, field_names.get(fid or ""))
                if field is None:
                    continue
                value = account.value_of(field, value)
            fh["entity"].append("deal")
            fh["entity_id"].append(deal)
            fh["field"].append(field)
            fh["value"].append(value)
            fh["changed_at"].append(iso_utc(when))
            fh["changed_by"].append(_user(who))
            fh["_row"].append(row)
    # the stage each deal started in: lead_added's, else the first change's value_before, else its current one
    for deal, (sid, pid) in current.items():
        start = added.get(deal)
        if start is None and deal in first_before:
            _, bsid, bpid, brow = first_before[deal]
            start = (bsid, bpid, brow)
        if start is not None:
            add_stage(deal, start[0], start[1], created.get(deal), None, start[2])
        elif deal not in moved:
            if _s(sid) in (str(WON_ID), str(LOST_ID)):
                add_stage(deal, sid, pid, closed_at.get(deal) or created.get(deal), None, 0)
            else:
                add_stage(deal, sid, pid, created.get(deal), None, 0)
    return sh, fh


def _explore_api(folder: Path, lang: str) -> Exploration:
    data = _load(folder, lang)
    statuses = _Statuses(data.get("pipelines"))
    leads = _latest(data["leads"]) if "leads" in data else []
    ex = Exploration(source="amocrm", path=folder.name, deals=len(leads))
    count: dict[tuple[str, str], int] = {}
    for _, _, lead in leads:
        key = (_s(lead.get("pipeline_id")) or "", _s(lead.get("status_id")) or "")
        count[key] = count.get(key, 0) + 1
    pids = list(statuses.pipelines) or sorted({k[0] for k in count})
    for pid in pids:
        sids = list(statuses.order.get(pid, []))
        sids += sorted({s for (p, s) in count if p == pid and s not in sids})
        items = []
        for sid in sids:
            kind = "won" if sid == str(WON_ID) else "lost" if sid == str(LOST_ID) else None
            items.append(Item(id=sid, name=statuses.name(sid, pid), count=count.get((pid, sid), 0), kind=kind))
        items.sort(key=lambda i: i.kind is not None)
        ex.pipelines.append(Pipeline(id=pid, name=statuses.pipelines.get(pid), stages=items))
    types = {_s(r.get("id")): _s(r.get("name")) for key in ("task_types", "account") if key in data
             for _, _, r in data[key].rows}
    types.setdefault("1", t("presets.amocrm.task_type.call", lang))
    types.setdefault("2", t("presets.amocrm.task_type.meeting", lang))
    task_counts = dict(counted(_s(tk.get("task_type_id")) for _, _, tk in (_latest(data["tasks"]) if "tasks" in data else [])))
    for tid in list(types) + [k for k in task_counts if k not in types]:
        ex.task_types.append(Item(id=tid, name=types.get(tid), count=task_counts.get(tid or "", 0)))
    ex.task_types.sort(key=lambda i: -i.count)
    note_counts = counted(_s(n.get("note_type")) for _, _, n in (_latest(data["notes"]) if "notes" in data else [])
                          if _s(n.get("note_type")) in ACTIVITY_NOTES)
    for kind, c in note_counts:
        ex.task_types.append(Item(id=None, name=kind, count=c, kind="note"))
    names = _field_names(data)
    values: dict[str, list[str]] = {}
    for _, _, lead in leads:
        for cf in lead.get("custom_fields_values") or []:
            if isinstance(cf, dict) and (fid := _s(cf.get("field_id"))) is not None:
                values.setdefault(fid, []).append(_cf_text(cf) or "")
    for fid, name in names.items():
        vals = [v for v in values.get(fid, []) if v]
        ex.fields.append(Item(id=fid, name=name, count=len(vals), values=few_values(vals)))
    ex.fields.sort(key=lambda i: -i.count)
    user_names = {_s(u.get("id")): _s(u.get("name")) for _, _, u in (data["users"].rows if "users" in data else [])}
    for uid, c in counted(_s(lead.get("responsible_user_id")) for _, _, lead in leads):
        ex.users.append(Item(id=uid, name=user_names.get(uid), count=c))
    if "tasks" in data:
        ex.notes.append(t("presets.amocrm.warn.completed_at_explore", lang))
    if "events" not in data:
        ex.notes.append(t("presets.amocrm.warn.no_events", lang))
    return ex
