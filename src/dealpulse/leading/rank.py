"""Verdicts and ranking: which leading metrics matter, which are vanity.

- `not_enough_data`: fewer than the minimum cases on a side (deal level: MIN_DEALS deals with and
  without; manager-month level: MIN_MONTHS manager-months from MIN_MANAGERS managers), or no
  association found but the interval is too wide to rule out a meaningful one;
- `matters`: the 95% interval excludes zero, the Benjamini–Hochberg q < ALPHA, and the effect is at
  least MEANINGFUL (5 percentage points of win rate; a correlation of 0.2);
- `weak`: an association that is real but smaller than meaningful, or not proven but at least half
  of meaningful with an interval that could not settle it;
- `vanity`: no association, and the data are enough to see one (the interval's half-width is at most
  MEANINGFUL) while the estimate is under half of it.
Rows are sorted by verdict, then by the effect's size relative to MEANINGFUL.
"""

from __future__ import annotations

from typing import Any

MATTERS, WEAK, VANITY, NOT_ENOUGH = "matters", "weak", "vanity", "not_enough_data"
VERDICTS = (MATTERS, WEAK, VANITY, NOT_ENOUGH)
DEAL, MANAGER_MONTH = "deal", "manager_month"
MEANINGFUL = {DEAL: 0.05, MANAGER_MONTH: 0.2}
MIN_DEALS = 30
MIN_MONTHS, MIN_MANAGERS = 30, 5
ALPHA = 0.05


def verdict(level: str, effect: float | None, low: float | None, high: float | None, q: float | None,
            enough: bool) -> str:
    if not enough or effect is None or low is None or high is None:
        return NOT_ENOUGH
    m = MEANINGFUL[level]
    significant = (low > 0 or high < 0) and q is not None and q < ALPHA
    if significant:
        return MATTERS if abs(effect) >= m else WEAK
    if abs(effect) >= m / 2:
        return WEAK
    if (high - low) / 2 <= m:
        return VANITY
    return NOT_ENOUGH


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> tuple:
        size = abs(r["effect"]) / MEANINGFUL[r["level"]] if r["effect"] is not None else -1.0
        return (VERDICTS.index(r["verdict"]), -size, r["metric"])

    out = sorted(rows, key=key)
    for i, r in enumerate(out, 1):
        r["rank"] = i
    return out
