"""The synthetic department (dealpulse.demo): format, determinism, invariants, and the signal in it.

One default-sized simulation (5,000 deals, seed 42) is shared by most tests; it takes well under a
second. The statistical checks use that fixed seed, with margins wide enough to survive retuning.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from dealpulse.demo import LateStep, SlowStage, generate, generate_frames, parse_plant, simulate
from dealpulse.demo import clock
from dealpulse.errors import InputError
from dealpulse.playbook import load_playbook

PLAYBOOK = load_playbook(None)
END = datetime(2025, 1, 1)
TS = pl.Datetime("us")

# The native format (docs: data-format.md): the columns every table must have, in order.
COLUMNS = {
    "deals": ["deal_id", "account_id", "title", "owner", "segment", "channel", "amount", "currency",
              "created_at", "status", "closed_at", "lost_reason"],
    "stage_history": ["deal_id", "stage", "entered_at", "changed_by"],
    "tasks": ["task_id", "deal_id", "type", "owner", "created_at", "due_at", "completed_at", "status"],
    "field_history": ["entity", "entity_id", "field", "value", "changed_at", "changed_by"],
    "accounts": ["account_id", "name", "segment"],
    "managers": ["manager_id", "name", "team", "role", "hired_at", "email"],
}
TIMESTAMPS = {"created_at", "closed_at", "entered_at", "due_at", "completed_at", "changed_at", "hired_at"}
ACTIVITIES = {"call", "email", "meeting"}
STEP_TYPES = {s.task_type for s in PLAYBOOK.steps}


@pytest.fixture(scope="module")
def sim():
    return simulate()


@pytest.fixture(scope="module")
def frames(sim):
    return sim.frames


@pytest.fixture(scope="module")
def closed(frames):
    return frames["deals"].filter(pl.col("status") != "open").with_columns(
        won=(pl.col("status") == "won").cast(pl.Float64))


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# -- the files -----------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    kw = dict(deals=800, months=12, start=date(2024, 1, 1))
    a = generate(tmp_path / "a", seed=7, **kw)
    b = generate(tmp_path / "b", seed=7, **kw)
    c = generate(tmp_path / "c", seed=8, **kw)
    assert sorted(p.name for p in a.files.values()) == sorted(f"{t}.csv" for t in COLUMNS)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["deals.csv"] != _digest(tmp_path / "c")["deals.csv"]
    assert a.rows == b.rows and a.deals == 800 and a.won + a.lost + a.open == 800


def test_csv_files_follow_the_native_format(tmp_path):
    summary = generate(tmp_path, deals=600, months=12, start=date(2024, 1, 1), seed=3)
    for table, cols in COLUMNS.items():
        path = tmp_path / f"{table}.csv"
        text = path.read_bytes().decode("utf-8")  # UTF-8, no BOM
        assert not text.startswith("\ufeff")
        rows = list(csv.reader(text.splitlines()))
        assert rows[0][: len(cols)] == cols, table
        assert len(rows) - 1 == summary.rows[table]
        for col in set(cols) & TIMESTAMPS:
            i = rows[0].index(col)
            values = [r[i] for r in rows[1:] if r[i]]
            assert values, f"{table}.{col} is always empty"
            for v in values[:200]:
                assert len(v) == 19 and v[10] == "T", f"{table}.{col}: {v!r} is not YYYY-MM-DDTHH:MM:SS"
                datetime.fromisoformat(v)
    deals = list(csv.DictReader((tmp_path / "deals.csv").read_text(encoding="utf-8").splitlines()))
    assert all(d["amount"].isdigit() for d in deals), "amounts are whole roubles"
    assert {d["status"] for d in deals} == {"open", "won", "lost"}
    assert "lost_reason" in deals[0]


def test_parquet_format_keeps_the_typed_frames(tmp_path):
    generate(tmp_path, deals=300, months=6, start=date(2024, 1, 1), fmt="parquet")
    deals = pl.read_parquet(tmp_path / "deals.parquet")
    assert deals.schema["amount"] == pl.Float64 and deals.schema["created_at"] == TS


def test_generate_frames_matches_the_files(tmp_path):
    kw = dict(deals=400, months=8, start=date(2024, 1, 1), seed=11)
    frames = generate_frames(**kw)
    generate(tmp_path, **kw)
    back = pl.read_csv(tmp_path / "deals.csv", try_parse_dates=True)
    assert back["deal_id"].to_list() == frames["deals"]["deal_id"].to_list()
    assert back["amount"].cast(pl.Float64).to_list() == frames["deals"]["amount"].to_list()


# -- the typed frames --------------------------------------------------------------------------
def test_frames_have_the_store_columns_and_types(frames):
    for table, cols in COLUMNS.items():
        df = frames[table]
        assert df.columns[: len(cols)] == cols, table
        for col in cols:
            expected = TS if col in TIMESTAMPS else pl.Float64 if col == "amount" else pl.Utf8
            assert df.schema[col] == expected, f"{table}.{col}: {df.schema[col]}"
    assert set(frames["accounts"].columns) >= {"industry", "region", "employees"}


def test_default_size_and_department(frames):
    deals, managers = frames["deals"], frames["managers"]
    assert deals.height == 5000
    assert managers["manager_id"].to_list() == [f"m{i:02d}" for i in range(1, 21)]
    assert managers["team"].n_unique() == 3
    assert managers["name"].n_unique() == 20
    assert all(any("а" <= ch <= "я" for ch in n.lower()) for n in managers["name"]), "Russian-looking names"
    hired = managers.filter(pl.col("hired_at") > datetime(2023, 1, 1))
    assert hired.height == 2, "a couple of new hires"
    assert set(deals["segment"]) == {"smb", "mid", "enterprise"}
    assert set(deals["channel"]) == {"inbound", "outbound", "partner", "events", "referral"}
    assert set(deals["currency"]) == {"RUB"}


def test_keys_are_unique(frames):
    assert frames["deals"]["deal_id"].is_unique().all()
    assert frames["tasks"]["task_id"].is_unique().all()
    assert frames["accounts"]["account_id"].is_unique().all()
    assert not frames["stage_history"].select("deal_id", "stage", "entered_at").is_duplicated().any()
    assert not frames["field_history"].select("entity", "entity_id", "field", "changed_at").is_duplicated().any()


def test_references_resolve(frames):
    deals = frames["deals"]
    ids = set(deals["deal_id"])
    assert set(frames["stage_history"]["deal_id"]) == ids
    assert set(frames["tasks"]["deal_id"]) <= ids
    assert set(frames["field_history"]["entity_id"]) <= ids
    assert set(deals["account_id"]) == set(frames["accounts"]["account_id"])
    assert set(deals["owner"]) <= set(frames["managers"]["manager_id"])
    # a deal belongs to its account's segment, and only managers already hired own deals
    acc = deals.join(frames["accounts"].select("account_id", acc_segment="segment"), on="account_id")
    assert (acc["segment"] == acc["acc_segment"]).all()
    hired = deals.join(frames["managers"].select(owner="manager_id", hired_at="hired_at"), on="owner")
    assert (hired["created_at"] >= hired["hired_at"]).all()


def test_amounts_follow_the_playbook_segment_rules(frames):
    deals = frames["deals"]
    amounts = frames["field_history"].filter(pl.col("field") == "amount").join(
        deals.select(entity_id="deal_id", segment="segment"), on="entity_id")
    rules = {s.name: s.rule for s in PLAYBOOK.segments}

    def segment_of(amount: float) -> str:
        return next(name for name, rule in rules.items() if rule.evaluate({"amount": amount}))

    for amount, segment in deals.select("amount", "segment").iter_rows():
        assert segment_of(amount) == segment
    for value, segment in amounts.select("value", "segment").sample(2000, seed=1).iter_rows():
        assert segment_of(float(value)) == segment
    med = dict(deals.group_by("segment").agg(pl.col("amount").median()).iter_rows())
    assert med["smb"] < 1_000_000 <= med["mid"] < 5_000_000 <= med["enterprise"]


def test_nothing_happens_after_the_export_moment(frames):
    checks = {"deals": ["created_at", "closed_at"], "stage_history": ["entered_at"],
              "tasks": ["created_at", "completed_at"], "field_history": ["changed_at"]}
    for table, cols in checks.items():
        for col in cols:
            assert frames[table][col].max() < END, f"{table}.{col}"
    assert frames["deals"]["created_at"].min() >= datetime(2023, 1, 1)


# -- stage history and status -------------------------------------------------------------------
def test_stage_history_is_ordered_and_agrees_with_status_and_closed_at(frames):
    deals, sh = frames["deals"], frames["stage_history"]
    assert sh.equals(sh.sort(["deal_id", "entered_at"], maintain_order=True))
    per = sh.group_by("deal_id", maintain_order=True).agg(
        first_stage=pl.col("stage").first(), first_at=pl.col("entered_at").first(),
        last_stage=pl.col("stage").last(), last_at=pl.col("entered_at").last(),
        terminal=pl.col("stage").is_in(["won", "lost"]).sum(),
        increasing=(pl.col("entered_at").diff().drop_nulls() > timedelta(0)).all(),
    ).join(deals, on="deal_id")
    assert (per["first_stage"] == "new").all()
    assert (per["first_at"] == per["created_at"]).all()
    assert per["increasing"].all()
    closed = per.filter(pl.col("status") != "open")
    assert (closed["terminal"] == 1).all() and (closed["last_stage"] == closed["status"]).all()
    assert (closed["last_at"] == closed["closed_at"]).all()
    assert (closed["closed_at"] >= closed["created_at"]).all()
    still = per.filter(pl.col("status") == "open")
    assert (still["terminal"] == 0).all() and still["closed_at"].is_null().all()
    assert set(still["last_stage"]) == set(PLAYBOOK.stages), "the open pipeline spans every stage"
    lost = deals.filter(pl.col("status") == "lost")
    assert lost["lost_reason"].is_not_null().all()
    assert deals.filter(pl.col("status") != "lost")["lost_reason"].is_null().all()


def test_stages_are_sometimes_skipped_or_revisited(frames):
    order = {s: i for i, s in enumerate(PLAYBOOK.stages)}
    moves = frames["stage_history"].filter(~pl.col("stage").is_in(["won", "lost"])).with_columns(
        k=pl.col("stage").replace_strict(order, return_dtype=pl.Int64))
    moves = moves.with_columns(step=pl.col("k").diff().over("deal_id")).drop_nulls("step")
    counts = dict(moves.group_by("step").len().iter_rows())
    assert counts[1] > 10 * (counts.get(2, 0) + counts.get(-1, 0))
    assert counts.get(2, 0) > 50 and counts.get(-1, 0) > 50
    lost_at = frames["stage_history"].sort("entered_at").group_by("deal_id").agg(
        before=pl.col("stage").filter(~pl.col("stage").is_in(["won", "lost"])).last(),
        lost=(pl.col("stage") == "lost").any()).filter("lost")
    assert set(lost_at["before"]) == set(PLAYBOOK.stages), "deals are lost at every stage"


def test_win_rates_and_cycles_are_plausible(closed):
    assert 0.2 <= closed["won"].mean() <= 0.4
    by = closed.with_columns(days=(pl.col("closed_at") - pl.col("created_at")).dt.total_hours() / 24).group_by(
        "segment").agg(pl.col("won").mean(), cycle=pl.col("days").filter(pl.col("won") == 1).median())
    rate = dict(by.select("segment", "won").iter_rows())
    cycle = dict(by.select("segment", "cycle").iter_rows())
    assert all(0.15 <= r <= 0.4 for r in rate.values()), rate
    assert rate["smb"] > rate["enterprise"]
    assert 20 <= cycle["smb"] <= 60, cycle
    assert cycle["smb"] < cycle["mid"] < cycle["enterprise"]
    assert 110 <= cycle["enterprise"] <= 190, cycle
    channel = dict(closed.group_by("channel").agg(pl.col("won").mean()).iter_rows())
    assert channel["referral"] > channel["outbound"] + 0.05


def test_inflow_has_seasonality_and_a_growing_segment(frames):
    deals = frames["deals"].with_columns(month=pl.col("created_at").dt.month(), year=pl.col("created_at").dt.year())
    per_month = dict(deals.group_by("month").len().iter_rows())
    assert per_month[1] < 0.8 * per_month[10], "January is quiet, autumn busy"
    mid = dict(deals.filter(pl.col("segment") == "mid").group_by("year").len().iter_rows())
    smb = dict(deals.filter(pl.col("segment") == "smb").group_by("year").len().iter_rows())
    assert mid[2024] / mid[2023] > 1.2 > smb[2024] / smb[2023]


# -- tasks ----------------------------------------------------------------------------------------
def test_tasks_are_consistent(frames):
    tk = frames["tasks"].join(frames["deals"].select("deal_id", deal_owner="owner", deal_created="created_at"), on="deal_id")
    assert set(tk["type"]) == STEP_TYPES | ACTIVITIES
    assert (tk["owner"] == tk["deal_owner"]).all()
    assert (tk["created_at"] >= tk["deal_created"]).all()
    assert (tk["completed_at"].is_null() | (tk["completed_at"] >= tk["created_at"])).all()
    assert ((tk["status"] == "done") == tk["completed_at"].is_not_null()).all()
    assert set(tk["status"]) == {"open", "done", "cancelled"}
    assert tk.filter(pl.col("type").is_in(list(STEP_TYPES)))["due_at"].is_not_null().all()
    logged = tk.filter(pl.col("due_at").is_null())
    assert set(logged["type"]) == ACTIVITIES and (logged["completed_at"] == logged["created_at"]).all()
    overdue = tk.filter((pl.col("status") == "open") & (pl.col("due_at") < END))
    assert overdue.height > 100, "some open overdue tasks"


def test_step_deadlines_come_from_the_playbook(frames):
    tk = frames["tasks"].join(frames["deals"].select("deal_id", "segment"), on="deal_id")
    for step in PLAYBOOK.steps:
        rows = tk.filter(pl.col("type") == step.task_type)
        assert rows.height > 100, step.name
        for segment in ("smb", "mid", "enterprise"):
            got = rows.filter(pl.col("segment") == segment).select(pl.col("due_at") - pl.col("created_at")).to_series()
            assert set(got) == {step.within_for(segment)}, (step.name, segment)
    first = tk.filter(pl.col("type") == "first_contact").join(
        frames["deals"].select("deal_id", "created_at"), on="deal_id", suffix="_deal")
    assert (first["created_at"] == first["created_at_deal"]).all(), "anchored on deal creation"


def test_step_tasks_sit_in_their_stage(frames):
    sh = frames["stage_history"]
    entries = sh.select("deal_id", "stage", "entered_at")
    for step in PLAYBOOK.steps:
        if step.anchor != "stage_entered":
            continue
        rows = frames["tasks"].filter(pl.col("type") == step.task_type).select("deal_id", at="created_at")
        joined = rows.join(entries.filter(pl.col("stage") == step.stage), left_on=["deal_id", "at"],
                           right_on=["deal_id", "entered_at"], how="left")
        assert joined["stage"].is_not_null().all(), step.name


def test_business_clock_round_trips():
    import numpy as np

    b = np.array([0.0, 0.5, 4.99, 5.0, 123.25])
    assert np.allclose(clock.from_seconds(clock.to_seconds(b)), b)
    saturday_noon = 5 * clock.DAY + 12 * 3600
    assert clock.from_seconds(np.array([saturday_noon]))[0] == 5.0  # -> Monday 09:00
    assert np.isinf(clock.to_seconds(np.array([np.inf])))[0]


# -- field history ----------------------------------------------------------------------------------
def test_field_history_fields_and_values(frames):
    fh = frames["field_history"]
    assert set(fh["entity"]) == {"deal"}
    assert set(fh["field"]) == set(PLAYBOOK.card_fields) | {"amount", "expected_close", "forecast_category", "probability"}
    assert set(fh.filter(pl.col("field") == "forecast_category")["value"]) == {"pipeline", "best_case", "commit"}
    prob = fh.filter(pl.col("field") == "probability")["value"].cast(pl.Int64)
    assert prob.min() >= 0 and prob.max() <= 100
    fh.filter(pl.col("field") == "expected_close")["value"].str.to_date("%Y-%m-%d")
    # the deals table's amount is the latest one known
    last = fh.filter(pl.col("field") == "amount").sort("changed_at").group_by("entity_id").agg(pl.col("value").last())
    joined = frames["deals"].join(last, left_on="deal_id", right_on="entity_id")
    assert joined.height == frames["deals"].height
    assert (joined["value"].cast(pl.Float64) == joined["amount"]).all()
    # nothing is recorded for a deal after it closed (except the closing probability, at the close)
    late = fh.join(frames["deals"].select(entity_id="deal_id", closed_at="closed_at"), on="entity_id").filter(
        pl.col("changed_at") > pl.col("closed_at") + timedelta(seconds=1))
    assert late.height == 0


def test_lost_deals_get_their_close_date_pushed_more(frames, closed):
    reached = frames["stage_history"].filter(pl.col("stage") == "negotiation").select("deal_id").unique()
    pushes = frames["field_history"].filter(pl.col("field") == "expected_close").group_by("entity_id").agg(
        pushes=pl.len() - 1)
    x = closed.join(reached, on="deal_id").join(pushes, left_on="deal_id", right_on="entity_id")
    mean = dict(x.group_by("status").agg(pl.col("pushes").mean()).iter_rows())
    assert mean["lost"] > 1.5 * mean["won"]


def test_optimists_commit_deals_that_do_not_close(sim, frames, closed):
    commits = frames["field_history"].filter(
        (pl.col("field") == "forecast_category") & (pl.col("value") == "commit")).select(deal_id="entity_id").unique()
    x = closed.join(commits, on="deal_id").join(
        sim.truth["managers"].select(owner="manager_id", optimistic="optimistic"), on="owner")
    rate = dict(x.group_by("optimistic").agg(pl.col("won").mean()).iter_rows())
    assert rate[True] < rate[False] - 0.15


def test_client_card_is_fuller_in_won_deals(frames, closed):
    card = frames["field_history"].filter(pl.col("field").is_in(list(PLAYBOOK.card_fields))).group_by(
        "entity_id").agg(n=pl.col("field").n_unique())
    x = closed.join(card, left_on="deal_id", right_on="entity_id", how="left").with_columns(
        full=pl.col("n").fill_null(0) == len(PLAYBOOK.card_fields))
    full = dict(x.group_by("status").agg(pl.col("full").mean()).iter_rows())
    assert full["won"] > full["lost"] + 0.15


# -- the signal: leading metrics predict lagging ones --------------------------------------------
def _first_step(frames, task_type: str) -> pl.DataFrame:
    return frames["tasks"].filter(pl.col("type") == task_type).sort("created_at").group_by("deal_id").first().select(
        "deal_id", on_time=(pl.col("completed_at") <= pl.col("due_at")).fill_null(False))


@pytest.mark.parametrize("step, gap", [("first_contact", 0.05), ("proposal_sent", 0.15)])
def test_steps_done_on_time_raise_the_win_rate(frames, closed, step, gap):
    x = closed.join(_first_step(frames, step), on="deal_id")
    rate = dict(x.group_by("on_time").agg(pl.col("won").mean()).iter_rows())
    assert rate[True] > rate[False] + gap


def test_managers_with_better_compliance_win_more(frames, closed):
    comp = frames["tasks"].filter(pl.col("type").is_in(list(STEP_TYPES))).group_by("owner").agg(
        on_time=(pl.col("completed_at") <= pl.col("due_at")).fill_null(False).mean())
    x = closed.group_by("owner").agg(pl.col("won").mean()).join(comp, on="owner")
    assert x.select(pl.corr("on_time", "won")).item() > 0.3


def test_calls_matter_and_emails_are_vanity(sim, closed):
    truth = sim.truth["managers"]
    tk = sim.frames["tasks"].filter(pl.col("due_at").is_null())
    acts = tk.group_by("owner").agg(calls=(pl.col("type") == "call").sum(), emails=(pl.col("type") == "email").sum())
    weeks = closed.group_by("owner").agg(
        won=pl.col("won").mean(),
        weeks=((pl.col("closed_at") - pl.col("created_at")).dt.total_hours() / 168).sum())
    x = weeks.join(acts, on="owner").with_columns(cpw=pl.col("calls") / pl.col("weeks"), epw=pl.col("emails") / pl.col("weeks"))
    calls, emails = x.select(pl.corr("cpw", "won"), pl.corr("epw", "won")).row(0)
    assert calls > 0.3 and calls > emails + 0.2
    # e-mails follow a personal habit, unrelated to skill
    habit = x.join(truth.select(owner="manager_id", email_rate="email_rate"), on="owner")
    assert habit.select(pl.corr("epw", "email_rate")).item() > 0.8


# -- planted problems ---------------------------------------------------------------------------
def test_default_plants_are_late_in_the_timeline(sim):
    late, slow = sim.plants
    assert late == LateStep(manager="m07", since=date(2024, 9, 1), step="proposal_sent")
    assert slow == SlowStage(stage="contract", segment="enterprise", since=date(2024, 10, 1))
    assert str(late) == "late_proposals:m07:2024-09-01"
    assert str(slow) == "slow_contract:enterprise:2024-10-01"
    assert "m07" in late.describe("en") and "m07" in late.describe("ru")


def test_short_timelines_get_no_default_plants():
    assert simulate(deals=200, months=5, plant="auto").plants == ()
    assert len(simulate(deals=200, months=6, plant="auto").plants) == 2


def test_planted_manager_sends_proposals_late_and_then_wins_less(frames, closed):
    since = datetime(2024, 9, 1)
    prop = frames["tasks"].filter((pl.col("type") == "proposal_sent") & (pl.col("owner") == "m07")).with_columns(
        late=~(pl.col("completed_at") <= pl.col("due_at")).fill_null(False), after=pl.col("created_at") >= since)
    late = dict(prop.group_by("after").agg(pl.col("late").mean()).iter_rows())
    assert late[False] < 0.3 and late[True] > 0.7
    others = frames["tasks"].filter((pl.col("type") == "proposal_sent") & (pl.col("owner") != "m07")
                                    & (pl.col("created_at") >= since))
    assert (others["completed_at"] <= others["due_at"]).fill_null(False).mean() > 0.55
    first_proposal = frames["stage_history"].filter(pl.col("stage") == "proposal").group_by("deal_id").agg(
        at=pl.col("entered_at").min())
    x = closed.filter(pl.col("owner") == "m07").join(first_proposal, on="deal_id").with_columns(after=pl.col("at") >= since)
    win = dict(x.group_by("after").agg(pl.col("won").mean()).iter_rows())
    assert win[True] < win[False] - 0.15


def test_planted_slow_contract_in_enterprise(frames):
    since, cutoff = datetime(2024, 10, 1), END - timedelta(days=30)
    c = frames["stage_history"].sort("deal_id", "entered_at").with_columns(
        nxt=pl.col("entered_at").shift(-1).over("deal_id")).filter(pl.col("stage") == "contract")
    c = c.join(frames["deals"].select("deal_id", "segment"), on="deal_id").filter(pl.col("entered_at") <= cutoff)
    c = c.with_columns(long=pl.col("nxt").is_null() | ((pl.col("nxt") - pl.col("entered_at")) >= timedelta(days=30)),
                       after=pl.col("entered_at") >= since)
    share = {(seg, after): v for seg, after, v in c.group_by("segment", "after").agg(pl.col("long").mean()).iter_rows()}
    assert share[("enterprise", True)] > share[("enterprise", False)] + 0.25
    assert abs(share[("mid", True)] - share[("mid", False)]) < 0.2, "other segments unchanged"


def test_no_plants_means_no_change():
    frames = generate_frames(plant=())
    prop = frames["tasks"].filter((pl.col("type") == "proposal_sent") & (pl.col("owner") == "m07")
                                  & (pl.col("created_at") >= datetime(2024, 9, 1)))
    assert (prop["completed_at"] <= prop["due_at"]).fill_null(False).mean() > 0.5


def test_custom_plants_as_text():
    s = simulate(deals=1500, months=12, start=date(2024, 1, 1),
                 plant=["late_follow_up_call:m03:2024-06-01", "slow_proposal:smb:2024-07-01:2"])
    assert s.plants == (LateStep("m03", date(2024, 6, 1), "follow_up_call"),
                        SlowStage("proposal", "smb", date(2024, 7, 1), 2.0))
    tk = s.frames["tasks"].filter((pl.col("type") == "follow_up_call") & (pl.col("owner") == "m03")
                                  & (pl.col("created_at") >= datetime(2024, 6, 1)))
    assert (tk["completed_at"] <= tk["due_at"]).fill_null(False).mean() < 0.3


def test_plants_as_one_text_or_objects():
    one = simulate(deals=300, months=12, start=date(2024, 1, 1),
                   plant="late_proposals:m02:2024-06-01, slow_contract:mid:2024-07-01")
    assert [str(p) for p in one.plants] == ["late_proposals:m02:2024-06-01", "slow_contract:mid:2024-07-01"]
    obj = simulate(deals=300, months=12, start=date(2024, 1, 1), plant=LateStep("m02", date(2024, 6, 1)))
    assert obj.plants == (LateStep("m02", date(2024, 6, 1)),)
    assert simulate(deals=300, months=12, start=date(2024, 1, 1), plant=None).plants == ()


@pytest.mark.parametrize("text, message", [
    ("late_proposals:m99:2024-09-01", "there is no manager 'm99'"),
    ("late_proposals:m07:2024-13-01", "expected a date such as 2024-09-01, got '2024-13-01'"),
    ("slow_closing:enterprise:2024-10-01", "'closing' is not a stage of the playbook"),
    ("slow_contract:huge:2024-10-01", "the segment must be one of smb, mid, enterprise, got 'huge'"),
    ("faster_everything", "unknown kind 'faster_everything'"),
    ("late_dances:m07:2024-09-01", "'dances' is not a step of the playbook"),
])
def test_bad_plants_are_explained(text, message):
    with pytest.raises(InputError) as exc:
        simulate(deals=200, months=6, start=date(2024, 1, 1), plant=[text])
    assert message in str(exc.value)
    assert "late_proposals:m07:2024-09-01" in str(exc.value), "the suggestion shows the syntax"


def test_all_bad_plants_are_reported_together():
    with pytest.raises(InputError) as exc:
        simulate(deals=200, months=6, start=date(2024, 1, 1), plant=["nonsense", "late_proposals:m99:2024-01-01"])
    assert len(exc.value.problems) == 2


def test_parse_plant_defaults():
    assert parse_plant("late_proposals:m07:2024-09-01", PLAYBOOK) == LateStep("m07", date(2024, 9, 1))
    assert parse_plant("slow_contract:enterprise:2024-10-01", PLAYBOOK).factor == 3.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(deals=0), "deals: expected a whole number of at least 1"),
    (dict(managers=0), "managers: expected a whole number of at least 1"),
    (dict(months=0), "months: expected a whole number from 1 to 240"),
])
def test_bad_sizes_are_explained(kwargs, message):
    with pytest.raises(InputError, match=message):
        simulate(**kwargs)


def test_bad_format_is_explained(tmp_path):
    with pytest.raises(InputError, match="fmt: expected one of csv, parquet, got 'xlsx'"):
        generate(tmp_path, deals=100, fmt="xlsx")


# -- other sizes and languages -------------------------------------------------------------------
@pytest.mark.parametrize("managers", [1, 3, 7, 45])
def test_any_number_of_managers(managers):
    frames = generate_frames(deals=400, managers=managers, months=6, start=date(2024, 1, 1), plant=())
    assert frames["managers"].height == managers
    assert frames["managers"]["email"].is_unique().all()
    assert set(frames["deals"]["owner"]) <= set(frames["managers"]["manager_id"])


def test_english_vocabulary():
    en = generate_frames(deals=300, months=6, start=date(2024, 1, 1), lang="en", plant=())
    ru = generate_frames(deals=300, months=6, start=date(2024, 1, 1), lang="ru", plant=())
    assert "Chose a competitor" in set(en["deals"]["lost_reason"])
    assert "Выбрали конкурента" in set(ru["deals"]["lost_reason"])
    assert set(en["deals"]["lost_reason"].drop_nulls()) <= {
        "Client stopped responding", "No need", "No budget", "Price too high", "Chose a competitor",
        "Never reached the decision maker", "Project postponed", "Contract terms not agreed"}
    assert en["deals"]["deal_id"].to_list() == ru["deals"]["deal_id"].to_list()
    assert en["deals"]["status"].to_list() == ru["deals"]["status"].to_list(), "language changes words only"


def test_another_playbook_drives_stages_steps_and_deadlines():
    from dealpulse.playbook.load import parse_playbook

    pb = parse_playbook(
        "stages: [lead, demo, offer]\n"
        "steps:\n"
        "  call_back: {stage: lead, within: 4h, from: deal_created}\n"
        "  demo_done: {stage: demo, within: 3d}\n"
        "  offer_sent: {stage: offer, within: 2d, type: proposal_sent}\n"
        "client_card: {fields: [budget], complete_by: offer}\n")
    s = simulate(deals=600, months=12, start=date(2024, 1, 1), playbook=pb, plant=["slow_demo:mid:2024-06-01"])
    assert set(s.frames["stage_history"]["stage"]) == {"lead", "demo", "offer", "won", "lost"}
    tk = s.frames["tasks"]
    assert set(tk["type"]) == {"call_back", "demo_done", "proposal_sent"} | ACTIVITIES
    call_back = tk.filter(pl.col("type") == "call_back")
    assert (call_back["due_at"] - call_back["created_at"] == timedelta(hours=4)).all()
    assert set(s.frames["field_history"]["field"]) >= {"budget", "amount", "forecast_category"}


def test_default_size_scales_with_managers_and_months():
    assert generate_frames(managers=10, months=12, plant=())["deals"].height == 1250


# -- the store accepts it ------------------------------------------------------------------------
def test_frames_load_into_the_store_and_the_as_of_engine_agrees(tmp_path):
    from dealpulse.metrics.asof import snapshot
    from dealpulse.store import connect

    frames = generate_frames(deals=700, months=10, start=date(2024, 1, 1), seed=5)
    store = connect(str(tmp_path / "demo.duckdb"))
    try:
        for table, cols in COLUMNS.items():
            store.load_frame("_demo", frames[table].select(cols))
            store.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _demo")
        snap = snapshot(store, None, PLAYBOOK)
        got = snap.deals.select("deal_id", "status", "amount", "segment").execute()
        want = frames["deals"].select("deal_id", "status", "amount", "segment").sort("deal_id")
        got = pl.from_pandas(got).sort("deal_id")
        assert got["status"].to_list() == want["status"].to_list()
        assert got["segment"].to_list() == want["segment"].to_list()
        assert got["amount"].to_list() == want["amount"].to_list()
    finally:
        store.close()
