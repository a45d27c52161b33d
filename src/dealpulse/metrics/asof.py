"""The as-of engine: what was known at a moment, as Ibis expressions that run on any backend.

Everything downstream (metrics, funnel, norms, report) reads deals, stage events, tasks and field
values through a `Snapshot`, never the raw tables, so nothing after `as_of` can leak in:

- a deal exists once `created_at <= as_of`;
- its stage events are those with `entered_at <= as_of`; a closed deal whose export has no
  `won`/`lost` row gets one at `closed_at` (so its status as of earlier moments is still "open");
- status, closed_at and current stage come from the last stage event by then, never from the
  export's `status` column;
- field values (owner, amount, segment, channel, client-card fields) are the last change at or
  before `as_of`; a deal column with no history at all is taken as it is in the export; before
  the owner's first recorded change, the owner is its earliest recorded value;
- stage entries at the same moment are ordered: terminal last, then by the playbook's stage order;
- a task exists once created, and is done only if `completed_at <= as_of`;
- with the playbook's `lost_after` (N), a deal that has gone N without a touch before any outcome gets a
  `lost` entry at that moment, and its later entries no longer count (`_apply_lost_after`);
- an `as_of` typed by a person more than AS_OF_SLACK after the latest event is refused (`check_within_data`).

Timestamps in the store are UTC without a zone. `resolve_as_of` turns user input into one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis

from dealpulse.errors import InputError, NoData
from dealpulse.playbook.model import TERMINAL_STAGES, Playbook

DEAL_FIELDS_WITH_HISTORY = ("owner", "amount", "segment", "channel", "account_id")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{2}\.\d{2}\.\d{4}$")


def store_tz(store: Any) -> ZoneInfo:
    name = store.get_meta("tz") if store is not None else None
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def latest_event_at(store: Any) -> datetime | None:
    """The latest timestamp of anything that happened in the data (deadlines excluded)."""
    rows = store.query(
        "SELECT max(x) FROM ("
        " SELECT max(created_at) AS x FROM deals UNION ALL"
        " SELECT max(closed_at) FROM deals UNION ALL"
        " SELECT max(entered_at) FROM stage_history UNION ALL"
        " SELECT max(created_at) FROM tasks UNION ALL"
        " SELECT max(completed_at) FROM tasks UNION ALL"
        " SELECT max(changed_at) FROM field_history) AS m"
    )
    return rows[0][0] if rows and rows[0][0] is not None else None


def parse_moment(text: str | datetime | date, tz: ZoneInfo) -> datetime:
    """A moment as naive UTC.

    Text (what a user types) and `date` objects are in the export's zone `tz`: a bare date means that
    day's 00:00 there. A `datetime` object follows the store's convention instead: naive means UTC
    already (so `snapshot(store, snap.as_of, ...)` gives the same moment back); an aware one is converted.
    """
    if isinstance(text, datetime):
        if text.tzinfo is None:
            return text
        return text.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(text, date):
        moment = datetime.combine(text, time())
    else:
        raw = str(text).strip()
        try:
            if _DATE_ONLY.match(raw):
                if "." in raw:
                    d, m, y = raw.split(".")
                    raw = f"{y}-{m}-{d}"
                moment = datetime.combine(date.fromisoformat(raw), time())
            else:
                moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"--as-of: expected a date such as 2025-04-14 or a time such as 2025-04-14T18:00, got {text!r}"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def resolve_as_of(store: Any, as_of: str | datetime | date | None) -> datetime:
    """The moment to compute at: the given one, else the latest event in the data (never the clock)."""
    if as_of is None:
        latest = latest_event_at(store)
        if latest is None:
            raise NoData(
                f"The store {store!r} has no deals yet.",
                suggestion="Import an export first: dealpulse import PATH (or try: dealpulse demo).",
            )
        return latest
    moment = parse_moment(as_of, store_tz(store))
    if isinstance(as_of, str):  # what a user typed (--as-of): never silently after the data ends
        check_within_data(store, moment)
    return moment


AS_OF_SLACK = timedelta(days=7)  # an as_of this long after the last event is still taken (an export read days later)


def check_within_data(store: Any, moment: datetime, *, option: str = "--as-of") -> None:
    """Refuse a moment more than AS_OF_SLACK after the latest event in the data: every figure would
    silently treat the gap as time in which nothing happened (every open deal untouched for it). The
    message is in the language the CLI opened the store with (`store.lang`)."""
    from dealpulse.i18n import t

    latest = latest_event_at(store)
    if latest is None or moment <= latest + AS_OF_SLACK:
        return
    tz = store_tz(store)

    def shown(m: datetime) -> str:
        return f"{m.replace(tzinfo=timezone.utc).astimezone(tz):%Y-%m-%d %H:%M} ({tz})"

    lang = getattr(store, "lang", "en")
    raise InputError(
        t("asof.after_data", lang, option=option, as_of=shown(moment), last=shown(latest),
          days=(moment - latest).days, slack=AS_OF_SLACK.days),
        suggestion=t("asof.after_data.suggestion", lang, option=option,
                     last=latest.replace(tzinfo=timezone.utc).astimezone(tz).date().isoformat()),
    )


_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def _to_float(text: Any) -> Any:
    """A text column as float64, null where it is not a number. (Ibis renders `try_cast` as a plain
    CAST on PostgreSQL, which fails on the first non-number; a guarded CAST works on both engines.)"""
    return ibis.ifelse(text.re_search(_NUMBER), text, ibis.null("string")).cast("float64")


def _latest_per(table: Any, keys: list[str], order_col: str, *tie_breakers: Any) -> Any:
    w = ibis.window(group_by=keys, order_by=[ibis.desc(order_col), *tie_breakers])
    ranked = table.mutate(_rn=ibis.row_number().over(w))
    return ranked.filter(ranked._rn == 0).drop("_rn")


@dataclass
class Snapshot:
    """What was known at `as_of` (naive UTC), as Ibis tables.

    With `materialize` (the default) the heavy tables (deals, stage_events, tasks, and what other
    modules `keep`) are computed once per snapshot into temporary tables of the store's engine, so the
    many figures built on them do not recompute the as-of joins (and the SQL stays small). `release()`
    drops them; they also vanish with the connection. `materialize=False` keeps everything lazy.
    """

    store: Any
    as_of: datetime
    playbook: Playbook
    materialize: bool = True

    def keep(self, key: str, build: Callable[[], Any]) -> Any:
        """`build()` computed once for this snapshot (into a temporary table when materializing)."""
        kept = self.__dict__.setdefault("_kept", {})
        if key not in kept:
            expr = build()
            if self.materialize:
                name = f"_dp_{key}_{uuid.uuid4().hex[:12]}"
                table = self.store.ibis.create_table(name, expr, temp=True)
                # the engine may read column types back less precisely (timestamp vs timestamp(6)):
                # keep the expression's types so set operations with lazy tables still line up
                kept[key] = table.cast(expr.schema()) if table.schema() != expr.schema() else table
                self.__dict__.setdefault("_temps", []).append(name)
            else:
                kept[key] = expr
        return kept[key]

    def at(self, as_of: datetime) -> "Snapshot":
        """The snapshot of the same store and playbook at another moment (naive UTC), reused if asked again."""
        if as_of == self.as_of:
            return self
        siblings = self.__dict__.setdefault("_siblings", {})
        if as_of not in siblings:
            siblings[as_of] = Snapshot(store=self.store, as_of=as_of, playbook=self.playbook,
                                       materialize=self.materialize)
        return siblings[as_of]

    def release(self) -> None:
        """Drop the temporary tables of this snapshot and of its siblings."""
        for sib in self.__dict__.pop("_siblings", {}).values():
            sib.release()
        for name in self.__dict__.pop("_temps", []):
            self.store.execute(f'DROP TABLE IF EXISTS "{name}"')
        self.__dict__.pop("_kept", None)

    @property
    def T(self) -> Any:
        return ibis.literal(self.as_of, type="timestamp")

    # -- raw tables cut at as_of ------------------------------------------------------------
    @cached_property
    def _deals_raw(self) -> Any:
        d = self.store.table("deals")
        return d.filter(d.created_at <= self.T)

    @property
    def stage_events(self) -> Any:
        """deal_id, stage, entered_at: every stage entry known at as_of, terminal ones included."""
        return self.keep("stage_events", self._build_stage_events)

    def _build_stage_events(self) -> Any:
        raw = self.store.table("stage_history")
        sh = raw.select(
            deal_id=raw.deal_id.cast("string"), stage=raw.stage.cast("string"),
            entered_at=raw.entered_at.cast("timestamp"),
        )
        d = self.store.table("deals")
        terminal_rows = sh.filter(sh.stage.isin(list(TERMINAL_STAGES)))
        has_terminal = terminal_rows.select("deal_id").distinct()
        closed = d.filter(d.status.isin(list(TERMINAL_STAGES)) & d.closed_at.notnull())
        # membership filters, not semi/anti joins: Ibis renders a semi join that ends up in a shared
        # CTE as `LEFT SEMI JOIN`, which PostgreSQL rejects
        synth = closed.filter(~closed.deal_id.isin(has_terminal.deal_id))
        synth = synth.select(
            deal_id=synth.deal_id.cast("string"), stage=synth.status.cast("string"),
            entered_at=synth.closed_at.cast("timestamp"),
        )
        events = sh.union(synth)
        known = self._deals_raw.select("deal_id")
        events = events.filter(events.entered_at <= self.T)
        events = events.filter(events.deal_id.isin(known.deal_id))
        if self.playbook.lost_after is not None:
            events = self._apply_lost_after(events)
        return events

    def _apply_lost_after(self, events: Any) -> Any:
        """The playbook's `lost_after` (N): a deal is lost at the first moment it has gone N without a
        touch (a stage entry, a task done, its creation) and before any recorded outcome: a `lost` entry
        then, and its later entries (a late win, a stage it moved to) no longer count — as the event-log
        importer's `lost_after` does. Only what is known at as_of decides, so the view as of any moment
        is what an export taken then would give."""
        limit = ibis.interval(seconds=int(round(self.playbook.lost_after.total_seconds())))
        d = self._deals_raw
        tk = self.tasks
        done = tk.filter(tk.completed_at.notnull())
        moves = events.filter(~events.stage.isin(list(TERMINAL_STAGES)))
        touches = (moves.select(deal_id=moves.deal_id.cast("string"), at=moves.entered_at.cast("timestamp"))
                   .union(done.select(deal_id=done.deal_id.cast("string"), at=done.completed_at.cast("timestamp")))
                   .union(d.select(deal_id=d.deal_id.cast("string"), at=d.created_at.cast("timestamp"))))
        touches = touches.filter(touches.at <= self.T).distinct()
        nxt = touches.at.lead().over(ibis.window(group_by=touches.deal_id, order_by=touches.at))
        gaps = touches.mutate(nxt=nxt, lost_at=(touches.at + limit).cast("timestamp"))
        gaps = gaps.filter((gaps.nxt.isnull() & (gaps.lost_at <= self.T)) | (gaps.lost_at < gaps.nxt))
        first = gaps.group_by("deal_id").aggregate(lost_at=gaps.lost_at.min())
        ends = events.filter(events.stage.isin(list(TERMINAL_STAGES)))
        ends = ends.group_by("deal_id").aggregate(end_at=ends.entered_at.min())
        lost = first.left_join(ends, first.deal_id == ends.deal_id)
        lost = lost.filter(lost.end_at.isnull() | (lost.lost_at < lost.end_at)).select(lost_of="deal_id", lost_at="lost_at")
        kept = events.left_join(lost, events.deal_id == lost.lost_of)
        kept = kept.filter(kept.lost_at.isnull() | (kept.entered_at <= kept.lost_at)).select("deal_id", "stage", "entered_at")
        rule = lost.select(deal_id=lost.lost_of, stage=ibis.literal("lost", type="string"), entered_at=lost.lost_at)
        return kept.union(rule)

    @property
    def tasks(self) -> Any:
        """task_id, deal_id, type, owner, created_at, due_at, completed_at, status — as of as_of."""
        return self.keep("tasks", self._build_tasks)

    def _build_tasks(self) -> Any:
        tk = self.store.table("tasks")
        tk = tk.filter((tk.created_at <= self.T) & tk.deal_id.isin(self._deals_raw.deal_id))
        done = tk.completed_at.notnull() & (tk.completed_at <= self.T)
        return tk.mutate(
            completed_at=ibis.ifelse(done, tk.completed_at, ibis.null("timestamp")),
            status=ibis.cases((tk.status == "cancelled", "cancelled"), (done, "done"), else_="open"),
        )

    def field_values(self, fields: list[str] | tuple[str, ...], entity: str = "deal") -> Any:
        """entity_id plus one text column per field: its last value at or before as_of."""
        fh = self.store.table("field_history")
        fh = fh.filter((fh.entity == entity) & fh.field.isin(list(fields)) & (fh.changed_at <= self.T))
        latest = _latest_per(fh, ["entity_id", "field"], "changed_at")
        aggs = {f: latest.value.max(where=latest.field == f) for f in fields}
        return latest.group_by("entity_id").aggregate(**aggs)

    def _history_presence(self, fields: tuple[str, ...]) -> Any:
        """entity_id plus has_<field> flags: does the deal have any history row for that field."""
        fh = self.store.table("field_history")
        fh = fh.filter((fh.entity == "deal") & fh.field.isin(list(fields)))
        aggs = {f"has_{f}": (fh.field == f).any() for f in fields}
        return fh.group_by("entity_id").aggregate(**aggs)

    def _first_values(self, field: str) -> Any:
        """entity_id, first_<field>: the earliest recorded value of a deal field (at any time)."""
        fh = self.store.table("field_history")
        fh = fh.filter((fh.entity == "deal") & (fh.field == field))
        w = ibis.window(group_by="entity_id", order_by=[fh.changed_at])
        ranked = fh.mutate(_rn=ibis.row_number().over(w))
        return ranked.filter(ranked._rn == 0).select(**{f"first_{field}_of": ranked.entity_id, f"first_{field}": ranked.value})

    # -- the deal table as of then ------------------------------------------------------------
    @property
    def deals(self) -> Any:
        """One row per deal known at as_of:
        deal_id, account_id, title, owner, team, segment, channel, amount, currency, created_at,
        status (open/won/lost), closed_at, stage (last non-terminal stage entered), stage_entered_at,
        last_touch_at, cohort (YYYY-MM of created_at)."""
        return self.keep("deals", self._build_deals)

    def _build_deals(self) -> Any:
        """The deal table's expression (see `deals`):
        deal_id, account_id, title, owner, team, segment, channel, amount, currency, created_at,
        status (open/won/lost), closed_at, stage (last non-terminal stage entered), stage_entered_at,
        last_touch_at, cohort (YYYY-MM of created_at)."""
        d = self._deals_raw
        fields = DEAL_FIELDS_WITH_HISTORY
        vals = self.field_values(fields)
        pres = self._history_presence(fields)
        first_owner = self._first_values("owner")
        j = (d.left_join(vals, d.deal_id == vals.entity_id).left_join(pres, d.deal_id == pres.entity_id)
             .left_join(first_owner, d.deal_id == first_owner.first_owner_of))

        def asof_col(f: str, snapshot: Any, fallback_always: bool = False) -> Any:
            hist = j[f"{f}_right"] if f"{f}_right" in j.columns else j[f]
            if fallback_always:
                return hist.fill_null(snapshot)
            return ibis.ifelse(j[f"has_{f}"].fill_null(False), hist, snapshot)

        amount_hist = _to_float(j["amount_right"] if "amount_right" in j.columns else j["amount"])
        base = j.select(
            deal_id=j.deal_id,
            account_id=asof_col("account_id", j.account_id),
            title=j.title,
            # before the first recorded change the owner is unknown: take the earliest recorded
            # value (not the export's, which is the latest and would differ between exports)
            owner=asof_col("owner", j.first_owner.fill_null(j.owner), fallback_always=True),
            segment_own=asof_col("segment", j.segment),
            channel=asof_col("channel", j.channel),
            amount=ibis.ifelse(j.has_amount.fill_null(False), amount_hist, j.amount),
            currency=j.currency,
            created_at=j.created_at,
        )
        # status and stage from stage events
        ev = self.stage_events
        ev = ev.mutate(_terminal=ibis.ifelse(ev.stage.isin(list(TERMINAL_STAGES)), 1, 0),
                       _order=self._stage_order(ev.stage))
        # entries at the same moment: a terminal one, else the later stage in the playbook, wins
        ties = [ibis.desc("_order"), ibis.desc("stage")]
        w = ibis.window(group_by="deal_id", order_by=[ibis.desc("entered_at"), ibis.desc("_terminal"), *ties])
        ranked = ev.mutate(_rn=ibis.row_number().over(w))
        last = ranked.filter(ranked._rn == 0).select(
            deal_id="deal_id",
            status=ibis.ifelse(ranked._terminal == 1, ranked.stage, "open"),
            closed_at=ibis.ifelse(ranked._terminal == 1, ranked.entered_at, ibis.null("timestamp")),
        )
        nonterm = _latest_per(ev.filter(ev._terminal == 0), ["deal_id"], "entered_at", *ties).select(
            deal_id="deal_id", stage="stage", stage_entered_at="entered_at"
        )
        touches = self._last_touch()
        acc = self.store.table("accounts").select(account_id="account_id", acc_segment="segment")
        mgr = self.store.table("managers").select(owner="manager_id", team="team")
        out = base
        for right, key in ((last, "deal_id"), (nonterm, "deal_id"), (touches, "deal_id"), (acc, "account_id"), (mgr, "owner")):
            out = out.left_join(right, key)
            out = out.drop(*[c for c in out.columns if c.endswith("_right")])
        out = out.select(
            "deal_id", "account_id", "title", "owner", "team",
            segment=out.segment_own.fill_null(out.acc_segment),
            channel=out.channel,
            amount=out.amount,
            currency=out.currency,
            created_at=out.created_at,
            status=out.status.fill_null("open"),
            closed_at=out.closed_at,
            stage=out.stage,
            stage_entered_at=out.stage_entered_at,
            last_touch_at=ibis.greatest(out.created_at, out.touch_at.fill_null(out.created_at)),
            cohort=out.created_at.strftime("%Y-%m"),
        )
        return self._apply_segment_rules(out)

    def _stage_order(self, stage: Any) -> Any:
        """The stage's position in the playbook (-1 if not in it), to order entries at the same moment."""
        if not self.playbook.stages:
            return ibis.literal(-1)
        return ibis.cases(*[(stage == s, i) for i, s in enumerate(self.playbook.stages)], else_=-1)

    def _last_touch(self) -> Any:
        ev = self.stage_events
        ev = ev.select(deal_id=ev.deal_id.cast("string"), at=ev.entered_at.cast("timestamp"))
        tk = self.tasks
        done = tk.filter(tk.completed_at.notnull())
        done = done.select(deal_id=done.deal_id.cast("string"), at=done.completed_at.cast("timestamp"))
        both = ev.union(done)
        return both.group_by("deal_id").aggregate(touch_at=both.at.max())

    def _apply_segment_rules(self, deals: Any) -> Any:
        if not self.playbook.segments:
            return deals
        cases = [(seg.rule.to_ibis(deals), seg.name) for seg in self.playbook.segments]
        by_rule = ibis.cases(*cases, else_=ibis.null("string"))
        return deals.mutate(segment=deals.segment.fill_null(by_rule))

    # -- helpers ------------------------------------------------------------------------------
    @property
    def first_stage_entries(self) -> Any:
        """deal_id, stage, entered_at: the first entry of each deal into each stage (as of then)."""
        ev = self.stage_events
        return self.keep("first_stage_entries",
                         lambda: ev.group_by(["deal_id", "stage"]).aggregate(entered_at=ev.entered_at.min()))


def snapshot(store: Any, as_of: str | datetime | date | None, playbook: Playbook) -> Snapshot:
    return Snapshot(store=store, as_of=resolve_as_of(store, as_of), playbook=playbook)


def window_bounds(as_of: datetime, window: timedelta) -> tuple[datetime, datetime, datetime]:
    """(prev_start, start, end): the window (start, end] ends at as_of; the previous one precedes it."""
    return as_of - 2 * window, as_of - window, as_of
