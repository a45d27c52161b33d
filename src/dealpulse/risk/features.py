"""Features of a deal at a moment `t` of its life, from a `History` (known at the history's as_of).

The same function serves training (closed deals, at moments before they closed) and scoring (open
deals, at as_of), so a model never sees at training time anything a live score could not see:
every feature uses only rows with a timestamp ≤ t (stage entries, completed tasks, field changes,
other deals' closes for the owner's record).

Columns (one row per (deal_id, t), in the order of the pairs given):
- attributes: segment, channel (as recorded at t where the deal's field history has them), team, stage,
  forecast_category (categorical); stage_order, age_days
- stage: days_in_stage, dwell_ratio (÷ the median dwell of won deals in that segment and stage),
  n_stage_entries, n_back_moves
- steps: s_<step>_state (0 not yet due to start, 1 pending, 2 on time, 3 late, 4 overdue),
  s_<step>_took (anchor → done, or → t while not done, days), s_<step>_late (days past the deadline);
  steps_due, steps_on_time_share, steps_overdue
- activity: days_since_touch, last_activity (its type), activities_total, activities_14d, overdue_tasks; n_task_<type> (completed
  activities of each of the 20 most common types by t); n_entered_<i>_<stage> (entries into each stage)
- card: card_filled_share and c_<field> (1 filled / 0 not) for each client-card field
- fields: amount_log, amount_vs_segment (log of amount ÷ the segment's median), amount_change
  (amount now ÷ the first recorded − 1), close_pushes, days_to_expected_close, manager_probability
- owner: owner_win_rate (shrunk towards the team), owner_closed, team_win_rate, owner_open_deals (load at t) — the owner and team as
  recorded at t (the owner's field history), not as of the history's as_of
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from dealpulse.risk.history import History

DAY_US = 86_400 * 1_000_000
STATE_NONE, STATE_PENDING, STATE_ON_TIME, STATE_LATE, STATE_OVERDUE = 0, 1, 2, 3, 4
CATEGORICAL = ("segment", "channel", "team", "stage", "forecast_category", "last_activity")
OWNER_PRIOR = 10.0  # pseudo-deals pulling a manager's win rate towards the team's
TEAM_PRIOR = 30.0
RECENT = timedelta(days=14)
TOP_TYPES = 20  # activity types counted one by one


@dataclass
class Reference:
    """Norms learned from the training deals (closed by as_of), used by features and reasons."""

    dwell_won: dict[tuple[str, str], float] = field(default_factory=dict)  # (segment, stage) -> median days
    dwell_won_stage: dict[str, float] = field(default_factory=dict)
    step_took_won: dict[tuple[str, str], float] = field(default_factory=dict)  # (segment, step) -> median days
    step_took_won_all: dict[str, float] = field(default_factory=dict)
    amount_median: dict[str, float] = field(default_factory=dict)  # segment -> median amount
    amount_median_all: float | None = None
    task_types: list[tuple[str, str]] = field(default_factory=list)  # (type, column) counted by t


def _days(e: pl.Expr) -> pl.Expr:
    return e.dt.total_microseconds().cast(pl.Float64) / DAY_US


def _asof(left: pl.DataFrame, right: pl.DataFrame, on_left: str, on_right: str, by: str | None) -> pl.DataFrame:
    left = left.sort(on_left)
    right = right.sort(on_right)
    kw = {"by": by} if by else {}
    return left.join_asof(right, left_on=on_left, right_on=on_right, strategy="backward",
                          check_sortedness=False, **kw)


def build_reference(h: History, train_deal_ids: pl.Series | None = None) -> Reference:
    """Medians of won deals (stage dwell, step durations) and the segments' median amounts."""
    ref = Reference(task_types=task_types(h))
    won = h.closed.filter(pl.col("status") == "won")
    if train_deal_ids is not None:
        won = won.filter(pl.col("deal_id").is_in(train_deal_ids.implode()))
    seg = won.select("deal_id", pl.col("segment").fill_null(""), "closed_at")
    ev = h.stage_events.join(seg, on="deal_id", how="inner").sort("deal_id", "entered_at")
    ev = ev.with_columns(nxt=pl.col("entered_at").shift(-1).over("deal_id"))
    ev = ev.with_columns(dwell=_days(pl.col("nxt").fill_null(pl.col("closed_at")) - pl.col("entered_at")))
    ev = ev.filter(pl.col("dwell") >= 0)
    for r in ev.group_by("segment", "stage").agg(pl.col("dwell").median(), pl.len()).iter_rows(named=True):
        if r["len"] >= 5:
            ref.dwell_won[(r["segment"], r["stage"])] = float(r["dwell"])
    for r in ev.group_by("stage").agg(pl.col("dwell").median()).iter_rows(named=True):
        ref.dwell_won_stage[r["stage"]] = float(r["dwell"])
    st = h.steps.join(seg, on="deal_id", how="inner").filter(pl.col("completed_at").is_not_null())
    st = st.with_columns(took=_days(pl.col("completed_at") - pl.col("anchor_at"))).filter(pl.col("took") >= 0)
    for r in st.group_by("segment", "step").agg(pl.col("took").median(), pl.len()).iter_rows(named=True):
        if r["len"] >= 5:
            ref.step_took_won[(r["segment"], r["step"])] = float(r["took"])
    for r in st.group_by("step").agg(pl.col("took").median()).iter_rows(named=True):
        ref.step_took_won_all[r["step"]] = float(r["took"])
    am = h.deals.filter(pl.col("amount") > 0)
    for r in am.group_by(pl.col("segment").fill_null("")).agg(pl.col("amount").median()).iter_rows(named=True):
        ref.amount_median[r["segment"]] = float(r["amount"])
    if am.height:
        ref.amount_median_all = float(am["amount"].median())
    return ref


def training_moments(h: History, every: timedelta = timedelta(days=7), max_rows: int = 160_000) -> pl.DataFrame:
    """(deal_id, t, won, close_in_days) for deals closed by as_of, every `every` from creation until the close.

    Only cohorts old enough for most of their deals to have closed are used (created before
    as_of − the 90th percentile of the cycle), so the training set is not tilted towards quick
    closes; with too few such deals, every closed deal is used.
    """
    closed = h.closed.filter(pl.col("closed_at") >= pl.col("created_at"))
    closed = closed.with_columns(cycle=_days(pl.col("closed_at") - pl.col("created_at")))
    if closed.height == 0:
        return pl.DataFrame(schema={"deal_id": pl.Utf8, "t": pl.Datetime("us"), "won": pl.Int8, "close_in_days": pl.Float64})
    horizon = float(closed["cycle"].quantile(0.9) or 0.0)
    old = closed.filter(pl.col("created_at") <= pl.lit(h.as_of - timedelta(days=horizon)))
    if old.height >= 200 and old.filter(pl.col("status") == "won").height >= 20:
        closed = old
    step_days = every.total_seconds() / 86400
    total = float((closed["cycle"] / step_days).floor().sum() + closed.height)
    if total > max_rows:  # a big history: sample less often rather than run out of memory
        step_days *= total / max_rows
    n = (pl.col("cycle") / step_days).floor().cast(pl.Int64) + 1
    m = closed.select("deal_id", "created_at", "closed_at", "status", k=pl.int_ranges(0, n)).explode("k")
    m = m.with_columns(t=pl.col("created_at") + pl.duration(microseconds=(pl.col("k") * step_days * DAY_US).cast(pl.Int64)))
    m = m.filter(pl.col("t") < pl.col("closed_at"))
    return m.select("deal_id", "t", won=(pl.col("status") == "won").cast(pl.Int8),
                    close_in_days=_days(pl.col("closed_at") - pl.col("t")))


def features(h: History, pairs: pl.DataFrame, ref: Reference) -> pl.DataFrame:
    """One row of features per (deal_id, t) in `pairs` (same order), see the module docstring."""
    pb = h.playbook
    order = {s: i for i, s in enumerate(pb.stages)}
    p = pairs.select("deal_id", pl.col("t").cast(pl.Datetime("us"))).with_row_index("_i")
    base = p.join(h.deals.select("deal_id", "owner", "team", "segment", "channel", "created_at",
                                 final_amount="amount"), on="deal_id", how="left")
    base = base.with_columns(age_days=_days(pl.col("t") - pl.col("created_at")).clip(lower_bound=0))
    base = _owner_at(base, h)
    for col in ("segment", "channel"):  # as recorded at t where the deal's history has it
        hist = h.fields.filter(pl.col("field") == col)
        if hist.height:
            # a deal with a history of the field: its value at t, none before the first record (as the
            # Snapshot does: the final value would leak what was learnt later, e.g. a segment set at the win);
            # a deal without: the export's value
            has = hist.select("deal_id").unique().with_columns(_has=pl.lit(True))
            base = _field_at(base, h, col, "_v").join(has, on="deal_id", how="left")
            base = base.with_columns(pl.when(pl.col("_has")).then(pl.col("_v")).otherwise(pl.col(col)).alias(col))
            base = base.drop("_v", "_has")

    # stage at t, entries and back-moves by then
    se = h.stage_events.with_columns(_ord=pl.col("stage").replace_strict(order, default=-1, return_dtype=pl.Int64))
    se = se.sort("deal_id", "entered_at")
    se = se.with_columns(
        n_stage_entries=pl.int_range(1, pl.len() + 1).over("deal_id"),
        _back=(pl.col("_ord") < pl.col("_ord").shift(1).over("deal_id")).fill_null(False).cast(pl.Int64),
    ).with_columns(n_back_moves=pl.col("_back").cum_sum().over("deal_id"))
    se = se.select("deal_id", "stage", stage_order="_ord", stage_entered_at="entered_at", _se_at="entered_at",
                   n_stage_entries="n_stage_entries", n_back_moves="n_back_moves")
    x = _asof(base, se, "t", "_se_at", "deal_id").drop("_se_at")
    x = x.with_columns(
        days_in_stage=_days(pl.col("t") - pl.col("stage_entered_at").fill_null(pl.col("created_at"))),
        n_stage_entries=pl.col("n_stage_entries").fill_null(0),
        n_back_moves=pl.col("n_back_moves").fill_null(0),
        stage_order=pl.col("stage_order").fill_null(-1),
    )
    norm = pl.struct("segment", "stage").map_elements(
        lambda r: ref.dwell_won.get((r["segment"] or "", r["stage"]), ref.dwell_won_stage.get(r["stage"])),
        return_dtype=pl.Float64)
    x = x.with_columns(_norm=norm).with_columns(
        dwell_ratio=pl.col("days_in_stage") / pl.col("_norm").clip(lower_bound=0.5)).drop("_norm")

    # activity: completed tasks by t and in the last 14 days; overdue open tasks at t
    done = (h.tasks.filter(pl.col("completed_at").is_not_null()).select("deal_id", "completed_at", "type")
            .sort("deal_id", "completed_at", "type"))
    done = done.with_columns(_n=pl.int_range(1, pl.len() + 1).over("deal_id"))
    d1 = done.select("deal_id", _at="completed_at", activities_total="_n", _last_done="completed_at",
                     last_activity="type")
    x = _asof(x, d1, "t", "_at", "deal_id").drop("_at")
    x = x.with_columns(_t14=pl.col("t") - RECENT)
    d2 = done.select("deal_id", _at="completed_at", _n14="_n")
    x = _asof(x, d2, "_t14", "_at", "deal_id").drop("_at", "_t14")
    x = x.with_columns(activities_total=pl.col("activities_total").fill_null(0))
    x = x.with_columns(activities_14d=pl.col("activities_total") - pl.col("_n14").fill_null(0)).drop("_n14")
    touch = pl.max_horizontal("created_at", "stage_entered_at", "_last_done")
    x = x.with_columns(days_since_touch=_days(pl.col("t") - touch).clip(lower_bound=0)).drop("_last_done")
    x = _overdue_tasks(x, h)
    x = _counts(x, h, ref)

    x = _steps(x, h, ref)
    x = _fields(x, h, ref)
    x = _owner_record(x, h)
    x = _workload(x, h)
    return x.sort("_i").drop("_i", "created_at", "final_amount", "stage_entered_at")


def _owner_at(x: pl.DataFrame, h: History) -> pl.DataFrame:
    """The owner as recorded at t (before the first recorded change: the first recorded owner, as the
    Snapshot does), and that owner's team; the deal's owner as of the history where it has no record."""
    f = h.fields.filter(pl.col("field") == "owner")
    if f.height == 0:
        return x
    first = f.group_by("deal_id").agg(_first_owner=pl.col("value").first())
    x = _field_at(x, h, "owner", "_owner_t").join(first, on="deal_id", how="left")
    x = x.with_columns(owner=pl.coalesce("_owner_t", "_first_owner", "owner")).drop("_owner_t", "_first_owner")
    if h.managers is not None and h.managers.height:
        teams = h.managers.select(owner="manager_id", _team_t="team")
        x = x.join(teams, on="owner", how="left").with_columns(team=pl.coalesce("_team_t", "team")).drop("_team_t")
    return x


def _running_sum_at(x: pl.DataFrame, changes: pl.DataFrame, key: str, col: str) -> pl.DataFrame:
    """`col` = the sum of `changes.d` per `key` over the changes made at or before t (0 before any):
    counts of events by t (d = 1) and levels that rise and fall (d = +1 / −1)."""
    ev = changes.group_by(key, "at").agg(pl.col("d").sum()).sort(key, "at")
    ev = ev.select(key, _rs_at="at", **{col: pl.col("d").cum_sum().over(key)})
    return _asof(x, ev, "t", "_rs_at", key).drop("_rs_at").with_columns(pl.col(col).fill_null(0))


def _overdue_tasks(x: pl.DataFrame, h: History) -> pl.DataFrame:
    start = pl.max_horizontal("due_at", "created_at")
    # a task is overdue from its deadline until it is done; one done by its deadline never is
    tk = h.tasks.filter(pl.col("due_at").is_not_null() & (pl.col("completed_at").is_null() | (pl.col("completed_at") > start)))
    plus = tk.select("deal_id", at=start, d=pl.lit(1, pl.Int64))
    ended = tk.filter(pl.col("completed_at").is_not_null())
    minus = ended.select("deal_id", at=pl.col("completed_at"), d=pl.lit(-1, pl.Int64))
    return _running_sum_at(x, pl.concat([plus, minus]), "deal_id", "overdue_tasks")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text).lower())[:40]


def _counts(x: pl.DataFrame, h: History, ref: Reference) -> pl.DataFrame:
    """By t: completed activities of each of the most common types (`ref.task_types`), and entries into
    each stage of the playbook ("the third proposal" is not the first one)."""
    done = h.tasks.filter(pl.col("completed_at").is_not_null())
    for ty, col in ref.task_types:
        d = done.filter(pl.col("type") == ty).select("deal_id", at="completed_at", d=pl.lit(1, pl.Int64))
        x = _running_sum_at(x, d, "deal_id", col)
    for i, st in enumerate(h.playbook.stages):
        e = h.stage_events.filter(pl.col("stage") == st).select("deal_id", at="entered_at", d=pl.lit(1, pl.Int64))
        x = _running_sum_at(x, e, "deal_id", f"n_entered_{i}_{_slug(st)}")
    return x


def task_types(h: History, top: int = TOP_TYPES) -> list[tuple[str, str]]:
    """The `top` most common completed task types and their column names."""
    done = h.tasks.filter(pl.col("completed_at").is_not_null())
    counts = done.group_by("type").len().sort(["len", "type"], descending=[True, False]).head(top)
    out, used = [], set()
    for ty in counts["type"].to_list():
        col = f"n_task_{_slug(ty)}"
        while col in used:
            col += "_"
        used.add(col)
        out.append((ty, col))
    return out


def _steps(x: pl.DataFrame, h: History, ref: Reference) -> pl.DataFrame:
    keys = x.select("_i", "deal_id", "t", "segment")
    cols = []
    for step in h.playbook.steps:
        s = h.steps.filter(pl.col("step") == step.name).select("deal_id", "anchor_at", "deadline", "completed_at")
        j = keys.join(s, on="deal_id", how="left")
        started = pl.col("anchor_at").is_not_null() & (pl.col("anchor_at") <= pl.col("t"))
        done = started & pl.col("completed_at").is_not_null() & (pl.col("completed_at") <= pl.col("t"))
        due = started & ~done & (pl.col("deadline") <= pl.col("t"))
        state = (pl.when(~started).then(STATE_NONE).when(done & (pl.col("completed_at") <= pl.col("deadline"))).then(STATE_ON_TIME)
                 .when(done).then(STATE_LATE).when(due).then(STATE_OVERDUE).otherwise(STATE_PENDING))
        end = pl.when(done).then(pl.col("completed_at")).otherwise(pl.col("t"))
        took = pl.when(started).then(_days(end - pl.col("anchor_at")))
        late = pl.when(started).then(_days(end - pl.col("deadline")).clip(lower_bound=0))
        j = j.select("_i", **{f"s_{step.name}_state": state.cast(pl.Int64), f"s_{step.name}_took": took,
                              f"s_{step.name}_late": late})
        x = x.join(j, on="_i", how="left")
        cols.append(step.name)
    if cols:
        states = [pl.col(f"s_{c}_state") for c in cols]
        due_n = pl.sum_horizontal([(s >= STATE_ON_TIME).cast(pl.Int64) for s in states])
        on_time = pl.sum_horizontal([(s == STATE_ON_TIME).cast(pl.Int64) for s in states])
        overdue = pl.sum_horizontal([(s == STATE_OVERDUE).cast(pl.Int64) for s in states])
        x = x.with_columns(steps_due=due_n, steps_overdue=overdue,
                           steps_on_time_share=pl.when(due_n > 0).then(on_time / due_n))
    return x


def _field_at(x: pl.DataFrame, h: History, name: str, out: str) -> pl.DataFrame:
    f = h.fields.filter(pl.col("field") == name).select("deal_id", _f_at="changed_at", **{out: "value"})
    return _asof(x, f, "t", "_f_at", "deal_id").drop("_f_at")


def _parse_date(e: pl.Expr) -> pl.Expr:
    iso = e.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    ru = e.str.slice(0, 10).str.to_date("%d.%m.%Y", strict=False)
    return pl.coalesce(iso, ru).cast(pl.Datetime("us"))


def _fields(x: pl.DataFrame, h: History, ref: Reference) -> pl.DataFrame:
    # amount: as of t (the export's figure if the deal has no amount history)
    x = _field_at(x, h, "amount", "_amount_t")
    firsts = (h.fields.filter(pl.col("field") == "amount").group_by("deal_id")
              .agg(_first_at=pl.col("changed_at").first(), _amount_first=pl.col("value").first()))
    x = x.join(firsts, on="deal_id", how="left")
    num = lambda c: pl.col(c).str.replace(",", ".").cast(pl.Float64, strict=False)  # noqa: E731
    has_hist = pl.col("_first_at").is_not_null()
    amount = pl.when(has_hist).then(num("_amount_t")).otherwise(pl.col("final_amount"))
    first = pl.when(has_hist & (pl.col("_first_at") <= pl.col("t"))).then(num("_amount_first"))
    x = x.with_columns(_amount=amount, _amount_first=first)
    med = pl.col("segment").fill_null("").replace_strict(ref.amount_median, default=ref.amount_median_all, return_dtype=pl.Float64)
    x = x.with_columns(
        amount_log=pl.when(pl.col("_amount") > 0).then(pl.col("_amount").log()),
        amount_vs_segment=pl.when((pl.col("_amount") > 0) & (med > 0)).then((pl.col("_amount") / med).log()),
        amount_change=pl.when(pl.col("_amount_first") > 0).then(pl.col("_amount") / pl.col("_amount_first") - 1),
        amount_now=pl.col("_amount"),
    ).drop("_amount_t", "_first_at", "_amount_first", "_amount")

    # expected close: pushes by t and days left
    ec = h.fields.filter(pl.col("field") == "expected_close").select("deal_id", "changed_at", d=_parse_date(pl.col("value")))
    ec = ec.sort("deal_id", "changed_at").with_columns(
        _push=(pl.col("d") > pl.col("d").shift(1).over("deal_id")).fill_null(False).cast(pl.Int64))
    ec = ec.with_columns(close_pushes=pl.col("_push").cum_sum().over("deal_id"))
    ec = ec.select("deal_id", _ec_at="changed_at", expected_close="d", close_pushes="close_pushes")
    x = _asof(x, ec, "t", "_ec_at", "deal_id").drop("_ec_at")
    x = x.with_columns(close_pushes=pl.col("close_pushes").fill_null(0),
                       days_to_expected_close=_days(pl.col("expected_close") - pl.col("t")))

    x = _field_at(x, h, "forecast_category", "forecast_category")
    x = _field_at(x, h, "probability", "_prob")
    p = pl.col("_prob").str.replace(",", ".").str.strip_chars(" %").cast(pl.Float64, strict=False)
    x = x.with_columns(manager_probability=pl.when(p > 1).then(p / 100).otherwise(p)).drop("_prob")

    card = h.playbook.card_fields
    if card:
        static = h.card_static.filter(pl.col("value").is_not_null() & (pl.col("value").str.strip_chars() != ""))
        for f in card:
            x = _field_at(x, h, f, "_v")
            st = static.filter(pl.col("field") == f).select("deal_id", _static=pl.lit(1, pl.Int64))
            x = x.join(st, on="deal_id", how="left")
            filled = (pl.col("_v").is_not_null() & (pl.col("_v").str.strip_chars() != "")) | pl.col("_static").is_not_null()
            x = x.with_columns(**{f"c_{f}": filled.cast(pl.Int64)}).drop("_v", "_static")
        x = x.with_columns(card_filled_share=pl.mean_horizontal([pl.col(f"c_{f}") for f in card]))
    return x


def _owner_record(x: pl.DataFrame, h: History) -> pl.DataFrame:
    """The owner's and the team's win rates among deals closed before t (shrunk: few deals → the team's)."""
    closed = h.closed.select("owner", "team", "closed_at", w=(pl.col("status") == "won").cast(pl.Float64)).sort("closed_at")
    allc = closed.with_columns(_gw=pl.col("w").cum_sum(), _gn=pl.int_range(1, pl.len() + 1).cast(pl.Float64))
    x = _asof(x, allc.select(_g_at="closed_at", _gw="_gw", _gn="_gn"), "t", "_g_at", None).drop("_g_at")
    own = closed.filter(pl.col("owner").is_not_null()).sort("owner", "closed_at").with_columns(
        _ow=pl.col("w").cum_sum().over("owner"), _on=pl.int_range(1, pl.len() + 1).over("owner").cast(pl.Float64))
    x = _asof(x, own.select("owner", _o_at="closed_at", _ow="_ow", _on="_on"), "t", "_o_at", "owner").drop("_o_at")
    team = closed.filter(pl.col("team").is_not_null()).sort("team", "closed_at").with_columns(
        _tw=pl.col("w").cum_sum().over("team"), _tn=pl.int_range(1, pl.len() + 1).over("team").cast(pl.Float64))
    x = _asof(x, team.select("team", _t_at="closed_at", _tw="_tw", _tn="_tn"), "t", "_t_at", "team").drop("_t_at")
    g = ((pl.col("_gw").fill_null(0) + 1) / (pl.col("_gn").fill_null(0) + 4))
    team_rate = (pl.col("_tw").fill_null(0) + TEAM_PRIOR * g) / (pl.col("_tn").fill_null(0) + TEAM_PRIOR)
    x = x.with_columns(team_win_rate=team_rate)
    own_rate = (pl.col("_ow").fill_null(0) + OWNER_PRIOR * pl.col("team_win_rate")) / (pl.col("_on").fill_null(0) + OWNER_PRIOR)
    x = x.with_columns(owner_win_rate=own_rate, owner_closed=pl.col("_on").fill_null(0))
    return x.drop("_gw", "_gn", "_ow", "_on", "_tw", "_tn")


def _workload(x: pl.DataFrame, h: History) -> pl.DataFrame:
    """owner_open_deals: how many deals the owner had open at t (created by then, not closed by then)."""
    d = h.deals.filter(pl.col("owner").is_not_null())
    plus = d.select("owner", at=pl.col("created_at"), d=pl.lit(1, pl.Int64))
    minus = d.filter(pl.col("closed_at").is_not_null()).select("owner", at=pl.col("closed_at"), d=pl.lit(-1, pl.Int64))
    return _running_sum_at(x, pl.concat([plus, minus]), "owner", "owner_open_deals")


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The model's inputs among a features frame's columns (ids, times and helper columns left out)."""
    skip = {"deal_id", "t", "owner", "expected_close", "amount_now", "won", "close_in_days"}
    return [c for c in frame.columns if c not in skip]


__all__ = ["Reference", "build_reference", "training_moments", "features", "feature_columns", "CATEGORICAL",
           "STATE_NONE", "STATE_PENDING", "STATE_ON_TIME", "STATE_LATE", "STATE_OVERDUE"]
