"""What the web app shows, as documents: one adapter per analysis, on a `Moment` (dealpulse.app).

Each document is the one the CLI's `--format json` prints: the web app calls the application layer's
registry (`dealpulse.app.commands.run(name, moment, ...)`, the same code the CLI calls) for the WHOLE
department and filters its rows to the user's scope afterwards (`dealpulse.web.scope`) - never the input.

Analyses that take long (score, alerts) are kept per moment and language on the Moment itself, so a page
asked again answers at once; what users write (review marks, alert actions) is read fresh every time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timedelta
from typing import Any

from dealpulse.app import Moment
from dealpulse.app.commands import run
from dealpulse.app.commands.score import SORTS, sort_rows
from dealpulse.app.documents import jsonable

_locks: dict[int, threading.RLock] = {}
_locks_guard = threading.Lock()


def _kept(m: Moment, key: tuple, build: Any) -> Any:
    """`build()` once per moment and key (one thread builds, the others wait for it)."""
    cache = m.__dict__.setdefault("_web_kept", {})
    if key in cache:
        return cache[key]
    with _locks_guard:
        lock = _locks.setdefault(id(m), threading.RLock())
    with lock:
        if key not in cache:
            cache[key] = build()
    return cache[key]


# -- score ----------------------------------------------------------------------------------------
def score_document(m: Moment, lang: str = "en", *, sort: str = "value") -> dict[str, Any]:
    """`dealpulse score --format json` for every open deal (rows sorted by `sort`, not limited)."""
    doc = _kept(m, ("score", lang), lambda: run("score", m, lang).document())
    return {**doc, "rows": sort_rows(doc["rows"], sort if sort in SORTS else "value")}


# -- alerts ---------------------------------------------------------------------------------------
def alert_key(row: dict[str, Any]) -> str:
    """A stable id of an alert: its kind, subject and the day it opened."""
    text = json.dumps([row["kind"], sorted((str(k), str(v)) for k, v in row["subject"].items()), str(row["opened"])],
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def alerts_document(m: Moment, lang: str = "en", *, include_resolved: bool = False) -> dict[str, Any]:
    """`dealpulse alerts --format json` (`--all` when `include_resolved`); every row also has its `key`."""

    def build() -> dict[str, Any]:
        doc = run("alerts", m, lang, all=include_resolved).document()
        for r in doc["rows"]:
            r["key"] = alert_key(r)
        return doc

    doc = _kept(m, ("alerts", lang, include_resolved), build)
    return {**doc, "rows": [dict(r) for r in doc["rows"]]}


# -- the other commands -----------------------------------------------------------------------------
OTHER_COMMANDS = ("metrics", "funnel", "norms", "optimism", "dynamics", "changes", "validate-metrics")


def command_document(m: Moment, name: str, lang: str = "en", **options: Any) -> dict[str, Any]:
    """`dealpulse <name> --format json` with the CLI's options (query texts are converted and checked by the
    application layer), kept per moment, language and options."""
    key = ("command", name, lang, tuple(sorted((k, str(v)) for k, v in options.items())))
    return _kept(m, key, lambda: run(name, m, lang, **options).document())


# -- the manager x step heat map and its drill-down ----------------------------------------------------
def _rate(r: dict[str, Any]) -> tuple[float | None, int]:
    ok = r.get("steps_on_time") or 0
    n = int(sum(r.get(f"steps_{s}") or 0 for s in ("on_time", "late", "missed")))
    return (ok / n if n else None), n


def step_heatmap(m: Moment, lang: str = "en", *, window: str = "28d") -> dict[str, Any]:
    """On-time rate of every manager, team and the department on every step, in the metrics window
    (`dealpulse metrics --by manager,step` / `team,step` / `step`): {window, steps, managers: {id: {step:
    (rate, n)}}, teams: {...}, department: {...}}."""
    by_manager = command_document(m, "metrics", lang, by="manager,step", window=window)
    by_team = command_document(m, "metrics", lang, by="team,step", window=window)
    by_step = command_document(m, "metrics", lang, by="step", window=window)
    seen = {r["step"] for r in by_step["rows"] if r.get("step")}
    steps = [s.name for s in m.playbook.steps if s.name in seen] + sorted(seen - {s.name for s in m.playbook.steps})
    managers: dict[str, dict[str, tuple]] = {}
    for r in by_manager["rows"]:
        if r.get("manager") and r.get("step"):
            managers.setdefault(str(r["manager"]), {})[r["step"]] = _rate(r)
    teams: dict[str, dict[str, tuple]] = {}
    for r in by_team["rows"]:
        if r.get("team") and r.get("step"):
            teams.setdefault(str(r["team"]), {})[r["step"]] = _rate(r)
    department = {r["step"]: _rate(r) for r in by_step["rows"] if r.get("step")}
    return {"window": by_step["window"], "steps": steps, "managers": managers, "teams": teams, "department": department}


def step_cell(m: Moment, step: str, *, window: str = "28d", owners: Any = None) -> list[dict[str, Any]]:
    """The step instances behind a heat-map cell: the deals whose `step` fell due in the window (done on
    time, late or missed; not those still pending), of the managers in `owners` (None: every one)."""
    from dealpulse.app.options import parse_window
    from dealpulse.metrics.asof import window_bounds
    from dealpulse.metrics.steps import PENDING, step_instances

    _prev, start, end = window_bounds(m.as_of, parse_window(window, "en"))
    inst = step_instances(m.snapshot)
    inst = inst.filter((inst.deadline > start) & (inst.deadline <= end) & (inst.status != PENDING) & (inst.step == step))
    if owners is not None:
        inst = inst.filter(inst.owner.isin(sorted(owners)))
    return _records(inst.order_by([inst.status, inst.deadline]).execute())


# -- import: upload an export, see the quarantine -----------------------------------------------------
UPLOAD_SUFFIXES = (".csv", ".gz", ".xlsx", ".xls", ".parquet", ".json", ".yaml", ".yml", ".xes")
MAX_UPLOAD_BYTES = 500 * 1024 * 1024


def import_upload(store: Any, files: list[tuple[str, bytes]], *, lang: str = "en") -> dict[str, Any]:
    """Import uploaded files (the tables of an export, or one .zip of them) as `dealpulse import FOLDER`
    does: all or nothing, bad rows to quarantine. Only plain file names are kept (no folders, no `..`)."""
    import tempfile
    import zipfile
    from io import BytesIO
    from pathlib import Path, PurePath

    from dealpulse.errors import InputError
    from dealpulse.i18n import t
    from dealpulse.ingest.importer import import_path

    if not files or not any(data for _, data in files):
        raise InputError(t("web.import.none", lang))
    if sum(len(d) for _, d in files) > MAX_UPLOAD_BYTES:
        raise InputError(t("web.import.too_big", lang, mb=MAX_UPLOAD_BYTES // (1024 * 1024)))
    with tempfile.TemporaryDirectory(prefix="dealpulse-upload-") as tmp:
        folder = Path(tmp)
        written = 0

        def put(name: str, data: bytes) -> None:
            nonlocal written
            base = PurePath(name.replace("\\", "/")).name
            if not base or base.startswith(".") or not base.lower().endswith(UPLOAD_SUFFIXES):
                return
            (folder / base).write_bytes(data)
            written += 1

        for name, data in files:
            if name.lower().endswith(".zip"):
                try:
                    with zipfile.ZipFile(BytesIO(data)) as z:
                        for info in z.infolist():
                            if not info.is_dir():
                                put(info.filename, z.read(info))
                except zipfile.BadZipFile:
                    raise InputError(t("web.import.bad_zip", lang, file=name)) from None
            else:
                put(name, data)
        if not written:
            raise InputError(t("web.import.no_tables", lang, suffixes=", ".join(UPLOAD_SUFFIXES)))
        playbook = folder / "playbook.yaml"
        report = import_path(store, folder, playbook_path=playbook if playbook.exists() else None, lang=lang)
    return jsonable(report.to_dict())


def imports(store: Any, limit: int = 20) -> list[dict[str, Any]]:
    rows = store.query("SELECT import_id, started_at, source, tz FROM imports ORDER BY started_at DESC LIMIT ?", [limit])
    return [{"import_id": i, "started_at": at, "source": src, "tz": tz} for i, at, src, tz in rows]


def quarantine(store: Any, limit: int = 200) -> list[dict[str, Any]]:
    """The rows an import did not take: file, row, column, why, what was expected and found."""
    rows = store.query("SELECT table_name, file, row_number, column_name, reason, expected, found FROM quarantine "
                       "ORDER BY table_name, file, row_number, column_name LIMIT ?", [limit])
    cols = ("table", "file", "row", "column", "reason", "expected", "found")
    return [dict(zip(cols, r)) for r in rows]


# -- review ---------------------------------------------------------------------------------------
def review_document(m: Moment, lang: str = "en", *, include_reviewed: bool = False, rare: float = 0.5,
                    closed_days: int | None = None) -> dict[str, Any]:
    """`dealpulse review --format json` (`rare` in percent as --rare; not limited). Kept per moment, options
    and the state of the review marks, so a new mark shows at once."""
    marks = tuple(str(v) for v in m.store.query("SELECT count(*), max(recorded_at) FROM reviews")[0])
    key = ("review", lang, bool(include_reviewed), str(rare), closed_days, marks)
    doc = _kept(m, key, lambda: run("review", m, lang, all=include_reviewed, rare=rare, closed_days=closed_days).document())
    return {**doc, "rows": [dict(r) for r in doc["rows"]]}


def mark_review(m: Moment, deal_id: str, comment: str, *, reviewer: str, lang: str = "en") -> dict[str, Any]:
    """`dealpulse review mark DEAL --comment TEXT --at <as_of>` (dealpulse.review.queue.mark_deal)."""
    from dealpulse.review.queue import mark_deal

    mk = mark_deal(m.store, deal_id, comment, reviewer=reviewer, at=m.as_of, playbook=m.playbook, lang=lang)
    return jsonable({"deal_id": mk.deal_id, "reviewed_at": mk.reviewed_at, "reviewer": mk.reviewer,
                     "comment": mk.comment, "reasons": list(mk.reasons), "recorded_at": mk.recorded_at,
                     "review_id": mk.review_id})


# -- one deal -------------------------------------------------------------------------------------
def deal_document(m: Moment, deal_id: str) -> dict[str, Any] | None:
    """A deal as known at the moment: its card, stages, tasks and field changes (None: unknown then)."""
    snap = m.snapshot
    d = snap.deals
    frame = d.filter(d.deal_id == deal_id).execute()
    if frame.empty:
        return None
    card = _records(frame)[0]
    se = snap.stage_events
    stages = _records(se.filter(se.deal_id == deal_id).order_by(se.entered_at).execute())
    tk = snap.tasks
    tasks = _records(tk.filter(tk.deal_id == deal_id).order_by(tk.created_at).execute())
    for task in tasks:  # what was not known yet at the moment is not shown
        if task.get("completed_at") is not None and task["completed_at"] > m.as_of:
            task["completed_at"] = None
            task["status"] = "open"
    changes = m.store.query(
        "SELECT field, value, changed_at, changed_by FROM field_history "
        "WHERE entity = ? AND entity_id = ? AND changed_at <= ? ORDER BY changed_at, field", ["deal", deal_id, m.as_of])
    fields = [{"field": f, "value": v, "changed_at": at, "changed_by": by} for f, v, at, by in changes]
    return jsonable({**m.document_head(), "deal": card, "stages": stages, "tasks": tasks, "field_changes": fields})


def p_win_path(m: Moment, deal: dict[str, Any], points: int = 16) -> list[dict[str, Any]]:
    """The deal's chance to win at `points` moments from its creation to the moment (or just before it
    closed), by the moment's model: the features at each moment use only what was known then (as the model's
    own training rows do), the model is the one every page uses."""
    import polars as pl

    from dealpulse.risk.features import features

    created = _as_datetime(deal.get("created_at"))
    closed = _as_datetime(deal.get("closed_at"))
    if created is None:
        return []
    end = m.as_of if closed is None or closed > m.as_of else closed - timedelta(seconds=1)
    if end <= created:
        return []
    tr = m.trained()
    ts = [created + (end - created) * (i / points) for i in range(1, points + 1)]
    pairs = pl.DataFrame({"deal_id": [deal["deal_id"]] * len(ts), "t": ts},
                         schema={"deal_id": pl.Utf8, "t": pl.Datetime("us")})
    x = features(tr.history, pairs, tr.ref)
    if x.height == 0:
        return []
    p = tr.model.predict(tr.frame(x))
    return [{"at": r["t"], "p_win": round(float(p[i]), 4)} for i, r in enumerate(x.iter_rows(named=True))]


def _as_datetime(v: Any) -> datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return datetime.fromisoformat(v)
    return v


def _records(frame: Any) -> list[dict[str, Any]]:
    """A pandas frame's rows with NaT/NaN as None and timestamps as datetimes."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            if v is not None and not isinstance(v, (str, bytes)) and v != v:  # NaT / NaN
                v = None
            elif hasattr(v, "to_pydatetime"):
                v = v.to_pydatetime()
            clean[k] = v
        out.append(clean)
    return out


# -- alert actions (acknowledge / snooze), as-of aware ------------------------------------------------
ACTIONS = ("acknowledge", "snooze")


def act_on_alert(store: Any, row: dict[str, Any], action: str, reason: str, *, login: str, at: datetime,
                 until: datetime | None = None) -> dict[str, Any]:
    """Store an action on an alert at the data moment `at` (naive UTC); a snooze lasts until `until`."""
    import uuid

    from dealpulse.web.users import now

    if action not in ACTIONS:
        raise ValueError(f"action: expected one of {ACTIONS}, got {action!r}")
    rec = {"action_id": uuid.uuid4().hex, "alert_key": row["key"], "kind": row["kind"],
           "subject": json.dumps(row["subject"], ensure_ascii=False, sort_keys=True), "action": action,
           "reason": reason.strip(), "until_at": until if action == "snooze" else None, "at": at, "login": login,
           "recorded_at": now()}
    store.execute("INSERT INTO alert_actions (action_id, alert_key, kind, subject, action, reason, until_at, acted_at, login, "
                  "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(rec.values()))
    return rec


def alert_actions(store: Any, as_of: datetime) -> dict[str, dict[str, Any]]:
    """alert key -> the latest action taken at or before `as_of` (a page as of an earlier moment does not
    see it), with `active`: an acknowledgement, or a snooze whose end is after `as_of`."""
    rows = store.query("SELECT alert_key, action, reason, until_at, acted_at, login, recorded_at FROM alert_actions "
                       "WHERE acted_at <= ? ORDER BY alert_key, acted_at, recorded_at", [as_of])
    out: dict[str, dict[str, Any]] = {}
    for key, action, reason, until_at, at, login, recorded_at in rows:
        out[key] = {"action": action, "reason": reason, "until": until_at, "at": at, "by": login,
                    "recorded_at": recorded_at,
                    "active": action == "acknowledge" or (until_at is not None and until_at > as_of)}
    return out


__all__ = ["p_win_path", "import_upload", "imports", "quarantine", "step_heatmap", "step_cell", "command_document", "OTHER_COMMANDS", "score_document", "alerts_document", "review_document", "mark_review", "deal_document", "alert_key",
           "act_on_alert", "alert_actions", "jsonable", "SORTS", "ACTIONS"]
