"""The review queue: atypical deals as of a moment, ranked, each with why in plain words (ru/en),
and the review marks known then.

A deal with a mark (made at or before as_of) leaves the default queue, unless it has a reason now
whose key the mark did not have (a new kind of atypical, or the same kind in another stage):
then it is back, with the mark and `new_reasons` shown. `include_reviewed` shows every atypical deal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dealpulse.i18n import t
from dealpulse.labels import people_of_store, person
from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.funnel import Notice
from dealpulse.review.atypical import METHOD, RARE, AtypicalResult, Reason, find_atypical
from dealpulse.review.marks import Mark, add_mark, mark_moment, marks_as_of

ROW_FIELDS = ("rank", "deal_id", "owner", "manager_name", "segment", "stage", "status", "amount", "score", "reasons", "reasons_codes",
              "reviewed", "new_reasons", "details")


# -- numbers and texts -----------------------------------------------------------------------------
def _decimal(text: str, lang: str) -> str:
    return text.replace(".", ",") if lang == "ru" else text


def fmt_money(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:,.0f}".replace(",", " ")


def fmt_days(x: float, lang: str) -> str:
    return _decimal(f"{x:.1f}", lang) if x < 10 else f"{x:.0f}"


def fmt_ratio(x: float, lang: str) -> str:
    if not math.isfinite(x):
        return "∞"
    return f"{x:.0f}" if x >= 10 else _decimal(f"{x:.1f}".rstrip("0").rstrip("."), lang)


def fmt_share(x: float, lang: str) -> str:
    """A share as a percentage: 0, 0.04, 0.4, 3."""
    pct = 100.0 * x
    if pct == 0:
        return "0"
    text = f"{pct:.2g}" if pct < 1 else f"{pct:.1f}".rstrip("0").rstrip(".")
    return _decimal(text, lang)


def _scope(segment: str | None, lang: str, case: str) -> str:
    if segment is None:
        return t(f"review.scope.all_{case}", lang)
    return t(f"review.scope.{case}", lang, segment=segment)


def reason_text(reason: Reason, lang: str = "en", playbook: Any = None) -> str:
    """The plain-language text of a reason, with its numbers (stages by the playbook's labels)."""
    from dealpulse.labels import label

    L = lambda name: label(name, lang, playbook)  # noqa: E731
    p = reason.params
    code = reason.code
    if code in ("amount_high", "amount_low"):
        scope = _scope(p.get("segment"), lang, "gen")
        if p["amount"] <= 0:
            return t("review.reason.amount_nonpositive", lang, amount=fmt_money(p["amount"]),
                     median=fmt_money(p["median"]), scope_gen=scope)
        ratio = p["ratio"] if code == "amount_high" else (p["median"] / p["amount"])
        return t(f"review.reason.{code}", lang, amount=fmt_money(p["amount"]), ratio=fmt_ratio(ratio, lang),
                 median=fmt_money(p["median"]), scope_gen=scope)
    if code in ("path_skip", "path_back", "path_rare"):
        scope = _scope(p.get("segment"), lang, "gen")
        rarity = (t("review.rarity", lang, share=fmt_share(p["share"], lang), scope_gen=scope) if p["share"] > 0
                  else t("review.rarity.none", lang, scope_gen=scope))
        common = dict(rarity=rarity)
        if code == "path_skip":
            return t("review.reason.path_skip", lang, skipped=", ".join(L(x) for x in p["skipped"]), stage=L(p["stage"]), **common)
        if code == "path_back":
            if p["from_stage"] == p["to_stage"]:
                return t("review.reason.path_reentry", lang, to_stage=L(p["to_stage"]), **common)
            return t("review.reason.path_back", lang, from_stage=L(p["from_stage"]), to_stage=L(p["to_stage"]), **common)
        return t("review.reason.path_rare", lang, path=" → ".join(L(x) for x in p["path"]), **common)
    if code == "dwell_long":
        seg = p.get("segment")
        won_scope = t("review.scope.won_all", lang) if seg is None else t("review.scope.won", lang, segment=seg)
        scope = _scope(p.get("staying_segment"), lang, "gen")
        staying = (t("review.staying", lang, share=fmt_share(p["staying"], lang), scope_gen=scope, n=p["reference"])
                   if p["staying"] > 0 else t("review.staying.none", lang, scope_gen=scope, n=p["reference"]))
        return t("review.reason.dwell_long", lang, stage=L(p["stage"]), days=fmt_days(p["days"], lang),
                 won_scope=won_scope, q=round(100 * p["won_quantile"]), won_days=fmt_days(p["won_days"], lang),
                 staying=staying)
    if code == "no_segment":
        return t("review.reason.no_segment", lang, amount=fmt_money(p.get("amount")))
    if code == "segment_unknown":
        return t("review.reason.segment_unknown", lang, segment=p["segment"], segments=p["segments"])
    if code == "segment_rules":
        return t("review.reason.segment_rules", lang, segment=p["segment"], rule_segment=p["rule_segment"],
                 amount=fmt_money(p.get("amount")))
    return code  # pragma: no cover - every code has a text (a test checks)


def notice_text(notice: Notice, lang: str = "en") -> str:
    params = dict(notice.params)
    if "share" in params:
        params["share"] = fmt_share(params["share"], lang)
    return t(f"review.warn.{notice.code}", lang, **params)


# -- the queue -------------------------------------------------------------------------------------
@dataclass
class ReviewQueue:
    as_of: datetime
    rare: float
    closed_days: int | None
    n_open: int
    n_considered: int
    n_atypical: int
    n_reviewed_hidden: int
    rows: list[dict[str, Any]]
    notices: list[Notice] = field(default_factory=list)
    method: dict[str, str] = field(default_factory=lambda: dict(METHOD))

    def document(self, lang: str = "en") -> dict[str, Any]:
        """Everything but the rows, for a JSON document."""
        return {
            "as_of": self.as_of, "lang": lang, "rare": self.rare, "closed_days": self.closed_days,
            "n_open": self.n_open, "n_considered": self.n_considered, "n_atypical": self.n_atypical,
            "n_reviewed_hidden": self.n_reviewed_hidden, "n_rows": len(self.rows),
            "method": dict(self.method),
            "warnings": [{"code": n.code, "message": notice_text(n, lang)} for n in self.notices],
        }


def _row(res: AtypicalResult, deal: Any, reasons: list[Reason], mark: Mark | None, lang: str,
         people: dict[str, str] | None = None, playbook: Any = None) -> dict[str, Any]:
    codes = list(dict.fromkeys(r.code for r in reasons))
    new = None
    if mark is not None:
        seen = set(mark.reasons)
        new = list(dict.fromkeys(r.code for r in reasons if r.key not in seen))
    amount = None if deal.amount is None or (isinstance(deal.amount, float) and math.isnan(deal.amount)) else float(deal.amount)
    return {
        "deal_id": deal.deal_id, "owner": deal.owner, "manager_name": person(deal.owner, people),
        "segment": deal.segment if isinstance(deal.segment, str) else None,
        "stage": deal.stage if isinstance(deal.stage, str) else None, "status": deal.status, "amount": amount,
        "score": res.score(deal.deal_id),
        "reasons": [reason_text(r, lang, playbook) for r in reasons],
        "reasons_codes": codes,
        "reviewed": mark.as_dict() if mark is not None else None,
        "new_reasons": new,
        "details": [{"code": r.code, "key": r.key, "severity": round(min(r.severity, 1e6), 4),
                     "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.params.items()}}
                    for r in reasons],
    }


def build_queue(snap: Snapshot, store: Any = None, *, lang: str = "en", include_reviewed: bool = False,
                limit: int | None = None, rare: float = RARE, closed_days: int | None = None) -> ReviewQueue:
    """The review queue as of `snap.as_of` (marks read from `store`, by default the snapshot's)."""
    res = find_atypical(snap, rare=rare, closed_days=closed_days)
    marks = marks_as_of(store if store is not None else snap.store, snap.as_of)
    people = people_of_store(store if store is not None else snap.store)
    deals = res.deals.set_index("deal_id", drop=False)
    rows, hidden = [], 0
    for deal_id, reasons in res.reasons.items():
        row = _row(res, deals.loc[deal_id], reasons, marks.get(deal_id), lang, people, snap.playbook)
        if not include_reviewed and row["reviewed"] is not None and not row["new_reasons"]:
            hidden += 1
            continue
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], r["deal_id"]))
    if limit is not None:
        rows = rows[:max(0, limit)]
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    rows = [{k: r[k] for k in ROW_FIELDS} for r in rows]
    return ReviewQueue(as_of=snap.as_of, rare=rare, closed_days=closed_days, n_open=res.n_open,
                       n_considered=res.n_considered, n_atypical=len(res.reasons), n_reviewed_hidden=hidden,
                       rows=rows, notices=list(res.notices))


def review_queue(snap: Snapshot, store: Any = None, *, lang: str = "en", include_reviewed: bool = False,
                 limit: int | None = None, rare: float = RARE, closed_days: int | None = None) -> list[dict[str, Any]]:
    """The rows of the review queue (for the HTML report and other callers): each with deal_id, owner,
    segment, stage, status, amount, score, reasons (texts in `lang`), reasons_codes, reviewed (None or
    {by, at, comment}), new_reasons (codes not covered by the mark, None if unmarked), details, rank."""
    return build_queue(snap, store, lang=lang, include_reviewed=include_reviewed, limit=limit, rare=rare,
                       closed_days=closed_days).rows


def reason_keys(snap: Snapshot, deal_id: str, *, rare: float = RARE) -> tuple[str, ...]:
    """The reason keys of one deal as of `snap.as_of` (empty if it is not atypical then)."""
    res = find_atypical(snap, rare=rare, only=[deal_id])
    return tuple(r.key for r in res.reasons.get(deal_id, []))


def mark_deal(store: Any, deal_id: str, comment: str, *, reviewer: str, at: str | datetime | date | None = None,
              playbook: Any = None, rare: float = RARE, lang: str = "en") -> Mark:
    """Mark `deal_id` reviewed at `at` (default: the latest event in the store, the moment the queue is
    computed at by default), remembering the reasons it had then."""
    from dealpulse.metrics.asof import Snapshot as _Snapshot
    from dealpulse.playbook import playbook_for_store
    from dealpulse.review.marks import check_mark

    moment = mark_moment(store, at)
    check_mark(store, deal_id, moment, comment=comment, reviewer=reviewer, lang=lang)
    pb = playbook if playbook is not None else playbook_for_store(store)
    snap = _Snapshot(store=store, as_of=moment, playbook=pb)
    try:
        keys = reason_keys(snap, str(deal_id).strip(), rare=rare)
    finally:
        snap.release()
    return add_mark(store, deal_id, comment, reviewer=reviewer, at=moment, reasons=keys, lang=lang)


__all__ = ["ReviewQueue", "build_queue", "review_queue", "mark_deal", "reason_keys", "reason_text", "notice_text",
           "fmt_money", "fmt_share", "ROW_FIELDS"]
