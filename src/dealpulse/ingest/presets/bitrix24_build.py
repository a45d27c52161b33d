"""A Bitrix24 `Portal` (see bitrix24_shapes) turned into native text tables.

What Bitrix24 itself defines is decided here, not by the user: won/lost from `STAGE_SEMANTIC_ID`
(S success, F failure, P in progress; else the portal's stage list, else the built-in final stages
WON/LOSE/APOLOGY and their default names), `CLOSEDATE` read as the close date of a closed deal but
as the *planned* date of an open one (field `expected_close`), activities done only when
`COMPLETED` is Y (completed automatically, `STATUS` 3, counts as cancelled: not done by the
manager), the completion moment taken from `LAST_UPDATED`. The account.yaml maps the rest: which
Bitrix24 stage is which playbook stage, which activity is which step, which custom field feeds
which deal column or client-card field, and their values.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from dealpulse.i18n import t
from dealpulse.ingest.parse import parse_timestamps
from dealpulse.ingest.presets.bitrix24_shapes import GRID, Portal, split_bracketed

WON, LOST, OPEN = "won", "lost", "open"
FINAL_IDS = {"WON": "S", "LOSE": "F", "APOLOGY": "F"}
FINAL_NAMES = {"сделка успешна": "S", "сделка провалена": "F", "анализ причины провала": "F",
               "deal won": "S", "deal lost": "F", "analyze failure": "F"}
ACTIVITY_TYPES = {"1": "meeting", "2": "call", "3": "task", "4": "email", "5": "action", "6": "action"}
PROVIDER_TYPES = {"crm_todo": "task", "crm_meeting": "meeting", "crm_call_tracker": "call", "voximplant_call": "call",
                  "crm_email": "email", "tasks": "task", "tasks_task": "task", "crm_sms": "sms", "imopenlines_session": "chat"}
DEAL_COLUMNS = ("segment", "channel", "title", "account_id", "amount", "currency", "lost_reason")
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_RU_DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})")


@dataclass
class Built:
    tables: dict[str, pl.DataFrame]  # native name -> text frame (+ `_row`), one source each
    labels: dict[str, str]  # native name -> the source file's name (for messages)
    warnings: list[str] = field(default_factory=list)
    unknown_stages: Counter = field(default_factory=Counter)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> native column -> Bitrix24 field


# native column -> the Bitrix24 fields it comes from (first present), for messages naming a column
SOURCES_OF = {
    "deals": {"deal_id": ("id",), "title": ("title",), "owner": ("assigned_by_id", "assigned_by", "assigned_name"),
              "account_id": ("company_id", "company_name"), "amount": ("opportunity",), "currency": ("currency_id",),
              "created_at": ("date_create",), "status": ("stage_semantic_id", "stage_id", "stage_name"),
              "closed_at": ("moved_time", "closedate"), "channel": ("source_id", "source_name"),
              "stage": ("stage_id", "stage_name")},
    "stage_history": {"deal_id": ("owner_id", "deal_id"), "stage": ("stage_id", "stage"),
                      "entered_at": ("created_time", "date_create", "created")},
    "tasks": {"task_id": ("id",), "deal_id": ("owner_id",), "type": ("subject",),
              "owner": ("responsible_id", "responsible", "author_id"), "created_at": ("created", "date_create"),
              "due_at": ("deadline",), "completed_at": ("last_updated", "date_modify"), "status": ("completed", "status_id", "status")},
    "field_history": {"value": ("closedate",), "changed_at": ("date_modify", "date_create"), "entity_id": ("id",)},
}


def _col(frame: pl.DataFrame, *names: str) -> pl.Series:
    """The first of `names` the frame has, else a null text column."""
    for n in names:
        if n in frame.columns:
            return frame[n].cast(pl.Utf8)
    return pl.Series(names[0], [None] * frame.height, dtype=pl.Utf8)


def _per_value(s: pl.Series, fn: Callable[[Any], Any]) -> pl.Series:
    """`fn` applied once per distinct value (null stays null unless fn says otherwise)."""
    uniq = s.unique().to_list()
    table = {u: fn(u) for u in uniq}
    return pl.Series(s.name, [table[v] for v in s.to_list()], dtype=pl.Utf8)


def date_part(value: Any) -> str | None:
    """YYYY-MM-DD of a date or date-time text (ISO or DD.MM.YYYY), in the zone it is written in."""
    if value is None:
        return None
    s = str(value).strip()
    if m := _ISO_DATE.match(s):
        return m.group(1)
    if m := _RU_DATE.match(s):
        return f"{m.group(3)}-{m.group(2)}-{m.group(1)}"
    return None


def _label(frame: pl.DataFrame) -> str:
    if "_file" not in frame.columns or frame.height == 0:
        return "?"
    files = frame["_file"].unique(maintain_order=True).to_list()
    return files[0] if len(files) == 1 else ", ".join(files)


class _Stages:
    """Bitrix24 stage (id and name) -> native stage; counts what the account.yaml does not map."""

    def __init__(self, portal: Portal, account: Any):
        self.portal, self.account = portal, account
        self.unknown: Counter = Counter()
        self._seen: dict[tuple, tuple[str, str | None, bool]] = {}

    def semantic(self, sid: str | None, name: str | None, given: str | None) -> str | None:
        if given in ("S", "F", "P"):
            return given
        if sid and (sem := self.portal.stage_semantics.get(sid)):
            return sem
        if sid and (sem := FINAL_IDS.get(sid.split(":")[-1].upper())):
            return sem
        if name and (sem := FINAL_NAMES.get(name.strip().lower())):
            return sem
        return None

    def name(self, sid: str | None, shown: str | None) -> str | None:
        return (self.portal.stage_names.get(sid) if sid else None) or shown

    def pipeline(self, category: str | None, sid: str | None) -> str | None:
        """The pipeline's name: from the row's CATEGORY_ID (or the grid's Воронка), else the `C<n>:` prefix."""
        if category is None and sid:
            category = sid.split(":")[0][1:] if sid.startswith("C") and ":" in sid else "0"
        return self.portal.categories.get(category, category) if category is not None else None

    def native(self, sid: str | None, shown: str | None, given_sem: str | None,
               pipe: str | None = None) -> tuple[str, str | None]:
        """(status, playbook stage or None): won/lost from the account.yaml or the semantics.
        Worked out once per distinct (id, name, semantics); unmapped stages counted per call."""
        key = (sid, shown, given_sem, pipe)
        hit = self._seen.get(key)
        if hit is None:
            hit = self._seen[key] = self._native(sid, shown, given_sem, pipe)
        status, stage, unknown = hit
        if unknown:
            self.unknown[(sid or "", self.name(sid, shown) or "")] += 1
        return status, stage

    def _native(self, sid: str | None, shown: str | None, given_sem: str | None,
                pipe: str | None) -> tuple[str, str | None, bool]:
        name = self.name(sid, shown)
        # an id, then "Pipeline: Stage" (a name repeated across pipelines, mapped in one), then the name
        target = self.account.stage_of(sid, f"{pipe}: {name}" if pipe and name else None, name)
        if target in (WON, LOST):
            return target, None, False
        sem = self.semantic(sid, name, given_sem)
        if sem == "S":
            return WON, None, False
        if sem == "F":
            return LOST, None, False
        if target is None:
            return OPEN, name or sid, True
        return OPEN, target, False


def _stage_parts(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """(stage id, stage name as shown) per row: STAGE_ID, else "[ID] name" in STAGE, else the name."""
    sid = _col(frame, "stage_id")
    shown = _col(frame, "stage_name", "stage")
    once = {v: split_bracketed(v) for v in shown.unique().to_list()}
    split = [once[v] for v in shown.to_list()]
    ids = [a or b for a, b in zip(sid.to_list(), (s[0] for s in split))]
    names = [s[1] for s in split]
    return pl.Series("sid", ids, dtype=pl.Utf8), pl.Series("sname", names, dtype=pl.Utf8)


def build(portal: Portal, account: Any, tz: str, lang: str = "en") -> Built:
    out = Built(tables={}, labels={})
    stages = _Stages(portal, account)
    d = portal.deals
    deal_label = _label(d)
    ids = _col(d, "id")
    sid, sname = _stage_parts(d)
    sem_given = _col(d, "stage_semantic_id")
    status, stage = [], []
    cats = _col(d, "category_id", "category_name").to_list()
    for a, b, c, cat in zip(sid.to_list(), sname.to_list(), sem_given.to_list(), cats):
        st, sg = stages.native(a, b, c, stages.pipeline(cat, a))
        status.append(st)
        stage.append(sg)
    status_s = pl.Series("status", status, dtype=pl.Utf8)
    # owners: ids (names in `managers`); the grid shows names only
    if portal.shape == GRID:
        owner = _col(d, "assigned_name")
    else:
        owner = _col(d, "assigned_by_id")
        if owner.null_count() == d.height and "assigned_by" in d.columns:
            owner = _per_value(d["assigned_by"], lambda v: split_bracketed(v)[0] or v)
    # close moment of closed deals: the final stage entry of the history, else MOVED_TIME, else
    # CLOSEDATE (a date: the last change on that day if there is one, else the creation on that day)
    created, modified, closedate = _col(d, "date_create"), _col(d, "date_modify"), _col(d, "closedate")
    final_at = _final_entries(portal, stages, tz)
    moved = _col(d, "moved_time")
    closed_at: list[str | None] = []
    for i, (did, st) in enumerate(zip(ids.to_list(), status)):
        if st == OPEN:
            closed_at.append(None)
            continue
        cd = closedate[i]
        when = final_at.get(did) or moved[i]
        if when is None and cd is not None:
            day = date_part(cd)
            when = modified[i] if date_part(modified[i]) == day else created[i] if date_part(created[i]) == day else cd
        closed_at.append(when)
    deals = pl.DataFrame({
        "deal_id": ids, "title": _col(d, "title"), "owner": owner,
        "account_id": _col(d, "company_id") if "company_id" in d.columns else _col(d, "company_name"),
        "amount": _col(d, "opportunity"), "currency": _col(d, "currency_id"), "created_at": created,
        "status": status_s, "closed_at": pl.Series("closed_at", closed_at, dtype=pl.Utf8),
        "channel": _channel(portal, account, d), "segment": pl.Series("segment", [None] * d.height, dtype=pl.Utf8),
    })
    deals, unmapped = _custom_fields(portal, account, d, deals)
    if portal.history is None:  # a snapshot: the importer derives the history from the current stage
        deals = deals.with_columns(stage=pl.Series("stage", stage, dtype=pl.Utf8))
    out.tables["deals"] = deals.with_columns(_row=d["_row"])
    out.labels["deals"] = deal_label
    known = set(ids.drop_nulls().to_list())
    # expected close: CLOSEDATE of an open deal is a plan, known at the deal's last change
    open_mask = (status_s == OPEN) & closedate.is_not_null()
    if open_mask.any():
        fh = pl.DataFrame({"entity": "deal", "entity_id": ids, "field": "expected_close",
                           "value": _per_value(closedate, date_part),
                           "changed_at": pl.select(pl.coalesce(modified, created)).to_series(),
                           "_row": d["_row"]}).filter(open_mask)
        out.tables["field_history"] = fh
        out.labels["field_history"] = deal_label
    if portal.history is not None:
        _history(portal, stages, known, out, lang)
    if portal.activities is not None:
        _activities(portal, account, known, out, lang)
    _people(portal, deals, out)
    if stages.unknown:
        shown = ", ".join(f"{s or n}{f' «{n}»' if s and n and n != s else ''} ({c})" for (s, n), c in stages.unknown.most_common(12))
        out.warnings.append(t("presets.bitrix24.warn.unknown_stages", lang, n=len(stages.unknown), stages=shown))
    if unmapped:
        out.warnings.append(t("presets.bitrix24.warn.fields_unmapped", lang, n=len(unmapped), fields=", ".join(unmapped[:12])))
    out.unknown_stages = stages.unknown
    out.warnings.extend(shape_notes(portal, lang))
    frames = {"deals": d, "field_history": d, "stage_history": portal.history, "tasks": portal.activities}
    for table, cols in SOURCES_OF.items():
        if table in out.tables and frames[table] is not None:
            out.headers[table] = {c: w for c, names in cols.items() if (w := portal.written(frames[table], *names))}
    return out


def shape_notes(portal: Portal, lang: str) -> list[str]:
    """What this shape of export cannot carry (the same in --explore and in the import's report)."""
    notes = []
    label = _label(portal.deals)
    if portal.shape == GRID:
        notes.append(t("presets.bitrix24.warn.grid_snapshot", lang, file=label))
    elif portal.history is None:
        notes.append(t("presets.bitrix24.warn.no_history", lang))
    if portal.shape != GRID and portal.activities is None:
        notes.append(t("presets.bitrix24.warn.no_activities", lang))
    if portal.activities is not None:
        notes.append(t("presets.bitrix24.warn.last_updated", lang, file=_label(portal.activities)))
    if portal.fields and portal.shape != GRID:  # the grid's note says so already
        notes.append(t("presets.bitrix24.warn.card_snapshot", lang))
    return notes


def _final_entries(portal: Portal, stages: _Stages, tz: str) -> dict[str, str]:
    """deal id -> the time (as written) of its last entry into a final stage, from the history."""
    h = portal.history
    if h is None or h.height == 0:
        return {}
    sid, sname = _stage_parts(h)
    triples = list(zip(sid.to_list(), sname.to_list(), _col(h, "stage_semantic_id").to_list()))
    once = {k: stages.semantic(k[0], stages.name(k[0], k[1]), k[2]) for k in set(triples)}
    sems = [once[k] for k in triples]
    at_text = _col(h, "created_time", "date_create", "created")
    at, _ = parse_timestamps(at_text, tz)
    f = pl.DataFrame({"deal": _col(h, "owner_id", "deal_id"), "sem": pl.Series(sems, dtype=pl.Utf8),
                      "at": at, "text": at_text}).filter(pl.col("sem").is_in(["S", "F"]) & pl.col("at").is_not_null())
    last = f.sort("at").group_by("deal").agg(pl.col("text").last())
    return dict(zip(last["deal"].to_list(), last["text"].to_list()))


def _channel(portal: Portal, account: Any, d: pl.DataFrame) -> pl.Series:
    src_id, src_name = _col(d, "source_id"), _col(d, "source_name")

    def one(pair: tuple) -> str | None:
        sid, name = pair
        name = name or (portal.sources.get(sid) if sid else None)
        for v in (sid, name):
            if v is not None and (hit := account.value_of("channel", v)) != v:
                return hit
        return name or sid

    table = {p: one(p) for p in set(zip(src_id.to_list(), src_name.to_list()))}
    return pl.Series("channel", [table[p] for p in zip(src_id.to_list(), src_name.to_list())], dtype=pl.Utf8)


def _custom_fields(portal: Portal, account: Any, d: pl.DataFrame, deals: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Custom fields (and any deal column the account.yaml names) -> deal columns or attributes."""
    unmapped: list[str] = []
    for col in d.columns:
        if col.startswith("_"):
            continue
        uf = portal.fields.get(col)
        names = [uf.code, uf.label, col] if uf else [col.upper(), col]
        target = account.field_of(*[n for n in names if n])
        if target is None:
            if uf is not None:
                unmapped.append(f"{uf.code}{f' «{uf.label}»' if uf.label and uf.label != uf.code else ''}")
            continue
        items = uf.items if uf else {}

        def translate(v: Any, items: dict = items, target: str = target) -> Any:
            if v is None:
                return None
            parts = [items.get(p.strip(), p.strip()) for p in str(v).split(",")] if items else [str(v)]
            parts = [str(account.value_of(target, p)) for p in parts if p]
            return ", ".join(parts) or None

        values = _per_value(d[col].cast(pl.Utf8), translate).alias(target)
        if target in deals.columns and target in DEAL_COLUMNS:
            deals = deals.with_columns(pl.coalesce(values, deals[target]).alias(target))
        elif target in deals.columns:
            continue  # deal_id, owner, status...: Bitrix24's own columns, not the account's to remap
        else:
            deals = deals.with_columns(values)
    return deals, unmapped


def _history(portal: Portal, stages: _Stages, known: set, out: Built, lang: str) -> None:
    h = portal.history
    assert h is not None
    sid, sname = _stage_parts(h)
    native = [stages.native(a, b, c, stages.pipeline(cat, a)) for a, b, c, cat in
              zip(sid.to_list(), sname.to_list(), _col(h, "stage_semantic_id").to_list(), _col(h, "category_id").to_list())]
    stage = [st if st in (WON, LOST) else sg for st, sg in native]
    frame = pl.DataFrame({"deal_id": _col(h, "owner_id", "deal_id"), "stage": pl.Series(stage, dtype=pl.Utf8),
                          "entered_at": _col(h, "created_time", "date_create", "created"), "_row": h["_row"]})
    ours = frame["deal_id"].is_in(list(known))
    if (other := int((~ours).sum())):
        out.warnings.append(t("presets.bitrix24.warn.history_other_deals", lang, n=other, file=_label(h)))
    out.tables["stage_history"] = frame.filter(ours)
    out.labels["stage_history"] = _label(h)
    missing = len(known - set(frame.filter(ours)["deal_id"].to_list()))
    if missing:  # e.g. the BI connector's date range cut the history shorter than the deals
        out.warnings.append(t("presets.bitrix24.warn.deals_without_history", lang, n=missing, file=_label(h)))


def _activities(portal: Portal, account: Any, known: set, out: Built, lang: str) -> None:
    a = portal.activities
    assert a is not None
    owner_type = _col(a, "owner_type_id")
    deal_id = _col(a, "owner_id")
    on_deal = ((owner_type == "2") | owner_type.is_null()) & deal_id.is_in(list(known))
    if (other := int((~on_deal).sum())):
        out.warnings.append(t("presets.bitrix24.warn.activities_other", lang, n=other, file=_label(a)))
    subject, provider, ptype = _col(a, "subject"), _col(a, "provider_id"), _col(a, "provider_type_id")
    type_id, type_name = _col(a, "type_id"), _col(a, "type_name")

    def kind(key: tuple) -> str:
        subj, prov, pt, tid, tname = key
        generic = PROVIDER_TYPES.get((prov or "").lower()) or ACTIVITY_TYPES.get(tid or "") or (tname or prov or "activity").lower()
        step = account.step_of(subj, pt, prov, tname, tid, generic)
        return generic if step is None else step

    keys = list(zip(subject.to_list(), provider.to_list(), ptype.to_list(), type_id.to_list(), type_name.to_list()))
    table = {k: kind(k) for k in set(keys)}
    completed = _col(a, "completed").str.to_uppercase()
    stat = _col(a, "status_id", "status")
    done = (completed == "Y") | (completed.is_null() & stat.is_in(["2", "3"]))
    auto = done & (stat == "3")
    status = pl.select(pl.when(auto).then(pl.lit("cancelled")).when(done).then(pl.lit("done"))
                       .otherwise(pl.lit("open"))).to_series()
    last = _col(a, "last_updated", "date_modify")
    deadline = _col(a, "deadline")
    deadline = pl.select(pl.when(deadline.str.contains(r"^(9\d{3})|\.9\d{3}")).then(None).otherwise(deadline)).to_series()
    frame = pl.DataFrame({
        "task_id": _col(a, "id"), "deal_id": deal_id, "type": pl.Series([table[k] for k in keys], dtype=pl.Utf8),
        "owner": _col(a, "responsible_id", "responsible", "author_id"),
        "created_at": _col(a, "created", "date_create"), "due_at": deadline,
        "completed_at": pl.select(pl.when(status == "done").then(last)).to_series(),
        "status": status, "_row": a["_row"],
    }).filter(on_deal)
    out.tables["tasks"] = frame
    out.labels["tasks"] = _label(a)


def _people(portal: Portal, deals: pl.DataFrame, out: Built) -> None:
    if portal.shape == GRID:
        names = sorted(set(deals["owner"].drop_nulls().to_list()))
        if names:
            out.tables["managers"] = pl.DataFrame({"manager_id": names, "name": names, "_row": list(range(2, len(names) + 2))})
            out.labels["managers"] = _label(portal.deals)
    elif portal.users:
        ids = sorted(portal.users, key=lambda k: (len(k), k))
        out.tables["managers"] = pl.DataFrame({"manager_id": ids, "name": [portal.users[i] for i in ids],
                                               "_row": list(range(2, len(ids) + 2))}, schema_overrides={"_row": pl.Int64})
        out.labels["managers"] = portal.users_label
    comp_id, comp_name = _col(portal.deals, "company_id"), _col(portal.deals, "company_name", "company_title")
    if portal.shape != GRID and comp_id.null_count() < len(comp_id):
        acc = pl.DataFrame({"account_id": comp_id, "name": comp_name, "_row": portal.deals["_row"]})
        acc = acc.filter(pl.col("account_id").is_not_null()).unique("account_id", keep="first", maintain_order=True)
        out.tables["accounts"] = acc
        out.labels["accounts"] = _label(portal.deals)
