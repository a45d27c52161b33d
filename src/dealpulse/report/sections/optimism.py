"""Forecast calls: per manager, what their `commit` calls turned out to be worth against the team's and
against the model at the moment of the call (`dealpulse.risk.optimism`, on the report's shared model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dealpulse.report.sections.values import need, num, to_int

VERDICTS = ("overstates", "understates", "fair", "not_enough_data")


@dataclass
class OptimismRow:
    manager: str
    commit_deals: int
    commit_won: int | None
    commit_win_rate: float | None
    commit_win_rate_low: float | None
    commit_win_rate_high: float | None
    team_commit_win_rate: float | None
    model_p_win_on_commits: float | None
    optimism: float | None  # team's commit win rate − the manager's (shrunk), in probability points
    open_commits: int
    open_commits_model_p: float | None
    verdict: str  # overstates | understates | fair | not_enough_data


def optimism_rows(trained: Any) -> list[OptimismRow]:
    """One row per manager with a commit or best-case call, the most optimistic first (no store access)."""
    rows = need("dealpulse.risk.optimism", "optimism")(trained)
    out = []
    for r in rows:
        out.append(OptimismRow(
            manager=str(r["manager"]), commit_deals=to_int(r.get("commit_deals")) or 0, commit_won=to_int(r.get("commit_won")),
            commit_win_rate=num(r.get("commit_win_rate")), commit_win_rate_low=num(r.get("commit_win_rate_low")),
            commit_win_rate_high=num(r.get("commit_win_rate_high")), team_commit_win_rate=num(r.get("team_commit_win_rate")),
            model_p_win_on_commits=num(r.get("model_p_win_on_commits")), optimism=num(r.get("optimism")),
            open_commits=to_int(r.get("open_commits")) or 0, open_commits_model_p=num(r.get("open_commits_model_p")),
            verdict=str(r.get("verdict") or "not_enough_data"),
        ))
    return out
