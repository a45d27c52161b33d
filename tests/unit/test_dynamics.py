"""`dealpulse dynamics` on small hand-made data with known answers, on DuckDB and PostgreSQL (`store`),
the two-sided tests against plain references, and the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from datetime import datetime, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from dealpulse.alerts.facts import deal_attributes
from dealpulse.cli import app
from dealpulse.dynamics import ROW_KEYS, Settings, compute_dynamics, dynamics_from_facts, extract_facts, normalize_by
from dealpulse.dynamics import changepoint as cp
from dealpulse.dynamics.stats import (fisher_two_sided_p, logrank_two_sided, mann_whitney_two_sided_p,
                                      marked_rate_two_sided_p, rate_two_sided_p)
from dealpulse.errors import InputError
from dealpulse.metrics.asof import Snapshot, snapshot
from dealpulse.playbook import parse_playbook
from dealpulse.store import connect
from dealpulse.store.cut import cut_store
from tests.builders import fill
from tests.conftest import PG_URL, _drop_pg, _pg_database

PB = parse_playbook("stages: [new, qualification]\nsegments: {smb: \"true\"}\n", "test")
START = datetime(2024, 1, 1)
WEEKS = 38
T = START + timedelta(weeks=WEEKS)  # the recent window: weeks 26..38; the baseline: weeks 0..26
CHANGE = START + timedelta(weeks=26)


# -- a hand-made department: one change per channel, from week 26 on ---------------------------------
def _world():
    """Every channel brings deals evenly spread over each week, each deal enters `new`, moves to
    `qualification` after 2 days and is won after 10 — except where a channel's change says otherwise:

    - web: nothing changes (10 deals a week);
    - partner: 5 deals a week, 10 from week 26 (the inflow doubles);
    - events: from week 26, every other deal is lost after 5 days in `new` (early conversion and win rate halve);
    - referral: amounts 100, then 200 from week 26 (deal size doubles);
    - outbound: won after 10 days, then after 35 from week 26 (the cycle lengthens).
    """
    deals, stages = [], []
    for ch in ("web", "partner", "events", "referral", "outbound"):
        for week in range(WEEKS + 8):  # deals after T exist in the store but not as of T
            after = week >= 26
            n = 10 if ch != "partner" or after else 5
            for i in range(n):
                created = START + timedelta(weeks=week, days=7 * i / n, hours=9)
                did = f"{ch[:3]}{week:02d}{i:02d}"
                lost = ch == "events" and after and i % 2 == 1
                won_after = 35 if ch == "outbound" and after else 10
                amount = 200.0 if ch == "referral" and after else 100.0
                closed = created + timedelta(days=5 if lost else won_after)
                deals.append(dict(deal_id=did, owner="m1", segment="smb", channel=ch, amount=amount, created_at=created,
                                  status="lost" if lost else "won", closed_at=closed))
                stages.append((did, "new", created))
                if not lost:
                    stages.append((did, "qualification", created + timedelta(days=2)))
                stages.append((did, "lost" if lost else "won", closed))
    return deals, stages


def _new_store(engine: str, folder) -> tuple[str, str | None]:
    """(url, PostgreSQL database to drop) of an empty store on `engine`."""
    if engine == "duckdb":
        return str(folder / f"{uuid.uuid4().hex[:8]}.duckdb"), None
    if not PG_URL:
        pytest.skip("DEALPULSE_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    url, name = _pg_database()
    return url, name


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_world(request, tmp_path_factory):
    """(engine, the hand-made department in a store of that engine, its rows as of T in en and ru); built once."""
    folder = tmp_path_factory.mktemp("dynamics")
    url, name = _new_store(request.param, folder)
    store = connect(url)
    try:
        deals, stages = _world()
        fill(store, deals=deals, stage_history=stages)
        yield request.param, store, folder, {"en": _rows(store), "ru": _rows(store, lang="ru")}
    finally:
        store.close()
        if name:
            _drop_pg(name)


@pytest.fixture(scope="module")
def duck_world(tmp_path_factory):
    """The hand-made department in DuckDB (read-only; tests that add rows use their own store)."""
    store = connect(str(tmp_path_factory.mktemp("dynamics_duck") / "w.duckdb"))
    deals, stages = _world()
    fill(store, deals=deals, stage_history=stages)
    yield store
    store.close()


def _rows(store, at=T, by=("channel",), **kw):
    snap = snapshot(store, at, PB)
    try:
        return compute_dynamics(snap, by=by, **kw)
    finally:
        snap.release()


def _row(rows, metric, **subject):
    found = [r for r in rows if r["metric"] == metric and r["subject"] == subject]
    assert len(found) == 1, (metric, subject)
    return found[0]


def test_each_planted_change_is_found_with_its_known_size_and_nothing_else(engine_world):
    rows = engine_world[3]["en"]
    assert all(tuple(r) == ROW_KEYS for r in rows)
    json.dumps(rows)
    sig = {(r["subject"]["channel"], r["metric"]) for r in rows if r["significant"]}
    # partner doubles: 5 -> 10 new deals a week, its share 5/45 -> 10/50 of all new deals
    r = _row(rows, "inflow_count", channel="partner")
    assert r["significant"] and r["direction"] == "up" and r["good"] is True and r["unit"] == "relative"
    assert r["evidence"]["window_days"] in (28, 56, 84)
    assert r["before"] == pytest.approx(5.0, abs=0.05) and r["after"] == pytest.approx(10.0, abs=0.3)
    assert r["change"] == pytest.approx(1.0, abs=0.07)
    s = _row(rows, "inflow_share", channel="partner")
    assert s["significant"] and s["before"] == pytest.approx(5 / 45, abs=0.005) and s["after"] == pytest.approx(0.2, abs=0.01)
    # events: half its recent deals are lost in `new`: 100% -> 50% past the first stage within 14 days
    e = _row(rows, "early_conversion", channel="events")
    assert e["significant"] and e["direction"] == "down" and e["good"] is False and e["unit"] == "points"
    assert e["before"] == 1.0 and e["after"] == pytest.approx(0.5, abs=0.03) and e["change"] == pytest.approx(-0.5, abs=0.03)
    w = _row(rows, "win_rate", channel="events")
    assert w["significant"] and w["before"] == 1.0 and w["after"] == pytest.approx(0.5, abs=0.03) and w["good"] is False
    # referral: the median new deal 100 -> 200
    z = _row(rows, "deal_size", channel="referral")
    assert z["significant"] and (z["before"], z["after"], z["change"]) == (100.0, 200.0, 1.0) and z["good"] is True
    a = _row(rows, "inflow_amount", channel="referral")
    assert a["significant"] and a["before"] == pytest.approx(1000, rel=0.01) and a["after"] == pytest.approx(2000, rel=0.05)
    # outbound: won after 35 days instead of 10 — a longer cycle is bad
    c = _row(rows, "cycle", channel="outbound")
    assert c["significant"] and c["direction"] == "up" and c["good"] is False and c["before"] == pytest.approx(10, abs=0.01)
    # nothing changed in web; the others' shares fall only a little (10/45 -> 10/50: below the minimum)
    assert not any(ch == "web" for ch, _ in sig)
    assert not any(m == "inflow_share" and ch != "partner" for ch, m in sig)
    # significant rows come first, their q within the false discovery rate, and every q at least its p
    flags = [r["significant"] for r in rows]
    assert flags == sorted(flags, reverse=True)
    for r in rows:
        if r["q"] is not None:
            assert r["q"] >= r["evidence"]["p_value"] - 1e-12
        if r["significant"]:
            assert r["q"] <= 0.05 and r["since"] is not None


def test_change_dates_are_near_the_planted_start(engine_world):
    rows = engine_world[3]["en"]
    for metric, channel in (("inflow_count", "partner"), ("deal_size", "referral"), ("early_conversion", "events")):
        since = datetime.fromisoformat(_row(rows, metric, channel=channel)["since"])
        assert abs((since - CHANGE).days) <= 7, (metric, since)


def test_messages_in_both_languages(engine_world):
    en = _row(engine_world[3]["en"], "inflow_count", channel="partner")["message"]
    ru = _row(engine_world[3]["ru"], "inflow_count", channel="partner")["message"]
    assert "partner" in en and "new deals a week" in en and "better" in en
    assert "partner" in ru and "новых сделок в неделю" in ru and "лучшему" in ru


def test_nothing_before_the_change(duck_world):
    rows = _rows(duck_world, at=CHANGE - timedelta(days=1))
    assert rows and not [r for r in rows if r["significant"]]


def test_segment_and_channel_pairs_and_groupings(duck_world):
    world = duck_world
    rows = _rows(world, by="segment,channel")
    assert {tuple(sorted(r["subject"])) for r in rows} == {("channel", "segment")}
    assert _row(rows, "inflow_count", segment="smb", channel="partner")["significant"]
    both = _rows(world, by=None)
    assert {tuple(r["subject"]) for r in both} == {("segment",), ("channel",)}
    # a single segment has no share of the inflow to compare
    assert not [r for r in both if r["subject"] == {"segment": "smb"} and r["metric"] == "inflow_share"]


def test_as_of_honesty_an_earlier_moment_equals_the_data_cut_then(engine_world):
    engine, world, folder, _ = engine_world
    at = START + timedelta(weeks=33, days=2, hours=5)
    full = _rows(world, at=at, by=None)
    url, name = _new_store(engine, folder)
    other = connect(url)
    try:
        cut_store(world, other, at)
        assert _rows(other, at=at, by=None) == full
    finally:
        other.close()
        if name:
            _drop_pg(name)
    if engine != "duckdb":
        return
    # and the facts cut back in memory (a weekly replay) give the same rows
    later = Snapshot(world, T, PB)
    try:
        cut = extract_facts(later).at(at, deal_attributes(Snapshot(world, at, PB, materialize=False)))
        assert [{k: v for k, v in r.items() if k != "since"} for r in dynamics_from_facts(cut, by=None)] == \
            [{k: v for k, v in r.items() if k != "since"} for r in full]
    finally:
        later.release()


def test_small_young_and_empty_data_are_not_tested_and_do_not_crash(duck):
    deals = [dict(deal_id=f"d{i}", owner="m1", segment="smb", channel="web", amount=1.0,
                  created_at=START + timedelta(days=i), status="open") for i in range(20)]
    fill(duck, deals=deals, stage_history=[(d["deal_id"], "new", d["created_at"]) for d in deals])
    rows = _rows(duck, at=START + timedelta(days=25))  # under eight weeks of data before the window
    assert rows and all(r["q"] is None and not r["significant"] for r in rows)
    assert all(r["evidence"]["reason"] == "not_enough_data" for r in rows)
    assert "not enough data" in rows[0]["message"]
    assert _rows(duck, at=START - timedelta(days=1)) == []


def test_a_small_subject_is_not_tested_but_a_big_one_is(duck):
    world = duck
    deals, stages = _world()
    fill(world, deals=deals, stage_history=stages)
    fill(world, deals=[dict(deal_id="tiny1", owner="m1", segment="smb", channel="fax", amount=5.0,
                            created_at=START + timedelta(weeks=30), status="open")],
         stage_history=[("tiny1", "new", START + timedelta(weeks=30))])
    rows = _rows(world)
    fax = [r for r in rows if r["subject"] == {"channel": "fax"}]
    assert fax and all(not r["evidence"]["tested"] and r["q"] is None for r in fax)
    assert _row(rows, "inflow_count", channel="web")["q"] is not None


def test_a_big_subject_does_not_flag_a_trivial_drift():
    """2,000 deals a week, +6% from one channel in the recent window: certain, but below the minimum effect."""
    import pandas as pd

    from dealpulse.alerts.facts import build_facts

    rng = np.random.default_rng(1)
    rows = []
    for week in range(WEEKS):
        for ch, n in (("big", 1000 if week < 26 else 1060), ("other", 1000)):
            created = START + timedelta(weeks=week) + pd.to_timedelta(np.sort(rng.uniform(0, 7 * 86400, n)), unit="s")
            rows.append(pd.DataFrame({"channel": ch, "created_at": created}))
    d = pd.concat(rows, ignore_index=True)
    d = d.assign(deal_id=[f"d{i}" for i in range(len(d))], owner="m1", segment="smb", amount=100.0, status="open",
                 closed_at=pd.NaT)
    d["created_at"] = d["created_at"].astype("datetime64[us]")
    d["closed_at"] = d["closed_at"].astype("datetime64[us]")
    empty = pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c.endswith("_at") else object)
                          for c in ("deal_id", "step", "anchor_at", "completed_at")})
    spells = pd.DataFrame({"deal_id": pd.Series(dtype=object), "stage": pd.Series(dtype=object),
                           "stage_index": pd.Series(dtype="int64"), "entered_at": pd.Series(dtype="datetime64[us]"),
                           "exit_at": pd.Series(dtype="datetime64[us]"), "exit_stage": pd.Series(dtype=object)})
    facts = build_facts(T, PB, ("new", "qualification"), d, empty, spells)
    got = dynamics_from_facts(facts, by="channel")
    r = _row(got, "inflow_count", channel="big")
    assert r["q"] < 0.01 and not r["significant"] and not r["evidence"]["big_enough"]
    assert "too small" in r["message"]
    # with a smaller minimum the same drift is significant
    got = dynamics_from_facts(facts, by="channel", settings=Settings(min_inflow_ratio=1.02, min_share_ratio=1.02))
    assert _row(got, "inflow_count", channel="big")["significant"]


def test_bad_groupings_are_errors_naming_the_option():
    assert normalize_by("channel") == (("channel",),)
    assert normalize_by(["segment", "channel"]) == (("segment", "channel"),)
    assert normalize_by(["segment", "segment,channel"]) == (("segment",), ("segment", "channel"))
    with pytest.raises(InputError, match="--by manager"):
        normalize_by("manager")


# -- the tests against plain references -----------------------------------------------------------------
def _hyper_pmf(x, n1, n0, k):
    return math.comb(n1, x) * math.comb(n0, k - x) / math.comb(n1 + n0, k)


def test_fisher_two_sided_mid_p_by_hand():
    k1, n1, k0, n0 = 2, 10, 9, 12
    pm = {x: _hyper_pmf(x, n1, n0, k1 + k0) for x in range(0, 11)}
    lower = sum(v for x, v in pm.items() if x < k1) + pm[k1] / 2
    assert fisher_two_sided_p(k1, n1, k0, n0) == pytest.approx(2 * min(lower, 1 - lower), rel=1e-9)
    assert fisher_two_sided_p(5, 10, 5, 10) == pytest.approx(1.0)
    assert math.isnan(fisher_two_sided_p(0, 0, 3, 10))


def test_rate_test_is_the_conditional_binomial_by_hand():
    k1, t1, k0, t0 = 12, 4.0, 10, 10.0  # 3 a week against 1 a week
    n, pi = k1 + k0, t1 / (t1 + t0)
    pmf = [math.comb(n, x) * pi ** x * (1 - pi) ** (n - x) for x in range(n + 1)]
    upper = sum(pmf[k1 + 1:]) + pmf[k1] / 2
    assert rate_two_sided_p(k1, t1, k0, t0) == pytest.approx(2 * upper, rel=1e-9)
    assert rate_two_sided_p(4, 4.0, 10, 10.0) > 0.8


def test_marked_rate_test_against_simulation():
    rng = np.random.default_rng(3)
    amounts = np.exp(rng.normal(12, 1.0, 80))
    recent, base = amounts[:30], amounts[30:]  # 30 of 80 deals in 4 of 14 weeks: more than expected
    pi = 4 / 14
    sims = (rng.random((100_000, amounts.size)) < pi) @ amounts
    s1 = recent.sum()
    upper = (sims >= s1).mean()
    assert marked_rate_two_sided_p(recent, base, 4.0, 10.0) == pytest.approx(2 * upper, rel=0.15)
    # equal amounts: the count test, up to the continuity of the approximation
    ones = np.ones(22)
    assert marked_rate_two_sided_p(ones[:12], ones[12:], 4.0, 10.0) == pytest.approx(rate_two_sided_p(12, 4.0, 10, 10.0), rel=0.3)


def test_mann_whitney_and_logrank_are_two_sided():
    x, y = np.arange(20, 40, dtype=float), np.arange(0, 30, dtype=float)
    assert mann_whitney_two_sided_p(x, y) == pytest.approx(mann_whitney_two_sided_p(-x, -y))
    dur = np.r_[np.full(20, 30.0), np.full(40, 10.0)]
    recent = np.r_[np.ones(20, bool), np.zeros(40, bool)]
    lr, p = logrank_two_sided(dur, np.ones(60, bool), recent)
    lr2, p2 = logrank_two_sided(dur[::-1], np.ones(60, bool), recent)
    assert lr.z < 0 and p < 1e-4 and lr2.z > 0 and p2 < 1e-4


def test_change_points_both_ways():
    t = np.array([np.datetime64("2024-01-01") + np.timedelta64(i, "D") for i in range(100)], dtype="datetime64[us]")
    good = np.r_[np.zeros(60), np.ones(40)].astype(bool)
    assert cp.binary_change(t, good, up=True).date().isoformat() == "2024-03-01"
    assert cp.binary_change(t, ~good, up=False).date().isoformat() == "2024-03-01"
    events = np.r_[t[:60:4], t[60:]]  # one every 4 days, then one a day from day 60
    at = cp.rate_change(events, t[0] - np.timedelta64(1, "D"), t[-1], up=True)
    assert abs((at - datetime(2024, 3, 1)).days) <= 3
    dur = np.r_[np.full(60, 5.0), np.full(40, 20.0)]
    assert abs((cp.survival_change(t, dur, np.ones(100, bool), later=True) - datetime(2024, 3, 1)).days) <= 2


# -- the command line ------------------------------------------------------------------------------------
runner = CliRunner()


def test_cli_json_on_both_engines(demo_url):
    res = runner.invoke(app, ["dynamics", "--db", demo_url, "--format", "json", "--lang", "en"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {"as_of", "zone", "by", "window_days", "baseline_days", "fdr", "tested", "significant", "method", "rows"} <= set(doc)
    assert doc["as_of"]["utc"].endswith("Z") and doc["by"] == [["segment"], ["channel"]] and doc["window_days"] == 84
    assert doc["rows"] and all(list(r) == list(ROW_KEYS) for r in doc["rows"])
    assert {r["metric"] for r in doc["rows"]} == {"inflow_count", "inflow_amount", "inflow_share", "early_conversion",
                                                   "win_rate", "deal_size", "cycle"}
    assert all(r["direction"] in ("up", "down", None) for r in doc["rows"])


def test_cli_csv_table_languages_and_errors(demo_db):
    demo_url = demo_db
    res = runner.invoke(app, ["dynamics", "--db", demo_url, "--format", "csv", "--by", "segment,channel", "--window", "8w"])
    assert res.exit_code == 0, res.output
    table = list(csv.DictReader(io.StringIO(res.stdout)))
    assert table and {"segment", "channel", "metric", "q", "significant", "message"} <= set(table[0])
    assert all(r["segment"] and r["channel"] for r in table)
    ru = runner.invoke(app, ["dynamics", "--db", demo_url, "--lang", "ru", "--as-of", "2024-06-01"])
    assert ru.exit_code == 0, ru.output
    assert "Динамика на 2024-06-01" in ru.stdout or "значимых изменений нет" in ru.output
    bad = runner.invoke(app, ["dynamics", "--db", demo_url, "--by", "manager"])
    assert bad.exit_code != 0 and "--by manager" in bad.output


# -- the report's section -------------------------------------------------------------------------------
def _render_section(ctx_dynamics, lang="en"):
    from dealpulse.i18n import t as tr_
    from dealpulse.report.html import _env

    return _env().get_template("section_dynamics.html").render(
        dynamics=ctx_dynamics, lang=lang, tr=lambda key, **kw: tr_(key, lang, **kw), num=lambda key: "2.",
        unavailable=lambda section: None)


def test_report_section_small_multiples_and_rows_in_both_languages(duck_world):
    from dealpulse.report.charts import to_div
    from dealpulse.report.dynamics_view import dynamics_context
    from dealpulse.report.sections.dynamics import dynamics_section
    from dealpulse.i18n import t as tr_

    snap = snapshot(duck_world, T, PB)
    try:
        sec = dynamics_section(snap, ("en", "ru"))
    finally:
        snap.release()
    assert sec.enough and sec.rows and len(sec.week_ends) == 52 and sec.week_ends[-1] == T
    partner = next(s for s in sec.series if s.dimension == "channel" and s.value == "partner")
    assert partner.counts[-1] == 10 and partner.counts[-20] == 5 and partner.change == "up" and partner.good
    assert [s.value for s in sec.series if s.dimension == "segment"] == ["smb"]
    for lang in ("en", "ru"):
        ctx = dynamics_context(sec, lang, lambda key, **kw: tr_(key, lang, **kw), None, to_div)
        html = _render_section(ctx, lang)
        assert "fig-dynamics-channel" in html and "fig-dynamics-segment" in html
        assert html.count("data-dynamics=") == len(sec.rows)
        assert ("канал partner" if lang == "ru" else "channel partner") in html


def test_report_section_without_data_says_so(duck):
    from dealpulse.report.charts import to_div
    from dealpulse.report.dynamics_view import dynamics_context
    from dealpulse.report.sections.dynamics import dynamics_section
    from dealpulse.i18n import t as tr_

    fill(duck, deals=[dict(deal_id="d1", owner="m1", segment="smb", channel="web", amount=1.0,
                           created_at=START, status="open")], stage_history=[("d1", "new", START)])
    snap = snapshot(duck, START + timedelta(days=3), PB)
    try:
        sec = dynamics_section(snap, ("ru",))
    finally:
        snap.release()
    assert not sec.enough and sec.rows == []
    ctx = dynamics_context(sec, "ru", lambda key, **kw: tr_(key, "ru", **kw), None, to_div)
    html = _render_section(ctx, "ru")
    assert "мало данных" in html.lower() and "fig-dynamics" not in html
    assert "мало данных" in _render_section(None, "ru").lower()
