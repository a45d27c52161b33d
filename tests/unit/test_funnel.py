"""The funnel on both engines, against a plain-Python reference on small hand-made data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from tests.builders import fill
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealpulse.errors import InputError
from dealpulse.metrics.asof import snapshot
from dealpulse.metrics.funnel import compute_funnel
from dealpulse.playbook import parse_playbook

PB = parse_playbook("stages: [new, qualification, proposal, negotiation]\n", "test")
BASE = datetime(2024, 1, 1)
TERMINAL = ("won", "lost")


def day(n: float) -> datetime:
    return BASE + timedelta(days=n)


def row(result, stage, **group):
    found = [r for r in result.rows if r["stage"] == stage and all(r.get(k) == v for k, v in group.items())]
    assert len(found) == 1, (stage, group, result.rows)
    return found[0]


# -- a plain reference: paths, Kaplan–Meier and Aalen–Johansen by hand (exact fractions) ---------
def reference(deals: list[dict], events: list[tuple], as_of: datetime, order: list[str],
              by: str | None = None) -> dict:
    """{(group, stage): figures}. deals: deal_id, created_at, status, closed_at, segment (the export's
    columns); events: (deal_id, stage, entered_at) rows of stage_history."""
    idx = {s: i for i, s in enumerate(order)}
    spells = []
    single_at_creation = []  # per deal with a stage: its only stage entry is at its creation
    for d in deals:
        if d["created_at"] > as_of:
            continue
        evs = [(s, at) for (did, s, at) in events if did == d["deal_id"] and at <= as_of]
        closes = [(s, at) for s, at in evs if s in TERMINAL]
        if d["status"] in TERMINAL and d.get("closed_at") and not closes and d["closed_at"] <= as_of:
            closes = [(d["status"], d["closed_at"])]
        # status as of then: the last event; a terminal one wins a tie
        status, closed_at = "open", None
        allev = sorted(evs + ([c for c in closes if c not in evs]), key=lambda e: (e[1], e[0] in TERMINAL))
        if allev and allev[-1][0] in TERMINAL:
            status, closed_at = allev[-1]
        nonterm = [(s, at) for s, at in evs if s not in TERMINAL and (closed_at is None or at <= closed_at)]
        if nonterm:
            single_at_creation.append(len(nonterm) == 1 and nonterm[0][1] == d["created_at"])
        path = sorted(((at, idx.get(s, len(order)), s) for s, at in nonterm))
        if closed_at is not None:
            path.append((closed_at, 10**6, status))
        kept, furthest = [], -1
        for at, i, s in path:
            if i > furthest:
                kept.append((at, i, s))
                furthest = i
        for k, (at, i, s) in enumerate(kept):
            if i == 10**6:
                continue
            nxt = kept[k + 1] if k + 1 < len(kept) else None
            spells.append(dict(group=d.get(by) if by else None, stage=s, entered_at=at,
                               exit_at=nxt[0] if nxt else None, exit_stage=nxt[2] if nxt else None,
                               status=status, closed_at=closed_at))
    out = {}
    for key in {(sp["group"], sp["stage"]) for sp in spells}:
        sps = [sp for sp in spells if (sp["group"], sp["stage"]) == key]
        dwell = [(((sp["exit_at"] or as_of) - sp["entered_at"]).total_seconds() / 86400, sp["exit_stage"] is not None) for sp in sps]
        nxt = [(t, 0 if sp["exit_stage"] is None else 2 if sp["exit_stage"] == "lost" else 1)
               for (t, _), sp in zip(dwell, sps)]
        won = [(((sp["closed_at"] or as_of) - sp["entered_at"]).total_seconds() / 86400,
                {"won": 1, "lost": 2}.get(sp["status"], 0)) for sp in sps]
        n = len(sps)
        out[key] = dict(
            entered=n, advanced=sum(e == 1 for _, e in nxt), lost=sum(e == 2 for _, e in nxt),
            in_stage=sum(e == 0 for _, e in nxt), conv_next=ref_cif(nxt), conv_won=ref_cif(won),
            conv_next_naive=sum(e == 1 for _, e in nxt) / n, conv_won_naive=sum(e == 1 for _, e in won) / n,
            dwell_median_days=ref_km_quantile(dwell, Fraction(1, 2)), dwell_p80_days=ref_km_quantile(dwell, Fraction(1, 5)),
        )
        if single_at_creation and all(single_at_creation):  # a snapshot export: no times, no moves
            out[key].update(conv_next=None, conv_won=None, dwell_median_days=None, dwell_p80_days=None)
    return out


def ref_km_quantile(obs: list[tuple[float, bool]], level: Fraction) -> float | None:
    surv = Fraction(1)
    for t in sorted({t for t, _ in obs}):
        at_risk = sum(1 for u, _ in obs if u >= t)
        deaths = sum(1 for u, e in obs if u == t and e)
        surv *= Fraction(at_risk - deaths, at_risk)
        if surv <= level:
            return t
    return None


def ref_cif(obs: list[tuple[float, int]]) -> float | None:
    if all(e == 0 for _, e in obs):
        return None  # no outcome yet: no estimate
    surv, cif = Fraction(1), Fraction(0)
    for t in sorted({t for t, _ in obs}):
        at_risk = sum(1 for u, _ in obs if u >= t)
        d1 = sum(1 for u, e in obs if u == t and e == 1)
        d_all = sum(1 for u, e in obs if u == t and e != 0)
        cif += surv * Fraction(d1, at_risk)
        surv *= Fraction(at_risk - d_all, at_risk)
    return float(cif)


def assert_matches_reference(result, ref: dict, by: str | None = None) -> None:
    got = {(r.get(by) if by else None, r["stage"]): r for r in result.rows if r["entered"]}
    assert set(got) == set(ref)
    for key, exp in ref.items():
        r = got[key]
        for f in ("entered", "advanced", "lost", "in_stage"):
            assert r[f] == exp[f], (key, f)
        for f in ("conv_next", "conv_won", "conv_next_naive", "conv_won_naive", "dwell_median_days", "dwell_p80_days"):
            assert (r[f] is None) == (exp[f] is None), (key, f, r[f], exp[f])
            if exp[f] is not None:
                assert r[f] == pytest.approx(exp[f], abs=1e-4 if f.startswith("conv") else 0.01), (key, f)


# -- hand-made data -------------------------------------------------------------------------------
def deal(i, created=0, status="open", closed=None, segment=None, **kw):
    return dict(deal_id=f"d{i}", owner=kw.get("owner", "m1"), created_at=day(created), status=status,
                closed_at=day(closed) if closed is not None else None, segment=segment, channel=kw.get("channel"))


def test_censored_deals_raise_the_km_median_above_the_closed_only_one(store):
    # four deals left `new` after 1, 2, 3 and 4 days; four are still in it after 10 days
    deals = [deal(i, closed=10 + i, status="won") for i in range(1, 5)] + [deal(i) for i in range(5, 9)]
    history = [(f"d{i}", "new", day(0)) for i in range(1, 9)]
    history += [(f"d{i}", "qualification", day(i)) for i in range(1, 5)]
    fill(store, deals=deals, stage_history=history)
    res = compute_funnel(snapshot(store, day(10), PB))
    new = row(res, "new")
    assert (new["entered"], new["advanced"], new["lost"], new["in_stage"], new["n_censored"]) == (8, 4, 0, 4, 4)
    closed_only_median = 2.5  # median of 1, 2, 3, 4
    assert new["dwell_median_days"] == 4.0 > closed_only_median  # KM: S(4) = 4/8
    assert new["dwell_p80_days"] is None  # the curve never gets down to 0.2
    assert new["conv_next"] == pytest.approx(0.5) and new["conv_next_naive"] == pytest.approx(0.5)
    assert new["undecided_next"] == pytest.approx(0.5)
    assert res.method["dwell"] == "kaplan-meier" and "censored" in res.method["censoring"]


def test_aalen_johansen_conversion_counts_open_deals_as_at_risk_not_failed(store):
    # advanced after 1 and 2 days, lost after 3, one still in `new` after 1.5 days
    deals = [deal(1, status="won", closed=5), deal(2, status="won", closed=5), deal(3, status="lost", closed=3), deal(4, created=1.5)]
    history = [("d1", "new", day(0)), ("d1", "qualification", day(1)), ("d2", "new", day(0)), ("d2", "qualification", day(2)),
               ("d3", "new", day(0)), ("d4", "new", day(1.5))]
    fill(store, deals=deals, stage_history=history)
    res = compute_funnel(snapshot(store, day(3), PB))
    new = row(res, "new")
    # S: 1 -> 3/4 at t=1; the censored deal leaves at 1.5; 3/4 * 1/2 at t=2; CIF(adv) = 1/4 + 3/8
    assert new["conv_next"] == pytest.approx(5 / 8)
    assert new["conv_next_naive"] == pytest.approx(2 / 4)
    assert (new["advanced"], new["lost"], new["in_stage"]) == (2, 1, 1)
    # as of day 3 d1 and d2 are still open (won on day 5): d3's loss is the only close so far
    assert new["conv_won"] == 0.0 and new["undecided_won"] == pytest.approx(2 / 3, abs=1e-4)  # 2 of 3 at risk at t=3
    assert row(res, "qualification")["conv_next"] is None  # nobody has left it yet: no estimate


def test_skipped_stage_lost_deal_and_group_split(store):
    deals = [deal(1, status="won", closed=9, segment="smb"), deal(2, status="lost", closed=6, segment="smb"),
             deal(3, segment="mid"), deal(4, status="won", closed=8, segment="mid")]
    history = [
        ("d1", "new", day(0)), ("d1", "proposal", day(2)),  # skips qualification
        ("d2", "new", day(0)), ("d2", "qualification", day(1)),  # lost from qualification
        ("d3", "new", day(0)), ("d3", "qualification", day(3)),
        ("d4", "new", day(0)), ("d4", "qualification", day(1)), ("d4", "proposal", day(4)), ("d4", "won", day(8)),
    ]
    fill(store, deals=deals, stage_history=history)
    snap = snapshot(store, day(20), PB)
    res = compute_funnel(snap)
    new, qual, prop = row(res, "new"), row(res, "qualification"), row(res, "proposal")
    assert (new["entered"], new["advanced"], new["lost"], new["in_stage"]) == (4, 4, 0, 0)
    assert (qual["entered"], qual["advanced"], qual["lost"], qual["in_stage"]) == (3, 1, 1, 1)
    assert (prop["entered"], prop["advanced"], prop["lost"]) == (2, 2, 0)  # won counts as advanced
    assert prop["conv_won"] == pytest.approx(1.0)
    assert row(res, "negotiation")["entered"] == 0
    assert new["dwell_median_days"] == 1.0  # dwell in new: 2, 1, 3, 1
    by_seg = compute_funnel(snap, by="segment")
    assert row(by_seg, "qualification", segment="smb")["lost"] == 1
    assert row(by_seg, "qualification", segment="mid")["in_stage"] == 1
    assert row(by_seg, "proposal", segment="smb")["entered"] == 1
    deals_ref = [dict(d, created_at=d["created_at"]) for d in deals]
    assert_matches_reference(res, reference(deals_ref, history, day(20), list(PB.stages)))
    assert_matches_reference(by_seg, reference(deals_ref, history, day(20), list(PB.stages), "segment"), "segment")
    assert all(r["few_deals"] for r in res.rows if r["entered"])
    assert [n.code for n in res.notices] == ["few_deals"]


def test_back_moves_stay_at_the_furthest_stage_and_unknown_stages_come_last(store):
    deals = [deal(1), deal(2)]
    history = [("d1", "new", day(0)), ("d1", "proposal", day(1)), ("d1", "qualification", day(2)),
               ("d2", "new", day(0)), ("d2", "demo", day(1))]
    fill(store, deals=deals, stage_history=history)
    res = compute_funnel(snapshot(store, day(5), PB))
    assert res.stages == ("new", "qualification", "proposal", "negotiation", "demo")
    assert res.unknown_stages == ("demo",)
    assert row(res, "qualification")["entered"] == 0  # the move back is ignored
    assert row(res, "proposal")["in_stage"] == 1 and row(res, "proposal")["dwell_median_days"] is None
    assert row(res, "demo")["in_stage"] == 1
    assert res.n_back_moves == 1
    assert {n.code for n in res.notices} >= {"unknown_stages", "back_moves"}


def test_snapshot_export_is_recognised(store):
    deals = [deal(1, created=0), deal(2, created=1), deal(3, created=2, status="lost", closed=4)]
    history = [("d1", "new", day(0)), ("d2", "proposal", day(1)), ("d3", "qualification", day(2))]
    fill(store, deals=deals, stage_history=history)
    res = compute_funnel(snapshot(store, day(5), PB))
    assert res.is_snapshot
    assert "snapshot" in [n.code for n in res.notices]
    assert row(res, "qualification")["lost"] == 1 and row(res, "proposal")["in_stage"] == 1  # where deals stand
    assert all(r["conv_next"] is None and r["dwell_median_days"] is None for r in res.rows)  # no times, no moves
    fill(store, stage_history=[("d1", "qualification", day(3))])
    assert not compute_funnel(snapshot(store, day(5), PB)).is_snapshot


def test_since_keeps_deals_created_from_then_and_bad_by_is_an_input_error(store):
    deals = [deal(1, created=0), deal(2, created=5)]
    fill(store, deals=deals, stage_history=[("d1", "new", day(0)), ("d2", "new", day(5))])
    snap = snapshot(store, day(6), PB)
    assert row(compute_funnel(snap, since="2024-01-03"), "new")["entered"] == 1
    assert row(compute_funnel(snap), "new")["entered"] == 2
    with pytest.raises(InputError, match="--by"):
        compute_funnel(snap, by="colour")
    with pytest.raises(InputError, match="--since"):
        compute_funnel(snap, since="yesterday")


def test_empty_store_gives_empty_rows_and_a_notice(store):
    fill(store, deals=[deal(1)])
    res = compute_funnel(snapshot(store, day(1), PB))
    assert [r["entered"] for r in res.rows] == [0, 0, 0, 0]
    assert [n.code for n in res.notices] == ["no_stage_history"]


# -- properties -----------------------------------------------------------------------------------
STAGES = list(PB.stages) + ["demo"]


@st.composite
def histories(draw):
    n = draw(st.integers(1, 7))
    deals, events = [], []
    for i in range(n):
        created = draw(st.integers(0, 10))
        t = created
        path = draw(st.lists(st.sampled_from(STAGES), min_size=1, max_size=4))
        for k, s in enumerate(path):
            if k:
                t += draw(st.integers(0, 4))
            if (f"d{i}", s, day(t)) not in events:
                events.append((f"d{i}", s, day(t)))
        outcome = draw(st.sampled_from(["open", "won", "lost"]))
        closed = None
        if outcome != "open":
            closed = t + draw(st.integers(0, 5))
            if draw(st.booleans()):
                events.append((f"d{i}", outcome, day(closed)))
        deals.append(dict(deal_id=f"d{i}", owner="m1", created_at=day(created), status=outcome,
                          closed_at=day(closed) if closed is not None else None,
                          segment=draw(st.sampled_from(["smb", "mid", None]))))
    as_of = day(draw(st.integers(0, 25)))
    return deals, events, as_of


def _reset(store) -> None:
    for table in ("deals", "stage_history", "tasks", "field_history"):
        store.execute(f"DELETE FROM {table}")


def _cut(deals, events, as_of):
    """The data as an export taken at as_of would have it (what store/cut.py's cut_store makes)."""
    cut_deals = []
    for d in deals:
        if d["created_at"] > as_of:
            continue
        if d["closed_at"] is not None and d["closed_at"] > as_of:
            d = dict(d, status="open", closed_at=None)
        cut_deals.append(d)
    return cut_deals, [e for e in events if e[2] <= as_of]


PROPS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPS
@given(data=histories(), seed=st.integers(0, 1000))
def test_properties_ranges_reference_row_order_and_as_of(store, data, seed):
    deals, events, as_of = data
    _reset(store)
    fill(store, deals=deals, stage_history=events)
    res = compute_funnel(snapshot(store, as_of, PB), by="segment")
    for r in res.rows:
        assert r["entered"] == r["advanced"] + r["lost"] + r["in_stage"]
        for f in ("conv_next", "conv_won", "conv_next_naive", "conv_won_naive"):
            assert r[f] is None or 0.0 <= r[f] <= 1.0
        for f in ("dwell_median_days", "dwell_p80_days"):
            assert r[f] is None or r[f] >= 0.0
        if r["dwell_median_days"] is not None and r["dwell_p80_days"] is not None:
            assert r["dwell_p80_days"] >= r["dwell_median_days"]
    assert_matches_reference(res, reference(deals, events, as_of, list(res.stages), "segment"), "segment")

    # the order rows were written in does not matter
    rng = random.Random(seed)
    shuffled_deals, shuffled_events = deals[:], events[:]
    rng.shuffle(shuffled_deals)
    rng.shuffle(shuffled_events)
    _reset(store)
    fill(store, deals=shuffled_deals, stage_history=shuffled_events)
    again = compute_funnel(snapshot(store, as_of, PB), by="segment")
    assert again.rows == res.rows

    # as of T on the full data = on the data cut at T
    _reset(store)
    cut_deals, cut_events = _cut(deals, events, as_of)
    fill(store, deals=cut_deals, stage_history=cut_events)
    if cut_deals:
        assert compute_funnel(snapshot(store, as_of, PB), by="segment").rows == res.rows


def test_as_of_on_the_full_store_equals_the_store_cut_at_then(store, tmp_path):
    from dealpulse.store import connect
    from dealpulse.store.cut import cut_store

    deals = [deal(1, status="won", closed=9, segment="smb"), deal(2, status="lost", closed=6, segment="smb"),
             deal(3, created=2, segment="mid"), deal(4, created=3, status="won", closed=12, segment="mid")]
    history = [("d1", "new", day(0)), ("d1", "proposal", day(2)), ("d2", "new", day(0)), ("d2", "qualification", day(1)),
               ("d3", "new", day(2)), ("d3", "qualification", day(5)), ("d4", "new", day(3)),
               ("d4", "qualification", day(4)), ("d4", "proposal", day(7)), ("d4", "won", day(12))]
    fill(store, deals=deals, stage_history=history)
    for t in (day(1.5), day(8), day(30)):
        with connect(str(tmp_path / f"cut{t.day}.duckdb")) as cut:
            moment = cut_store(store, cut, t)
            assert compute_funnel(snapshot(cut, moment, PB), by="segment").rows == \
                compute_funnel(snapshot(store, t, PB), by="segment").rows


def test_cli_funnel_table_json_csv(tmp_path):
    """The CLI on DuckDB (the numbers are checked on both engines above)."""
    import csv
    import io
    import json

    from typer.testing import CliRunner

    from dealpulse.cli import app
    from dealpulse.store import connect

    url = str(tmp_path / "cli.duckdb")
    with connect(url) as s:
        fill(s, deals=[deal(1, status="won", closed=4, segment="smb"), deal(2, segment="mid")],
             stage_history=[("d1", "new", day(0)), ("d1", "proposal", day(1)), ("d2", "new", day(0)), ("d2", "pilot", day(2))])
    pb = tmp_path / "pb.yaml"
    pb.write_text("stages: [new, qualification, proposal, negotiation]\n", encoding="utf-8")
    runner = CliRunner()
    common = ["funnel", "--db", url, "--playbook", str(pb), "--as-of", "2024-01-10"]
    res = runner.invoke(app, common + ["--lang", "en"])
    assert res.exit_code == 0, res.output
    assert "Funnel as of 2024-01-10 00:00" in res.output and "Kaplan–Meier" in res.output
    assert "pilot" in res.output and "not in the playbook: pilot" in res.output
    res = runner.invoke(app, common + ["--lang", "ru", "--by", "segment", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["as_of"]["utc"] == "2024-01-10T00:00:00Z" and doc["by"] == "segment"
    assert doc["method"]["dwell"] == "kaplan-meier" and "Каплану–Мейеру" in doc["method_note"]
    assert {w["code"] for w in doc["warnings"]} == {"unknown_stages", "few_deals"}
    first = doc["rows"][0]
    assert list(first) == ["segment", "stage", "entered", "advanced", "lost", "in_stage", "conv_next", "conv_won",
                           "conv_next_naive", "conv_won_naive", "dwell_median_days", "dwell_p80_days", "n_censored",
                           "undecided_next", "undecided_won", "few_deals"]
    assert (first["segment"], first["stage"], first["entered"]) == ("mid", "new", 1)
    res = runner.invoke(app, common + ["--format", "csv", "--since", "2024-01-01"])
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["stage"] for r in rows] == ["new", "qualification", "proposal", "negotiation", "pilot"]
    assert rows[0]["entered"] == "2" and rows[0]["conv_next"] == "1.0"
    bad = runner.invoke(app, common + ["--by", "colour"])
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["funnel", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 5 and "has no deals yet" in missing.output
