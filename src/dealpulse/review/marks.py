"""Review marks: a reviewer says a deal was looked at, with a comment. Stored in `reviews`.

As-of aware: a computation as of T sees the marks with `reviewed_at <= T` (the latest one per deal
counts). `reviewed_at` is the moment of the data the reviewer looked at: by default the latest event
in the store — the moment `dealpulse review` computes at by default — so a mark shows in the queue
right away and stays after later imports, even when the data ends before the wall clock (a demo, an
export from last week). `recorded_at` keeps the wall-clock time it was written. A mark remembers the
reason keys the deal had as of `reviewed_at`; a reason the deal gets later brings it back to the queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from dealpulse.errors import InputError, NotFound
from dealpulse.i18n import t
from dealpulse.metrics.asof import Snapshot, check_within_data, parse_moment, resolve_as_of, store_tz


@dataclass(frozen=True)
class Mark:
    deal_id: str
    reviewed_at: datetime
    reviewer: str
    comment: str
    reasons: tuple[str, ...]
    recorded_at: datetime
    review_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.reviewer, "at": self.reviewed_at, "comment": self.comment}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def mark_moment(store: Any, at: str | datetime | date | None) -> datetime:
    """The moment a mark belongs to: `at` (text in the export's zone, a naive datetime in UTC), else
    the latest event in the store."""
    if at is None:
        return resolve_as_of(store, None)
    try:
        moment = parse_moment(at, store_tz(store))
    except InputError as exc:
        raise InputError(str(exc).replace("--as-of", "--at")) from None
    if isinstance(at, str):  # typed by a person: never silently after the data ends (as --as-of)
        check_within_data(store, moment, option="--at")
    return moment


def deal_created_at(store: Any, deal_id: str) -> datetime | None:
    rows = store.query("SELECT created_at FROM deals WHERE deal_id = ?", [deal_id])
    return rows[0][0] if rows else None


def check_mark(store: Any, deal_id: str, at: datetime, *, comment: str, reviewer: str, lang: str = "en") -> None:
    """Raise NotFound for a deal the store does not have, InputError for a deal created after `at`,
    an empty comment or reviewer."""
    deal_id = str(deal_id).strip()
    created = deal_created_at(store, deal_id)
    if created is None:
        raise NotFound(t("review.error.unknown_deal", lang, deal=deal_id),
                       suggestion=t("review.error.unknown_deal.suggestion", lang))
    if created > at:
        raise InputError(t("review.error.before_deal", lang, deal=deal_id, created=f"{created:%Y-%m-%d %H:%M}",
                           at=f"{at:%Y-%m-%d %H:%M}"),
                         suggestion=t("review.error.before_deal.suggestion", lang))
    if not (comment or "").strip():
        raise InputError(t("review.error.no_comment", lang))
    if not (reviewer or "").strip():
        raise InputError(t("review.error.no_reviewer", lang))


def add_mark(store: Any, deal_id: str, comment: str, *, reviewer: str, at: datetime,
             reasons: tuple[str, ...] | list[str] = (), lang: str = "en") -> Mark:
    """Store a mark of `deal_id` at `at` (naive UTC). `reasons`: the reason keys the deal had then
    (`queue.mark_deal` computes them). Checked first (see `check_mark`)."""
    check_mark(store, deal_id, at, comment=comment, reviewer=reviewer, lang=lang)
    mark = Mark(deal_id=str(deal_id).strip(), reviewed_at=at, reviewer=reviewer.strip(), comment=comment.strip(),
                reasons=tuple(reasons), recorded_at=_now(), review_id=uuid.uuid4().hex)
    with store.transaction():
        store.execute(
            "INSERT INTO reviews (review_id, deal_id, reviewed_at, reviewer, comment, reasons, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [mark.review_id, mark.deal_id, mark.reviewed_at, mark.reviewer, mark.comment, " ".join(mark.reasons),
             mark.recorded_at],
        )
    return mark


def marks_as_of(store: Any, as_of: datetime) -> dict[str, Mark]:
    """deal_id -> its latest mark made at or before `as_of` (ties: the one written last)."""
    rows = store.query(
        "SELECT review_id, deal_id, reviewed_at, reviewer, comment, reasons, recorded_at FROM reviews "
        "WHERE reviewed_at <= ? ORDER BY deal_id, reviewed_at, recorded_at, review_id", [as_of])
    out: dict[str, Mark] = {}
    for review_id, deal_id, reviewed_at, reviewer, comment, reasons, recorded_at in rows:
        out[str(deal_id)] = Mark(deal_id=str(deal_id), reviewed_at=reviewed_at, reviewer=reviewer, comment=comment,
                                 reasons=tuple((reasons or "").split()), recorded_at=recorded_at,
                                 review_id=str(review_id))
    return out


def snapshot_marks(snap: Snapshot) -> dict[str, Mark]:
    return marks_as_of(snap.store, snap.as_of)


__all__ = ["Mark", "add_mark", "check_mark", "marks_as_of", "mark_moment", "snapshot_marks", "deal_created_at"]
