"""Forecast calls and the pipeline's honesty: per manager, the headline `optimism` (late bad news,
zombie deals, commit calls, the deals committed now — against the team) with its interval, rank, verdict
and reasons (`dealpulse.risk.optimism`, on the report's shared model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from dealpulse.report import fmt
from dealpulse.report.sections.values import num, to_int

VERDICTS = ("overstates", "understates", "fair", "not_enough_data")
COMPONENTS = ("late_bad_news", "zombies", "commits", "open_commits")


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
    optimism: float | None  # the headline: mean of the components' standardised differences from the team
    open_commits: int
    open_commits_model_p: float | None
    verdict: str  # overstates | understates | fair | not_enough_data
    optimism_low: float | None = None
    optimism_high: float | None = None
    rank: int | None = None
    lost_deals_recent: int = 0
    late_lost_deals: int = 0
    late_bad_news_days: float | None = None
    team_late_bad_news_days: float | None = None
    open_deals: int = 0
    zombie_deals: int = 0
    zombie_amount: float = 0.0
    zombie_commits: int = 0
    team_zombie_share: float | None = None
    components: dict[str, float] = field(default_factory=dict)  # component -> z (spreads from the team)
    reason_codes: list[dict] = field(default_factory=list)


def optimism_rows(trained: Any) -> list[OptimismRow]:
    """One row per manager, the most optimistic first (no store access)."""
    from dealpulse.risk.optimism import optimism

    rows = optimism(trained)
    out = []
    for r in rows:
        out.append(OptimismRow(
            manager=str(r["manager"]), commit_deals=to_int(r.get("commit_deals")) or 0, commit_won=to_int(r.get("commit_won")),
            commit_win_rate=num(r.get("commit_win_rate")), commit_win_rate_low=num(r.get("commit_win_rate_low")),
            commit_win_rate_high=num(r.get("commit_win_rate_high")), team_commit_win_rate=num(r.get("team_commit_win_rate")),
            model_p_win_on_commits=num(r.get("model_p_win_on_commits")), optimism=num(r.get("optimism")),
            open_commits=to_int(r.get("open_commits")) or 0, open_commits_model_p=num(r.get("open_commits_model_p")),
            verdict=str(r.get("verdict") or "not_enough_data"),
            optimism_low=num(r.get("optimism_low")), optimism_high=num(r.get("optimism_high")), rank=to_int(r.get("rank")),
            lost_deals_recent=to_int(r.get("lost_deals_recent")) or 0, late_lost_deals=to_int(r.get("late_lost_deals")) or 0,
            late_bad_news_days=num(r.get("late_bad_news_days")), team_late_bad_news_days=num(r.get("team_late_bad_news_days")),
            open_deals=to_int(r.get("open_deals")) or 0, zombie_deals=to_int(r.get("zombie_deals")) or 0,
            zombie_amount=num(r.get("zombie_amount")) or 0.0, zombie_commits=to_int(r.get("zombie_commits")) or 0,
            team_zombie_share=num(r.get("team_zombie_share")),
            components={c: num(v.get("z")) or 0.0 for c, v in (r.get("components") or {}).items()},
            reason_codes=list(r.get("reason_codes") or []),
        ))
    return out


def optimism_context(rows: list[OptimismRow], lang: str, who: Callable[[str], str]) -> dict:
    """What section_optimism.html shows: the ranking with the interval, the components, the reasons."""
    from dealpulse.i18n import t
    from dealpulse.risk.optimism import reason_text

    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    pct = lambda v: fmt.pct(v, lang)  # noqa: E731
    first = rows[0] if rows else None
    shown, flags = [], []
    for r in rows:
        reasons = [reason_text(c, lang) for c in r.reason_codes]
        lo, hi = r.optimism_low, r.optimism_high
        shown.append({
            "rank": r.rank, "manager": who(r.manager),
            "optimism": fmt.number(r.optimism, lang, 1) if r.optimism is not None else "—",
            "interval": f"{fmt.number(lo, lang, 1)} … {fmt.number(hi, lang, 1)}" if lo is not None and hi is not None else "",
            "components": [{"name": c, "z": fmt.number(r.components.get(c), lang, 1),
                            "high": (r.components.get(c) or 0) >= 1.0, "low": (r.components.get(c) or 0) <= -1.0}
                           for c in COMPONENTS],
            "late": (tr("report.optimism.late_value", late=fmt.integer(r.late_lost_deals, lang), n=fmt.integer(r.lost_deals_recent, lang),
                        days=fmt.days(r.late_bad_news_days, lang)) if r.lost_deals_recent else "—"),
            "zombies": tr("report.optimism.zombie_value", n=fmt.integer(r.zombie_deals, lang), open=fmt.integer(r.open_deals, lang),
                          commits=fmt.integer(r.zombie_commits, lang), amount=fmt.money(r.zombie_amount, lang)),
            "commits": f"{pct(r.commit_win_rate)} ({fmt.integer(r.commit_deals, lang)})" if r.commit_deals else "—",
            "verdict": r.verdict, "verdict_text": tr(f"report.optimism.verdict.{r.verdict}"),
            "reasons": reasons,
        })
        if r.verdict == "overstates" and reasons:
            flags.append(tr("report.optimism.flag_pipeline", manager=who(r.manager), reason=reasons[0]))
    lead = tr("report.optimism.lead_pipeline", team=pct(first.team_commit_win_rate if first else None),
              team_late=fmt.days(first.team_late_bad_news_days if first else None, lang),
              team_zombies=pct(first.team_zombie_share if first else None))
    return {"lead": lead, "rows": shown, "flags": flags,
            "components": [tr(f"optimism.component.{c}") for c in COMPONENTS]}


__all__ = ["OptimismRow", "optimism_rows", "optimism_context", "VERDICTS", "COMPONENTS"]
