"""A plain-Python reference for the metric layer: the same definitions, written the obvious way
over lists of dicts (the rows given to `tests.builders.fill`), with no Ibis and no SQL.

Other metric tests compare `compute_metrics` / `step_instances` on DuckDB and PostgreSQL with it.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from dealpulse.metrics.registry import FIELDS, METRICS, PREV
from dealpulse.playbook.model import ANCHOR_DEAL_CREATED, ANCHOR_STAGE_ENTERED, TERMINAL_STAGES, Playbook
from tests.builders import COLUMNS, _ts, fill

HIST_FIELDS = ("owner", "amount", "segment", "channel", "account_id")
ATTRIBUTE_COLUMNS = ("entity", "entity_id", "field", "value")


def normalise(data: dict[str, list]) -> dict[str, list[dict]]:
    """Rows as full dicts with datetimes, as `fill` would store them (tasks get a status)."""
    out: dict[str, list[dict]] = {t: [] for t in COLUMNS}
    out["attributes"] = []
    for table, rows in data.items():
        cols = COLUMNS.get(table, list(ATTRIBUTE_COLUMNS))
        for r in rows:
            d = dict(zip(cols, r)) if isinstance(r, (tuple, list)) else dict(r)
            d = {c: d.get(c) for c in cols}
            for c in ("created_at", "closed_at", "entered_at", "due_at", "completed_at", "changed_at", "hired_at"):
                if c in d:
                    d[c] = _ts(d[c])
            if table == "tasks" and d["status"] is None:
                d["status"] = "done" if d["completed_at"] is not None else "open"
            out[table].append(d)
    return out


def load(store: Any, data: dict[str, list]) -> None:
    """`tests.builders.fill` plus the `attributes` table (which the builders do not know)."""
    data = dict(data)
    attrs = data.pop("attributes", [])
    fill(store, **data)
    for a in attrs:
        d = dict(zip(ATTRIBUTE_COLUMNS, a)) if isinstance(a, (tuple, list)) else dict(a)
        store.execute("INSERT INTO attributes (entity, entity_id, field, value) VALUES (?, ?, ?, ?)",
                      [d["entity"], d["entity_id"], d["field"], d.get("value")])


def _float(v: Any) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def ref_tasks(data: dict, T: datetime, known: set[str]) -> list[dict]:
    out = []
    for t in data["tasks"]:
        if t["created_at"] > T or t["deal_id"] not in known:
            continue
        done_at = t["completed_at"] if t["completed_at"] is not None and t["completed_at"] <= T else None
        status = "cancelled" if t["status"] == "cancelled" else "done" if done_at is not None else "open"
        out.append({**t, "completed_at": done_at, "status": status})
    return out


def ref_events(data: dict, T: datetime, known: set[str]) -> list[tuple[str, str, datetime]]:
    sh = data["stage_history"]
    with_terminal = {r["deal_id"] for r in sh if r["stage"] in TERMINAL_STAGES}
    events = [(r["deal_id"], r["stage"], r["entered_at"]) for r in sh]
    events += [(d["deal_id"], d["status"], d["closed_at"]) for d in data["deals"]
               if d["status"] in TERMINAL_STAGES and d["closed_at"] is not None and d["deal_id"] not in with_terminal]
    return [e for e in events if e[2] <= T and e[0] in known]


def ref_deals(data: dict, T: datetime, pb: Playbook) -> dict[str, dict]:
    """deal_id -> the deal as known at T (same columns as Snapshot.deals)."""
    known = {d["deal_id"] for d in data["deals"] if d["created_at"] <= T}
    events = ref_events(data, T, known)
    tasks = ref_tasks(data, T, known)
    accounts = {a["account_id"]: a for a in data["accounts"]}
    managers = {m["manager_id"]: m for m in data["managers"]}

    def order(e: tuple) -> tuple:
        stage = e[1]
        return (e[2], stage in TERMINAL_STAGES, pb.stages.index(stage) if stage in pb.stages else -1, stage)

    out = {}
    for d in data["deals"]:
        if d["deal_id"] not in known:
            continue
        row = dict(d)
        for f in HIST_FIELDS:
            hist = sorted((r for r in data["field_history"]
                           if r["entity"] == "deal" and r["entity_id"] == d["deal_id"] and r["field"] == f),
                          key=lambda r: r["changed_at"])
            before = [r for r in hist if r["changed_at"] <= T]
            value_then = before[-1]["value"] if before else None
            if f == "owner":
                candidates = [value_then, hist[0]["value"] if hist else None, d["owner"]]
                row["owner"] = next((c for c in candidates if c is not None), None)
            elif hist:
                row[f] = _float(value_then) if f == "amount" else value_then
        evs = sorted((e for e in events if e[0] == d["deal_id"]), key=order)
        last = evs[-1] if evs else None
        row["status"] = last[1] if last and last[1] in TERMINAL_STAGES else "open"
        row["closed_at"] = last[2] if last and last[1] in TERMINAL_STAGES else None
        nonterm = [e for e in evs if e[1] not in TERMINAL_STAGES]
        row["stage"] = nonterm[-1][1] if nonterm else None
        row["stage_entered_at"] = nonterm[-1][2] if nonterm else None
        touches = [d["created_at"]] + [e[2] for e in evs]
        touches += [t["completed_at"] for t in tasks if t["deal_id"] == d["deal_id"] and t["completed_at"] is not None]
        row["last_touch_at"] = max(touches)
        row["team"] = managers.get(row["owner"], {}).get("team")
        row["cohort"] = d["created_at"].strftime("%Y-%m")
        if row["segment"] is None:
            row["segment"] = accounts.get(row["account_id"], {}).get("segment")
        if row["segment"] is None:
            row["segment"] = next((s.name for s in pb.segments if s.rule.evaluate(row)), None)
        row["first_entries"] = {}
        for _, stage, at in evs:
            if stage not in row["first_entries"] or at < row["first_entries"][stage]:
                row["first_entries"][stage] = at
        out[d["deal_id"]] = row
    return out


def ref_step_instances(data: dict, T: datetime, pb: Playbook) -> list[dict]:
    deals = ref_deals(data, T, pb)
    tasks = ref_tasks(data, T, set(deals))

    def first_done(deal_id: str, task_type: str) -> datetime | None:
        times = [t["completed_at"] for t in tasks
                 if t["deal_id"] == deal_id and t["type"] == task_type and t["status"] == "done"]
        return min(times) if times else None

    out = []
    for deal in deals.values():
        for step in pb.steps:
            if step.anchor == ANCHOR_DEAL_CREATED:
                anchor = deal["created_at"]
            elif step.anchor == ANCHOR_STAGE_ENTERED:
                anchor = deal["first_entries"].get(step.stage)
            else:
                anchor = first_done(deal["deal_id"], pb.step(step.anchor).task_type)
            if anchor is None:
                continue
            deadline = anchor + step.within_for(deal["segment"])
            done = first_done(deal["deal_id"], step.task_type)
            closed_before = deal["closed_at"] is not None and deal["closed_at"] < deadline
            if done is not None:
                status = "on_time" if done <= deadline else "late"
            elif deadline <= T and not closed_before:
                status = "missed"
            else:
                status = "pending"
            late_days = {"on_time": 0.0, "late": days(done, deadline) if done else None,
                         "missed": days(T, deadline), "pending": None}[status]
            out.append({"deal_id": deal["deal_id"], "step": step.name, "stage": step.stage, "owner": deal["owner"],
                        "team": deal["team"], "segment": deal["segment"], "channel": deal["channel"],
                        "cohort": deal["cohort"], "anchor_at": anchor, "deadline": deadline, "completed_at": done,
                        "status": status, "late_days": late_days})
    return out


KEY_COLUMN = {"manager": "owner"}


def _key(row: dict, by: list[str]) -> tuple:
    return tuple(row.get(KEY_COLUMN.get(k, k)) for k in by)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ref_window(data: dict, pb: Playbook, start: datetime, end: datetime, by: list[str]) -> dict[tuple, dict]:
    """group key -> raw figures of the window (start, end], as known at `end`."""
    groups: dict[tuple, dict] = {}

    def g(key: tuple) -> dict:
        return groups.setdefault(key, {"on_time": 0, "late": 0, "missed": 0, "overdue": 0, "lateness": [],
                                       "card": [], "open": 0, "stale": 0, "idle": [], "won": 0, "lost": 0,
                                       "revenue": 0.0, "cycle": []})

    for inst in ref_step_instances(data, end, pb):
        if start < inst["deadline"] <= end and inst["status"] != "pending":
            g(_key(inst, by))[inst["status"]] += 1
    if "step" in by:
        return groups
    deals = ref_deals(data, end, pb)
    for t in ref_tasks(data, end, set(deals)):
        key = _key(deals[t["deal_id"]], by)
        if (t["status"] == "open" and t["due_at"] is not None and t["due_at"] <= end
                and deals[t["deal_id"]]["status"] == "open"):
            g(key)["overdue"] += 1
        if (t["status"] == "done" and t["due_at"] is not None and start < t["due_at"] <= end
                and t["completed_at"] > t["due_at"]):
            g(key)["lateness"].append(days(t["completed_at"], t["due_at"]))
    attrs = {(a["entity_id"], a["field"]): a["value"] for a in data["attributes"] if a["entity"] == "deal"}
    for deal in deals.values():
        key = _key(deal, by)
        entry = deal["first_entries"].get(pb.card_complete_by) if pb.card_complete_by and pb.card_fields else None
        if entry is not None and start < entry <= end:
            complete = True
            for f in pb.card_fields:
                hist = [r for r in data["field_history"]
                        if r["entity"] == "deal" and r["entity_id"] == deal["deal_id"] and r["field"] == f]
                if hist:
                    before = sorted((r for r in hist if r["changed_at"] <= entry), key=lambda r: r["changed_at"])
                    value = before[-1]["value"] if before else None
                else:
                    value = attrs.get((deal["deal_id"], f))
                complete = complete and value is not None and value.strip() != ""
            g(key)["card"].append(complete)
        if deal["status"] == "open":
            g(key)["open"] += 1
            idle = end - deal["last_touch_at"]
            g(key)["stale"] += idle > pb.stale_for(deal["segment"])
            g(key)["idle"].append(days(end, deal["last_touch_at"]))
        elif start < deal["closed_at"] <= end:
            g(key)[deal["status"]] += 1
            if deal["status"] == "won":
                g(key)["revenue"] += deal["amount"] or 0.0
                g(key)["cycle"].append(days(deal["closed_at"], deal["created_at"]))
    return groups


def _figures(raw: dict | None, by: list[str], pb: Playbook) -> dict[str, Any]:
    deal_level = "step" not in by
    r = raw or {"on_time": 0, "late": 0, "missed": 0, "overdue": 0, "lateness": [], "card": [], "open": 0,
                "stale": 0, "idle": [], "won": 0, "lost": 0, "revenue": 0.0, "cycle": []}
    steps_total = r["on_time"] + r["late"] + r["missed"]
    out = {"steps_on_time": r["on_time"], "steps_late": r["late"], "steps_missed": r["missed"],
           "on_time_rate": r["on_time"] / steps_total if steps_total else None}
    if not deal_level:
        return out
    closed = r["won"] + r["lost"]
    out.update({
        "overdue_tasks": r["overdue"], "median_task_lateness_days": _median(r["lateness"]),
        "card_complete_rate": sum(r["card"]) / len(r["card"]) if r["card"] else None,
        "open_deals": r["open"], "stale_deals": r["stale"], "median_days_since_touch": _median(r["idle"]),
        "won": r["won"], "lost": r["lost"], "win_rate": r["won"] / closed if closed else None,
        "revenue_won": r["revenue"], "median_cycle_days": _median(r["cycle"]),
    })
    return out


def ref_metrics(data: dict, pb: Playbook, as_of: datetime, by: list[str] = (),
                window: timedelta = timedelta(days=28)) -> list[dict]:
    """The rows `compute_metrics` should return, sorted by the group keys (nulls last)."""
    by = list(by)
    data = normalise(data)
    cur = ref_window(data, pb, as_of - window, as_of, by)
    prev = ref_window(data, pb, as_of - 2 * window, as_of - window, by)
    rows = []
    for key in set(cur) | set(prev):
        row = dict(zip(by, key))
        now, then = _figures(cur.get(key), by, pb), _figures(prev.get(key), by, pb)
        for m in METRICS:
            row[m.name] = now.get(m.name)
            row[PREV + m.name] = then.get(m.name)
        rows.append(row)
    rows.sort(key=lambda r: tuple((r[k] is None, r[k] or "") for k in by))
    return rows


def records(df: Any) -> list[dict]:
    """compute_metrics' frame as plain rows (None for nulls, int/float numbers)."""
    out = []
    for rec in df.astype(object).where(df.notna(), None).to_dict("records"):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()})
    return out


def assert_same_rows(got: list[dict], want: list[dict], context: Any = "") -> None:
    """Same rows in the same order, numbers equal up to float rounding."""
    assert [list(r) for r in got[:1]] == [list(r) for r in want[:1]] or not want, (context, got[:1], want[:1])
    assert len(got) == len(want), (context, got, want)
    for g, w in zip(got, want):
        assert set(g) == set(w), (context, set(g) ^ set(w))
        for k in w:
            a, b = g[k], w[k]
            if isinstance(b, float) and a is not None:
                assert abs(a - b) < 1e-6, (context, k, g, w)
            else:
                assert a == b, (context, k, a, b, g)


def test_reference_fields_match_the_registry():
    row = ref_metrics({"deals": [dict(deal_id="d1", owner="m1", created_at="2024-01-10", status="open")]},
                      Playbook(stages=("new",)), datetime(2024, 1, 20))
    assert list(row[0]) == list(FIELDS)
    assert row[0]["open_deals"] == 1 and row[0]["prev_open_deals"] == 0


# -- hand-made data shared by the metric tests ------------------------------------------------------
# as_of 2024-03-01; window 28d: current (02-02, 03-01], previous (01-05, 02-02].
PLAYBOOK_YAML = """
stages: [new, qualification, proposal, negotiation]
segments:
  enterprise: "amount >= 1000000"
  smb: "true"
steps:
  first_contact: {stage: new, within: 1d, from: deal_created, by_segment: {enterprise: 3d}}
  brief: {stage: qualification, within: 5d, from: stage_entered}
  proposal_sent: {stage: proposal, within: 4d, from: stage_entered, by_segment: {smb: 2d}}
  follow_up: {stage: proposal, within: 3d, from: proposal_sent}
client_card:
  fields: [decision_maker, budget]
  complete_by: proposal
stale_after: {default: 7d, by_segment: {enterprise: 14d}}
"""
AS_OF = datetime(2024, 3, 1)
SCENARIO: dict[str, list] = {
    "managers": [("m1", "Anna", "A"), ("m2", "Boris", "A"), ("m3", "Vera", "B")],
    "deals": [
        # enterprise by amount; steps: on time, late, on time, missed (follow_up anchored on proposal_sent)
        dict(deal_id="d1", owner="m1", amount=2e6, channel="web", created_at="2024-02-05", status="open"),
        # smb; owner m1 until 02-20, then m2; first_contact due exactly at the previous window's end
        dict(deal_id="d2", owner="m2", amount=5e5, channel="web", created_at="2024-02-01", status="open"),
        # lost before its first_contact deadline: that step is excluded (pending)
        dict(deal_id="d3", owner="m2", amount=1e5, channel="partner", created_at="2024-02-20", status="lost",
             closed_at="2024-02-20T12:00", lost_reason="price"),
        # won in the current window; amount changed mid-way (revenue uses the amount as of then)
        dict(deal_id="d4", owner="m1", amount=8e5, channel="partner", created_at="2024-01-10", status="won",
             closed_at="2024-02-20"),
        # segment given in the data (enterprise: first_contact 3d, stale after 14d)
        dict(deal_id="d5", owner="m3", segment="enterprise", created_at="2024-02-18", status="open"),
        dict(deal_id="d6", owner="m3", amount=1e5, channel="web", created_at="2024-02-18", status="open"),
        # created after as_of: invisible
        dict(deal_id="d7", owner="m3", amount=1e5, created_at="2024-03-05", status="open"),
    ],
    "stage_history": [
        ("d1", "new", "2024-02-05"), ("d1", "qualification", "2024-02-06"), ("d1", "proposal", "2024-02-10"),
        ("d2", "new", "2024-02-01"), ("d2", "proposal", "2024-02-15"),
        ("d3", "new", "2024-02-20"),
        ("d4", "new", "2024-01-10"), ("d4", "proposal", "2024-01-12"), ("d4", "won", "2024-02-20"),
        ("d5", "new", "2024-02-18"), ("d6", "new", "2024-02-18"), ("d7", "new", "2024-03-05"),
    ],
    "tasks": [
        dict(task_id="fc1", deal_id="d1", type="first_contact", created_at="2024-02-05", due_at="2024-02-06",
             completed_at="2024-02-07"),
        dict(task_id="br1", deal_id="d1", type="brief", created_at="2024-02-06", completed_at="2024-02-12"),
        dict(task_id="ps1", deal_id="d1", type="proposal_sent", created_at="2024-02-10", completed_at="2024-02-13"),
        dict(task_id="call1", deal_id="d1", type="call", created_at="2024-02-20", due_at="2024-02-25"),
        dict(task_id="call4", deal_id="d1", type="call", created_at="2024-02-08", due_at="2024-02-10",
             completed_at="2024-02-12T12:00"),
        dict(task_id="call5", deal_id="d1", type="call", created_at="2024-02-20", due_at="2024-03-05"),
        dict(task_id="ps2", deal_id="d2", type="proposal_sent", created_at="2024-02-15", completed_at="2024-02-16"),
        dict(task_id="fu2", deal_id="d2", type="follow_up", created_at="2024-02-16", completed_at="2024-02-25"),
        dict(task_id="call2", deal_id="d2", type="call", created_at="2024-02-20", due_at="2024-02-26",
             status="cancelled"),
        dict(task_id="call6", deal_id="d2", type="call", created_at="2024-02-01", due_at="2024-02-01T12:00",
             completed_at="2024-02-03"),
        dict(task_id="call3", deal_id="d4", type="call", created_at="2024-01-15", due_at="2024-01-20",
             completed_at="2024-01-25"),
        dict(task_id="fc6", deal_id="d6", type="first_contact", created_at="2024-02-18",
             completed_at="2024-02-18T06:00"),
        dict(task_id="fc7", deal_id="d7", type="first_contact", created_at="2024-03-05", completed_at="2024-03-05"),
    ],
    "field_history": [
        ("deal", "d1", "decision_maker", "Ivan", "2024-02-08"), ("deal", "d1", "budget", "2M", "2024-02-11"),
        ("deal", "d2", "owner", "m1", "2024-02-01"), ("deal", "d2", "owner", "m2", "2024-02-20"),
        ("deal", "d4", "amount", "300000", "2024-01-10"), ("deal", "d4", "amount", "800000", "2024-02-15"),
        ("deal", "d4", "decision_maker", "Anna", "2024-01-11"), ("deal", "d4", "budget", "1M", "2024-01-11"),
    ],
    "attributes": [
        ("deal", "d1", "budget", "100"),  # ignored: the field has history for d1
        ("deal", "d2", "decision_maker", "Olga"), ("deal", "d2", "budget", "500k"),
    ],
}
