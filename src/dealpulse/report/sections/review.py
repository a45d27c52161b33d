"""Review queue: the atypical deals as of the report's moment (`dealpulse.review`), the most atypical
first, with the reasons in plain words and the review marks made by then."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from dealpulse.metrics.asof import Snapshot
from dealpulse.report.sections.values import num, optional

REVIEW_TOP = 15


@dataclass
class ReviewDeal:
    rank: int
    deal_id: str
    title: str | None
    owner: str | None
    segment: str | None
    stage: str | None
    status: str | None
    amount: float | None
    score: float
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_comment: str | None = None
    back: bool = False  # reviewed, but atypical now for a reason the mark did not cover
    reasons: dict[str, list[str]] = field(default_factory=dict)  # lang -> texts


@dataclass
class ReviewSection:
    n_open: int
    n_atypical: int
    n_reviewed_hidden: int  # reviewed deals with nothing new: not in the queue
    deals: list[ReviewDeal]


def _moment(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    try:
        return datetime.fromisoformat(str(v))
    except ValueError:
        return None


def review_section(snap: Snapshot, langs: Sequence[str], titles: dict[str, str] | None = None,
                   top: int = REVIEW_TOP) -> ReviewSection:
    from dealpulse.review.atypical import Reason
    from dealpulse.review.queue import build_queue, reason_text

    q = build_queue(snap, snap.store, lang=langs[0], limit=top)  # once; the other languages from the reasons' codes
    texts = {langs[0]: {r["deal_id"]: list(r["reasons"]) for r in q.rows}}
    for lang in langs[1:]:
        texts[lang] = {r["deal_id"]: [reason_text(Reason(d["code"], d["params"], d["severity"], d["key"]), lang, snap.playbook)
                                      for d in r["details"]] for r in q.rows}
    titles = titles or {}
    deals = []
    for r in q.rows:
        mark = r.get("reviewed") or {}
        deals.append(ReviewDeal(
            rank=int(r["rank"]), deal_id=str(r["deal_id"]), title=titles.get(str(r["deal_id"])),
            owner=optional(r.get("owner")), segment=optional(r.get("segment")), stage=optional(r.get("stage")),
            status=optional(r.get("status")), amount=num(r.get("amount")), score=float(r["score"]),
            reviewed_by=optional(mark.get("by")), reviewed_at=_moment(mark.get("at")),
            review_comment=optional(mark.get("comment")), back=bool(mark) and bool(r.get("new_reasons")),
            reasons={lang: texts[lang].get(r["deal_id"], []) for lang in langs},
        ))
    return ReviewSection(n_open=int(q.n_open), n_atypical=int(q.n_atypical), n_reviewed_hidden=int(q.n_reviewed_hidden),
                         deals=deals)
