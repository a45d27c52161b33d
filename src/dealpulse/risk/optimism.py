"""How honest a manager's pipeline is: "all will be fine" measured four ways and combined into one
headline `optimism` per manager, with an interval, a rank, a verdict and reasons in words.

Components (each a manager's figure minus the whole team's, positive = rosier than the team; the
formulas in docs/optimism.md):
- `late_bad_news`: of the deals that died lately — marked lost in the recent window, or open and
  untouched beyond `stale_after` now (bad news not given yet) — the share whose lost mark came later
  than `stale_after` after the last client touch, or has not come (`risk.honesty`);
- `zombies`: the share of the open deals past the won-deal p75 dwell of their stage and segment and
  untouched beyond `stale_after` (`risk.honesty.zombie_pipeline`);
- `commits`: the team's win rate on commit deals closed in the recent window − the manager's, an open
  deal called commit and untouched beyond `stale_after` counted as the loss it is (closed calls alone
  flatter a manager whose losses are still open);
- `early_commits`: how many stages ahead of the team's usual stage of a commit call (in the deal's
  segment) the manager's commit calls of the recent window were made (`risk.honesty.early_commits`): seen
  the week a call is made, months before its outcome;
- `open_commits`: how far below the team's commits of the same segment the deals committed now stand
  at their stage (the stage-and-segment win rate; the model's own p_win is shown beside it, but the
  model reads the manager's closed record, which hidden losses inflate).
Each is standardised against the department's normal variation, z = d / sqrt(tau² + v) (tau² the
spread between managers beyond noise, robust; v the manager's sampling variance — few deals, small z);
the headline `optimism` is their weighted sum (WEIGHTS), with a 90% interval from their noise shares.

Commit calibration as it always was (columns commit_deals … commit_optimism; all history):

For every deal closed by as_of that its owner marked `commit` (or `best_case`) before the close, we
take the first moment of that mark and ask three questions:
- what does the call mean here? the whole team's win rate on deals called `commit` (that is what a
  commit is worth in this company, whatever the label says);
- what did the model say at that moment? cross-fitted: the deal's own outcome never trained the model
  that scored it — a manager who commits weak deals shows a low model p_win on their commits;
- what happened? the manager's win rate on those deals, with a Wilson interval.
`commit_optimism` = team's commit win rate − the manager's commit win rate shrunk towards the model's
expectation for those very deals (so 3 commits are not judged on 3 coin flips, and a small sample leans
on what the deals looked like), in probability points: positive = the manager's "commit" is worth less
than the team's, i.e. they overstate; comparable across managers (one scale, one prior). The manager's
own `probability` at the call, where the CRM has one, is shown as `claimed_p_on_commits`.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from dealpulse.i18n import t
from dealpulse.report import fmt
from dealpulse.metrics.change_tests import wilson
from dealpulse.risk.features import features
from dealpulse.risk.honesty import WINDOW, early_commits, late_bad_news, zombie_pipeline
from dealpulse.risk.train import Trained

NOMINAL = {"commit": 0.9, "best_case": 0.6}  # what the calls claim where the CRM has no own probability
PRIOR = 8.0  # pseudo-deals pulling a manager's commit win rate towards the team's
COMMIT_WINDOW = WINDOW  # the commits component: commit deals closed in the same recent window
COMPONENTS = ("late_bad_news", "zombies", "commits", "open_commits", "early_commits")
# The headline's weights. Late bad news is the broad, direct measure of what is not real now (the lost
# deals marked late and the quiet deals not marked yet); commit calls made stages ahead of where the
# team calls them are the other direct measure, seen the week the call is made; the zombies are mostly the
# same quiet deals seen through the stage norm, so they add less of their own; the open commits' stage
# shortfall overlaps the early calls; closed commit calls weigh least, because they flatter exactly the
# manager who leaves losses open (the won commits close, the lost ones do not). Chosen on the plant families
# of benchmarks/plants.py (docs/optimism.md): the early calls' weight brings a manager who starts calling
# commit early up among the department's habitual optimists without moving the late-marking over-committer
# from first place.
WEIGHTS = {"late_bad_news": 0.42, "zombies": 0.12, "commits": 0.08, "open_commits": 0.15, "early_commits": 0.23}
Z90 = 1.6448536  # the headline's interval: 90% (5% on each side)
OVERSTATES = 2.326  # verdict 'overstates': the headline above this many of its null sds (1% one-sided; docs/optimism.md)
NOTABLE = 1.0  # a component with |z| at least this becomes a reason
ROW_COLUMNS = ("manager", "commit_deals", "commit_won", "commit_win_rate", "commit_win_rate_low", "commit_win_rate_high",
               "team_commit_win_rate", "claimed_p_on_commits", "model_p_win_on_commits", "optimism", "best_case_deals", "best_case_win_rate",
               "model_p_win_on_best_case", "best_case_optimism", "open_commits", "open_commits_model_p", "verdict",
               # the pipeline's honesty and the headline
               "team_open_commits_model_p", "open_commits_baseline_p", "team_open_commits_baseline_p", "commit_optimism", "recent_commit_deals", "recent_commit_won", "lost_deals_recent", "late_lost_deals", "late_bad_news_days", "late_bad_news_mean_days",
               "team_late_bad_news_days", "team_late_bad_news_mean_days", "open_deals", "zombie_deals", "zombie_amount",
               "zombie_commits", "team_zombie_share", "quiet_deals", "early_commit_calls", "early_commit_stages", "optimism_low", "optimism_high", "optimism_threshold", "rank", "components", "reasons",
               "reason_codes")


def _first_marks(tr: Trained) -> pl.DataFrame:
    """deal_id, category, t: the first moment each deal was marked with each category, before its close."""
    h = tr.history
    f = h.fields.filter((pl.col("field") == "forecast_category") & pl.col("value").is_in(list(NOMINAL)))
    closed = h.closed.select("deal_id", "closed_at", "owner", won=(pl.col("status") == "won").cast(pl.Int8))
    f = f.join(closed, on="deal_id", how="inner").filter(pl.col("changed_at") < pl.col("closed_at"))
    return f.group_by("deal_id", "value").agg(t=pl.col("changed_at").min(), owner=pl.col("owner").first(),
                                                won=pl.col("won").first(), closed_at=pl.col("closed_at").first()
                                                ).rename({"value": "category"}).sort("deal_id", "category")


def cross_predict(tr: Trained, x: pl.DataFrame) -> np.ndarray:
    """p_win for rows of (possibly training) deals from models that did not see those deals."""
    if x.height == 0:
        return np.array([])
    return tr.model.predict_held_out(tr.frame(x), x["deal_id"].to_numpy())


def optimism(tr: Trained, *, nominal: dict[str, float] | None = None, min_deals: int = 5,
             window: timedelta = WINDOW, commit_window: timedelta = COMMIT_WINDOW, lang: str = "en") -> list[dict]:
    """One row per manager with closed commit calls, recent lost deals or open deals, the most optimistic
    first (see the module docstring and docs/optimism.md). `reasons` are in `lang`."""
    nominal = {**NOMINAL, **(nominal or {})}
    h = tr.history
    rows: dict[str, dict[str, Any]] = {}
    team: dict[str, Any] = {}

    def row(manager: str) -> dict[str, Any]:
        return rows.setdefault(manager, {"manager": manager})

    # (c) commit calibration: the calls of deals closed by as_of, at the moment of the call
    marks = _first_marks(tr)
    if marks.height:
        x = features(h, marks.select("deal_id", "t"), tr.ref)
        p = cross_predict(tr, x)
        stated = x["manager_probability"].to_numpy()
        nom = np.array([nominal[c] for c in marks["category"].to_list()])
        claimed = np.where(np.isnan(stated.astype(float)), nom, stated.astype(float))
        m = marks.with_columns(p=pl.Series(p), claimed=pl.Series(claimed))
        for cat in ("commit", "best_case"):
            c = m.filter(pl.col("category") == cat)
            if c.height == 0:
                continue
            rate = float(c["won"].mean())
            if cat == "commit":
                team["commit_win_rate"] = rate
                recent = c.filter(pl.col("closed_at") > pl.lit(h.as_of - commit_window))
                for g in recent.group_by("owner").agg(n=pl.len(), won=pl.col("won").sum()).iter_rows(named=True):
                    if g["owner"] is not None:
                        row(g["owner"]).update(recent_commit_deals=g["n"], recent_commit_won=int(g["won"]))
            for g in c.group_by("owner").agg(n=pl.len(), won=pl.col("won").sum(), p=pl.col("p").mean(),
                                              claimed=pl.col("claimed").mean()).iter_rows(named=True):
                if g["owner"] is None:
                    continue
                r = row(g["owner"])
                shrunk = (g["won"] + PRIOR * g["p"]) / (g["n"] + PRIOR)
                lo, hi = wilson(g["won"], g["n"])
                if cat == "commit":
                    r.update(commit_deals=g["n"], commit_won=int(g["won"]), commit_win_rate=g["won"] / g["n"],
                             commit_win_rate_low=lo, commit_win_rate_high=hi, claimed_p_on_commits=g["claimed"],
                             model_p_win_on_commits=g["p"], commit_optimism=rate - shrunk, team_commit_win_rate=rate)
                else:
                    r.update(best_case_deals=g["n"], best_case_win_rate=g["won"] / g["n"],
                             model_p_win_on_best_case=g["p"], best_case_optimism=rate - shrunk)

    # (d) the model's view of the deals committed now
    from dealpulse.risk.score import open_features

    xo = open_features(tr).filter(pl.col("forecast_category") == "commit")
    if xo.height:
        po = tr.predict(xo)
        pb = tr.predict_baseline(xo)  # what deals at that stage and segment win: the manager's record cannot move it
        team["open_commits_model_p"] = float(np.mean(po))
        team["open_commits_baseline_p"] = float(np.mean(pb))
        # the shortfall of each commit against the team's commits of its segment: a commit called at an
        # earlier stage than the team calls it wins less (segments differ in what a commit is worth)
        o = xo.select("owner", seg=pl.col("segment").fill_null("")).with_columns(p=pl.Series(po), b=pl.Series(pb))
        o = o.with_columns(short=pl.col("b").mean().over("seg") - pl.col("b"))
        team["open_commits_short_var"] = float(o["short"].var()) if o.height > 1 else None
        for g in o.group_by("owner").agg(n=pl.len(), p=pl.col("p").mean(), b=pl.col("b").mean(),
                                         short=pl.col("short").mean()).iter_rows(named=True):
            if g["owner"] is not None:
                row(g["owner"]).update(open_commits=g["n"], open_commits_model_p=g["p"], open_commits_baseline_p=g["b"],
                                       _commit_short=g["short"])

    # (e) commit calls made ahead of the stage
    early, early_team = early_commits(h, commit_window)
    team["early"] = early_team
    for g in early.iter_rows(named=True):
        row(g["manager"]).update(early_commit_calls=g["early_commit_calls"], early_commit_stages=g["early_commit_stages"])

    # (a) late bad news, (b) the zombie pipeline
    late, late_team = late_bad_news(h, window)
    team["late"] = late_team
    for g in late.iter_rows(named=True):
        row(g["manager"]).update(lost_deals_recent=g["lost_deals"], late_lost_deals=g["late_deals"],
                                 late_bad_news_days=g["late_median_days"], late_bad_news_mean_days=g["late_mean_days"])
    zp, _ = zombie_pipeline(h)
    n_open = int(zp["open_deals"].sum()) if zp.height else 0
    team["zombie_share"] = float(zp["zombie_deals"].sum()) / n_open if n_open else None
    team["dead_commits"] = int(zp["quiet_commits"].sum()) if zp.height else 0
    for g in zp.iter_rows(named=True):
        row(g["manager"]).update(open_deals=g["open_deals"], zombie_deals=g["zombie_deals"],
                                 zombie_amount=g["zombie_amount"], zombie_commits=g["zombie_commits"],
                                 _dead_commits=g["quiet_commits"], quiet_deals=g["quiet_deals"])

    for r in rows.values():
        r.update(team_commit_win_rate=team.get("commit_win_rate"), team_open_commits_model_p=team.get("open_commits_model_p"),
                 team_open_commits_baseline_p=team.get("open_commits_baseline_p"),
                 team_late_bad_news_days=late_team["median_days"], team_late_bad_news_mean_days=late_team["mean_days"],
                 team_zombie_share=team["zombie_share"])
        for k in ("early_commit_calls", "commit_deals", "open_commits", "lost_deals_recent", "late_lost_deals", "open_deals", "zombie_deals",
                  "zombie_commits", "_dead_commits", "recent_commit_deals", "recent_commit_won", "quiet_deals"):
            r[k] = r.get(k) or 0
        r["zombie_amount"] = float(r.get("zombie_amount") or 0.0)
    team_rates(list(rows.values()), team)
    combine(list(rows.values()), differences(list(rows.values()), team))
    threshold = verdict_threshold()
    out = []
    for r in rows.values():
        r["optimism_threshold"] = threshold
        r["verdict"] = _verdict(r, min_deals, threshold)
        codes = reason_codes(r, team, window)
        r["reason_codes"] = codes
        r["reasons"] = [reason_text(c, lang) for c in codes]
        full = {c: r.get(c) for c in ROW_COLUMNS}
        out.append(_rounded(full))
    out.sort(key=lambda r: (-r["optimism"], r["manager"]))
    for i, r in enumerate(out, start=1):
        r["rank"] = i
    return out


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    return v


# --- one scale: each component's difference from the team, shrunk and standardised --------------------

PSEUDO = 10.0  # pseudo-deals at the team's rate in a manager's binomial variance (a manager with 0 of 2 is not certain)


def _share(k: float, n: float, p: float) -> tuple[float, float]:
    """(k/n − p, its binomial variance at the manager's rate pulled towards the team's p)."""
    pt = (k + PSEUDO * p) / (n + PSEUDO)
    return k / n - p, max(pt * (1 - pt), 1e-4) / n


def team_rates(rows: list[dict], team: dict) -> None:
    """The team's figures the components compare with, added to `team`: `recent_commit_rate` (won / commit
    deals closed in the window, quiet open commits counted as lost)."""
    calls = sum(r["recent_commit_deals"] for r in rows) + team.get("dead_commits", 0)
    team["recent_commit_rate"] = sum(r["recent_commit_won"] for r in rows) / calls if calls else None


def differences(rows: list[dict], team: dict) -> dict[str, dict[str, tuple[float, float]]]:
    """component -> manager -> (difference from the team, its sampling variance); positive = rosier:
    late_bad_news: share of the recent lost deals marked later than stale_after after the last touch;
    zombies: share of the open deals that are zombies; commits: the team's commit win rate − the
    manager's, a quiet open deal called commit counted as the loss it is; open_commits: the
    team's mean model p_win on the deals committed now − the manager's."""
    out: dict[str, dict[str, tuple[float, float]]] = {c: {} for c in COMPONENTS}
    lt = team["late"]
    quiet = sum(r["quiet_deals"] for r in rows)
    late_p = (lt["late_deals"] + quiet) / (lt["lost_deals"] + quiet) if lt["lost_deals"] + quiet else None
    commit_p = team.get("recent_commit_rate")
    for r in rows:
        m = r["manager"]
        n = r["lost_deals_recent"] + r["quiet_deals"]
        if n and late_p is not None:
            out["late_bad_news"][m] = _share(r["late_lost_deals"] + r["quiet_deals"], n, late_p)
        if r["open_deals"] and team["zombie_share"] is not None:
            out["zombies"][m] = _share(r["zombie_deals"], r["open_deals"], team["zombie_share"])
        n = r["recent_commit_deals"] + r["_dead_commits"]
        if n and commit_p is not None:
            lost_share, var = _share(n - r["recent_commit_won"], n, 1 - commit_p)
            out["commits"][m] = (lost_share, var)
        n = r.get("early_commit_calls", 0)
        if n and (team.get("early") or {}).get("variance"):
            out["early_commits"][m] = (r["early_commit_stages"], team["early"]["variance"] / n)
        n = r["open_commits"]
        if n and r.get("_commit_short") is not None:
            var = team.get("open_commits_short_var") or 0.04
            out["open_commits"][m] = (r["_commit_short"], max(var, 1e-4) / n)
    return out


def standardise(d: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Differences `d` (sampling variances `v`) in units of what the department's normal variation
    makes of them: z = d / sqrt(tau² + v), where tau² is the spread between managers beyond sampling
    noise, estimated robustly (1.4826 × MAD of d, squared, minus the median v; at least 0). Under
    "this manager varies as managers here usually do" z is N(0, 1) whatever their number of deals: a
    manager with 3 deals has a large v and a small z — noise does not rank anyone first. Returns
    (z, noise share v / (tau² + v), tau)."""
    if d.size < MIN_MANAGERS:
        return np.zeros_like(d), np.ones_like(d), float("nan")
    mad = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    tau2 = max(mad ** 2 - float(np.median(v)), 0.0)
    total = tau2 + v
    return d / np.sqrt(total), v / total, math.sqrt(tau2)


MIN_MANAGERS = 3  # a component needs this many managers with data to estimate its spread


def combine(rows: list[dict], diffs: dict[str, dict[str, tuple[float, float]]]) -> None:
    """Sets `components`, `optimism`, `optimism_low`, `optimism_high` on every row (see docs/optimism.md):
    optimism = Σ w_c z_c (WEIGHTS); its interval ± 1.645 × sqrt(Σ w_c² × noise share_c) — the part of each z
    that is sampling noise. A component without data counts as the team (z = 0, all noise)."""
    for r in rows:
        r["components"] = {}
    by_name = {r["manager"]: r for r in rows}
    for c in COMPONENTS:
        ms = sorted(diffs[c])
        d = np.array([diffs[c][m][0] for m in ms], dtype=float)
        v = np.array([diffs[c][m][1] for m in ms], dtype=float)
        z, noise, tau = standardise(d, v)
        for i, m in enumerate(ms):
            by_name[m]["components"][c] = {"difference": float(d[i]), "z": float(z[i]), "noise": float(noise[i]),
                                           "spread": tau}
    for r in rows:
        mean, var = 0.0, 0.0
        for c in COMPONENTS:
            comp = r["components"].get(c)
            if comp is None:
                r["components"][c] = comp = {"difference": None, "z": 0.0, "noise": 1.0, "spread": None}
            mean += WEIGHTS[c] * comp["z"]
            var += WEIGHTS[c] ** 2 * comp["noise"]
        half = Z90 * math.sqrt(var)
        r.update(optimism=mean, optimism_low=mean - half, optimism_high=mean + half)


NULL_SD = math.sqrt(sum(w * w for w in WEIGHTS.values()))  # the headline's sd when every z is N(0, 1)


def verdict_threshold() -> float:
    """What one manager in 100 reaches by ordinary variation: OVERSTATES × the headline's sd when every
    component's z is N(0, 1) and independent (NULL_SD). The components are somewhat correlated (a manager
    who neglects deals has both late news and zombies), so the measured level is a little higher
    (docs/optimism.md)."""
    return OVERSTATES * NULL_SD


def _verdict(r: dict, min_deals: int, threshold: float | None = None) -> str:
    """overstates: the headline beyond `threshold` (verdict_threshold) and its interval above 0;
    understates: the mirror image."""
    threshold = OVERSTATES * NULL_SD if threshold is None else threshold
    if max(r["commit_deals"], r["lost_deals_recent"], r["open_deals"]) < min_deals:
        return "not_enough_data"
    if r["optimism"] > threshold and r["optimism_low"] > 0:
        return "overstates"
    if r["optimism"] < -threshold and r["optimism_high"] < 0:
        return "understates"
    return "fair"


# --- reasons ---------------------------------------------------------------------------------------------

def reason_codes(r: dict, team: dict, window: timedelta) -> list[dict]:
    """Machine reasons, the strongest first: {code, z, params}. Components at least NOTABLE spreads from the
    team in the verdict's direction (both directions for 'fair'); `close_to_team` when none is; `few_deals`
    first when there is too little to judge."""
    weeks = round(window.total_seconds() / (7 * 86400))
    comps = r["components"]
    params = {
        "late_bad_news": {"late_deals": r["late_lost_deals"], "lost_deals": r["lost_deals_recent"],
                          "median_days": r.get("late_bad_news_days"), "mean_days": r.get("late_bad_news_mean_days"),
                          "team_late_share": (team["late"]["late_deals"] / team["late"]["lost_deals"]) if team["late"]["lost_deals"] else None,
                          "team_median_days": team["late"]["median_days"], "team_mean_days": team["late"]["mean_days"],
                          "window_weeks": weeks},
        "zombies": {"zombie_deals": r["zombie_deals"], "open_deals": r["open_deals"], "zombie_amount": r["zombie_amount"],
                    "zombie_commits": r["zombie_commits"], "team_zombie_share": team["zombie_share"]},
        "commits": {"recent_commit_deals": r["recent_commit_deals"], "recent_commit_won": r["recent_commit_won"],
                    "dead_commits": r.get("_dead_commits", 0), "team_recent_commit_rate": team.get("recent_commit_rate"),
                    "window_weeks": weeks, "commit_deals": r["commit_deals"], "commit_win_rate": r.get("commit_win_rate"),
                    "team_commit_win_rate": team.get("commit_win_rate")},
        "early_commits": {"calls": r.get("early_commit_calls", 0), "stages": r.get("early_commit_stages"), "window_weeks": weeks},
        "open_commits": {"open_commits": r["open_commits"], "open_commits_model_p": r.get("open_commits_model_p"),
                         "team_open_commits_model_p": team.get("open_commits_model_p"),
                         "open_commits_baseline_p": r.get("open_commits_baseline_p"), "shortfall": r.get("_commit_short")},
    }
    sign = -1.0 if r["verdict"] == "understates" else 1.0
    have = [c for c in COMPONENTS if comps[c]["difference"] is not None]
    if r["verdict"] == "fair":
        picked = sorted((c for c in have if abs(comps[c]["z"]) >= NOTABLE), key=lambda c: -abs(comps[c]["z"]))
    else:
        picked = sorted((c for c in have if sign * comps[c]["z"] >= NOTABLE), key=lambda c: -sign * comps[c]["z"])
    out = [{"code": c, "z": comps[c]["z"], "params": params[c]} for c in picked]
    if r["verdict"] == "not_enough_data":
        out.insert(0, {"code": "few_deals", "z": None, "params": {"lost_deals": r["lost_deals_recent"], "window_weeks": weeks,
                                                                   "commit_deals": r["commit_deals"], "open_deals": r["open_deals"]}})
    elif not picked:
        out.append({"code": "close_to_team", "z": None, "params": {}})
    return out


def reason_text(code: dict, lang: str = "en") -> str:
    """A reason code in words, with the manager's numbers against the team's."""
    p = code["params"]
    c = code["code"]
    if c == "late_bad_news":
        share = p["late_deals"] / p["lost_deals"] if p["lost_deals"] else None
        return t("optimism.reason.late_bad_news", lang, late=fmt.integer(p["late_deals"], lang), n=fmt.integer(p["lost_deals"], lang),
                 share=fmt.pct(share, lang), weeks=p["window_weeks"], days=fmt.days(p["median_days"], lang),
                 mean=fmt.days(p["mean_days"], lang), team_share=fmt.pct(p["team_late_share"], lang),
                 team=fmt.days(p["team_median_days"], lang), team_mean=fmt.days(p["team_mean_days"], lang))
    if c == "zombies":
        share = p["zombie_deals"] / p["open_deals"] if p["open_deals"] else None
        return t("optimism.reason.zombies", lang, n=fmt.integer(p["zombie_deals"], lang), open=fmt.integer(p["open_deals"], lang),
                 share=fmt.pct(share, lang), amount=fmt.money(p["zombie_amount"], lang),
                 commits=fmt.integer(p["zombie_commits"], lang), team=fmt.pct(p["team_zombie_share"], lang))
    if c == "commits":
        n = p["recent_commit_deals"] + p["dead_commits"]
        return t("optimism.reason.commits", lang, won=fmt.integer(p["recent_commit_won"], lang), n=fmt.integer(n, lang),
                 dead=fmt.integer(p["dead_commits"], lang), weeks=p["window_weeks"],
                 rate=fmt.pct(p["recent_commit_won"] / n if n else None, lang), team=fmt.pct(p["team_recent_commit_rate"], lang),
                 rate_all=fmt.pct(p["commit_win_rate"], lang), n_all=fmt.integer(p["commit_deals"], lang),
                 team_all=fmt.pct(p["team_commit_win_rate"], lang))
    if c == "open_commits":
        return t("optimism.reason.open_commits", lang, n=fmt.integer(p["open_commits"], lang),
                 base=fmt.pct(p["open_commits_baseline_p"], lang), short=fmt.signed(None if p["shortfall"] is None else -p["shortfall"], lang, "rate"),
                 p=fmt.pct(p["open_commits_model_p"], lang), team=fmt.pct(p["team_open_commits_model_p"], lang))
    if c == "early_commits":
        return t("optimism.reason.early_commits", lang, n=fmt.integer(p["calls"], lang), weeks=p["window_weeks"],
                 stages=fmt.number(abs(p["stages"] or 0.0), lang, 1),
                 direction=t("optimism.reason.early_commits." + ("earlier" if (p["stages"] or 0) >= 0 else "later"), lang))
    if c == "few_deals":
        return t("optimism.reason.few_deals", lang, lost=fmt.integer(p["lost_deals"], lang), weeks=p["window_weeks"],
                 commits=fmt.integer(p["commit_deals"], lang), open=fmt.integer(p["open_deals"], lang))
    return t(f"optimism.reason.{c}", lang)


__all__ = ["optimism", "cross_predict", "combine", "differences", "standardise", "team_rates", "verdict_threshold", "reason_codes", "reason_text", "ROW_COLUMNS",
           "COMPONENTS", "NOMINAL", "OVERSTATES"]
