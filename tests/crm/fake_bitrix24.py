"""A fake Bitrix24 portal's REST API (an inbound webhook) for sync tests, built from the documented
shapes (https://apidocs.bitrix24.com/): list methods answer `{"result": [...], "next": 50,
"total": N, "time": {...}}` in pages of 50 (`start`; -1 skips the count), crm.stagehistory.list and
crm.category.list wrap the list in `result.items` / `result.categories`; `batch` runs up to 50
commands (`cmd`: {key: "method?query"}) and answers `result.result / result_next / result_total /
result_time / result_error`.

- Webhook: POST /rest/<user>/<secret>/<method>[.json]; another secret -> 401 NO_AUTH_FOUND.
- Filters: `>=`, `>`, `<=`, `<`, `@` (IN), `!`/`!=`, `=` on any field; times compared as times.
- Request budget: a leaky bucket (50, draining 2 a second, like the usual plans); a request that
  would overflow it gets 503 QUERY_LIMIT_EXCEEDED (counted in `server.rejected`); `max_level`
  is the fullest the bucket got. A batch counts as one request.
- Failures: see FakeServer (503, dropped connections, answers cut mid-body, outages).

`FakeBitrix.from_folder(rest_dump)` serves a REST dump folder's records; `bitrix_as_of(records, t)`
turns the portal back to what it would have answered at the moment `t`.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from tests.crm.fake_http import FakeServer, Reply, Request

METHODS = ("user.get", "crm.deal.userfield.list", "crm.status.list", "crm.category.list", "crm.deal.list",
           "crm.activity.list", "crm.stagehistory.list")
WRAPPED = {"crm.stagehistory.list": "items", "crm.category.list": "categories"}
MSK = timezone(timedelta(hours=3))
PAGE = 50


def parse_time(v: Any) -> datetime | None:
    if not isinstance(v, str) or len(v) < 10:
        return None
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=MSK)


def php_params(query: str) -> dict[str, Any]:
    """A batch command's query string (filter[>ID]=5&select[0]=*) as nested dicts/lists."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        parts = [key.split("[", 1)[0]] + [p.rstrip("]") for p in key.split("[")[1:]]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(out)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class FakeBitrix:
    def __init__(self, records: dict[str, list[dict]], *, secret: str = "k3y5ecr3tw3bh00k", user: str = "1",
                 capacity: int = 50, drain: float = 2.0, now: datetime | None = None):
        self.records = normalised(records)
        self.secret = secret
        self.user = user
        self.capacity = capacity
        self.drain = drain
        self.level = 0.0
        self.max_level = 0.0
        self._at = time.monotonic()
        self.calls: list[tuple[str, dict]] = []  # (method, params) of every command served
        self.server = FakeServer(self.handle, now=(now or self.latest() + timedelta(hours=1)).timestamp())

    @classmethod
    def from_folder(cls, folder: Path, **kw: Any) -> "FakeBitrix":
        records: dict[str, list[dict]] = {m: [] for m in METHODS}
        for p in sorted(Path(folder).glob("*.json")):
            method = next((m for m in sorted(METHODS, key=len, reverse=True) if p.name.startswith(m)), None)
            if method is None:
                continue
            data = json.loads(p.read_text(encoding="utf-8"))
            for page in data if isinstance(data, list) else [data]:
                res = page.get("result")
                if isinstance(res, dict):
                    res = res.get(WRAPPED.get(method, "items"), [])
                records[method].extend(r for r in res or [] if isinstance(r, dict))
        return cls(records, **kw)

    def latest(self) -> datetime:
        times = [parse_time(r.get(k)) for m in ("crm.deal.list", "crm.activity.list", "crm.stagehistory.list")
                 for r in self.records[m] for k in ("DATE_MODIFY", "LAST_UPDATED", "CREATED_TIME")]
        return max((x for x in times if x is not None), default=datetime.now(MSK))

    def set_records(self, records: dict[str, list[dict]], now: datetime | None = None) -> None:
        self.records = normalised(records)
        self.server.now = (now or self.latest() + timedelta(hours=1)).timestamp()

    @property
    def webhook(self) -> str:
        return f"{self.server.url}/rest/{self.user}/{self.secret}/"

    def __enter__(self) -> "FakeBitrix":
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    # -- HTTP ----------------------------------------------------------------------------------
    def handle(self, req: Request) -> Reply:
        with self.server.lock:
            now = time.monotonic()
            self.level = max(0.0, self.level - (now - self._at) * self.drain)
            self._at = now
            if self.level + 1 > self.capacity:
                self.server.rejected += 1
                return Reply(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
            self.level += 1
            self.max_level = max(self.max_level, self.level)
        parts = [p for p in req.path.split("/") if p]
        if len(parts) != 4 or parts[0] != "rest":
            return Reply(404, {"error": "NOT_FOUND", "error_description": "Method not found"})
        if parts[1] != self.user or parts[2] != self.secret:
            return Reply(401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"})
        method = parts[3].removesuffix(".json")
        params = req.json() or {}
        if not params and req.query:
            params = php_params("&".join(f"{k}={v}" for k, v in req.query))
        if method == "batch":
            return Reply(200, self._batch(params))
        body, status = self._call(method, params)
        return Reply(status, body)

    def _time(self) -> dict[str, Any]:
        start = datetime.fromtimestamp(self.server.now, MSK)
        return {"start": self.server.now, "finish": self.server.now + 0.01, "duration": 0.01, "processing": 0.005,
                "date_start": start.isoformat(), "date_finish": start.isoformat(), "operating": 0}

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        cmd = params.get("cmd") or {}
        if len(cmd) > 50:
            return {"error": "INVALID_REQUEST", "error_description": "Max batch length exceeded"}
        result, nexts, totals, times, errors = {}, {}, {}, {}, {}
        for key, text in cmd.items():
            method, _, query = str(text).partition("?")
            body, status = self._call(method, php_params(query))
            if status != 200:
                errors[key] = body
                continue
            result[key] = body["result"]
            totals[key] = body.get("total", 0)
            if "next" in body:
                nexts[key] = body["next"]
            times[key] = body["time"]
        return {"result": {"result": result, "result_error": errors, "result_total": totals, "result_next": nexts,
                           "result_time": times}, "time": self._time()}

    def _call(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], int]:
        if method not in METHODS:
            return {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}, 404
        self.calls.append((method, params))
        rows = [r for r in self.records[method] if _matches(r, params.get("filter") or {})]
        if method == "crm.stagehistory.list" and str(params.get("entityTypeId", "2")) != "2":
            rows = []
        rows.sort(key=lambda r: int(str(r.get("ID", r.get("id", 0)) or 0)))
        if method == "crm.category.list":
            return {"result": {"categories": rows}, "total": len(rows), "time": self._time()}, 200
        start = int(params.get("start", 0) or 0)
        chunk = rows[max(start, 0): max(start, 0) + PAGE]
        body: dict[str, Any] = {"result": {WRAPPED[method]: chunk} if method in WRAPPED else chunk,
                                "total": len(rows) if start >= 0 else 0, "time": self._time()}
        if start >= 0 and start + PAGE < len(rows):
            body["next"] = start + PAGE
        return body, 200


def _matches(row: dict, flt: dict[str, Any]) -> bool:
    for key, want in flt.items():
        op = next((o for o in (">=", "<=", "!@", "!=", ">", "<", "@", "!", "=") if key.startswith(o)), "")
        fld = key[len(op):]
        have = row.get(fld)
        if op in ("@", "!@"):
            values = want if isinstance(want, list) else [want]
            inside = str(have) in {str(v) for v in values}
            if inside != (op == "@"):
                return False
            continue
        a, b = _comparable(have), _comparable(want)
        if a is None or b is None:
            if op in ("", "="):
                if str(have) != str(want):
                    return False
                continue
            if op in ("!", "!="):
                continue
            return False
        try:
            ok = {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "!": a != b, "!=": a != b,
                  "=": a == b, "": a == b}[op]
        except TypeError:
            ok = str(have) == str(want)
        if not ok:
            return False
    return True


def _comparable(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        t = parse_time(v) if "T" in v or (len(v) >= 10 and v[4:5] == "-") else None
        if t is not None:
            return t.timestamp()
        try:
            return float(v)
        except ValueError:
            return v
    return None


def normalised(records: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The records as a portal keeps them: stage-history IDs grow with time (an auto-increment), a
    deal's DATE_MODIFY is never before its last stage change."""
    out = {m: copy.deepcopy(list(records.get(m, []))) for m in METHODS}
    hist = sorted(out["crm.stagehistory.list"], key=lambda h: (parse_time(h.get("CREATED_TIME")) or datetime.min.replace(tzinfo=MSK),
                                                               int(h.get("ID") or 0)))
    for i, h in enumerate(hist, 1):
        h["ID"] = str(i)
    out["crm.stagehistory.list"] = hist
    last: dict[str, datetime] = {}
    for h in hist:
        t = parse_time(h.get("CREATED_TIME"))
        if t is not None:
            last[str(h.get("OWNER_ID"))] = max(last.get(str(h.get("OWNER_ID")), t), t)
    for d in out["crm.deal.list"]:
        mod, moved = parse_time(d.get("DATE_MODIFY")), last.get(str(d.get("ID")))
        if moved is not None and (mod is None or moved > mod):
            d["DATE_MODIFY"] = moved.isoformat()
    return out


def bitrix_as_of(records: dict[str, list[dict]], t1: datetime) -> dict[str, list[dict]]:
    """The portal as REST would have shown it at `t1`: deals created by then with their stage as of
    then (from the stage history), activities done after `t1` still open, history up to `t1`.
    Checks that a deal changed after `t1` says so in DATE_MODIFY."""
    out = normalised(records)
    hist = [h for h in out["crm.stagehistory.list"] if (parse_time(h.get("CREATED_TIME")) or t1) <= t1]
    later = {str(h.get("OWNER_ID")) for h in out["crm.stagehistory.list"] if (parse_time(h.get("CREATED_TIME")) or t1) > t1}
    out["crm.stagehistory.list"] = hist
    by_deal: dict[str, dict] = {}
    for h in hist:
        by_deal[str(h.get("OWNER_ID"))] = h  # in time order: the last one wins
    deals = []
    for d in out["crm.deal.list"]:
        created = parse_time(d.get("DATE_CREATE"))
        if created is None or created > t1:
            continue
        did = str(d.get("ID"))
        if did in later:
            assert (parse_time(d.get("DATE_MODIFY")) or t1) > t1, f"deal {did} changed after {t1} but DATE_MODIFY says not"
        h = by_deal.get(did)
        if h is not None:
            d["STAGE_ID"], d["STAGE_SEMANTIC_ID"] = h.get("STAGE_ID"), h.get("STAGE_SEMANTIC_ID")
            d["CATEGORY_ID"] = h.get("CATEGORY_ID", d.get("CATEGORY_ID"))
            d["CLOSED"] = "Y" if h.get("STAGE_SEMANTIC_ID") in ("S", "F") else "N"
            d["MOVED_TIME"] = h.get("CREATED_TIME")
        if (parse_time(d.get("DATE_MODIFY")) or t1) > t1:
            d["DATE_MODIFY"] = max(created, parse_time(d.get("MOVED_TIME")) or created).isoformat()
        deals.append(d)
    out["crm.deal.list"] = deals
    acts = []
    for a in out["crm.activity.list"]:
        if (parse_time(a.get("CREATED")) or t1) > t1:
            continue
        if (parse_time(a.get("LAST_UPDATED")) or t1) > t1:
            a["COMPLETED"], a["STATUS"], a["LAST_UPDATED"] = "N", "1", a.get("CREATED")
        acts.append(a)
    out["crm.activity.list"] = acts
    return out


def write_rest_dump(records: dict[str, list[dict]], folder: Path) -> Path:
    """Records as a REST dump folder (the shape the preset reads): pages of 50 per method."""
    folder.mkdir(parents=True, exist_ok=True)
    for method in METHODS:
        rows = records.get(method, [])
        for i in range(0, max(len(rows), 1), PAGE):
            chunk = rows[i:i + PAGE]
            body: dict[str, Any] = {"result": {WRAPPED[method]: chunk} if method in WRAPPED else chunk, "total": len(rows)}
            if i + PAGE < len(rows):
                body["next"] = i + PAGE
            (folder / f"{method}_{i // PAGE:03d}.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return folder
