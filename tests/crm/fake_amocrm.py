"""A fake amoCRM (Kommo) API v4 account for sync tests, built from the documented response shapes
(https://www.amocrm.ru/developers/content/crm_platform/): leads, events, tasks, lead notes, users,
pipelines, loss reasons and the account's task types.

- Paging: `page` and `limit` (at most 250; events 100); `_page`, `_links.self/next`; 204 No Content
  when a page has nothing.
- Filters: `filter[updated_at][from|to]` (leads, tasks, notes), `filter[created_at][from|to]`
  (events), `filter[entity_type]` (tasks), `filter[entity][]` (events); `order[id]=asc|desc`.
  Events come newest first, as the API gives them.
- Auth: `Authorization: Bearer <token>`, else 401.
- Rate limit: more than 7 requests in any second -> 429 (counted in `server.rejected`); the
  server records the highest rate it saw (`server.max_rate()`).
- Failures: see FakeServer (503, dropped connections, answers cut mid-body, outages).

`FakeAmo.from_folder(dump)` serves the records of an API dump folder (as the amoCRM preset reads
them); `as_of(t)` turns the account back to what the API would have answered at unix time `t`.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.crm.fake_http import FakeServer, Reply, Request

ENTITIES = ("leads", "events", "tasks", "notes", "users", "pipelines", "loss_reasons", "task_types", "custom_fields")
PATHS = {
    "/api/v4/leads": "leads",
    "/api/v4/events": "events",
    "/api/v4/tasks": "tasks",
    "/api/v4/leads/notes": "notes",
    "/api/v4/users": "users",
    "/api/v4/leads/pipelines": "pipelines",
    "/api/v4/leads/loss_reasons": "loss_reasons",
    "/api/v4/leads/custom_fields": "custom_fields",
}
MAX_LIMIT = {"events": 100, "custom_fields": 50}
RATE = 7


class FakeAmo:
    def __init__(self, records: dict[str, list[dict]], *, token: str = "amo-secret-token-0123456789",
                 rate: int = RATE, now: float | None = None, account_id: int = 30000001):
        self.records = normalised(records)
        self.token = token
        self.rate = rate
        self.account_id = account_id
        self.server = FakeServer(self.handle, now=now if now is not None else self.latest() + 3600)
        self.seen_filters: list[dict[str, list[str]]] = []

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: Path, **kw: Any) -> "FakeAmo":
        """Records of an API dump folder: `<entity>*.json` pages (or a list of pages), `account*.json`."""
        records: dict[str, list[dict]] = {e: [] for e in ENTITIES}
        for p in sorted(Path(folder).glob("*.json")):
            data = json.loads(p.read_text(encoding="utf-8"))
            pages = data if isinstance(data, list) else [data]
            name = p.name.lower()
            for page in pages:
                emb = page.get("_embedded", {}) if isinstance(page, dict) else {}
                if name.startswith("account"):
                    records["task_types"].extend(emb.get("task_types", []))
                    continue
                for e in ENTITIES:
                    if name.startswith(e) and isinstance(emb.get(e), list):
                        records[e].extend(emb[e])
        return cls(records, **kw)

    def latest(self) -> float:
        times = [r.get(k) for e in ("leads", "events", "tasks", "notes") for r in self.records[e]
                 for k in ("created_at", "updated_at")]
        return float(max((x for x in times if isinstance(x, (int, float))), default=time.time()))

    def set_records(self, records: dict[str, list[dict]], now: float | None = None) -> None:
        self.records = normalised(records)
        self.server.now = now if now is not None else self.latest() + 3600

    # -- HTTP ------------------------------------------------------------------------------------
    def __enter__(self) -> "FakeAmo":
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    def handle(self, req: Request) -> Reply:
        with self.server.lock:
            in_window = sum(1 for t in self.server.arrivals if req.arrived - 1.0 < t <= req.arrived)
            if in_window > self.rate:
                self.server.rejected += 1
                return Reply(429, {"title": "Too Many Requests", "status": 429, "detail": "Too many requests"})
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"title": "Unauthorized", "status": 401, "detail": "Token is invalid"})
        if req.method != "GET":
            return Reply(405, {"title": "Method Not Allowed", "status": 405})
        params = req.params()
        self.seen_filters.append({k: v for k, v in params.items() if k.startswith("filter")})
        if req.path == "/api/v4/account":
            body: dict[str, Any] = {"id": self.account_id, "name": "Fake", "subdomain": "fake", "_links": {"self": {"href": req.path}}}
            if "task_types" in (params.get("with", [""])[0] or ""):
                body["_embedded"] = {"task_types": self.records["task_types"]}
            return Reply(200, body)
        entity = PATHS.get(req.path)
        if entity is None:
            return Reply(404, {"title": "Not Found", "status": 404})
        rows = self._filtered(entity, params)
        if entity == "pipelines":  # not paged
            return Reply(200, {"_total_items": len(rows), "_links": {"self": {"href": req.path}},
                               "_embedded": {"pipelines": rows}})
        page = int(params.get("page", ["1"])[0])
        limit = min(int(params.get("limit", ["50"])[0]), MAX_LIMIT.get(entity, 250))
        chunk = rows[(page - 1) * limit: page * limit]
        if not chunk:
            return Reply(204)
        q = [(k, v) for k, vs in params.items() for v in vs if k != "page"]
        links = {"self": {"href": f"{self.url}{req.path}?{urlencode(q + [('page', page)])}"}}
        if page * limit < len(rows):
            links["next"] = {"href": f"{self.url}{req.path}?{urlencode(q + [('page', page + 1)])}"}
        if page > 1:
            links["prev"] = {"href": f"{self.url}{req.path}?{urlencode(q + [('page', page - 1)])}"}
        return Reply(200, {"_page": page, "_links": links, "_embedded": {entity: chunk}})

    def _filtered(self, entity: str, params: dict[str, list[str]]) -> list[dict]:
        rows = list(self.records[entity])
        for fld in ("updated_at", "created_at"):
            lo = params.get(f"filter[{fld}][from]")
            hi = params.get(f"filter[{fld}][to]")
            if lo:
                rows = [r for r in rows if (r.get(fld) or 0) >= int(lo[0])]
            if hi:
                rows = [r for r in rows if (r.get(fld) or 0) <= int(hi[0])]
        if entity == "tasks" and params.get("filter[entity_type]"):
            rows = [r for r in rows if r.get("entity_type") == params["filter[entity_type]"][0]]
        kinds = params.get("filter[entity][]", []) + [k for v in params.get("filter[entity]", []) for k in v.split(",")]
        if entity == "events" and kinds:
            rows = [r for r in rows if r.get("entity_type") in set(kinds)]
        ids = params.get("filter[entity_id][]", []) + [k for v in params.get("filter[entity_id]", []) for k in v.split(",")]
        if entity == "events" and ids:
            rows = [r for r in rows if str(r.get("entity_id")) in set(ids)]
        ids = params.get("filter[id][]", []) + [k for v in params.get("filter[id]", []) for k in v.split(",")]
        if ids:
            rows = [r for r in rows if str(r.get("id")) in set(ids)]
        if entity == "events":
            rows.sort(key=lambda r: (r.get("created_at") or 0, str(r.get("id"))), reverse=True)
        else:
            order = params.get("order[id]", ["asc"])[0]
            rows.sort(key=lambda r: int(r.get("id") or 0), reverse=order == "desc")
        return rows

    # -- time travel ---------------------------------------------------------------------------------
    def as_of(self, t1: int) -> dict[str, list[dict]]:
        return amo_as_of(self.records, t1)


def normalised(records: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The records as amoCRM keeps them: a lead's `updated_at` is never before its latest event
    (amoCRM sets it on every change; a dress may leave it at the creation)."""
    out = {e: copy.deepcopy(list(records.get(e, []))) for e in ENTITIES}
    if not out["custom_fields"]:  # the account's fields, as the leads name them
        seen: dict[Any, dict] = {}
        for lead in out["leads"]:
            for cf in lead.get("custom_fields_values") or []:
                if isinstance(cf, dict) and cf.get("field_id") is not None:
                    seen.setdefault(cf["field_id"], {"id": cf["field_id"], "name": cf.get("field_name"),
                                                     "type": cf.get("field_type"), "code": cf.get("field_code"),
                                                     "entity_type": "leads"})
        out["custom_fields"] = sorted(seen.values(), key=lambda f: f["id"])
    last: dict[Any, int] = {}
    for ev in out["events"]:
        if str(ev.get("entity_type")) in ("lead", "leads") and isinstance(ev.get("created_at"), int):
            last[ev.get("entity_id")] = max(last.get(ev.get("entity_id"), 0), ev["created_at"])
    for lead in out["leads"]:
        when = max(lead.get("updated_at") or 0, lead.get("closed_at") or 0, last.get(lead.get("id"), 0))
        if when:
            lead["updated_at"] = when
    return out


def amo_as_of(records: dict[str, list[dict]], t1: int) -> dict[str, list[dict]]:
    """The account as the API would have shown it at unix time `t1`: records created by then, each
    lead's pipeline/status/price/responsible/closing as of then (from its events), tasks completed
    after `t1` still open. Checks that every lead changed after `t1` says so in its `updated_at`
    (else an incremental pull could not find it - the dress would be wrong, not the sync)."""
    out: dict[str, list[dict]] = {e: copy.deepcopy(records.get(e, [])) for e in ENTITIES}
    events = [e for e in out["events"] if (e.get("created_at") or 0) <= t1]
    later = [e for e in out["events"] if (e.get("created_at") or 0) > t1]
    out["events"] = events
    by_lead_later: dict[Any, list[dict]] = {}
    for e in sorted(later, key=lambda e: e.get("created_at") or 0):
        by_lead_later.setdefault(e.get("entity_id"), []).append(e)
    leads = []
    for lead in out["leads"]:
        if (lead.get("created_at") or 0) > t1:
            continue
        changes = by_lead_later.get(lead.get("id"), [])
        if changes:
            assert (lead.get("updated_at") or 0) > t1, f"lead {lead.get('id')} changed after {t1} but updated_at says not"
        for ev in changes:  # the first later change's value_before is the value at t1
            kind = ev.get("type")
            before = (ev.get("value_before") or [{}])[0] if ev.get("value_before") else {}
            if kind == "lead_status_changed" and "lead_status" in before and not lead.get("_status_done"):
                lead["status_id"] = before["lead_status"].get("id")
                lead["pipeline_id"] = before["lead_status"].get("pipeline_id", lead.get("pipeline_id"))
                lead["_status_done"] = True
            elif kind == "sale_field_changed" and "sale_field_value" in before and not lead.get("_price_done"):
                lead["price"] = before["sale_field_value"].get("sale")
                lead["_price_done"] = True
            elif kind == "entity_responsible_changed" and "responsible_user" in before and not lead.get("_resp_done"):
                lead["responsible_user_id"] = before["responsible_user"].get("id")
                lead["_resp_done"] = True
        for k in ("_status_done", "_price_done", "_resp_done"):
            lead.pop(k, None)
        if (lead.get("closed_at") or 0) > t1:
            lead["closed_at"] = None
            lead["loss_reason_id"] = None
            if isinstance(lead.get("_embedded"), dict):
                lead["_embedded"].pop("loss_reason", None)
        if (lead.get("updated_at") or 0) > t1:
            mine = [e.get("created_at") or 0 for e in events if e.get("entity_id") == lead.get("id")]
            lead["updated_at"] = max([lead.get("created_at") or 0] + mine)
        leads.append(lead)
    out["leads"] = leads
    tasks = []
    for task in out["tasks"]:
        if (task.get("created_at") or 0) > t1:
            continue
        if (task.get("updated_at") or 0) > t1:
            task["is_completed"] = False
            task["result"] = []
            task["updated_at"] = task.get("created_at")
        tasks.append(task)
    out["tasks"] = tasks
    notes = []
    for note in out["notes"]:
        if (note.get("created_at") or 0) > t1:
            continue
        note["updated_at"] = min(note.get("updated_at") or 0, t1)
        notes.append(note)
    out["notes"] = notes
    return out


def write_dump(records: dict[str, list[dict]], folder: Path, *, per_page: int = 250) -> Path:
    """Write records as an API dump folder (the shape the preset reads), pages of `per_page`."""
    folder.mkdir(parents=True, exist_ok=True)
    for entity in ("leads", "events", "tasks", "notes", "users", "loss_reasons", "custom_fields"):
        rows = records.get(entity, [])
        size = min(per_page, MAX_LIMIT.get(entity, 250))
        for i in range(0, max(len(rows), 1), size):
            page = {"_page": i // size + 1, "_links": {}, "_embedded": {entity: rows[i:i + size]}}
            (folder / f"{entity}_{i // size + 1:03d}.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
    (folder / "pipelines.json").write_text(json.dumps({"_embedded": {"pipelines": records.get("pipelines", [])}},
                                                      ensure_ascii=False), encoding="utf-8")
    (folder / "account.json").write_text(json.dumps({"_embedded": {"task_types": records.get("task_types", [])}},
                                                    ensure_ascii=False), encoding="utf-8")
    return folder
