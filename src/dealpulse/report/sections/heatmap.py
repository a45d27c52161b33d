"""The heatmap: the on-time rate of each manager on each playbook step."""

from __future__ import annotations

from dataclasses import dataclass

from dealpulse.playbook import Playbook
from dealpulse.report.sections.values import missing, rate_n

HEATMAP_MIN_N = 5  # cells with fewer step instances are greyed out


@dataclass
class Heatmap:
    managers: list[str]  # worst first
    steps: list[str]
    rate: list[list[float | None]]
    n: list[list[int]]
    manager_rate: dict[str, float | None]
    min_n: int = HEATMAP_MIN_N


def build_heatmap(rows: list[dict], manager_rows: list[dict], playbook: Playbook) -> Heatmap:
    """On-time rate per manager x step; managers worst first, steps in playbook order."""
    cells: dict[tuple[str, str], tuple[float | None, int]] = {}
    for r in rows:
        m, s = r.get("manager"), r.get("step")
        if not missing(m) and not missing(s):
            cells[(str(m), str(s))] = rate_n(r)
    overall = {str(r["manager"]): rate_n(r) for r in manager_rows if not missing(r.get("manager"))}
    for m in {m for m, _ in cells} - set(overall):  # no per-manager row: pool the cells
        mine = [v for (mm, _), v in cells.items() if mm == m]
        n = sum(k for _, k in mine)
        ok = sum((r or 0) * k for r, k in mine)
        overall[m] = (ok / n if n else None, n)
    managers = sorted(m for m in overall if overall[m][1] or any(mm == m for mm, _ in cells))
    managers.sort(key=lambda m: (overall[m][0] if overall[m][0] is not None else 2.0, -overall[m][1], m))
    seen = {s for _, s in cells}
    steps = [s.name for s in playbook.steps if s.name in seen] + sorted(seen - {s.name for s in playbook.steps})
    return Heatmap(
        managers=managers, steps=steps,
        rate=[[cells.get((m, s), (None, 0))[0] for s in steps] for m in managers],
        n=[[cells.get((m, s), (None, 0))[1] for s in steps] for m in managers],
        manager_rate={m: overall[m][0] for m in managers},
    )
