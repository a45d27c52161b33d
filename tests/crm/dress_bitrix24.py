"""A generated department dressed as Bitrix24 exports it, for the preset's tests (and the sync fakes).

    frames = department()                       # native frames (dealpulse.demo.generator)
    write_native(frames, tmp / "native")        # the native folder the same data imports from
    dress_bi(frames, tmp / "bi")                # BI-connector datasets + account.yaml
    dress_rest(frames, tmp / "rest")            # REST responses (pages of 50) + account.yaml
    dress_grid(frames, tmp / "grid")            # the deal grid's «Excel» (HTML .xls) + account.yaml

Shapes follow the documented formats: BI-connector datasets crm_deal / crm_deal_stage_history /
crm_activity / crm_deal_uf / user (helpdesk.bitrix24.com "BI Builder datasets: deals" and
"...: activities"), REST responses `{"result": ..., "next": 50, "total": N, "time": {...}}`
(crm.stagehistory.list returns `{"result": {"items": [...]}}`), the grid export as an HTML table.
Timestamps: the department's wall times are Moscow time; the BI datasets and the grid write them
without a zone, REST with "+03:00". Every third deal is in a second pipeline (`C1:` stage ids,
`C1:PREPAYMENT_INVOIC` truncated as real portals show it). Open deals carry their planned
CLOSEDATE. Done activities carry LAST_UPDATED = completion, except a few edited days later (what
makes LAST_UPDATED an approximation); activities completed automatically (STATUS 3) stand for the
department's cancelled tasks; a few activities sit on contacts.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dealpulse.demo.generator import generate_frames

TZ = "Europe/Moscow"
STAGE_IDS = {"new": "NEW", "qualification": "PREPARATION", "proposal": "PREPAYMENT_INVOICE",
             "negotiation": "EXECUTING", "contract": "FINAL_INVOICE", "won": "WON", "lost": "LOSE"}
STAGE_NAMES = {"NEW": "Новая", "PREPARATION": "Подготовка документов", "PREPAYMENT_INVOICE": "Счёт на предоплату",
               "EXECUTING": "В работе", "FINAL_INVOICE": "Финальный счёт", "WON": "Сделка успешна",
               "LOSE": "Сделка провалена", "APOLOGY": "Анализ причины провала"}
C1_NAMES = {"C1:PREPAYMENT_INVOIC": "КП отправлено"}  # renamed by the portal's admin; the rest default
STEP_SUBJECTS = {"first_contact": "Первый контакт с клиентом", "brief_meeting": "Встреча-бриф",
                 "proposal_sent": "Отправить КП", "follow_up_call": "Контрольный звонок после КП",
                 "negotiation_meeting": "Переговоры по условиям", "contract_sent": "Отправить договор"}
SOURCES = {"inbound": "WEB", "outbound": "CALL", "partner": "PARTNER", "events": "TRADE_SHOW", "referral": "RECOMMENDATION"}
SOURCE_NAMES = {"WEB": "Веб-сайт", "CALL": "Звонок", "PARTNER": "Партнёр", "TRADE_SHOW": "Выставка",
                "RECOMMENDATION": "По рекомендации"}
SEGMENTS = {"smb": "Малый бизнес", "mid": "Средний бизнес", "enterprise": "Крупный бизнес"}
SEGMENT_ITEMS = {"smb": "41", "mid": "42", "enterprise": "43"}
UF = {"segment": ("UF_CRM_1704100000001", "Сегмент клиента"), "decision_maker": ("UF_CRM_1704100000002", "ЛПР"),
      "budget": ("UF_CRM_1704100000003", "Бюджет клиента"), "need": ("UF_CRM_1704100000004", "Потребность"),
      "timeline": ("UF_CRM_1704100000005", "Сроки"), "lost_reason": ("UF_CRM_1704100000006", "Причина отказа"),
      "comment": ("UF_CRM_1704100000007", "Комментарий")}  # the last one the account leaves unmapped
CARD = ("decision_maker", "budget", "need", "timeline")


def department(*, deals: int = 160, managers: int = 6, months: int = 8, seed: int = 5) -> dict[str, pl.DataFrame]:
    return generate_frames(deals=deals, managers=managers, months=months, seed=seed, plant=None)


def export_end(frames: dict[str, pl.DataFrame]) -> datetime:
    """The export moment: the first midnight after everything in the data."""
    last = max(frames["stage_history"]["entered_at"].max(), frames["tasks"]["created_at"].max(),
               frames["field_history"]["changed_at"].max())
    return datetime(last.year, last.month, last.day) + timedelta(days=1)


def write_native(frames: dict[str, pl.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        if "amount" in df.columns:
            df = df.with_columns(pl.col("amount").round(0).cast(pl.Int64))
        df.write_csv(folder / f"{name}.csv", datetime_format="%Y-%m-%dT%H:%M:%S")
    return folder


# -- the portal the department lives in ----------------------------------------------------------
def _deal_no(deal_id: str) -> int:
    return 1000 + int(deal_id.lstrip("d"))


def _user_id(manager_id: str) -> str:
    return str(10 + int(manager_id.lstrip("m")))


def _stage_id(stage: str, deal_no: int) -> str:
    sid = STAGE_IDS[stage]
    if stage == "lost" and deal_no % 2:
        sid = "APOLOGY"
    if deal_no % 3 == 2:  # the second pipeline
        sid = "C1:" + ("PREPAYMENT_INVOIC" if sid == "PREPAYMENT_INVOICE" else sid)
    return sid


def stage_name(sid: str) -> str:
    return C1_NAMES.get(sid) or STAGE_NAMES[sid.split(":")[-1]]


def _semantic(sid: str) -> str:
    tail = sid.split(":")[-1]
    return "S" if tail == "WON" else "F" if tail in ("LOSE", "APOLOGY") else "P"


def _last_values(fh: pl.DataFrame, field: str) -> dict[str, str]:
    f = fh.filter(pl.col("field") == field).sort("changed_at")
    return dict(zip(f["entity_id"].to_list(), f["value"].to_list())) if f.height else {}


def portal(frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """The department as a Bitrix24 portal holds it: lists of records with Bitrix24's field names,
    times as naive datetimes (Moscow wall time)."""
    d, sh, tk, fh = frames["deals"], frames["stage_history"], frames["tasks"], frames["field_history"]
    mg = frames["managers"]
    users = [{"ID": _user_id(r["manager_id"]), "NAME": r["name"].split(" ")[0], "LAST_NAME": " ".join(r["name"].split(" ")[1:]),
              "EMAIL": r["email"], "ACTIVE": True} for r in mg.iter_rows(named=True)]
    amount = _last_values(fh, "amount")
    close_plan = _last_values(fh, "expected_close")
    card = {f: _last_values(fh, f) for f in CARD}
    hist = sh.sort(["deal_id", "entered_at"])
    by_deal: dict[str, list[dict]] = {}
    for r in hist.iter_rows(named=True):
        by_deal.setdefault(r["deal_id"], []).append(r)
    last_touch = fh.group_by("entity_id").agg(pl.col("changed_at").max())
    touch = dict(zip(last_touch["entity_id"].to_list(), last_touch["changed_at"].to_list()))
    deals, history, uf = [], [], []
    hid = 0
    for r in d.sort("deal_id").iter_rows(named=True):
        no = _deal_no(r["deal_id"])
        rows = by_deal.get(r["deal_id"], [])
        sid = _stage_id(rows[-1]["stage"], no) if rows else _stage_id("new", no)
        closed = r["status"] in ("won", "lost")
        moved = rows[-1]["entered_at"] if rows else r["created_at"]
        modify = r["closed_at"] if closed else max(x for x in (moved, touch.get(r["deal_id"])) if x is not None)
        deals.append({
            "ID": str(no), "TITLE": r["title"], "CATEGORY_ID": "1" if no % 3 == 2 else "0",
            "STAGE_ID": sid, "STAGE_SEMANTIC_ID": _semantic(sid), "CLOSED": "Y" if closed else "N",
            "ASSIGNED_BY_ID": _user_id(r["owner"]), "OPPORTUNITY": f"{float(amount.get(r['deal_id'], round(r['amount']))):.2f}",
            "CURRENCY_ID": r["currency"], "DATE_CREATE": r["created_at"], "DATE_MODIFY": modify, "MOVED_TIME": moved,
            "CLOSEDATE": (r["closed_at"].date() if closed else
                          (datetime.fromisoformat(close_plan[r["deal_id"]]).date() if r["deal_id"] in close_plan else None)),
            "SOURCE_ID": SOURCES.get(r["channel"], "OTHER"), "COMPANY_ID": r["account_id"].lstrip("a").lstrip("0"),
        })
        values = {UF["segment"][0]: r["segment"], UF["lost_reason"][0]: r["lost_reason"],
                  UF["comment"][0]: "важный клиент" if no % 7 == 0 else None}
        values.update({UF[f][0]: card[f].get(r["deal_id"]) for f in CARD})
        uf.append({"DEAL_ID": str(no), **values})
        for i, h in enumerate(rows):
            hid += 1
            hs = _stage_id(h["stage"], no)
            history.append({"ID": str(hid), "TYPE_ID": "1" if i == 0 else ("3" if _semantic(hs) != "P" else "2"),
                            "OWNER_ID": str(no), "CREATED_TIME": h["entered_at"], "CATEGORY_ID": "1" if no % 3 == 2 else "0",
                            "STAGE_SEMANTIC_ID": _semantic(hs), "STAGE_ID": hs})
    rng = np.random.default_rng(11)
    acts = []
    for r in tk.sort("task_id").iter_rows(named=True):
        no = _deal_no(r["deal_id"])
        kind = r["type"]
        if kind in STEP_SUBJECTS:
            type_id, provider, subject = "6", "CRM_TODO", STEP_SUBJECTS[kind]
        elif kind == "call":
            type_id, provider, subject = "2", "VOXIMPLANT_CALL", "Звонок клиенту"
        elif kind == "email":
            type_id, provider, subject = "4", "CRM_EMAIL", "Re: коммерческое предложение"
        else:
            type_id, provider, subject = "1", "CRM_MEETING", "Встреча с клиентом"
        done, cancelled = r["status"] == "done", r["status"] == "cancelled"
        if done:
            last = r["completed_at"]
            if kind in STEP_SUBJECTS and rng.random() < 0.01:  # edited after it was done (1%: an assumption)
                last = last + timedelta(days=float(rng.uniform(1, 10)))
        else:
            last = r["created_at"]
        acts.append({
            "ID": str(50000 + int(r["task_id"].lstrip("t"))), "OWNER_ID": str(no), "OWNER_TYPE_ID": "2",
            "TYPE_ID": type_id, "PROVIDER_ID": provider, "SUBJECT": subject,
            "COMPLETED": "Y" if done or cancelled else "N", "STATUS": "3" if cancelled else "2" if done else "1",
            "RESPONSIBLE_ID": _user_id(r["owner"]), "CREATED": r["created_at"],
            "DEADLINE": r["due_at"] if r["due_at"] is not None else r["created_at"], "LAST_UPDATED": last,
        })
    for i in range(5):  # activities on contacts: not deals, left out by the preset
        acts.append({"ID": str(90000 + i), "OWNER_ID": str(700 + i), "OWNER_TYPE_ID": "3", "TYPE_ID": "2",
                     "PROVIDER_ID": "VOXIMPLANT_CALL", "SUBJECT": "Входящий звонок", "COMPLETED": "Y", "STATUS": "2",
                     "RESPONSIBLE_ID": users[0]["ID"], "CREATED": datetime(2023, 3, 1, 10), "DEADLINE": datetime(2023, 3, 1, 10),
                     "LAST_UPDATED": datetime(2023, 3, 1, 10, 5)})
    return {"users": users, "deals": deals, "history": history, "uf": uf, "activities": acts}


def _naive(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return None if v is None else str(v)


def _iso(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S+03:00")
    if v is not None and hasattr(v, "isoformat"):  # a date: REST writes it as local midnight
        return f"{v.isoformat()}T00:00:00+03:00"
    return v


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# -- the three shapes -----------------------------------------------------------------------------
ACCOUNT_BI = """\
# account.yaml for the BI-connector datasets: stages by id (the datasets name stages by id)
stages: {NEW: new, PREPARATION: qualification, PREPAYMENT_INVOICE: proposal, EXECUTING: negotiation, FINAL_INVOICE: contract,
         "C1:NEW": new, "C1:PREPARATION": qualification, "C1:PREPAYMENT_INVOIC": proposal, "C1:EXECUTING": negotiation,
         "C1:FINAL_INVOICE": contract}
steps: {"Первый контакт с клиентом": first_contact, "Встреча-бриф": brief_meeting, "Отправить КП": proposal_sent,
        "Контрольный звонок после КП": follow_up_call, "Переговоры по условиям": negotiation_meeting, "Отправить договор": contract_sent}
fields: {UF_CRM_1704100000001: segment, UF_CRM_1704100000002: decision_maker, UF_CRM_1704100000003: budget,
         UF_CRM_1704100000004: need, UF_CRM_1704100000005: timeline, UF_CRM_1704100000006: lost_reason}
values: {segment: {"Малый бизнес": smb, "Средний бизнес": mid, "Крупный бизнес": enterprise},
         channel: {WEB: inbound, CALL: outbound, PARTNER: partner, TRADE_SHOW: events, RECOMMENDATION: referral}}
tz: Europe/Moscow
"""

ACCOUNT_REST = """\
# account.yaml for a REST dump: stages by name (crm.status.list names them), the renamed one by its truncated id
stages: {"Новая": new, "Подготовка документов": qualification, "Счёт на предоплату": proposal, "В работе": negotiation,
         "Финальный счёт": contract, "C1:PREPAYMENT_INVOIC": proposal}
steps: {"Первый контакт с клиентом": first_contact, "Встреча-бриф": brief_meeting, "Отправить КП": proposal_sent,
        "Контрольный звонок после КП": follow_up_call, "Переговоры по условиям": negotiation_meeting, "Отправить договор": contract_sent}
fields: {"Сегмент клиента": segment, "ЛПР": decision_maker, "Бюджет клиента": budget, "Потребность": need, "Сроки": timeline,
         "Причина отказа": lost_reason}
values: {segment: {"Малый бизнес": smb, "Средний бизнес": mid, "Крупный бизнес": enterprise},
         channel: {"Веб-сайт": inbound, "Звонок": outbound, "Партнёр": partner, "Выставка": events, "По рекомендации": referral}}
tz: Europe/Moscow
"""

ACCOUNT_GRID = """\
# account.yaml for the deal grid export: stages and custom fields by the names the grid shows
stages: {"Новая": new, "Подготовка документов": qualification, "Счёт на предоплату": proposal, "КП отправлено": proposal,
         "В работе": negotiation, "Финальный счёт": contract}
fields: {"Сегмент клиента": segment, "ЛПР": decision_maker, "Бюджет клиента": budget, "Потребность": need, "Сроки": timeline,
         "Причина отказа": lost_reason}
values: {segment: {"Малый бизнес": smb, "Средний бизнес": mid, "Крупный бизнес": enterprise},
         channel: {"Веб-сайт": inbound, "Звонок": outbound, "Партнёр": partner, "Выставка": events, "По рекомендации": referral}}
tz: Europe/Moscow
"""


def dress_bi(frames: dict[str, pl.DataFrame], folder: Path) -> Path:
    """BI-connector datasets: crm_deal.csv (`;`), crm_deal_stage_history.csv, crm_activity.csv,
    crm_deal_uf.xlsx, user.csv; returns the account.yaml written beside them."""
    p = portal(frames)
    names = {u["ID"]: f"{u['NAME']} {u['LAST_NAME']}" for u in p["users"]}
    deals = [{**r, "STAGE": f"[{r['STAGE_ID']}] {stage_name(r['STAGE_ID'])}",
              "ASSIGNED_BY": f"[{r['ASSIGNED_BY_ID']}] {names[r['ASSIGNED_BY_ID']]}",
              "ASSIGNED_BY_NAME": names[r["ASSIGNED_BY_ID"]],
              "CATEGORY": "Партнёрские продажи" if r["CATEGORY_ID"] == "1" else "Общая"} for r in p["deals"]]
    folder.mkdir(parents=True, exist_ok=True)
    _frame(deals, _naive).write_csv(folder / "crm_deal.csv", separator=";")
    hist = [{"ID": h["ID"], "TYPE_ID": h["TYPE_ID"], "DEAL_ID": h["OWNER_ID"], "CREATED_TIME": h["CREATED_TIME"],
             "CATEGORY_ID": h["CATEGORY_ID"], "STAGE_SEMANTIC_ID": h["STAGE_SEMANTIC_ID"], "STAGE_ID": h["STAGE_ID"]}
            for h in p["history"]]
    _frame(hist, _naive).write_csv(folder / "crm_deal_stage_history.csv", separator=";")
    acts = [{"ID": a["ID"], "SUBJECT": a["SUBJECT"], "TYPE_ID": a["TYPE_ID"], "PROVIDER_ID": a["PROVIDER_ID"],
             "OWNER_ID": a["OWNER_ID"], "OWNER_TYPE_ID": a["OWNER_TYPE_ID"], "STATUS_ID": a["STATUS"],
             "COMPLETED": a["COMPLETED"], "DATE_CREATE": a["CREATED"], "DEADLINE": a["DEADLINE"],
             "LAST_UPDATED": a["LAST_UPDATED"], "RESPONSIBLE_ID": a["RESPONSIBLE_ID"]} for a in p["activities"]]
    _frame(acts, _naive).write_csv(folder / "crm_activity.csv", separator=";")
    uf = [{k: (SEGMENTS.get(v, v) if k == UF["segment"][0] else v) for k, v in r.items()} for r in p["uf"]]
    _xlsx(_frame(uf, _naive), folder / "crm_deal_uf.xlsx")
    _frame([{"ID": u["ID"], "NAME": u["NAME"], "LAST_NAME": u["LAST_NAME"], "ACTIVE": "Y"} for u in p["users"]],
           _naive).write_csv(folder / "user.csv", separator=";")
    account = folder.parent / f"{folder.name}_account.yaml"
    _write(account, ACCOUNT_BI)
    return account


def _xlsx(frame: pl.DataFrame, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(path.stem)
    sheet.append(frame.columns)
    for row in frame.iter_rows():
        sheet.append(list(row))
    book.save(path)


def _frame(records: list[dict], conv: Any) -> pl.DataFrame:
    cols: dict[str, None] = {}
    for r in records:
        for k in r:
            cols.setdefault(k, None)
    return pl.DataFrame({c: pl.Series(c, [conv(r.get(c)) for r in records], dtype=pl.Utf8) for c in cols})


def _pages(folder: Path, method: str, records: list[dict], *, items: bool = False) -> None:
    for i in range(0, max(len(records), 1), 50):
        page = records[i:i + 50]
        body: dict[str, Any] = {"result": {"items": page} if items else page, "total": len(records),
                                "time": {"start": 1700000000.0, "finish": 1700000000.2, "duration": 0.2}}
        if i + 50 < len(records):
            body["next"] = i + 50
        _write(folder / f"{method}_{i // 50:03d}.json", json.dumps(body, ensure_ascii=False, indent=1))


def dress_rest(frames: dict[str, pl.DataFrame], folder: Path) -> Path:
    """REST responses as returned (pages of 50), UF fields inline in crm.deal.list (select UF_*),
    the segment an enumeration (its item ids in the deals, the texts in crm.deal.userfield.list)."""
    p = portal(frames)
    uf_by_deal = {r["DEAL_ID"]: r for r in p["uf"]}
    deals = []
    for r in p["deals"]:
        u = {k: v for k, v in uf_by_deal[r["ID"]].items() if k != "DEAL_ID"}
        u[UF["segment"][0]] = SEGMENT_ITEMS.get(u[UF["segment"][0]]) if u[UF["segment"][0]] else None
        deals.append({k: _iso(v) for k, v in {**r, **u}.items()})
    _pages(folder, "crm.deal.list", deals)
    _pages(folder, "crm.stagehistory.list", [{k: _iso(v) for k, v in h.items()} for h in p["history"]], items=True)
    _pages(folder, "crm.activity.list", [{k: _iso(v) for k, v in a.items()} for a in p["activities"]])
    _pages(folder, "user.get", p["users"])
    fields = []
    for i, (key, (code, label)) in enumerate(UF.items()):
        f = {"ID": str(200 + i), "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": code, "USER_TYPE_ID": "string",
             "EDIT_FORM_LABEL": label, "LIST_COLUMN_LABEL": label, "MULTIPLE": "N"}
        if key == "segment":
            f.update(USER_TYPE_ID="enumeration", LIST=[{"ID": SEGMENT_ITEMS[s], "VALUE": SEGMENTS[s], "SORT": "100", "DEF": "N"}
                                                       for s in SEGMENTS])
        fields.append(f)
    _pages(folder, "crm.deal.userfield.list", fields)
    statuses = []
    for cat in ("", "C1:"):
        for sid in ("NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE", "APOLOGY"):
            full = cat + ("PREPAYMENT_INVOIC" if cat and sid == "PREPAYMENT_INVOICE" else sid)
            sem = _semantic(full)
            statuses.append({"ID": str(len(statuses) + 1), "ENTITY_ID": "DEAL_STAGE_1" if cat else "DEAL_STAGE",
                             "STATUS_ID": full, "NAME": stage_name(full), "SORT": str(10 * (len(statuses) + 1)),
                             "SEMANTICS": None if sem == "P" else sem, "CATEGORY_ID": "1" if cat else "0"})
    statuses += [{"ID": str(100 + i), "ENTITY_ID": "SOURCE", "STATUS_ID": s, "NAME": n, "SORT": "10"}
                 for i, (s, n) in enumerate(SOURCE_NAMES.items())]
    _pages(folder, "crm.status.list", statuses)
    _write(folder / "crm.category.list_000.json", json.dumps(
        {"result": {"categories": [{"id": 0, "name": "Общая"}, {"id": 1, "name": "Партнёрские продажи"}]}, "total": 2},
        ensure_ascii=False))
    account = folder.parent / f"{folder.name}_account.yaml"
    _write(account, ACCOUNT_REST)
    return account


def dress_grid(frames: dict[str, pl.DataFrame], path: Path) -> Path:
    """The deal grid's «Excel» export: an HTML table saved as .xls (Russian headers, custom fields
    as further columns under their names, dates DD.MM.YYYY HH:MM:SS, amounts with spaces)."""
    from html import escape

    p = portal(frames)
    names = {u["ID"]: f"{u['NAME']} {u['LAST_NAME']}" for u in p["users"]}
    uf_by_deal = {r["DEAL_ID"]: r for r in p["uf"]}
    head = ["ID", "Название сделки", "Воронка", "Стадия сделки", "Сумма", "Валюта", "Ответственный", "Дата создания",
            "Дата изменения", "Предполагаемая дата закрытия", "Компания", "Источник"] + [label for _, label in UF.values()]

    def ru(v: Any) -> str:
        if isinstance(v, datetime):
            return v.strftime("%d.%m.%Y %H:%M:%S")
        if v is not None and hasattr(v, "strftime"):
            return v.strftime("%d.%m.%Y")
        return "" if v is None else str(v)

    rows = []
    for r in p["deals"]:
        u = uf_by_deal[r["ID"]]
        amount = f"{float(r['OPPORTUNITY']):,.0f}".replace(",", "\u00a0")
        cells = [r["ID"], r["TITLE"], "Партнёрские продажи" if r["CATEGORY_ID"] == "1" else "Общая", stage_name(r["STAGE_ID"]),
                 amount, r["CURRENCY_ID"], names[r["ASSIGNED_BY_ID"]], r["DATE_CREATE"], r["DATE_MODIFY"], r["CLOSEDATE"],
                 f"Компания {r['COMPANY_ID']}", SOURCE_NAMES.get(r["SOURCE_ID"], r["SOURCE_ID"])]
        cells += [SEGMENTS.get(u[code], u[code]) if key == "segment" else u[code] for key, (code, _) in UF.items()]
        rows.append("<tr>" + "".join(f"<td>{escape(ru(c))}</td>" for c in cells) + "</tr>")
    html = ('<html><head><meta http-equiv="Content-type" content="text/html;charset=utf-8" /></head><body>\n'
            '<table border="1">\n<tr>' + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>\n"
            + "\n".join(rows) + "\n</table></body></html>\n")
    _write(path, html)
    account = path.parent / f"{path.stem}_account.yaml"
    _write(account, ACCOUNT_GRID)
    return account
