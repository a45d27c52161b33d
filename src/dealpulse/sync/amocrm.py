"""Pull an amoCRM (Kommo) account through API v4 into a dump folder the amoCRM preset reads.

Endpoints (https://www.amocrm.ru/developers/content/crm_platform/): every page is saved as the API
returned it (`{"_page": n, "_links": {...}, "_embedded": {"<entity>": [...]}}`), one file a page,
named `<entity>_pNNNN.json`:
- always in full (small): `account.json` (GET /api/v4/account?with=task_types), users
  (GET /api/v4/users), pipelines with their statuses (GET /api/v4/leads/pipelines), loss reasons
  (GET /api/v4/leads/loss_reasons), the leads' custom fields (GET /api/v4/leads/custom_fields,
  50 a page: the names of the fields that events name by id only);
- incrementally: leads (GET /api/v4/leads, `filter[updated_at][from]`), tasks of leads
  (GET /api/v4/tasks, `filter[updated_at][from]`), lead notes (GET /api/v4/leads/notes,
  `filter[updated_at][from]`), all ordered by id so a record updated during the pull keeps its
  place; and lead events (GET /api/v4/events, `filter[created_at][from]` and `[to]` pinned at the
  pull's start, so new events do not shift the pages).
Paging: `page` and `limit` (250; events 100) until a page has no `_links.next` (or 204 No Content).
The next cursor of an entity is min(latest `updated_at` seen, the server's clock at the pull's
start): whatever changes while a pull runs is fetched again next time (imports upsert by key).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from dealpulse.sync.http import ApiClient
from dealpulse.sync.state import Staging

Progress = Callable[[str, int, int, "int | None"], None]  # (entity, pages, records, total or None)
LIMIT = 7  # requests a second per account: amoCRM's limit, counted by the server as requests arrive
RATE = 6  # what the client starts in any second: one short of the limit, so network jitter (a request
          # delayed, the next one not) cannot make 8 arrive within a second


@dataclass(frozen=True)
class Endpoint:
    entity: str  # the name of the page files (it starts with the `_embedded` name the preset knows)
    path: str
    params: tuple[tuple[str, str], ...] = ()
    limit: int | None = 250  # None: not paged (one answer)
    since_field: str | None = None  # updated_at / created_at: pulled incrementally on it
    pin_until: bool = False  # also `filter[<field>][to]` = the pull's start (immutable records)
    order_by_id: bool = True
    key: str | None = None  # the name in `_embedded`, if not `entity`

    @property
    def embedded(self) -> str:
        return self.key or self.entity


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("account", "/api/v4/account", (("with", "task_types"),), limit=None, order_by_id=False, key="task_types"),
    Endpoint("users", "/api/v4/users", order_by_id=False),
    Endpoint("pipelines", "/api/v4/leads/pipelines", limit=None, order_by_id=False),
    Endpoint("loss_reasons", "/api/v4/leads/loss_reasons", order_by_id=False),
    Endpoint("custom_fields", "/api/v4/leads/custom_fields", limit=50, order_by_id=False),
    Endpoint("leads", "/api/v4/leads", (("with", "loss_reason"),), since_field="updated_at"),
    Endpoint("tasks", "/api/v4/tasks", (("filter[entity_type]", "leads"),), since_field="updated_at"),
    Endpoint("notes", "/api/v4/leads/notes", since_field="updated_at"),
    Endpoint("events", "/api/v4/events", (("filter[entity]", "lead"),), limit=100, since_field="created_at",
             pin_until=True, order_by_id=False),
)

OVERLAP = 60  # seconds the next pull goes back before the cursor's moment
IDS_PER_REQUEST = 50  # lead ids in one filter[id][] request
EVENT_IDS_PER_REQUEST = 10  # lead ids in one events filter[entity_id][] request (kept small: a conservative size)


def base_url(subdomain: str, base: str | None = None) -> str:
    if base:
        return base.rstrip("/")
    sub = subdomain.strip()
    if "." in sub:  # a full host was given: kommo.com accounts, amocrm.com, ...
        return f"https://{sub}"
    return f"https://{sub}.amocrm.ru"


def chunk_label(entity: str) -> str:
    """events_history_c0003 -> events_history: the name a chunked job reports under."""
    base, sep, tail = entity.rpartition("_c")
    return base if sep and tail.isdigit() else entity


def _records(body: Any, entity: str) -> list[dict]:
    if not isinstance(body, dict):
        return []
    emb = body.get("_embedded")
    if not isinstance(emb, dict):
        return []
    items = emb.get(entity)
    return [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []


def _has_next(body: Any) -> bool:
    links = body.get("_links") if isinstance(body, dict) else None
    return isinstance(links, dict) and isinstance(links.get("next"), dict) and bool(links["next"].get("href"))


class AmoPuller:
    source = "amocrm"

    def __init__(self, client: ApiClient, *, endpoints: tuple[Endpoint, ...] = ENDPOINTS,
                 clock: Callable[[], float] = time.time):
        self.client = client
        self.endpoints = endpoints
        self._clock = clock

    def pull(self, staging: Staging, since: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
        """Fetch every endpoint's missing pages into `staging`; return the cursor to keep after import."""
        until = staging.extra("until")
        for ep in self.endpoints:
            if staging.is_done(ep.entity):
                if progress:
                    n = len(staging.entity(ep.entity)["pages"])
                    progress(ep.entity, n, staging.state(ep.entity).get("records", 0), n)
                continue
            until = self._pull_endpoint(ep, staging, since, until, progress)
        if since:
            self._complete(staging, since, until, progress)
        return self._next_cursor(staging, since)

    def changed(self, staging: Staging) -> bool:
        """Did the pull find any lead, task, note or event (else there is nothing to import)?"""
        for ep in self.endpoints:
            if ep.since_field:
                for page_id in staging.entity(ep.entity)["pages"]:
                    if _records(staging.load_page(ep.entity, page_id), ep.embedded):
                        return True
        return False

    def _complete(self, staging: Staging, since: dict[str, Any], until: Any, progress: Progress | None) -> None:
        """An incremental pull, made whole: every lead a pulled task, note or event belongs to, and
        every such lead's whole event history (the preset rebuilds a lead's stage history from all its
        events: the stage it started in comes from its first ones)."""
        ids = staging.extra("lead_ids")
        if ids is None:
            pulled: set[int] = set()
            for page_id in staging.entity("leads")["pages"]:
                pulled.update(int(r["id"]) for r in _records(staging.load_page("leads", page_id), "leads")
                              if str(r.get("id", "")).isdigit())
            touched: set[int] = set()
            for entity in ("tasks", "notes", "events"):
                for page_id in staging.entity(entity)["pages"]:
                    for r in _records(staging.load_page(entity, page_id), entity):
                        kind = str(r.get("entity_type") or "lead").lower()
                        if kind in ("lead", "leads") and str(r.get("entity_id", "")).isdigit():
                            touched.add(int(r["entity_id"]))
            ids = {"refs": sorted(touched - pulled), "all": sorted(pulled | touched)}
            staging.set_extra("lead_ids", ids)
        jobs: list[Endpoint] = []
        for i in range(0, len(ids["refs"]), IDS_PER_REQUEST):
            chunk = ids["refs"][i:i + IDS_PER_REQUEST]
            jobs.append(Endpoint(f"leads_refs_c{i // IDS_PER_REQUEST + 1:04d}", "/api/v4/leads",
                                 (("with", "loss_reason"),) + tuple(("filter[id][]", str(x)) for x in chunk), key="leads"))
        for i in range(0, len(ids["all"]), EVENT_IDS_PER_REQUEST):
            chunk = ids["all"][i:i + EVENT_IDS_PER_REQUEST]
            jobs.append(Endpoint(f"events_history_c{i // EVENT_IDS_PER_REQUEST + 1:04d}", "/api/v4/events",
                                 (("filter[entity]", "lead"),) + tuple(("filter[entity_id][]", str(x)) for x in chunk),
                                 limit=100, order_by_id=False, key="events"))
        for ep in jobs:
            if not staging.is_done(ep.entity):
                self._pull_endpoint(ep, staging, {}, until, progress)

    def _pull_endpoint(self, ep: Endpoint, staging: Staging, since: dict[str, Any], until: Any,
                       progress: Progress | None) -> Any:
        state = staging.state(ep.entity)
        page = int(state.get("next_page", 1))
        records = int(state.get("records", 0))
        while True:
            params: list[tuple[str, str]] = list(ep.params)
            if ep.limit is not None:
                params += [("page", str(page)), ("limit", str(ep.limit))]
            if ep.order_by_id:
                params.append(("order[id]", "asc"))
            start = since.get(ep.entity)
            if ep.since_field and start is not None:
                params.append((f"filter[{ep.since_field}][from]", str(int(start))))
            if ep.pin_until and until is not None:
                params.append((f"filter[{ep.since_field}][to]", str(int(until))))
            resp = self.client.get(ep.path, params=params)
            if until is None:  # the pull's start by the server's clock, kept for a resumed run
                server = resp.server_time
                until = int(server if server is not None else self._clock())
                staging.set_extra("until", until)
                if ep.pin_until:  # the first request had no `to`: ask again with it
                    continue
            body = resp.body
            if body is None:  # 204 No Content: nothing (more) to fetch
                if page == 1:
                    staging.save_page(ep.entity, f"p{page:04d}", {"_page": 1, "_links": {}, "_embedded": {ep.embedded: []}},
                                      state={"next_page": page + 1})
                break
            items = _records(body, ep.embedded)
            records += len(items)
            staging.save_page(ep.entity, f"p{page:04d}", body, state={"next_page": page + 1, "records": records})
            if progress:
                progress(ep.entity, page, records, None)
            if ep.limit is None or not _has_next(body) or not items:
                break
            page += 1
        staging.finish(ep.entity, records=records)
        if progress:
            n = len(staging.entity(ep.entity)["pages"])
            progress(ep.entity, n, records, n)
        return until

    def _next_cursor(self, staging: Staging, since: dict[str, Any]) -> dict[str, Any]:
        until = staging.extra("until")
        cursor: dict[str, Any] = {k: v for k, v in since.items() if k != "synced_at"}
        for ep in self.endpoints:
            if not ep.since_field:
                continue
            latest = None
            for page_id in staging.entity(ep.entity)["pages"]:
                for r in _records(staging.load_page(ep.entity, page_id), ep.embedded):
                    v = r.get(ep.since_field)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        latest = v if latest is None else max(latest, v)
            bound = None if until is None else int(until) - OVERLAP
            if ep.pin_until:
                new = bound  # immutable records: everything up to the pinned end was fetched
            elif latest is None:
                new = bound if bound is not None and (since.get(ep.entity) is None or bound > since[ep.entity]) else since.get(ep.entity)
            else:
                new = int(latest) if bound is None else min(int(latest), bound)
            if new is not None and since.get(ep.entity) is not None:
                new = max(new, int(since[ep.entity]))  # a cursor never goes back
            if new is not None:
                cursor[ep.entity] = int(new)
        return cursor
