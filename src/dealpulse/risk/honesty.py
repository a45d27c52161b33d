"""How honest a manager's pipeline is, from the history known at as_of (Polars over a `History`, no model):

- **late bad news**: for every deal marked lost in the recent window `(as_of − window, as_of]`, the days
  from the last client touch to the lost mark. A touch is a completed task or logged activity on the
  deal, or the deal's entry into a stage, strictly before the lost mark — the same touches as
  `Snapshot.deals.last_touch_at` and the risk features' `days_since_touch`. Field edits (a pushed close
  date, a new forecast category) are not touches: they are what a manager does to a deal the client has
  left, not contact with the client; and tasks completed at or after the mark are the clean-up of the
  close, not a touch. A mark is `late` when the gap exceeds the playbook's `stale_after` for the deal's
  segment. Per manager: the count, the late count, the median gap and the mean of gaps capped at
  `CAP_DAYS` (one deal forgotten for a year does not outweigh twenty honest ones); the team's figures
  over every lost deal of the window.
- **zombie pipeline**: deals open at as_of that are both longer in their current stage than the p75 of
  won deals' dwell in that stage and segment (the stage's p75 over all segments where the segment has
  fewer than `MIN_NORM_DEALS` won deals) and untouched for longer than the playbook's `stale_after` for
  their segment; per manager: count, amount, how many of them the manager calls commit or best case
  (the `forecast_category` field as of as_of), and `quiet_deals`: open deals untouched beyond
  `stale_after` whatever their stage (bad news not given yet, for `late_bad_news`), `quiet_commits`
  those of them called commit (commits lost but not admitted, for the commit calls).
- **early commits**: every deal's first `commit` call (before its close, if closed) and the stage the deal
  stood in at that moment; a call's `earliness` is how many stages before the team's usual stage of a
  commit call in that segment (its mean over all calls known at as_of) it was made. Per manager, over
  the calls made in the recent window: the count and the mean earliness; the team's variance of
  earliness. A call ahead of the stage needs no outcome to be seen: it shows the week it is made, when
  the won and lost commits of the same manager are still months away.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from dealpulse.risk.features import DAY_US
from dealpulse.risk.history import History

WINDOW = timedelta(weeks=8)  # lost deals marked in the last two months: what the manager does now
CAP_DAYS = 90.0  # a gap counts at most this much in the robust mean
NORM_QUANTILE = 0.75
MIN_NORM_DEALS = 5
CALLS = ("commit", "best_case")

LATE_COLUMNS = ("manager", "lost_deals", "late_deals", "late_median_days", "late_mean_days")
EARLY_COLUMNS = ("manager", "early_commit_calls", "early_commit_stages")
ZOMBIE_COLUMNS = ("manager", "open_deals", "zombie_deals", "zombie_amount", "zombie_commits", "quiet_deals", "quiet_commits",
                  "open_amount")


def _days(e: pl.Expr) -> pl.Expr:
    return e.dt.total_microseconds().cast(pl.Float64) / DAY_US


def touches(h: History) -> pl.DataFrame:
    """deal_id, at: every client touch known at as_of (done tasks, stage entries, the deal's creation)."""
    done = h.tasks.filter(pl.col("completed_at").is_not_null()).select("deal_id", at="completed_at")
    entries = h.stage_events.select("deal_id", at="entered_at")
    created = h.deals.select("deal_id", at="created_at")
    return pl.concat([done, entries, created]).filter(pl.col("at").is_not_null())


def _stale_days(h: History) -> pl.Expr:
    """The playbook's `stale_after` for the deal's segment, in days."""
    pb = h.playbook
    return pl.col("segment").map_elements(lambda s: pb.stale_for(s).total_seconds() / 86400, return_dtype=pl.Float64,
                                          skip_nulls=False)


def lost_gaps(h: History, window: timedelta = WINDOW) -> pl.DataFrame:
    """deal_id, owner, segment, closed_at, last_touch_at, gap_days, late: deals marked lost in
    `(as_of − window, as_of]`; `late` when the gap is longer than `stale_after` for the segment."""
    lost = h.deals.filter((pl.col("status") == "lost") & pl.col("closed_at").is_not_null()
                          & (pl.col("closed_at") > pl.lit(h.as_of - window)) & (pl.col("closed_at") <= pl.lit(h.as_of)))
    lost = lost.select("deal_id", "owner", "segment", "closed_at")
    tc = touches(h).join(lost.select("deal_id", "closed_at"), on="deal_id", how="inner")
    last = tc.filter(pl.col("at") < pl.col("closed_at")).group_by("deal_id").agg(last_touch_at=pl.col("at").max())
    out = lost.join(last, on="deal_id", how="left")
    gap = _days(pl.col("closed_at") - pl.col("last_touch_at")).clip(lower_bound=0.0)
    out = out.with_columns(gap_days=gap).filter(pl.col("gap_days").is_not_null())
    return out.with_columns(late=pl.col("gap_days") > _stale_days(h)).sort("deal_id")


def late_bad_news(h: History, window: timedelta = WINDOW, cap: float = CAP_DAYS) -> tuple[pl.DataFrame, dict]:
    """Per manager (LATE_COLUMNS) and the team's figures {lost_deals, late_deals, median_days, mean_days}:
    the median gap, the mean of gaps capped at `cap` days, and how many were marked later than
    `stale_after` after the last touch."""
    g = lost_gaps(h, window).with_columns(capped=pl.col("gap_days").clip(upper_bound=cap))
    team = {"lost_deals": g.height, "late_deals": int(g["late"].sum()) if g.height else 0,
            "median_days": float(g["gap_days"].median()) if g.height else None,
            "mean_days": float(g["capped"].mean()) if g.height else None}
    per = (g.filter(pl.col("owner").is_not_null()).group_by("owner")
           .agg(lost_deals=pl.len(), late_deals=pl.col("late").sum().cast(pl.Int64),
                late_median_days=pl.col("gap_days").median(), late_mean_days=pl.col("capped").mean())
           .rename({"owner": "manager"}).sort("manager"))
    return per.select(LATE_COLUMNS), team


def won_dwell_norms(h: History, q: float = NORM_QUANTILE) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """The `q` quantile of the days won deals spent in each stage: per (segment, stage) with at least
    MIN_NORM_DEALS visits, and per stage over all segments."""
    won = h.closed.filter(pl.col("status") == "won").select("deal_id", pl.col("segment").fill_null(""), "closed_at")
    ev = h.stage_events.join(won, on="deal_id", how="inner").sort("deal_id", "entered_at")
    ev = ev.with_columns(nxt=pl.col("entered_at").shift(-1).over("deal_id"))
    ev = ev.with_columns(dwell=_days(pl.col("nxt").fill_null(pl.col("closed_at")) - pl.col("entered_at")))
    ev = ev.filter(pl.col("dwell") >= 0)
    by_seg = {(r["segment"], r["stage"]): float(r["dwell"])
              for r in ev.group_by("segment", "stage").agg(pl.col("dwell").quantile(q), pl.len()).iter_rows(named=True)
              if r["len"] >= MIN_NORM_DEALS}
    by_stage = {r["stage"]: float(r["dwell"])
                for r in ev.group_by("stage").agg(pl.col("dwell").quantile(q), pl.len()).iter_rows(named=True)
                if r["len"] >= MIN_NORM_DEALS}
    return by_seg, by_stage


def open_pipeline(h: History) -> pl.DataFrame:
    """Deals open at as_of: deal_id, owner, segment, stage, amount, days_in_stage, days_untouched,
    forecast_category (as of as_of)."""
    op = h.open.select("deal_id", "owner", "segment", "stage", "amount", "created_at", "stage_entered_at")
    last = (touches(h).filter(pl.col("at") <= pl.lit(h.as_of)).group_by("deal_id").agg(last_touch_at=pl.col("at").max()))
    fc = (h.fields.filter(pl.col("field") == "forecast_category").sort("deal_id", "changed_at")
          .group_by("deal_id").agg(forecast_category=pl.col("value").last()))
    op = op.join(last, on="deal_id", how="left").join(fc, on="deal_id", how="left")
    at = pl.lit(h.as_of).cast(pl.Datetime("us"))
    return op.with_columns(
        days_in_stage=_days(at - pl.col("stage_entered_at").fill_null(pl.col("created_at"))),
        days_untouched=_days(at - pl.coalesce("last_touch_at", "created_at")).clip(lower_bound=0.0),
    ).drop("created_at", "stage_entered_at", "last_touch_at").sort("deal_id")


def zombies(h: History) -> pl.DataFrame:
    """open_pipeline(h) with `norm_days`, `stale_days` and `zombie` (bool) per deal."""
    by_seg, by_stage = won_dwell_norms(h)
    op = open_pipeline(h)
    norm = pl.struct("segment", "stage").map_elements(
        lambda r: by_seg.get((r["segment"] or "", r["stage"]), by_stage.get(r["stage"])), return_dtype=pl.Float64)
    op = op.with_columns(norm_days=norm, stale_days=_stale_days(h))
    zombie = ((pl.col("days_in_stage") > pl.col("norm_days")) & (pl.col("days_untouched") > pl.col("stale_days"))).fill_null(False)
    return op.with_columns(zombie=zombie)


def zombie_pipeline(h: History) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per manager (ZOMBIE_COLUMNS), and the deal-level frame from `zombies`."""
    z = zombies(h)
    call = pl.col("forecast_category").is_in(list(CALLS)).fill_null(False)
    quiet = (pl.col("days_untouched") > pl.col("stale_days")).fill_null(False)
    per = (z.filter(pl.col("owner").is_not_null()).group_by("owner")
           .agg(open_deals=pl.len(), zombie_deals=pl.col("zombie").sum().cast(pl.Int64),
                zombie_amount=pl.when(pl.col("zombie")).then(pl.col("amount")).otherwise(0.0).sum(),
                zombie_commits=(pl.col("zombie") & call).sum().cast(pl.Int64),
                quiet_deals=quiet.sum().cast(pl.Int64),
                quiet_commits=(quiet & (pl.col("forecast_category") == "commit").fill_null(False)).sum().cast(pl.Int64),
                open_amount=pl.col("amount").fill_null(0.0).sum())
           .rename({"owner": "manager"}).sort("manager"))
    return per.select(ZOMBIE_COLUMNS), z


def commit_calls(h: History) -> pl.DataFrame:
    """deal_id, owner, segment, t, stage, k (the stage's place in the playbook), earliness: every deal's
    first `commit` call known at as_of, made while the deal was open, with the stage it stood in then."""
    f = (h.fields.filter((pl.col("field") == "forecast_category") & (pl.col("value") == "commit"))
         .group_by("deal_id").agg(t=pl.col("changed_at").min()))
    d = h.deals.select("deal_id", "owner", pl.col("segment").fill_null(""), "closed_at")
    f = f.join(d, on="deal_id", how="inner").filter(pl.col("closed_at").is_null() | (pl.col("t") < pl.col("closed_at")))
    ev = h.stage_events.select("deal_id", "stage", "entered_at").sort("deal_id", "entered_at")
    f = f.sort("deal_id", "t").join_asof(ev, left_on="t", right_on="entered_at", by="deal_id", strategy="backward",
                                          check_sortedness=False)
    place = {s: float(i) for i, s in enumerate(h.playbook.stages)}
    f = f.with_columns(k=pl.col("stage").replace_strict(place, default=None, return_dtype=pl.Float64)).drop_nulls("k")
    return (f.with_columns(earliness=pl.col("k").mean().over("segment") - pl.col("k"))
            .select("deal_id", "owner", "segment", "t", "stage", "k", "earliness").sort("deal_id"))


def early_commits(h: History, window: timedelta = WINDOW) -> tuple[pl.DataFrame, dict]:
    """Per manager (EARLY_COLUMNS) over the commit calls made in `(as_of − window, as_of]`, and the team's
    {calls, recent_calls, variance} (the variance of earliness over all calls: a manager's mean over n
    calls has variance/n)."""
    c = commit_calls(h)
    team = {"calls": c.height, "variance": float(c["earliness"].var()) if c.height > 1 else None}
    recent = c.filter((pl.col("t") > pl.lit(h.as_of - window)) & pl.col("owner").is_not_null())
    team["recent_calls"] = recent.height
    per = (recent.group_by("owner").agg(early_commit_calls=pl.len(), early_commit_stages=pl.col("earliness").mean())
           .rename({"owner": "manager"}).sort("manager"))
    return per.select(EARLY_COLUMNS), team


__all__ = ["early_commits", "commit_calls", "late_bad_news", "lost_gaps", "zombie_pipeline", "zombies", "open_pipeline", "won_dwell_norms", "touches",
           "WINDOW", "CAP_DAYS", "CALLS"]
