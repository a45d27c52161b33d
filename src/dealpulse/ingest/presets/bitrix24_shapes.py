"""Bitrix24 exports read into one shape (`Portal`): the deals, stage history, activities, users,
stage names and custom fields of a portal, as text columns under Bitrix24's own field names
(lower case), each row with `_row` (its place in the source) and `_file` (the source's name).

Three shapes are read (see docs/import.md, "Bitrix24"):
- BI-connector datasets: a folder with `crm_deal`, `crm_deal_stage_history`, `crm_activity`,
  `crm_deal_uf`, `user` (CSV or XLSX as the BI connector exports them, or the JSON its `pbi.php`
  returns: a list of rows, the first one the header);
- a REST dump: one JSON file per response, `<method>[anything].json` (crm.deal.list,
  crm.stagehistory.list, crm.activity.list, user.get, crm.deal.userfield.list, crm.status.list,
  crm.category.list), each `{"result": [...] | {"items": [...]}, "next": .., "total": ..}`;
- the deal grid's «Excel» export: an HTML table saved as `.xls` (Russian headers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.ingest.parse import parse_timestamps
from dealpulse.ingest.readers import SUPPORTED_SUFFIXES, normalise_header, read_file

BI = "bi"
REST = "rest"
GRID = "grid"

BI_DATASETS = {"crm_deal": "deals", "crm_deal_stage_history": "history", "crm_activity": "activities",
               "crm_deal_uf": "uf", "user": "users", "users": "users"}
REST_METHODS = ("crm.deal.list", "crm.stagehistory.list", "crm.activity.list", "user.get",
                "crm.deal.userfield.list", "crm.status.list", "crm.category.list")
GRID_SUFFIXES = (".xls", ".html", ".htm")
# the grid export's Russian headers -> the field names the other shapes use
GRID_HEADERS = {
    "id": "id", "название сделки": "title", "название": "title", "стадия сделки": "stage_name", "стадия": "stage_name",
    "воронка": "category_name", "направление": "category_name", "сумма": "opportunity", "валюта": "currency_id",
    "ответственный": "assigned_name", "дата создания": "date_create", "дата изменения": "date_modify",
    "предполагаемая дата закрытия": "closedate", "дата закрытия": "closedate", "компания": "company_name",
    "контакт": "contact_name", "источник": "source_name", "сделка закрыта": "closed", "закрыта": "closed",
}
_BRACKETED = re.compile(r"^\[([^\]]+)\]\s*(.*)$")  # "[C1:NEW] Новая", "[11] Мария Михайлова"


@dataclass
class UserField:
    code: str
    label: str | None = None
    items: dict[str, str] = field(default_factory=dict)  # enumeration item id -> its text


@dataclass
class Portal:
    shape: str
    deals: pl.DataFrame
    history: pl.DataFrame | None = None
    activities: pl.DataFrame | None = None
    users: dict[str, str] = field(default_factory=dict)  # user id -> name
    stage_names: dict[str, str] = field(default_factory=dict)  # stage id -> name
    stage_semantics: dict[str, str] = field(default_factory=dict)  # stage id -> P/S/F
    categories: dict[str, str] = field(default_factory=dict)  # pipeline id -> name
    sources: dict[str, str] = field(default_factory=dict)  # SOURCE_ID -> name
    fields: dict[str, UserField] = field(default_factory=dict)  # custom field code (or grid label) -> field
    files: list[str] = field(default_factory=list)
    users_label: str = "user"  # the file the users come from (for messages)
    headers: dict[str, str] = field(default_factory=dict)  # field -> header as written (the grid's Russian ones)

    def written(self, frame: pl.DataFrame, *names: str) -> str | None:
        """How the first of `names` the frame has is written in the export (for messages)."""
        found = next((n for n in names if n in frame.columns), None)
        return None if found is None else self.headers.get(found, found.upper())

    def described_files(self) -> str:
        """The files read, a REST method's pages counted once: "crm.deal.list (4 files), user.get"."""
        if self.shape != REST:
            return ", ".join(self.files)
        counts: dict[str, int] = {}
        for f in self.files:
            m = next((m for m in REST_METHODS if f.lower().startswith(m)), f)
            counts[m] = counts.get(m, 0) + 1
        return ", ".join(m if n == 1 else f"{m} ({n})" for m, n in counts.items())


def split_bracketed(value: Any) -> tuple[str | None, str | None]:
    """("C1:NEW", "Новая") from "[C1:NEW] Новая"; (None, text) for plain text."""
    if value is None:
        return None, None
    m = _BRACKETED.match(str(value).strip())
    return (m.group(1).strip(), m.group(2).strip() or None) if m else (None, str(value).strip() or None)


def _text_frame(records: list[dict[str, Any]], label: str, first_row: int = 1) -> pl.DataFrame:
    """Records (dicts) as a text frame with lower-case field names, `_row` and `_file`."""
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(normalise_header(k), None)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    for r in records:
        low = {normalise_header(k): v for k, v in r.items()}
        for n in names:
            cols[n].append(_cell(low.get(n)))
    frame = pl.DataFrame({n: pl.Series(n, v, dtype=pl.Utf8) for n, v in cols.items()})
    return frame.with_columns(_row=pl.int_range(pl.len(), dtype=pl.Int64) + first_row, _file=pl.lit(label))


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "Y" if v else "N"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, list):
        parts = [s for s in (_cell(x) for x in v) if s]
        return ", ".join(parts) if parts else None
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    s = str(v).strip()
    return s or None


# -- detection -----------------------------------------------------------------------------------
def _stem(p: Path) -> str:
    return normalise_header(p.name.split(".")[0])


def rest_method(p: Path) -> str | None:
    name = p.name.lower()
    if not name.endswith(".json"):
        return None
    return next((m for m in sorted(REST_METHODS, key=len, reverse=True) if name.startswith(m)), None)


def detect(path: Path, lang: str) -> str:
    if path.is_file():
        if path.suffix.lower() in GRID_SUFFIXES:
            return GRID
        if rest_method(path):
            return REST
        if _stem(path) in BI_DATASETS:
            return BI
    else:
        files = [p for p in path.iterdir() if p.is_file()]
        if any(rest_method(p) == "crm.deal.list" for p in files):
            return REST
        if any(_stem(p) == "crm_deal" for p in files):
            return BI
        grid = [p for p in files if p.suffix.lower() in GRID_SUFFIXES]
        if len(grid) == 1:
            return GRID
    raise InputError(t("presets.bitrix24.err.shape", lang, path=str(path)),
                     suggestion=t("presets.bitrix24.err.shape.suggestion", lang))


def read_portal(path: Path, lang: str = "en") -> Portal:
    shape = detect(path, lang)
    if shape == BI:
        return _read_bi(path if path.is_dir() else path.parent, lang)
    if shape == REST:
        return _read_rest(path if path.is_dir() else path.parent, lang)
    grid = path if path.is_file() else next(p for p in sorted(path.iterdir()) if p.suffix.lower() in GRID_SUFFIXES)
    from dealpulse.ingest.presets.bitrix24_grid import read_grid

    return read_grid(grid, lang)


# -- BI-connector datasets ----------------------------------------------------------------------
def _read_dataset(p: Path, lang: str) -> pl.DataFrame:
    if p.suffix.lower() == ".json":  # pbi.php: [[header...], [row...], ...]
        try:
            data = json.loads(p.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise InputError(t("presets.bitrix24.err.bad_json", lang, file=p.name, error=str(exc))) from None
        if not (isinstance(data, list) and data and isinstance(data[0], list)):
            raise InputError(t("presets.bitrix24.err.bad_json", lang, file=p.name, error="[[header...], [row...]]"))
        head = [str(h) for h in data[0]]
        return _text_frame([dict(zip(head, row)) for row in data[1:]], p.name, first_row=2)
    raw = read_file(p, None, lang)[0]
    return raw.frame.with_columns(_file=pl.lit(raw.label))


def _read_bi(folder: Path, lang: str) -> Portal:
    found: dict[str, pl.DataFrame] = {}
    files: list[str] = []
    for p in sorted(folder.iterdir()):
        role = BI_DATASETS.get(_stem(p)) if p.is_file() else None
        if role is None or not (p.suffix.lower() in SUPPORTED_SUFFIXES or p.suffix.lower() == ".json"):
            continue
        if role in found:
            raise InputError(t("ingest.err.two_files", lang, table=_stem(p), first=found[role]["_file"][0] if found[role].height else "?",
                               second=p.name))
        found[role] = _read_dataset(p, lang)
        files.append(p.name)
    deals = found["deals"]
    portal = Portal(shape=BI, deals=deals, history=found.get("history"), activities=found.get("activities"), files=files)
    # stage names and users as the deal table shows them ("[C1:NEW] Новая", "[11] Мария Михайлова")
    for col, target in (("stage", portal.stage_names), ("assigned_by", portal.users), ("category", portal.categories)):
        if col in deals.columns:
            for v in deals[col].drop_nulls().unique().to_list():
                key, name = split_bracketed(v)
                if key and name:
                    target.setdefault(key, name)
    for id_col, name_cols, target in (("stage_id", ("stage_name", "stage"), portal.stage_names),
                                      ("assigned_by_id", ("assigned_by_name", "assigned_by"), portal.users),
                                      ("category_id", ("category_name", "category"), portal.categories),
                                      ("source_id", ("source_name", "source"), portal.sources)):
        for name_col in name_cols:
            if id_col in deals.columns and name_col in deals.columns:
                pairs = deals.select(id_col, name_col).drop_nulls().unique()
                for k, v in pairs.iter_rows():
                    key, name = split_bracketed(v)
                    if key is None or key == k:
                        target.setdefault(k, name or v)
    if "stage_id" in deals.columns and "stage_semantic_id" in deals.columns:
        for k, v in deals.select("stage_id", "stage_semantic_id").drop_nulls().unique().iter_rows():
            portal.stage_semantics.setdefault(k, v)
    if (users := found.get("users")) is not None and "id" in users.columns:
        portal.users.update(_user_names(users))
        portal.users_label = users["_file"][0] if users.height else portal.users_label
    if (uf := found.get("uf")) is not None:
        key = next((c for c in ("deal_id", "value_id", "id") if c in uf.columns), None)
        if key is not None:
            ufc = [c for c in uf.columns if c.startswith("uf_")]
            portal.deals = deals.join(uf.select(pl.col(key).alias("id"), *ufc), on="id", how="left")
            for c in ufc:
                portal.fields[c] = UserField(code=c.upper())
    return portal


def _user_names(users: pl.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    cols = users.columns
    for r in users.iter_rows(named=True):
        uid = r.get("id")
        if not uid:
            continue
        full = r.get("full_name") or r.get("name_full")
        if not full:
            first, last = r.get("name") if "name" in cols else None, r.get("last_name") if "last_name" in cols else None
            full = " ".join(p for p in (first, last if last and last not in (first or "") else None) if p) or None
        if full:
            _, name = split_bracketed(full)
            out[str(uid)] = name or full
    return out


# -- REST dump ----------------------------------------------------------------------------------
def _pages(p: Path, lang: str) -> list[Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise InputError(t("presets.bitrix24.err.bad_json", lang, file=p.name, error=str(exc))) from None
    pages = data if isinstance(data, list) and data and isinstance(data[0], dict) and "result" in data[0] else [data]
    items: list[Any] = []
    for page in pages:
        if not isinstance(page, dict) or "result" not in page:
            raise InputError(t("presets.bitrix24.err.bad_json", lang, file=p.name, error='{"result": ...}'))
        res = page["result"]
        if isinstance(res, dict):
            res = res.get("items", res.get("categories", []))
        items.extend(res if isinstance(res, list) else [])
    return items


def _latest(frame: pl.DataFrame | None, changed: str | None) -> pl.DataFrame | None:
    """One record per ID: a dump that holds a full pull and later incremental ones repeats records;
    the one changed last wins (`changed`, else the later file), at the place it was first seen."""
    if frame is None or "id" not in frame.columns or frame["id"].is_unique().all():
        return frame
    order = pl.int_range(pl.len(), dtype=pl.Int64).alias("_seq")
    work = frame.with_columns(order)
    if changed in frame.columns:
        at, _ = parse_timestamps(frame[changed], "UTC")
        work = work.with_columns(_at=at)
    else:
        work = work.with_columns(_at=pl.lit(None, dtype=pl.Datetime("us")))
    first = work.group_by("id").agg(pl.col("_row").min().alias("_first"))
    last = work.sort(["_at", "_seq"], nulls_last=False).unique("id", keep="last")
    return (last.join(first, on="id").with_columns(_row=pl.col("_first")).sort("_row")
            .drop("_seq", "_at", "_first"))


def _read_rest(folder: Path, lang: str) -> Portal:
    by_method: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and (m := rest_method(p)):
            by_method.setdefault(m, []).append(p)

    def frame(method: str) -> pl.DataFrame | None:
        paths = by_method.get(method)
        if not paths:
            return None
        records = [r for p in paths for r in _pages(p, lang) if isinstance(r, dict)]
        label = paths[0].name if len(paths) == 1 else f"{method}*.json"
        return _text_frame(records, label)

    deals = _latest(frame("crm.deal.list"), "date_modify")
    assert deals is not None  # detect() saw it
    portal = Portal(shape=REST, deals=deals, history=_latest(frame("crm.stagehistory.list"), None),
                    activities=_latest(frame("crm.activity.list"), "last_updated"),
                    files=[p.name for ps in by_method.values() for p in ps])
    for p in by_method.get("user.get", []):
        portal.users.update(_user_names(_text_frame([r for r in _pages(p, lang) if isinstance(r, dict)], p.name)))
        portal.users_label = p.name if len(by_method["user.get"]) == 1 else "user.get*.json"
    for p in by_method.get("crm.status.list", []):
        for r in _pages(p, lang):
            ent = str(r.get("ENTITY_ID", ""))
            if ent.startswith("DEAL_STAGE"):
                sid = str(r.get("STATUS_ID"))
                portal.stage_names[sid] = str(r.get("NAME") or sid)
                sem = r.get("SEMANTICS")
                if not sem and isinstance(r.get("EXTRA"), dict):
                    sem = r["EXTRA"].get("SEMANTICS")
                if sem in ("S", "F", "P", "success", "failure", "process"):
                    portal.stage_semantics[sid] = {"success": "S", "failure": "F", "process": "P"}.get(sem, sem)
            elif ent == "SOURCE":
                portal.sources[str(r.get("STATUS_ID"))] = str(r.get("NAME"))
    for p in by_method.get("crm.category.list", []):
        for r in _pages(p, lang):
            cid = r.get("id", r.get("ID"))
            if cid is not None:
                portal.categories[str(cid)] = str(r.get("name", r.get("NAME", cid)))
    for p in by_method.get("crm.deal.userfield.list", []):
        for r in _pages(p, lang):
            code = str(r.get("FIELD_NAME", "")).lower()
            if not code:
                continue
            label = r.get("EDIT_FORM_LABEL") or r.get("LIST_COLUMN_LABEL")
            if isinstance(label, dict):
                label = label.get("ru") or label.get("en") or next(iter(label.values()), None)
            items = {str(i.get("ID")): str(i.get("VALUE")) for i in (r.get("LIST") or []) if isinstance(i, dict)}
            portal.fields[code] = UserField(code=code.upper(), label=str(label) if label else None, items=items)
    for c in deals.columns:
        if c.startswith("uf_") and c not in portal.fields:
            portal.fields[c] = UserField(code=c.upper())
    return portal
