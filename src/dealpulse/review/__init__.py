"""The review queue: atypical deals (amount, path through the stages, dwell, segment) as of a moment,
each with why, and the reviewers' marks (as-of aware).

- `atypical.find_atypical(snap)`: the reasons per deal (numbers, codes, severities);
- `queue.review_queue(snap, store, lang=...)`: the ranked rows with texts in ru/en and the marks;
- `queue.mark_deal(store, deal_id, comment, reviewer=...)` / `marks.marks_as_of(store, as_of)`.
"""

from dealpulse.review.atypical import AtypicalResult, Reason, find_atypical
from dealpulse.review.marks import Mark, add_mark, marks_as_of
from dealpulse.review.queue import ReviewQueue, build_queue, mark_deal, review_queue

__all__ = ["AtypicalResult", "Reason", "find_atypical", "Mark", "add_mark", "marks_as_of", "ReviewQueue",
           "build_queue", "mark_deal", "review_queue"]
