"""The optimism components on small hand-made data with known answers (both engines), and the
combination (standardisation, headline, interval, verdict, reasons) against plain reference arithmetic."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import parse_playbook
from dealpulse.risk.history import load_history
from dealpulse.risk.honesty import late_bad_news, lost_gaps, zombie_pipeline, zombies
from dealpulse.risk.optimism import (COMPONENTS, NULL_SD, OVERSTATES, WEIGHTS, Z90, _verdict, combine, differences,
                                     reason_codes, reason_text, standardise, team_rates, verdict_threshold)
from tests.builders import fill

PB = parse_playbook("""
stages: [new, proposal, negotiation]
stale_after: {default: 14d, by_segment: {enterprise: 21d}}
""", "test")
AS_OF = datetime(2024, 3, 1) + timedelta(days=99)  # D(100)


def D(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 3, 1) + timedelta(days=day - 1, hours=hour)


def _deal(deal_id, owner, segment, created, status="open", closed=None, amount=100.0):
    return dict(deal_id=deal_id, owner=owner, segment=segment, amount=amount, created_at=created, status=status, closed_at=closed)


def _scenario(store) -> None:
    deals, stages, tasks, fields = [], [], [], []
    for i in range(5):  # won smb deals: 2 d in new, 5 d in proposal, 2 d in negotiation
        deals.append(_deal(f"w{i}", "m1", "smb", D(1 + i), "won", D(10 + i)))
        stages += [(f"w{i}", "new", D(1 + i)), (f"w{i}", "proposal", D(3 + i)), (f"w{i}", "negotiation", D(8 + i)),
                   (f"w{i}", "won", D(10 + i))]
    # lost deals; the window is (D(44), D(100)]
    deals += [_deal("l1", "m1", "smb", D(50), "lost", D(90)), _deal("l2", "m1", "smb", D(60), "lost", D(72)),
              _deal("l3", "m2", "enterprise", D(40), "lost", D(78)), _deal("l4", "m2", "smb", D(10), "lost", D(30)),
              _deal("l5", "m3", "smb", D(45), "lost", D(95))]
    stages += [("l1", "new", D(50)), ("l1", "proposal", D(55)), ("l1", "lost", D(90)),
               ("l2", "new", D(60)), ("l2", "lost", D(72)),
               ("l3", "new", D(40)), ("l3", "proposal", D(60)), ("l3", "lost", D(78)),
               ("l4", "new", D(10)), ("l4", "lost", D(30)),
               ("l5", "new", D(45)), ("l5", "lost", D(95))]
    tasks += [dict(task_id="t1", deal_id="l1", type="call", created_at=D(59), completed_at=D(60)),
              dict(task_id="t2", deal_id="l1", type="call", created_at=D(80), due_at=D(81), completed_at=D(90, 1)),  # clean-up after the mark
              dict(task_id="t3", deal_id="l2", type="call", created_at=D(69), completed_at=D(70))]
    fields += [("deal", "l1", "expected_close", "2024-07-01", D(85), "m1")]  # an edit, not a touch
    # open deals at D(100)
    deals += [_deal("o1", "m1", "smb", D(65), amount=250.0), _deal("o2", "m1", "smb", D(65)),
              _deal("o3", "m2", "smb", D(97)), _deal("o4", "m2", "enterprise", D(60), amount=900.0),
              _deal("o5", "m3", "smb", D(97))]
    stages += [("o1", "new", D(65)), ("o1", "proposal", D(70)), ("o2", "new", D(65)), ("o2", "proposal", D(70)),
               ("o3", "new", D(97)), ("o4", "new", D(60)), ("o5", "new", D(97))]
    tasks += [dict(task_id="t4", deal_id="o2", type="call", created_at=D(94), completed_at=D(95))]
    fields += [("deal", "o1", "forecast_category", "commit", D(71), "m1"),
               ("deal", "o4", "forecast_category", "best_case", D(61), "m2"),
               ("deal", "o2", "forecast_category", "commit", D(71), "m1")]
    fill(store, managers=[("m1", "Anna", "A"), ("m2", "Boris", "A"), ("m3", "Vera", "B")], deals=deals,
         stage_history=stages, tasks=tasks, field_history=fields)


@pytest.fixture
def history(store):
    _scenario(store)
    snap = snapshot(store, AS_OF, PB)
    try:
        yield load_history(snap)
    finally:
        snap.release()


def test_late_bad_news_days_from_the_last_touch_to_the_lost_mark(history):
    g = {r["deal_id"]: r for r in lost_gaps(history).iter_rows(named=True)}
    assert set(g) == {"l1", "l2", "l3", "l5"}  # l4 was marked before the window
    assert g["l1"]["gap_days"] == pytest.approx(30.0)  # the call on D(60); the clean-up and the edit are no touches
    assert g["l2"]["gap_days"] == pytest.approx(2.0)
    assert g["l3"]["gap_days"] == pytest.approx(18.0)  # the stage entry on D(60)
    assert g["l5"]["gap_days"] == pytest.approx(50.0)  # only the creation and the first stage entry
    assert [g[d]["late"] for d in ("l1", "l2", "l3", "l5")] == [True, False, False, True]  # enterprise: 21 d
    per, team = late_bad_news(history)
    rows = {r["manager"]: r for r in per.iter_rows(named=True)}
    assert rows["m1"]["lost_deals"] == 2 and rows["m1"]["late_deals"] == 1
    assert rows["m1"]["late_median_days"] == pytest.approx(16.0) and rows["m1"]["late_mean_days"] == pytest.approx(16.0)
    assert rows["m3"]["late_mean_days"] == pytest.approx(50.0)
    assert team["lost_deals"] == 4 and team["late_deals"] == 2
    assert team["median_days"] == pytest.approx(24.0) and team["mean_days"] == pytest.approx(25.0)
    _, capped = late_bad_news(history, cap=20.0)
    assert capped["mean_days"] == pytest.approx((20 + 2 + 18 + 20) / 4)


def test_zombies_are_past_the_won_norm_and_untouched_beyond_stale_after(history):
    z = {r["deal_id"]: r for r in zombies(history).iter_rows(named=True)}
    assert z["o1"]["norm_days"] == pytest.approx(5.0)  # p75 of the won deals' 5 days in proposal
    assert z["o1"]["days_in_stage"] == pytest.approx(30.0) and z["o1"]["days_untouched"] == pytest.approx(30.0)
    assert z["o1"]["zombie"] and not z["o2"]["zombie"]  # o2 was called on D(95)
    assert z["o4"]["stale_days"] == 21.0 and z["o4"]["zombie"]  # 40 d untouched in new (norm 2 d)
    assert not z["o3"]["zombie"] and not z["o5"]["zombie"]
    per, _ = zombie_pipeline(history)
    rows = {r["manager"]: r for r in per.iter_rows(named=True)}
    assert rows["m1"] == dict(manager="m1", open_deals=2, zombie_deals=1, zombie_amount=250.0, zombie_commits=1,
                              quiet_deals=1, quiet_commits=1, open_amount=350.0)
    assert rows["m2"]["zombie_deals"] == 1 and rows["m2"]["zombie_commits"] == 1 and rows["m2"]["quiet_commits"] == 0
    assert rows["m3"]["zombie_deals"] == 0 and rows["m3"]["open_deals"] == 1


def _reference_z(d, v):
    mad = 1.4826 * np.median(np.abs(d - np.median(d)))
    tau2 = max(mad ** 2 - np.median(v), 0.0)
    return [di / math.sqrt(tau2 + vi) for di, vi in zip(d, v)], tau2


def test_standardise_against_the_formula():
    d = np.array([0.1, -0.1, 0.0, 0.5, 0.02])
    v = np.array([0.01, 0.01, 0.02, 0.01, 0.005])
    z, noise, tau = standardise(d, v)
    ref, tau2 = _reference_z(d, v)
    assert z == pytest.approx(ref) and tau == pytest.approx(math.sqrt(tau2))
    assert noise == pytest.approx(v / (tau2 + v))
    # the same difference on 3 deals counts less than on 100: noise does not rank a manager first
    z2, _, _ = standardise(np.array([0.3, 0.3, 0.0, 0.01, -0.02]), np.array([0.08, 0.0024, 0.01, 0.01, 0.01]))
    assert 0 < z2[0] < z2[1]
    # too few managers to know the spread: nobody stands out
    z3, n3, _ = standardise(np.array([0.5, -0.5]), np.array([0.01, 0.01]))
    assert list(z3) == [0.0, 0.0] and list(n3) == [1.0, 1.0]


def test_combine_mean_of_components_interval_and_missing_data():
    names = [f"m{i}" for i in range(6)]
    rows = [{"manager": m} for m in names]
    d = [0.4, 0.0, 0.05, -0.05, 0.02, -0.01]
    diffs = {c: {m: (d[i], 0.01) for i, m in enumerate(names)} for c in COMPONENTS}
    del diffs["commits"]["m0"]  # no commit deals: counts as the team, all noise
    combine(rows, diffs)
    r0 = rows[0]
    zs = {c: r0["components"][c]["z"] for c in COMPONENTS}
    assert zs["commits"] == 0.0 and r0["components"]["commits"]["noise"] == 1.0
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert r0["optimism"] == pytest.approx(sum(WEIGHTS[c] * zs[c] for c in COMPONENTS))
    var = sum(WEIGHTS[c] ** 2 * r0["components"][c]["noise"] for c in COMPONENTS)
    assert r0["optimism_high"] - r0["optimism_low"] == pytest.approx(2 * Z90 * math.sqrt(var))
    assert max(rows, key=lambda r: r["optimism"])["manager"] == "m0"


def test_differences_count_dead_commits_as_lost_and_quiet_deals_as_late_news():
    team = {"late": {"lost_deals": 10, "late_deals": 2, "median_days": 2.0, "mean_days": 4.0},
            "zombie_share": 0.1, "dead_commits": 1, "open_commits_short_var": 0.04}
    base = dict(lost_deals_recent=0, late_lost_deals=0, quiet_deals=0, open_deals=0, zombie_deals=0,
                recent_commit_deals=0, recent_commit_won=0, _dead_commits=0, open_commits=0)
    rows = [{**base, "manager": "a", "lost_deals_recent": 4, "late_lost_deals": 1, "quiet_deals": 2, "open_deals": 10,
             "zombie_deals": 2, "recent_commit_deals": 4, "recent_commit_won": 4, "_dead_commits": 1},
            {**base, "manager": "b", "lost_deals_recent": 6, "late_lost_deals": 1, "recent_commit_deals": 6,
             "recent_commit_won": 3, "open_commits": 2, "_commit_short": 0.1}]
    team_rates(rows, team)
    out = differences(rows, team)
    late_p = (2 + 2) / (10 + 2)  # the team's late marks and quiet deals over its lost and quiet deals
    assert out["late_bad_news"]["a"][0] == pytest.approx(3 / 6 - late_p)
    assert out["zombies"]["a"][0] == pytest.approx(0.2 - 0.1) and "b" not in out["zombies"]
    commit_p = 7 / 11  # won / (closed commit deals + quiet open commits)
    assert out["commits"]["a"][0] == pytest.approx(commit_p - 4 / 5)  # the quiet open commit is a loss
    assert out["commits"]["b"][0] == pytest.approx(commit_p - 3 / 6)
    assert out["open_commits"]["b"] == pytest.approx((0.1, 0.02))


def _row(**kw):
    base = dict(manager="m1", commit_deals=10, lost_deals_recent=10, open_deals=10, optimism=0.0,
                optimism_low=-0.5, optimism_high=0.5)
    return {**base, **kw}


def test_verdict():
    cut = OVERSTATES * NULL_SD
    assert _verdict(_row(optimism=cut + 0.1, optimism_low=0.2), 5) == "overstates"
    assert _verdict(_row(optimism=cut + 0.1, optimism_low=-0.1), 5) == "fair"  # the interval reaches 0
    assert _verdict(_row(optimism=cut - 0.1, optimism_low=0.2), 5) == "fair"
    assert _verdict(_row(optimism=-cut - 0.1, optimism_high=-0.2), 5) == "understates"
    assert _verdict(_row(commit_deals=1, lost_deals_recent=2, open_deals=4, optimism=5, optimism_low=4), 5) == "not_enough_data"
    assert verdict_threshold() == pytest.approx(cut) and cut == pytest.approx(2.326 * math.sqrt(0.42**2 + 0.12**2 + 0.08**2 + 0.15**2 + 0.23**2), abs=1e-3)
    assert _verdict(_row(optimism=1.5, optimism_low=0.5), 5, threshold=2.0) == "fair"


@pytest.mark.parametrize("lang, words", [("en", ["3 of 4", "days", "31 d", "team"]), ("ru", ["3 из 4", "31 дн.", "команды"])])
def test_reasons_in_words_with_the_managers_numbers_against_the_team(lang, words):
    team = {"late": {"lost_deals": 20, "late_deals": 2, "median_days": 2.0, "mean_days": 4.0}, "zombie_share": 0.05,
            "commit_win_rate": 0.7, "recent_commit_rate": 0.72, "open_commits_model_p": 0.6}
    comps = {c: {"difference": 0.3, "z": 2.0, "noise": 0.2, "spread": 0.1} for c in COMPONENTS}
    comps["commits"]["z"] = 0.2
    r = dict(manager="m1", verdict="overstates", components=comps, late_lost_deals=3, lost_deals_recent=4,
             late_bad_news_days=31.0, late_bad_news_mean_days=35.0, zombie_deals=5, open_deals=20, zombie_amount=1.5e6,
             zombie_commits=3, commit_deals=12, commit_win_rate=0.5, model_p_win_on_commits=0.55, open_commits=6,
             open_commits_model_p=0.4, open_commits_baseline_p=0.45, _commit_short=0.2, recent_commit_deals=5,
             recent_commit_won=2, _dead_commits=1, early_commit_calls=7, early_commit_stages=1.4)
    comps["early_commits"]["z"] = 1.9
    codes = reason_codes(r, team, timedelta(weeks=8))
    assert [c["code"] for c in codes] == ["late_bad_news", "zombies", "open_commits", "early_commits"]  # commits: 0.2 is not notable
    et = reason_text(codes[3], lang)
    assert "7" in et and ("1.4" in et or "1,4" in et) and ("earlier" in et or "раньше" in et), et
    assert codes[0]["params"]["team_median_days"] == 2.0 and codes[0]["params"]["window_weeks"] == 8
    text = reason_text(codes[0], lang)
    assert all(w in text for w in words if w != "days"), text
    zt = reason_text(codes[1], lang)
    assert "5" in zt and "20" in zt and "3" in zt
    assert "−20" in reason_text(codes[2], lang)  # 20 points below the team's commits of the same segments
    commits = reason_codes({**r, "components": {**comps, "commits": {**comps["commits"], "z": 1.5}}}, team, timedelta(weeks=8))
    ct = reason_text(next(c for c in commits if c["code"] == "commits"), lang)
    assert "2" in ct and "6" in ct and "72" in ct, ct  # 2 won of 5 closed + 1 quiet open commit; the team 72%
    fair = reason_codes({**r, "verdict": "fair", "components": {c: {**comps[c], "z": 0.1} for c in COMPONENTS}}, team,
                        timedelta(weeks=8))
    assert [c["code"] for c in fair] == ["close_to_team"] and reason_text(fair[0], lang)
    few = reason_codes({**r, "verdict": "not_enough_data"}, team, timedelta(weeks=8))
    assert few[0]["code"] == "few_deals" and "4" in reason_text(few[0], lang)


def test_early_commits_count_the_stages_ahead_of_the_teams_usual_call():
    """Calls made in the window, their stage at the moment of the call, against the team's mean stage of a
    commit call in the same segment; a call made before the window counts for the team's mean only."""
    from datetime import datetime

    import polars as pl

    from dealpulse.playbook.load import load_playbook
    from dealpulse.risk.history import History
    from dealpulse.risk.honesty import commit_calls, early_commits

    pb = load_playbook(None)
    st = pb.stages
    k_contract = st.index("contract")
    as_of = datetime(2024, 6, 1)
    t = lambda d: datetime(2024, 5, d)  # noqa: E731 - inside the 8-week window
    deals = pl.DataFrame({"deal_id": ["d1", "d2", "d3", "d4"], "owner": ["a", "a", "b", "b"],
                          "segment": ["smb"] * 4, "closed_at": [None, None, None, datetime(2024, 5, 20)]},
                         schema_overrides={"closed_at": pl.Datetime("us")})
    ev = pl.DataFrame({"deal_id": ["d1", "d2", "d3", "d4", "d4"],
                       "stage": [st[k_contract - 2], st[k_contract - 1], "contract", "contract", st[k_contract - 1]],
                       "entered_at": [t(1), t(1), t(1), datetime(2023, 1, 1), datetime(2022, 12, 1)]})
    fields = pl.DataFrame({"deal_id": ["d1", "d2", "d3", "d4", "d1"], "field": ["forecast_category"] * 5,
                           "value": ["commit", "commit", "commit", "commit", "best_case"],
                           "changed_at": [t(2), t(3), t(4), datetime(2023, 1, 2), t(1)]})
    h = History(as_of=as_of, playbook=pb, deals=deals, stage_events=ev, tasks=pl.DataFrame(), steps=pl.DataFrame(),
                fields=fields, card_static=pl.DataFrame())
    calls = commit_calls(h)
    assert calls["stage"].to_list() == [st[k_contract - 2], st[k_contract - 1], "contract", "contract"]
    mean_k = (k_contract - 2 + k_contract - 1 + k_contract + k_contract) / 4
    per, team = early_commits(h)
    got = {r["manager"]: r for r in per.iter_rows(named=True)}
    assert got["a"]["early_commit_calls"] == 2 and got["b"]["early_commit_calls"] == 1  # d4's call is old
    assert got["a"]["early_commit_stages"] == pytest.approx(mean_k - (k_contract - 1.5))
    assert got["b"]["early_commit_stages"] == pytest.approx(mean_k - k_contract)
    assert team["calls"] == 4 and team["recent_calls"] == 3
