"""Managers: each one's step discipline and results, this window against the previous one."""

from __future__ import annotations

from dataclasses import dataclass

from dealpulse.metrics import change_tests as stats
from dealpulse.report.sections.values import missing, num, rate_n, to_int


@dataclass
class ManagerRow:
    manager: str
    steps: int
    on_time_rate: float | None
    prev_on_time_rate: float | None
    overdue_tasks: int | None
    stale_deals: int | None
    won: int | None
    prev_won: int | None
    win_rate: float | None
    prev_win_rate: float | None
    significant: bool = False  # on-time rate changed beyond chance


def manager_rows(rows: list[dict]) -> list[ManagerRow]:
    out, pvalues = [], []
    for r in rows:
        if missing(r.get("manager")):
            continue
        _, n1 = rate_n(r)
        _, n0 = rate_n(r, "prev_")
        v = stats.two_proportions(num(r.get("steps_on_time")) or 0, n1, num(r.get("prev_steps_on_time")) or 0, n0)
        out.append(ManagerRow(
            manager=str(r["manager"]), steps=n1,
            on_time_rate=num(r.get("on_time_rate")), prev_on_time_rate=num(r.get("prev_on_time_rate")),
            overdue_tasks=to_int(r.get("overdue_tasks")), stale_deals=to_int(r.get("stale_deals")),
            won=to_int(r.get("won")), prev_won=to_int(r.get("prev_won")),
            win_rate=num(r.get("win_rate")), prev_win_rate=num(r.get("prev_win_rate")),
        ))
        pvalues.append(v.p)
    for m, p in zip(out, stats.adjust(pvalues)):  # twenty managers: control false discoveries
        m.significant = p is not None and p < stats.ALPHA and m.on_time_rate != m.prev_on_time_rate
    out.sort(key=lambda m: (m.on_time_rate if m.on_time_rate is not None else 2.0, m.manager))
    return out
