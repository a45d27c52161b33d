"""A digest as typed values: what changed since the start, the open alerts, the deals to save — within one
person's scope. Codes and numbers, ids beside display names; words are made only by `render.py`.

Everything is computed once per run for the whole department, through the application layer
(`Session(store).at(as_of)`: the snapshot and the cached trained model), and then cut per person:

- what changed: `dealpulse.changes.compute_changes` (the same waterfall, movers and slipped deals that
  `dealpulse changes` shows). The waterfall of a scope is summed from the per-deal rows by the waterfall's
  own rule (new / reopened: +1 and + the amount at T; won / lost: −1 and − the amount at T; amount up /
  down: the amount at T − the amount at S), in cents, so a scoped waterfall reconciles as the whole does;
  deals are in a scope by their owner at T;
- open alerts: `dealpulse.alerts.lifecycle.tracked_alerts` (what `dealpulse alerts` lists), a manager's
  alerts by their subject's manager; segment and channel alerts are the department's (head, qc);
- deals to save: `dealpulse.risk.score.score` rows of alive deals (risk/state.py) by value at risk;
- quality control: the review queue's summary (`dealpulse.review.queue.build_queue`).

Two things arrive as sentences from the domain, because they are made from a deal's whole row: the
reasons of a mover or a deal to save (`risk.reasons.Explainer`) and an alert's message. They are asked for
in each language the run needs and kept as `texts` in the digest's language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from dealpulse.digest.people import Recipient, Scope, scope_of
from dealpulse.labels import label, person

TOP = 5  # movers each way, slipped deals, deals to save, review rows
ALERTS_SHOWN = 10
_ALL = 10 ** 9


@dataclass(frozen=True)
class Flow:
    bucket: str  # dealpulse.changes.waterfall.BUCKETS
    deals: int
    count: int
    amount: float


@dataclass(frozen=True)
class Mover:
    deal_id: str
    title: str | None
    owner: str | None
    owner_name: str
    stage: str | None
    stage_label: str
    amount: float | None
    p_before: float | None
    p_after: float | None
    delta: float | None
    state_before: str | None
    state_after: str | None
    why: tuple[str, ...] = ()  # the reasons that appeared, in the digest's language (domain sentences)


@dataclass(frozen=True)
class AlertItem:
    kind: str
    subject: dict[str, str]
    subject_names: dict[str, str]  # the subject with display names (manager -> name)
    severity: str
    since: str | None  # ISO date
    opened: str | None  # ISO date
    new: bool  # opened within the digest's period
    message: str  # the alert's sentence in the digest's language (domain)


@dataclass(frozen=True)
class DealToSave:
    deal_id: str
    title: str | None
    owner: str | None
    owner_name: str
    stage: str | None
    stage_label: str
    amount: float | None
    p_win: float | None
    value_at_risk: float
    reasons: tuple[str, ...] = ()  # in the digest's language (domain sentences)
    reason_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewSummary:
    n_open: int
    n_atypical: int
    n_waiting: int  # in the queue now (not reviewed, or reviewed but with a new reason)
    n_reviewed_hidden: int
    top: tuple[dict, ...] = ()  # {deal_id, owner, owner_name, amount, score, reasons_codes, reasons}


@dataclass(frozen=True)
class Digest:
    login: str
    role: str
    lang: str
    scope_team: str | None
    scope_manager: str | None
    scope_manager_name: str | None
    as_of: datetime  # naive UTC
    start: datetime  # naive UTC
    tz: str
    currency: str | None
    waterfall: tuple[Flow, ...]
    reconciles: bool
    movers_up: tuple[Mover, ...]
    movers_down: tuple[Mover, ...]
    slipped: tuple[Mover, ...]
    slipped_total: int
    live: int
    alerts: tuple[AlertItem, ...]
    alerts_total: int
    alerts_resolved: int  # resolved within the period, in scope
    to_save: tuple[DealToSave, ...]
    at_risk_total: float  # value at risk of every alive deal in scope
    review: ReviewSummary | None = None
    notices: tuple[str, ...] = ()  # codes: "model_simple" (no boosting model), "no_model"

    @property
    def period(self) -> str:
        """The key of a delivery: one digest per recipient, channel and period (digest_log)."""
        return f"{self.start.isoformat(timespec='seconds')}/{self.as_of.isoformat(timespec='seconds')}"

    def flow(self, bucket: str) -> Flow:
        return next(f for f in self.waterfall if f.bucket == bucket)

    def document(self) -> dict[str, Any]:
        """The digest as a JSON document (the webhook's body, `--format json`)."""
        from dealpulse.timefmt import moment_json

        doc = asdict(self)
        doc["as_of"] = moment_json(self.as_of, self.tz)
        doc["start"] = moment_json(self.start, self.tz)
        doc["period"] = self.period
        doc["kind"] = "dealpulse.digest"
        doc["version"] = 1
        return _plain(doc)


def _plain(v: Any) -> Any:
    import math
    from datetime import date

    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _num(v: Any) -> float | None:
    from dealpulse.risk.state import as_number

    return as_number(v)


class DigestBuilder:
    """The department's analyses at one moment, computed once; `for_person` cuts a digest per recipient.

    `moment`: `Session(store).at(as_of)`; `since`: `7d`, `2w`, a date (the export's zone) or a timedelta.
    `langs`: every language the run will need (the reasons and alert messages are asked for in each once).
    """

    def __init__(self, moment: Any, since: Any = "7d", *, langs: Sequence[str] = ("en",), top: int = TOP,
                 scopes: Sequence[Scope] | None = None):
        from dealpulse.changes import parse_since

        self.m = moment
        self.langs = tuple(dict.fromkeys(langs)) or ("en",)
        self.top = top
        self.start = since if isinstance(since, datetime) else parse_since(since, moment.as_of, moment.tz, self.langs[0])
        self._changes: dict | None = None
        self.scopes = list(scopes) if scopes is not None else None  # known in advance: explain only what is shown
        self._slipped_owners: list[Any] | None = None
        self._alerts: dict[str, list[dict]] = {}
        self._scores: dict[str, list[dict]] = {}
        self._review: dict[str, Any] = {}

    # -- the department's, once ---------------------------------------------------------------------
    @property
    def people(self) -> dict[str, str]:
        return self.m.session.people

    def trained(self) -> Any:
        return self.m.trained()

    def changes(self) -> dict:
        if self._changes is None:
            from dealpulse.changes import compute_changes

            # enough movers that each person's own top ones are there (every one, unless the scopes are known);
            # the reasons in every language
            self._changes = compute_changes(self.m.snapshot, self.start, lang=self.langs[0], langs=self.langs,
                                            limit=self._movers_limit(), trained=self.trained(), alerts=False)
        return self._changes

    def _movers_limit(self) -> int:
        """How long the department's lists of movers must be for every known scope's top `top` to be in them.
        Explaining a mover (its reasons, in each language) is the costly part, so a first pass ranks every
        live deal without reasons (`compute_movers(limit=0)`, in `movers_from`'s order) and the limit is the
        deepest rank a scope needs. With the scopes unknown: every mover."""
        if self.scopes is None:
            return _ALL
        from dealpulse.changes.movers import MIN_DELTA, compute_movers

        scored = compute_movers(self.m.snapshot, self.start, trained=self.trained(), langs=self.langs[:1], limit=0)["scored"]
        rank = {"alive": 0, "stale": 1, "dead": 2}
        up = sorted((r for r in scored if r["delta"] >= MIN_DELTA), key=lambda r: (-r["delta"], r["deal_id"]))
        down = sorted((r for r in scored if r["delta"] <= -MIN_DELTA), key=lambda r: (r["delta"], r["deal_id"]))
        slipped = sorted((r for r in scored if rank[r["state_after"]] > rank[r["state_before"]]),
                         key=lambda r: (-(r["amount"] or 0.0), r["deal_id"]))
        self._slipped_owners = [r["owner"] for r in slipped]
        need = 0
        for sc in self.scopes:
            for lst in (up, down, slipped):
                at = [i for i, r in enumerate(lst) if sc.sees(r["owner"])][:self.top]
                if at:
                    need = max(need, at[-1] + 1)
        return max(need, self.top)

    def alerts(self, lang: str) -> list[dict]:
        if lang not in self._alerts:
            from dealpulse.alerts.lifecycle import tracked_alerts

            self._alerts[lang] = tracked_alerts(self.m.snapshot, lang=lang, resolved_within=self.m.as_of - self.start)
        return self._alerts[lang]

    def scores(self, lang: str) -> list[dict]:
        if lang not in self._scores:
            from dealpulse.risk.score import score

            self._scores[lang] = score(self.m.snapshot, lang=lang, trained=self.trained())[1]
        return self._scores[lang]

    def review(self, lang: str) -> Any:
        if lang not in self._review:
            from dealpulse.review.queue import build_queue

            self._review[lang] = build_queue(self.m.snapshot, self.m.store, lang=lang)
        return self._review[lang]

    def notices(self) -> tuple[str, ...]:
        kind = getattr(getattr(self.trained(), "model", None), "kind", None)
        return () if kind == "boosting" else ("model_simple",)

    # -- one person's ---------------------------------------------------------------------------------
    def for_person(self, r: Recipient, lang: str | None = None) -> Digest:
        lang = lang or r.lang or self.langs[0]
        if lang not in self.langs:
            raise ValueError(f"the builder was made for {self.langs}, not {lang!r}")
        scope = scope_of(self.m.store, r)
        pb = self.m.playbook
        ch = self.changes()
        rows = [d for d in ch["deals"] if scope.sees(d.get("owner"))]
        waterfall, reconciles = scoped_waterfall(rows)
        mv = ch["movers"]

        def mover(x: dict) -> Mover:
            # why: the reasons that appeared on the side it moved to (against for a fall or a slip, in favour for a rise)
            side = "favour" if (_num(x.get("delta")) or 0.0) > 0 and x.get("state_after") == x.get("state_before") else "against"
            why = tuple((it.get("texts") or {}).get(lang) or it.get("text") or ""
                        for it in (x.get("reasons_added") or []) if it.get("side") == side)[:2]
            return Mover(deal_id=str(x["deal_id"]), title=x.get("title"), owner=x.get("owner"),
                         owner_name=person(x.get("owner"), self.people), stage=x.get("stage"),
                         stage_label=label(x.get("stage"), lang, pb), amount=_num(x.get("amount")),
                         p_before=_num(x.get("p_before")), p_after=_num(x.get("p_after")), delta=_num(x.get("delta")),
                         state_before=x.get("state_before"), state_after=x.get("state_after"), why=why)

        def mine(xs: Iterable[dict]) -> list[dict]:
            return [x for x in xs if scope.sees(x.get("owner"))]

        slipped = mine(mv["slipped"])
        live_ids = {x["deal_id"] for x in mine(d for d in ch["deals"] if d.get("status_start") == "open"
                                                and d.get("status_end") == "open")}
        alerts_all = [a for a in self.alerts(lang) if scope.sees_subject(a.get("subject"))]
        open_alerts = [a for a in alerts_all if a.get("status") == "open"]
        start_day = self.start.date().isoformat()
        resolved = [a for a in alerts_all if a.get("status") != "open" and (a.get("resolved") or "") > start_day]
        items = tuple(AlertItem(
            kind=str(a["kind"]), subject=dict(a.get("subject") or {}),
            subject_names={k: (person(v, self.people) if k in ("manager", "owner") else label(v, lang, pb))
                           for k, v in (a.get("subject") or {}).items()},
            severity=str(a.get("severity")), since=a.get("since"), opened=a.get("opened"),
            new=bool(a.get("opened") and str(a["opened"]) > start_day), message=str(a.get("message") or ""),
        ) for a in open_alerts[:ALERTS_SHOWN])
        alive = [s for s in self.scores(lang) if scope.sees(s.get("owner")) and s.get("state") == "alive"
                 and s.get("value_at_risk") is not None]
        alive.sort(key=lambda s: (-float(s["value_at_risk"]), str(s["deal_id"])))
        titles = {str(d["deal_id"]): d.get("title") for d in ch["deals"]}
        save = tuple(DealToSave(
            deal_id=str(s["deal_id"]), title=titles.get(str(s["deal_id"])), owner=s.get("owner"),
            owner_name=person(s.get("owner"), self.people), stage=s.get("stage"), stage_label=label(s.get("stage"), lang, pb),
            amount=_num(s.get("amount")), p_win=_num(s.get("p_win")), value_at_risk=float(s["value_at_risk"]),
            reasons=tuple(s.get("reasons") or ())[:2], reason_codes=tuple(c["code"] for c in s.get("reason_codes") or []
                                                                         if c.get("impact", 0) < 0),
        ) for s in alive[:self.top])
        review = self._review_summary(lang) if scope.review else None
        if scope.review:  # quality control: the review queue and the department's waterfall, not the sales desk's lists
            items, save, slipped, open_alerts, resolved, alive = (), (), [], [], [], []
            mv = {"up": [], "down": []}
        return Digest(
            login=r.login, role=r.role, lang=lang, scope_team=scope.team, scope_manager=scope.manager_id,
            scope_manager_name=person(scope.manager_id, self.people) if scope.manager_id else None,
            as_of=self.m.as_of, start=self.start, tz=str(self.m.tz), currency=ch.get("currency"),
            waterfall=waterfall, reconciles=reconciles,
            movers_up=tuple(mover(x) for x in mine(mv["up"])[:self.top]),
            movers_down=tuple(mover(x) for x in mine(mv["down"])[:self.top]),
            slipped=tuple(mover(x) for x in slipped[:self.top]), live=len(live_ids),
            slipped_total=(len(slipped) if self._slipped_owners is None
                           else sum(1 for o in self._slipped_owners if scope.sees(o))),
            alerts=items, alerts_total=len(open_alerts), alerts_resolved=len(resolved),
            to_save=save, at_risk_total=float(sum(float(s["value_at_risk"]) for s in alive)),
            review=review, notices=self.notices(),
        )

    def _review_summary(self, lang: str) -> ReviewSummary:
        q = self.review(lang)
        ids = [str(r["deal_id"]) for r in q.rows[:self.top]]
        titles = dict(self.m.store.query(
            f"SELECT deal_id, title FROM deals WHERE deal_id IN ({', '.join('?' for _ in ids)})", ids)) if ids else {}
        top = tuple({"deal_id": str(r["deal_id"]), "title": titles.get(str(r["deal_id"])), "owner": r.get("owner"), "owner_name": person(r.get("owner"), self.people),
                     "amount": _num(r.get("amount")), "score": _num(r.get("score")),
                     "reasons_codes": list(r.get("reasons_codes") or []), "reasons": list(r.get("reasons") or [])[:2]}
                    for r in q.rows[:self.top])
        return ReviewSummary(n_open=int(q.n_open), n_atypical=int(q.n_atypical), n_waiting=len(q.rows),
                             n_reviewed_hidden=int(q.n_reviewed_hidden), top=top)


def scoped_waterfall(rows: Sequence[dict]) -> tuple[tuple[Flow, ...], bool]:
    """The waterfall of some of the followed deals (the rows of `compute_changes()["deals"]`), by the
    waterfall's rule, summed in cents: (flows in BUCKETS order, whether it reconciles)."""
    from dealpulse.changes.waterfall import BUCKETS, FLOW_BUCKETS, cents

    acc = {b: [0, 0, 0] for b in BUCKETS}  # deals, count, cents

    def add(b: str, count: int, amount: int) -> None:
        acc[b][0] += 1
        acc[b][1] += count
        acc[b][2] += amount

    for d in rows:
        a_s, a_e = cents(d.get("amount_start")), cents(d.get("amount_end"))
        if d.get("status_start") == "open":
            add("open_start", 1, a_s)
        if d.get("status_end") == "open":
            add("open_end", 1, a_e)
        for b in d.get("buckets") or ():
            if b in ("new", "reopened"):
                add(b, 1, a_e)
            elif b in ("won", "lost"):
                add(b, -1, -a_e)
            elif b in ("amount_up", "amount_down"):
                add(b, 0, a_e - a_s)
            else:
                add(b, 0, 0)
    flows = tuple(Flow(b, acc[b][0], acc[b][1], acc[b][2] / 100) for b in BUCKETS)
    s, e = acc["open_start"], acc["open_end"]
    ok = (s[1] + sum(acc[b][1] for b in FLOW_BUCKETS) == e[1]) and (s[2] + sum(acc[b][2] for b in FLOW_BUCKETS) == e[2])
    return flows, ok


def build_digests(moment: Any, people: Sequence[Recipient], since: Any = "7d", *, lang: str | None = None,
                  default_lang: str = "en") -> list[Digest]:
    """One digest per recipient, in their language (`lang` forces one for everyone)."""
    langs = [lang or r.lang or default_lang for r in people] or [default_lang]
    b = DigestBuilder(moment, since, langs=langs, scopes=[scope_of(moment.store, r) for r in people])
    return [b.for_person(r, l) for r, l in zip(people, langs)]


__all__ = ["Digest", "Flow", "Mover", "AlertItem", "DealToSave", "ReviewSummary", "DigestBuilder", "build_digests",
           "scoped_waterfall", "TOP"]
