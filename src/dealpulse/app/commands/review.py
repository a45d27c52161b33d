"""`review`: the queue of atypical deals, each with why (reviewed deals drop out until a new reason)."""

from __future__ import annotations

from typing import Any

from dealpulse.app.documents import Result
from dealpulse.app.options import OptionError, at_least
from dealpulse.app.session import Moment, moment_doc

CSV_COLUMNS = ("rank", "deal_id", "owner", "segment", "stage", "status", "amount", "score", "reasons_codes", "reasons",
               "reviewed_by", "reviewed_at", "review_comment", "new_reasons")


def rare_share(value: Any, lang: str = "en", *, option: str = "rare") -> float:
    """The rarity line given in percent (0.5) as a share (0.005)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = None
    if x is None or not 0 < x < 100:
        raise OptionError("bad_rare", option, lang, value=value)
    return x / 100.0


def review(m: Moment, *, lang: str = "en", all: bool = False, limit: int | None = None,  # noqa: A002 - --all
           closed_days: int | None = None, rare: float = 0.5) -> Result:
    """The review queue at the moment (`rare` in percent). `data`: the review.queue queue."""
    from dealpulse.review.queue import build_queue

    line = rare_share(rare, lang)
    limit = at_least(limit, 0, lang, option="limit") if limit is not None else None
    closed_days = at_least(closed_days, 0, lang, option="closed_days") if closed_days is not None else None
    queue = build_queue(m.snapshot, m.store, lang=lang, include_reviewed=bool(all), limit=limit, rare=line,
                        closed_days=closed_days)
    head = queue.document(lang)
    head.update(as_of=moment_doc(queue.as_of, m.tz), zone=str(m.tz))
    flat = [{**r, "reasons": " | ".join(r["reasons"]), "reasons_codes": " ".join(r["reasons_codes"]),
             "new_reasons": " ".join(r["new_reasons"] or []),
             "reviewed_by": (r["reviewed"] or {}).get("by"), "reviewed_at": (r["reviewed"] or {}).get("at"),
             "review_comment": (r["reviewed"] or {}).get("comment")} for r in queue.rows]
    return Result("review", head, queue.rows, columns=list(CSV_COLUMNS), csv_rows=flat,
                  warnings=list(head.get("warnings") or []), data=queue)


__all__ = ["review", "rare_share", "CSV_COLUMNS"]
