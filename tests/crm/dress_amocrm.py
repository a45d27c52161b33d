"""A generated department dressed as amoCRM exports it: the UI export (XLSX, and CSV in
Windows-1251 with `;`, in the current and the older 76-column layouts) and an API v4 dump folder
(one JSON file per page, as the API returns pages), with the short account.yaml.

The shapes follow ../shared/design/crm-exports.md and the API's documented objects (leads with
status_id/pipeline_id/responsible_user_id/price/created_at/closed_at/custom_fields_values; events
lead_status_changed with value_before/value_after [{"lead_status": {"id", "pipeline_id"}}],
custom_field_value_changed [{"custom_field_value": {"field_id", "text"}}], sale_field_changed
[{"sale_field_value": {"sale"}}]; tasks with task_type_id/complete_till/is_completed/result.text;
notes call_out/common; users; pipelines with _embedded.statuses incl. 142/143; loss_reasons;
account _embedded.task_types). Times: naive department times are the account's local time (TZ).

    frames = department()                      # native frames, amounts in whole roubles
    write_native(frames, folder)               # the same department as native CSV tables
    dress_api(frames, folder) / dress_ui_xlsx(frames, path) / dress_ui_csv(frames, path)
    write_account(path)                        # the short account.yaml
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

TZ = "Europe/Moscow"
PIPELINE_ID = 7_100_001
STAGES = {"new": (41_000_001, "Первичный контакт"), "qualification": (41_000_002, "Квалификация"),
          "proposal": (41_000_003, "КП отправлено"), "negotiation": (41_000_004, "Переговоры"),
          "contract": (41_000_005, "Договор"), "won": (142, "Успешно реализовано"),
          "lost": (143, "Закрыто и не реализовано")}
TASK_TYPES = {"call": (1, "Связаться"), "meeting": (2, "Встреча"),
              "first_contact": (3_100_001, "Первый контакт"), "proposal_sent": (3_100_002, "Отправить КП"),
              "brief_meeting": (3_100_003, "Бриф-встреча"), "follow_up_call": (3_100_004, "Звонок после КП"),
              "negotiation_meeting": (3_100_005, "Переговорная встреча"),
              "contract_sent": (3_100_006, "Отправить договор")}
FIELDS = {"segment": (600_001, "Сегмент клиента", "select"), "channel": (600_002, "Источник сделки", "select"),
          "decision_maker": (600_003, "ЛПР", "text"), "budget": (600_004, "Бюджет клиента", "text"),
          "need": (600_005, "Потребность", "text"), "timeline": (600_006, "Сроки", "text"),
          "expected_close": (600_007, "Ожидаемое закрытие", "text"),
          "forecast_category": (600_008, "Категория прогноза", "select"), "probability": (600_009, "Вероятность", "numeric")}
SEGMENTS = {"smb": "Малый бизнес", "mid": "Средний бизнес", "enterprise": "Крупный бизнес"}
CHANNELS = {"inbound": "Входящий", "outbound": "Исходящий", "referral": "Рекомендация", "partner": "Партнёр",
            "events": "Мероприятие"}
FORECAST = {"pipeline": "Воронка", "best_case": "Лучший случай", "commit": "Уверенно"}
VALUE_LABELS = {"segment": SEGMENTS, "channel": CHANNELS, "forecast_category": FORECAST}

ACCOUNT_YAML = """\
stages: {"Первичный контакт": new, "Квалификация": qualification, "КП отправлено": proposal, "Переговоры": negotiation, "Договор": contract}
steps: {"Первый контакт": first_contact, "Бриф-встреча": brief_meeting, 3100002: proposal_sent, "Звонок после КП": follow_up_call, "Переговорная встреча": negotiation_meeting, "Отправить договор": contract_sent}
fields: {"Сегмент клиента": segment, "Источник сделки": channel, "ЛПР": decision_maker, "Бюджет клиента": budget, "Потребность": need, "Сроки": timeline, "Ожидаемое закрытие": expected_close, "Категория прогноза": forecast_category, 600009: probability}
values:
  segment: {"Малый бизнес": smb, "Средний бизнес": mid, "Крупный бизнес": enterprise}
  channel: {"Входящий": inbound, "Исходящий": outbound, "Рекомендация": referral, "Партнёр": partner, "Мероприятие": events}
  forecast_category: {"Воронка": pipeline, "Лучший случай": best_case, "Уверенно": commit}
tz: Europe/Moscow
"""


def department(*, managers: int = 6, months: int = 8, deals: int | None = 260, seed: int = 7) -> dict[str, pl.DataFrame]:
    from dealpulse.demo.generator import generate_frames

    frames = generate_frames(managers=managers, months=months, deals=deals, seed=seed, plant=None)
    frames["deals"] = frames["deals"].with_columns(pl.col("amount").round(0))
    return frames


def write_native(frames: dict[str, pl.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.write_csv(folder / f"{name}.csv", datetime_format="%Y-%m-%dT%H:%M:%S")
    return folder


def write_account(path: Path) -> Path:
    path.write_text(ACCOUNT_YAML, encoding="utf-8")
    return path


# -- ids --------------------------------------------------------------------------------------------
def lead_id(deal_id: str) -> int:
    return 30_000_000 + int(deal_id.lstrip("d"))


def user_ids(frames: dict[str, pl.DataFrame]) -> dict[str, int]:
    return {m: 9_000_000 + i for i, m in enumerate(frames["managers"]["manager_id"].to_list(), 1)}


def _unix(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    return int(dt.replace(tzinfo=ZoneInfo(TZ)).timestamp())


def _ru(dt: datetime | None) -> str | None:
    return dt.strftime("%d.%m.%Y %H:%M:%S") if dt is not None else None


def _label(field: str, value: Any) -> Any:
    return VALUE_LABELS.get(field, {}).get(value, value)


def _current(frames: dict[str, pl.DataFrame]) -> dict[str, str]:
    """deal -> its stage now (won/lost for closed deals, else its last stage entered)."""
    sh = frames["stage_history"].sort(["deal_id", "entered_at"])
    last = dict(sh.group_by("deal_id", maintain_order=True).agg(pl.col("stage").last()).iter_rows())
    out = {}
    for d, status in frames["deals"].select("deal_id", "status").iter_rows():
        out[d] = status if status in ("won", "lost") else last.get(d, "new")
    return out


def _last_values(frames: dict[str, pl.DataFrame]) -> dict[str, dict[str, Any]]:
    fh = frames["field_history"].filter(pl.col("entity") == "deal").sort("changed_at")
    out: dict[str, dict[str, Any]] = {}
    for d, f, v in fh.select("entity_id", "field", "value").iter_rows():
        out.setdefault(d, {})[f] = v
    return out


# -- API v4 dump ------------------------------------------------------------------------------------
def _pages(folder: Path, entity: str, items: list[dict], size: int = 250, key: str | None = None) -> None:
    key = key or entity
    for n, start in enumerate(range(0, max(len(items), 1), size), 1):
        chunk = items[start:start + size]
        page = {"_page": n, "_links": {"self": {"href": f"https://example.amocrm.ru/api/v4/{entity}?page={n}&limit={size}"}},
                "_embedded": {key: chunk}}
        if start + size < len(items):
            page["_links"]["next"] = {"href": f"https://example.amocrm.ru/api/v4/{entity}?page={n + 1}&limit={size}"}
        (folder / f"{entity}_{n}.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")


def dress_api(frames: dict[str, pl.DataFrame], folder: Path, *, page_size: int = 250, edited_every: int = 50) -> Path:
    """`edited_every`: every n-th completed task was edited two days after it was done (its result
    text added later, say), so its `updated_at` - all the API gives - is later than its completion."""
    folder.mkdir(parents=True, exist_ok=True)
    users = user_ids(frames)
    deals = frames["deals"]
    current = _current(frames)
    last = _last_values(frames)
    reasons = sorted({r for r in deals["lost_reason"].to_list() if r})
    reason_ids = {r: 5_000 + i for i, r in enumerate(reasons, 1)}
    statuses = [{"id": sid, "name": name, "sort": 10 * i, "is_editable": sid not in (142, 143),
                 "pipeline_id": PIPELINE_ID, "color": "#99ccff", "type": 0, "account_id": 1}
                for i, (sid, name) in enumerate(STAGES.values(), 1)]
    _pages(folder, "pipelines", [{"id": PIPELINE_ID, "name": "Продажи", "sort": 1, "is_main": True,
                                   "is_unsorted_on": False, "is_archive": False, "account_id": 1,
                                   "_embedded": {"statuses": statuses}}])
    _pages(folder, "users", [{"id": users[m], "name": n, "email": e, "lang": "ru"}
                             for m, n, e in frames["managers"].select("manager_id", "name", "email").iter_rows()])
    _pages(folder, "loss_reasons", [{"id": i, "name": r, "sort": i, "created_at": 1_600_000_000,
                                     "updated_at": 1_600_000_000} for r, i in reason_ids.items()])
    (folder / "account.json").write_text(json.dumps({
        "id": 1, "name": "Демо", "subdomain": "example", "_embedded": {"task_types": [
            {"id": tid, "name": name, "color": None, "icon_id": None, "code": None}
            for tid, name in TASK_TYPES.values()]}}, ensure_ascii=False), encoding="utf-8")

    leads = []
    for d in deals.iter_rows(named=True):
        stage = current[d["deal_id"]]
        cfv = []
        for field in ("segment", "channel"):
            if d[field] is not None:
                fid, name, kind = FIELDS[field]
                cfv.append({"field_id": fid, "field_name": name, "field_code": None, "field_type": kind,
                            "values": [{"value": _label(field, d[field]), "enum_id": None}]})
        for field, value in last.get(d["deal_id"], {}).items():
            if field in FIELDS and value is not None:
                fid, name, kind = FIELDS[field]
                cfv.append({"field_id": fid, "field_name": name, "field_code": None, "field_type": kind,
                            "values": [{"value": _label(field, value)}]})
        lead = {"id": lead_id(d["deal_id"]), "name": d["title"], "price": int(d["amount"] or 0),
                "responsible_user_id": users[d["owner"]], "group_id": 0, "status_id": STAGES[stage][0],
                "pipeline_id": PIPELINE_ID, "loss_reason_id": reason_ids.get(d["lost_reason"]) if d["status"] == "lost" else None,
                "created_by": users[d["owner"]], "updated_by": users[d["owner"]],
                "created_at": _unix(d["created_at"]), "updated_at": _unix(d["closed_at"] or d["created_at"]),
                "closed_at": _unix(d["closed_at"]), "closest_task_at": None, "is_deleted": False,
                "custom_fields_values": cfv or None, "score": None, "account_id": 1,
                "_embedded": {"tags": [], "companies": [{"id": 20_000_000 + int(d["account_id"].lstrip("a"))}]
                              if d["account_id"] else []}}
        leads.append(lead)
    _pages(folder, "leads", leads, page_size)

    events = []
    n = 0
    sh = frames["stage_history"].sort(["deal_id", "entered_at"])
    for deal_id, group in sh.group_by("deal_id", maintain_order=True):
        rows = group.select("stage", "entered_at", "changed_by").rows()
        lid = lead_id(deal_id[0])
        n += 1
        events.append({"id": f"ev{n:07d}", "type": "lead_added", "entity_id": lid, "entity_type": "lead",
                       "created_by": users.get(rows[0][2], 0), "created_at": _unix(rows[0][1]),
                       "value_after": [], "value_before": [], "account_id": 1})
        for (prev, _, _), (stage, at, by) in zip(rows, rows[1:]):
            n += 1
            events.append({"id": f"ev{n:07d}", "type": "lead_status_changed", "entity_id": lid, "entity_type": "lead",
                           "created_by": users.get(by, 0), "created_at": _unix(at),
                           "value_before": [{"lead_status": {"id": STAGES[prev][0], "pipeline_id": PIPELINE_ID}}],
                           "value_after": [{"lead_status": {"id": STAGES[stage][0], "pipeline_id": PIPELINE_ID}}],
                           "account_id": 1})
    fh = frames["field_history"].filter(pl.col("entity") == "deal").sort("changed_at")
    for deal_id, field, value, at, by in fh.select("entity_id", "field", "value", "changed_at", "changed_by").iter_rows():
        n += 1
        ev = {"id": f"ev{n:07d}", "entity_id": lead_id(deal_id), "entity_type": "lead", "created_by": users.get(by, 0),
              "created_at": _unix(at), "value_before": [], "account_id": 1}
        if field == "amount":
            ev["type"] = "sale_field_changed"
            ev["value_after"] = [{"sale_field_value": {"sale": int(float(value))}}] if value is not None else []
        elif field in FIELDS:
            fid = FIELDS[field][0]
            # both spellings the API uses: the generic type, and one carrying the field's id
            ev["type"] = "custom_field_value_changed" if n % 2 else f"custom_field_{fid}_value_changed"
            ev["value_after"] = ([{"custom_field_value": {"field_id": fid, "field_type": 1, "enum_id": None,
                                                          "text": str(_label(field, value))}}] if value is not None else [])
        else:
            continue
        events.append(ev)
    events.sort(key=lambda e: (e["created_at"], e["id"]))
    _pages(folder, "events", events, page_size * 4)

    tasks, notes = [], []
    for i, tk in enumerate(frames["tasks"].iter_rows(named=True), 1):
        lid = lead_id(tk["deal_id"])
        owner = users.get(tk["owner"], 0)
        if tk["due_at"] is None:  # a logged activity: a note
            when = tk["completed_at"] or tk["created_at"]
            if tk["type"] == "call":
                note = {"note_type": "call_out", "params": {"uniq": f"c{i}", "duration": 120, "source": "demo",
                                                            "link": None, "phone": "+79990000000"}}
            else:
                note = {"note_type": "common", "params": {"text": tk["type"]}}
            notes.append({"id": 80_000_000 + i, "entity_id": lid, "entity_type": "leads", "created_by": owner,
                          "updated_by": owner, "created_at": _unix(when), "updated_at": _unix(when),
                          "responsible_user_id": owner, "group_id": 0, "account_id": 1, **note})
            continue
        if tk["status"] == "cancelled":
            continue  # amoCRM has no cancelled state: such a task is deleted
        done = tk["status"] == "done"
        updated = tk["completed_at"] if done else tk["created_at"]
        if done and edited_every and i % edited_every == 0:
            updated = updated + timedelta(days=2)
        tasks.append({"id": 60_000_000 + i, "created_by": owner, "updated_by": owner,
                      "created_at": _unix(tk["created_at"]),
                      "updated_at": _unix(updated),
                      "responsible_user_id": owner, "group_id": 0, "entity_id": lid, "entity_type": "leads",
                      "duration": 0, "is_completed": done, "task_type_id": TASK_TYPES[tk["type"]][0],
                      "text": TASK_TYPES[tk["type"]][1], "result": {"text": "Сделано"} if done else [],
                      "complete_till": _unix(tk["due_at"]), "account_id": 1})
    _pages(folder, "tasks", tasks, page_size)
    _pages(folder, "notes", notes, page_size)
    return folder


# -- UI export --------------------------------------------------------------------------------------
CURRENT = ["ID", "Название сделки", "Бюджет ", " Ответственный", "Этап сделки", "Компания", "Основной контакт",
           "Рабочий телефон (контакт)", "Рабочий email (контакт)", "Теги сделки", "Дата создания", "Дата изменения",
           "Дата закрытия", "Ближайшая задача", "Примечание 1", "Источник", "Сегмент клиента", "ЛПР"]
OLDER = (["ID", "Название сделки", "Бюджет", "Ответственный", "Дата создания сделки", "Кем создана сделка",
          "Дата редактирования", "Кем редактирована", "Дата закрытия", "Теги", "Примечание", "Примечание 2",
          "Примечание 3", "Примечание 4", "Примечание 5", "Этап сделки", "Воронка", "Полное имя контакта",
          "Компания контакта", "Ответственный за контакт", "Компания", "Рабочий телефон (контакт)",
          "Мобильный телефон (контакт)", "Рабочий email (контакт)", "Город", "Источник", "Должность", "Товар",
          "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "roistat", "yclid", "gclid",
          "Сегмент клиента", "ЛПР"])
OLDER += [f"utm_extra_{i}" for i in range(76 - len(OLDER))]  # the older layout is 76 columns wide


def ui_rows(frames: dict[str, pl.DataFrame], layout: str = "current") -> tuple[list[str], list[list[Any]]]:
    names = dict(frames["managers"].select("manager_id", "name").iter_rows())
    accounts = dict(frames["accounts"].select("account_id", "name").iter_rows())
    current = _current(frames)
    last = _last_values(frames)
    headers = CURRENT if layout == "current" else OLDER
    rows = []
    for d in frames["deals"].iter_rows(named=True):
        owner = names[d["owner"]]
        v = {"ID": lead_id(d["deal_id"]), "Название сделки": d["title"], "Бюджет": int(d["amount"] or 0),
             "Ответственный": owner, "Этап сделки": STAGES[current[d["deal_id"]]][1], "Воронка": "Продажи",
             "Компания": accounts.get(d["account_id"]), "Дата создания": _ru(d["created_at"]),
             "Дата создания сделки": _ru(d["created_at"]), "Кем создана сделка": owner,
             "Дата изменения": _ru(d["closed_at"] or d["created_at"]),
             "Дата редактирования": _ru(d["closed_at"] or d["created_at"]), "Кем редактирована": owner,
             "Дата закрытия": _ru(d["closed_at"]) if d["status"] != "open" else "не закрыта",
             "Источник": _label("channel", d["channel"]), "Сегмент клиента": _label("segment", d["segment"]),
             "ЛПР": last.get(d["deal_id"], {}).get("decision_maker"), "Город": "Москва",
             "utm_source": "yandex" if d["channel"] == "inbound" else None}
        rows.append([v.get(h.strip()) for h in headers])
    return headers, rows


def dress_ui_xlsx(frames: dict[str, pl.DataFrame], path: Path, layout: str = "current") -> Path:
    from openpyxl import Workbook

    headers, rows = ui_rows(frames, layout)
    book = Workbook(write_only=True)
    ws = book.create_sheet("Сделки")
    ws.append(headers)
    for r in rows:
        ws.append(r)
    book.save(path)
    return path


def dress_ui_csv(frames: dict[str, pl.DataFrame], path: Path, layout: str = "older", encoding: str = "cp1251") -> Path:
    import csv
    import io

    headers, rows = ui_rows(frames, layout)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(headers)
    budget = [h.strip() for h in headers].index("Бюджет")
    for r in rows:  # the budget as amoCRM shows it: 1 200 000
        w.writerow(["" if c is None else f"{c:,}".replace(",", " ") if i == budget else c for i, c in enumerate(r)])
    path.write_bytes(buf.getvalue().encode(encoding, errors="replace"))
    return path
