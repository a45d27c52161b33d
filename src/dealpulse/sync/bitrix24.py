"""Pull a Bitrix24 portal through its REST API (an inbound webhook) into a dump folder the Bitrix24
preset reads.

Methods (https://apidocs.bitrix24.com/): each REST answer is saved as returned
(`{"result": [...], "next": 50, "total": N, "time": {...}}`), one file per answer, named
`<method>_sNNNNNN.json` (s = the `start` it answers):
- always in full (small): user.get, crm.deal.userfield.list, crm.status.list (stage names),
  crm.category.list (pipelines, entityTypeId 2);
- incrementally: crm.deal.list (`>=DATE_MODIFY`), crm.activity.list of deals (`>=LAST_UPDATED`),
  crm.stagehistory.list of deals (`>ID`: the history only grows), all ordered by ID.
Paging: the first page (`start` 0) tells `total`; the remaining pages go in `batch` calls of up
to 50 commands (a batch counts as one request against the portal's budget). Requests wait for
room in the leaky bucket (50, draining 2 a second) so QUERY_LIMIT_EXCEEDED is not provoked; when
it comes anyway (503) or the method's time budget is spent (429), the call is retried after a
back-off. Each method's own time budget (the portal's `operating` seconds: 480 in 10 minutes) is
tracked from the answers, and a call waits rather than spend its last 15%. The next cursor of an
entity is min(latest DATE_MODIFY/LAST_UPDATED seen, the portal's clock at the pull's start less a
minute); stage history continues after its largest ID. An incremental pull is made whole: the deals
its activities and stage changes belong to, and those deals' whole stage history, are fetched too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlsplit

from dealpulse.sync.http import ApiClient, SyncError
from dealpulse.sync.limits import OperatingBudget
from dealpulse.sync.state import Staging

Progress = Callable[[str, int, int, "int | None"], None]
PAGE = 50  # records per list page (Bitrix24's fixed page size)
BATCH = 50  # commands per batch (Bitrix24's limit)
CAPACITY, DRAIN = 50, 2.0  # the leaky bucket of the usual plans (Enterprise: 250, 5)
OVERLAP = timedelta(minutes=1)


@dataclass(frozen=True)
class Method:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    since_field: str | None = None  # DATE_MODIFY / LAST_UPDATED (a time) or ID (a number)
    items_key: str | None = None  # crm.stagehistory.list / crm.category.list wrap the list in result[key]
    job: str | None = None  # the name of its page files and manifest entry, if not `name` (it starts with `name`)

    @property
    def entity(self) -> str:
        return self.job or self.name

    @property
    def by_id(self) -> bool:
        return self.since_field == "ID"


METHODS: tuple[Method, ...] = (
    Method("user.get", {"sort": "ID", "order": "ASC"}),
    Method("crm.deal.userfield.list", {"order": {"ID": "ASC"}}),
    Method("crm.status.list", {"order": {"ID": "ASC"}}),
    Method("crm.category.list", {"entityTypeId": 2}, items_key="categories"),
    Method("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["*", "UF_*"]}, since_field="DATE_MODIFY"),
    Method("crm.activity.list", {"order": {"ID": "ASC"}, "filter": {"OWNER_TYPE_ID": 2}, "select": ["*"]},
           since_field="LAST_UPDATED"),
    Method("crm.stagehistory.list", {"entityTypeId": 2, "order": {"ID": "ASC"}}, since_field="ID", items_key="items"),
)


def webhook_url(secret_value: str, base: str | None = None) -> tuple[str, list[str]]:
    """(the webhook's REST base URL ending in '/', the parts of it that are secret).

    The variable holds the inbound webhook as Bitrix24 shows it (https://portal.bitrix24.ru/rest/1/abc123/),
    or only its path (1/abc123); `base` (--base-url) replaces the portal's address."""
    value = secret_value.strip()
    if "://" in value:
        parts = urlsplit(value)
        path = parts.path
        origin = base.rstrip("/") if base else f"{parts.scheme}://{parts.netloc}"
    else:
        if not base:
            raise ValueError("no portal address")
        path = "/rest/" + value.strip("/").removeprefix("rest/")
        origin = base.rstrip("/")
    path = "/" + path.strip("/") + "/"
    segments = [s for s in path.split("/") if s]
    if segments and segments[0] == "rest" and len(segments) >= 3:
        secrets = [segments[2]]  # /rest/<user>/<secret>/: the portal and the user are not secret
    else:
        secrets = [value] + segments[-1:]
    return origin + path, secrets


def php_query(params: dict[str, Any]) -> str:
    """Parameters as PHP's http_build_query writes them (a batch command's query string)."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif value is None:
            pairs.append((prefix, ""))
        elif isinstance(value, bool):
            pairs.append((prefix, "Y" if value else "N"))
        else:
            pairs.append((prefix, str(value)))

    walk("", params)
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _items(body: Any, method: Method) -> list[dict]:
    result = body.get("result") if isinstance(body, dict) else None
    if method.items_key and isinstance(result, dict):
        result = result.get(method.items_key)
    return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _portal_time(body: Any) -> str | None:
    tm = body.get("time") if isinstance(body, dict) else None
    if isinstance(tm, dict) and _parse_time(tm.get("date_start")) is not None:
        return str(tm["date_start"])
    return None


class BitrixPuller:
    source = "bitrix24"

    def __init__(self, client: ApiClient, *, methods: tuple[Method, ...] = METHODS, batch_size: int = BATCH,
                 budget: OperatingBudget | None = None):
        self.client = client
        self.methods = methods
        self.batch_size = max(1, min(BATCH, batch_size))
        self.budget = budget or OperatingBudget()

    def _operating(self, method: str, timing: Any) -> None:
        if isinstance(timing, dict):
            try:
                self.budget.record(method, float(timing.get("operating") or timing.get("processing") or 0))
            except (TypeError, ValueError):
                pass

    def pull(self, staging: Staging, since: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
        for m in self.methods:
            if staging.is_done(m.entity):
                if progress:
                    n = len(staging.entity(m.entity)["pages"])
                    progress(m.entity, n, staging.state(m.entity).get("records", 0), n)
                continue
            self._pull_method(m, staging, since, progress)
        if any(since.get(m.name) is not None for m in self.methods):
            self._complete(staging, progress)
        return self._next_cursor(staging, since)

    def changed(self, staging: Staging) -> bool:
        """Did the pull find any deal, activity or stage change (else there is nothing to import)?"""
        return any(_items(staging.load_page(m.entity, pid), m)
                   for m in self.methods if m.since_field for pid in staging.entity(m.entity)["pages"])

    def _complete(self, staging: Staging, progress: Progress | None) -> None:
        """An incremental pull, made whole: every deal a pulled activity or stage change belongs to
        (the preset keeps only the activities and history of the deals it reads), and every such
        deal's whole stage history (its close moment comes from it)."""
        ids = staging.extra("deal_ids")
        if ids is None:
            by = {m.name: m for m in self.methods}
            pulled = {str(r.get("ID")) for pid in staging.entity("crm.deal.list")["pages"]
                      for r in _items(staging.load_page("crm.deal.list", pid), by["crm.deal.list"])}
            touched: set[str] = set()
            for name in ("crm.activity.list", "crm.stagehistory.list"):
                if name not in by:
                    continue
                for pid in staging.entity(name)["pages"]:
                    for r in _items(staging.load_page(name, pid), by[name]):
                        if str(r.get("OWNER_TYPE_ID") or "2") == "2" and str(r.get("OWNER_ID") or "").isdigit():
                            touched.add(str(r["OWNER_ID"]))
            key = lambda x: int(x) if x.isdigit() else 0  # noqa: E731
            ids = {"refs": sorted(touched - pulled, key=key), "all": sorted(pulled | touched, key=key)}
            staging.set_extra("deal_ids", ids)
        jobs: list[Method] = []
        deal = next(m for m in self.methods if m.name == "crm.deal.list")
        history = next((m for m in self.methods if m.name == "crm.stagehistory.list"), None)
        for i in range(0, len(ids["refs"]), PAGE):
            chunk = ids["refs"][i:i + PAGE]
            jobs.append(Method(deal.name, {**deal.params, "filter": {"@ID": chunk}}, job=f"{deal.name}_refs_c{i // PAGE + 1:04d}"))
        if history is not None:
            for i in range(0, len(ids["all"]), PAGE):
                chunk = ids["all"][i:i + PAGE]
                jobs.append(Method(history.name, {**history.params, "filter": {"@OWNER_ID": chunk}},
                                   items_key=history.items_key, job=f"{history.name}_all_c{i // PAGE + 1:04d}"))
        for m in jobs:
            if not staging.is_done(m.entity):
                self._pull_method(m, staging, {}, progress)

    # -- one method: the first page, then batches of the rest -----------------------------
    def _params(self, m: Method, since: dict[str, Any], start: int) -> dict[str, Any]:
        params = {k: (dict(v) if isinstance(v, dict) else v) for k, v in m.params.items()}
        start_at = since.get(m.name)
        if m.since_field and start_at is not None:
            flt = dict(params.get("filter") or {})
            if m.by_id:
                flt[">ID"] = int(start_at)
            else:
                flt[f">={m.since_field}"] = str(start_at)
            params["filter"] = flt
        params["start"] = start
        return params

    def _pull_method(self, m: Method, staging: Staging, since: dict[str, Any], progress: Progress | None) -> None:
        state = staging.state(m.entity)
        if "total" not in state:
            self.budget.acquire(m.name)
            resp = self.client.post(m.name, self._params(m, since, 0))
            body = self._check(m.name, resp.body)
            self._operating(m.name, body.get("time"))
            if staging.extra("until") is None and _portal_time(body):
                staging.set_extra("until", _portal_time(body))
            total = int(body.get("total") or 0)
            records = len(_items(body, m))
            staging.save_page(m.entity, "s000000", body, state={"total": total, "records": records})
            if progress:
                progress(m.entity, 1, records, self._pages_of(total))
        while True:
            done = set(staging.entity(m.entity)["pages"])
            total = int(staging.state(m.entity).get("total") or 0)
            wanted = [s for s in range(PAGE, max(total, 0), PAGE) if f"s{s:06d}" not in done]
            if not wanted:  # the list may have grown while it was paged: follow the last page's `next`
                last = max(done)
                nxt = staging.load_page(m.entity, last).get("next")
                if nxt is not None and f"s{int(nxt):06d}" not in done and int(nxt) > int(last[1:]):
                    wanted = [int(nxt)]
            if not wanted:
                break
            for chunk in _chunks(wanted, self.batch_size):
                self._batch(m, chunk, staging, since, progress)
        staging.finish(m.entity)
        if progress:
            n = len(staging.entity(m.entity)["pages"])
            progress(m.entity, n, staging.state(m.entity).get("records", 0), n)

    def _batch(self, m: Method, starts: list[int], staging: Staging, since: dict[str, Any],
               progress: Progress | None) -> None:
        cmd = {f"s{s}": f"{m.name}?{php_query(self._params(m, since, s))}" for s in starts}
        self.budget.acquire(m.name)
        resp = self.client.post("batch", {"halt": 0, "cmd": cmd})
        body = self._check("batch", resp.body)
        outer = body.get("result") if isinstance(body, dict) else None
        if not isinstance(outer, dict):
            raise SyncError(self._t("sync.err.bad_answer", method="batch"))
        errors = outer.get("result_error") or {}
        if isinstance(errors, dict) and errors:
            key, err = next(iter(errors.items()))
            detail = err.get("error") if isinstance(err, dict) else err
            raise SyncError(self._t("sync.err.batch_command", method=m.name, detail=self.client.redact(str(detail))))
        results = outer.get("result") or {}
        nexts = outer.get("result_next") or {}
        totals = outer.get("result_total") or {}
        times = outer.get("result_time") or {}
        state = staging.state(m.entity)
        records = int(state.get("records", 0))
        total = int(state.get("total") or 0)
        for s in starts:
            key = f"s{s}"
            if not isinstance(results, dict) or key not in results:
                raise SyncError(self._t("sync.err.bad_answer", method=m.name))
            page = {"result": results[key], "total": _get(totals, key, total), "time": _get(times, key, None)}
            self._operating(m.name, page["time"])
            nxt = _get(nexts, key, None)
            if nxt is not None:
                page["next"] = nxt
            n = len(_items(page, m))
            records += n
            total = max(total, int(page["total"] or 0))
            staging.save_page(m.entity, f"s{s:06d}", page, state={"records": records, "total": total})
        if progress:
            progress(m.entity, len(staging.entity(m.entity)["pages"]), records, self._pages_of(total))

    @staticmethod
    def _pages_of(total: int) -> int:
        return max(1, -(-total // PAGE))

    def _t(self, key: str, **kw: Any) -> str:
        from dealpulse.i18n import t

        return t(key, self.client.lang, **kw)

    def _check(self, method: str, body: Any) -> dict:
        if not isinstance(body, dict) or "result" not in body:
            detail = body.get("error") if isinstance(body, dict) else ""
            raise SyncError(self._t("sync.err.bad_answer", method=method) + (f" ({self.client.redact(str(detail))})" if detail else ""))
        return body

    # -- the cursor to keep ----------------------------------------------------------------
    def _next_cursor(self, staging: Staging, since: dict[str, Any]) -> dict[str, Any]:
        until = _parse_time(staging.extra("until"))
        cursor: dict[str, Any] = {k: v for k, v in since.items() if k != "synced_at"}
        for m in self.methods:
            if not m.since_field:
                continue
            latest: Any = None
            latest_text: str | None = None
            for page_id in staging.entity(m.entity)["pages"]:
                for r in _items(staging.load_page(m.entity, page_id), m):
                    v = r.get(m.since_field)
                    if m.by_id:
                        try:
                            n = int(v)
                        except (TypeError, ValueError):
                            continue
                        latest = n if latest is None else max(latest, n)
                    else:
                        dt = _parse_time(v)
                        if dt is not None and (latest is None or dt > latest):
                            latest, latest_text = dt, str(v)
            old = since.get(m.name)
            if m.by_id:
                if latest is not None:
                    cursor[m.name] = max(int(latest), int(old or 0))
                continue
            bound = (until - OVERLAP) if until is not None else None
            if latest is None:
                new = bound
            elif bound is None or latest <= bound:
                new = latest
            else:
                new = bound
            old_dt = _parse_time(old)
            if new is None or (old_dt is not None and new <= old_dt):
                continue
            cursor[m.name] = latest_text if new is latest else new.isoformat()
        return cursor


def _get(d: Any, key: str, default: Any) -> Any:
    return d.get(key, default) if isinstance(d, dict) else default


def _chunks(seq: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
