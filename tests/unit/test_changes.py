"""`dealpulse changes`: the pipeline waterfall reconciles exactly (hand-made data with every bucket and the
tricky cases, answer written by hand, on DuckDB and PostgreSQL), the start moment, the alive/stale/dead rule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dealpulse.changes import BUCKETS, deal_row, parse_since
from dealpulse.changes.waterfall import compute_waterfall, parse_day
from dealpulse.errors import InputError
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import parse_playbook
from dealpulse.risk.state import deal_state
from tests.builders import fill

PB = parse_playbook("stages: [new, qualification, proposal, negotiation, contract]\nstale_after: {default: 14d}\n", "test")
S = datetime(2024, 3, 1)
T = datetime(2024, 3, 8)


def _deal(deal_id, created, amount=None, status="open", closed=None):
    return dict(deal_id=deal_id, owner="m1", title=f"Deal {deal_id}", amount=amount, currency="RUB", created_at=created,
                status=status, closed_at=closed)


DATA = {
    "managers": [dict(manager_id="m1", name="Anna Petrova", team="A")],
    "deals": [
        _deal("adv", "2024-02-01 09:00", 100),                      # qualification -> proposal: advanced
        _deal("back", "2024-02-01 09:00", 250),                     # proposal -> qualification; amount 200 -> 250
        _deal("fwdback", "2024-02-01 09:00", 300),                  # qual -> proposal -> qual inside: close date pushed
        _deal("pulled", "2024-02-01 09:00", 350),                   # close date pulled in; amount 400 -> 350
        _deal("still", "2024-02-01 09:00", None),                   # nothing happened; no amount at all
        _deal("won", "2024-02-01 09:00", 600, "won", "2024-03-05 10:00"),      # amount 500 -> 600, then won
        _deal("lost", "2024-02-01 09:00", 700, "lost", "2024-03-06 10:00"),    # lost (no terminal row in the export)
        _deal("new", "2024-03-02 09:00", 800),                      # created in the window, still open
        _deal("newwon", "2024-03-02 09:00", 900, "won", "2024-03-07 10:00"),   # created and won inside the window
        _deal("reopen", "2024-01-01 09:00", 1000),                  # lost in February, worked again in the window
        _deal("old", "2024-01-01 09:00", 5000, "won", "2024-02-15 10:00"),     # closed before S: not followed
        _deal("future", "2024-03-09 09:00", 7000),                  # created after T: not there
        _deal("nulllost", "2024-03-03 09:00", None, "lost", "2024-03-04 10:00"),  # new and lost, no amount
        _deal("reclose", "2024-01-01 09:00", 50, "won", "2024-03-06 10:00"),   # lost, reopened, won again
    ],
    "stage_history": [
        ("adv", "new", "2024-02-01 09:00"), ("adv", "qualification", "2024-02-10 09:00"), ("adv", "proposal", "2024-03-03 09:00"),
        ("back", "new", "2024-02-01 09:00"), ("back", "proposal", "2024-02-10 09:00"), ("back", "qualification", "2024-03-04 09:00"),
        ("fwdback", "new", "2024-02-01 09:00"), ("fwdback", "qualification", "2024-02-05 09:00"),
        ("fwdback", "proposal", "2024-03-02 09:00"), ("fwdback", "qualification", "2024-03-05 09:00"),
        ("pulled", "new", "2024-02-01 09:00"),
        ("still", "new", "2024-02-01 09:00"),
        ("won", "new", "2024-02-01 09:00"), ("won", "proposal", "2024-02-15 09:00"), ("won", "won", "2024-03-05 10:00"),
        ("lost", "new", "2024-02-01 09:00"),
        ("new", "new", "2024-03-02 09:00"),
        ("newwon", "new", "2024-03-02 09:00"), ("newwon", "won", "2024-03-07 10:00"),
        ("reopen", "new", "2024-01-01 09:00"), ("reopen", "lost", "2024-02-20 10:00"), ("reopen", "proposal", "2024-03-03 09:00"),
        ("old", "new", "2024-01-01 09:00"), ("old", "won", "2024-02-15 10:00"),
        ("future", "new", "2024-03-09 09:00"),
        ("nulllost", "new", "2024-03-03 09:00"), ("nulllost", "lost", "2024-03-04 10:00"),
        ("reclose", "new", "2024-01-01 09:00"), ("reclose", "lost", "2024-02-20 10:00"),
        ("reclose", "qualification", "2024-03-02 09:00"), ("reclose", "won", "2024-03-06 10:00"),
    ],
    "field_history": [
        dict(entity="deal", entity_id="back", field="amount", value="200", changed_at="2024-02-01 09:00"),
        dict(entity="deal", entity_id="back", field="amount", value="250", changed_at="2024-03-05 09:00"),
        dict(entity="deal", entity_id="fwdback", field="expected_close", value="2024-03-20", changed_at="2024-02-01 09:00"),
        dict(entity="deal", entity_id="fwdback", field="expected_close", value="15.04.2024", changed_at="2024-03-06 09:00"),
        dict(entity="deal", entity_id="pulled", field="expected_close", value="2024-05-01", changed_at="2024-02-01 09:00"),
        dict(entity="deal", entity_id="pulled", field="expected_close", value="2024-04-01", changed_at="2024-03-03 09:00"),
        dict(entity="deal", entity_id="pulled", field="amount", value="400", changed_at="2024-02-01 09:00"),
        dict(entity="deal", entity_id="pulled", field="amount", value="350", changed_at="2024-03-04 09:00"),
        dict(entity="deal", entity_id="won", field="amount", value="500", changed_at="2024-02-01 09:00"),
        dict(entity="deal", entity_id="won", field="amount", value="600", changed_at="2024-03-04 09:00"),
        # a change after T must not be seen
        dict(entity="deal", entity_id="adv", field="amount", value="100", changed_at="2024-02-01 09:00"),
        dict(entity="deal", entity_id="adv", field="amount", value="9999", changed_at="2024-03-10 09:00"),
    ],
}

# the answer, by hand: bucket -> (deals in it, change of the open count, change of the open amount)
EXPECTED = {
    "open_start": (7, 7, 2200.0),   # adv 100, back 200, fwdback 300, pulled 400, still —, won 500, lost 700
    "new": (3, 3, 1700.0),          # new 800, newwon 900, nulllost —
    "reopened": (2, 2, 1050.0),     # reopen 1000, reclose 50
    "advanced": (1, 0, 0.0),        # adv
    "moved_back": (1, 0, 0.0),      # back
    "pushed_out": (1, 0, 0.0),      # fwdback: same stage at both ends, close date later
    "pulled_in": (1, 0, 0.0),       # pulled
    "unchanged": (1, 0, 0.0),       # still
    "amount_up": (2, 0, 150.0),     # back +50, won +100 (before it closed)
    "amount_down": (1, 0, -50.0),   # pulled −50
    "won": (3, 3 * -1, -1550.0),    # won 600, newwon 900, reclose 50
    "lost": (2, -2, -700.0),        # lost 700, nulllost —
    "open_end": (7, 7, 2800.0),     # adv 100, back 250, fwdback 300, pulled 350, still —, new 800, reopen 1000
}
PRIMARY = {"adv": "advanced", "back": "moved_back", "fwdback": "pushed_out", "pulled": "pulled_in", "still": "unchanged",
           "won": "won", "lost": "lost", "new": "new", "newwon": "won", "reopen": "reopened", "nulllost": "lost",
           "reclose": "won"}


def test_the_waterfall_matches_the_hand_made_answer_and_reconciles(store):
    fill(store, **DATA)
    snap = snapshot(store, T, PB)
    wf = compute_waterfall(snap, S)
    got = {b["bucket"]: (b["deals"], b["count"], b["amount"]) for b in wf["buckets"]}
    assert [b["bucket"] for b in wf["buckets"]] == list(BUCKETS)
    assert got == EXPECTED
    assert wf["reconciles"] is True
    start, *flows, end = wf["buckets"]
    assert start["count"] + sum(b["count"] for b in flows) == end["count"]
    assert start["amount"] + sum(b["amount"] for b in flows) == end["amount"]
    assert {f.deal_id: f.bucket for f in wf["flows"]} == PRIMARY
    assert wf["no_amount"] == {"start": 1, "end": 1} and wf["currency"] == "RUB"
    # the end is the open pipeline the snapshot sees
    open_now = snap.deals.filter(snap.deals.status == "open").execute()
    assert end["count"] == len(open_now) and end["amount"] == open_now["amount"].fillna(0).sum()
    rows = {r["deal_id"]: r for r in (deal_row(f) for f in wf["flows"])}
    assert rows["newwon"]["buckets"] == ["new", "won"] and rows["newwon"]["count_change"] == 0
    assert rows["reclose"]["buckets"] == ["reopened", "won"] and rows["reclose"]["amount_change"] == 0
    assert rows["won"]["buckets"] == ["amount_up", "won"] and rows["won"]["amount_change"] == -500
    assert rows["fwdback"]["stage_start"] == rows["fwdback"]["stage_end"] == "qualification"
    assert str(rows["fwdback"]["expected_close_end"]) == "2024-04-15"


def test_a_store_cut_at_t_gives_the_same_waterfall(store, other_store):
    from dealpulse.store.cut import cut_store

    fill(store, **DATA)
    cut_store(store, other_store, T)
    full = compute_waterfall(snapshot(store, T, PB), S)
    cut = compute_waterfall(snapshot(other_store, T, PB), S)
    assert full["buckets"] == cut["buckets"]
    assert [deal_row(f) for f in full["flows"]] == [deal_row(f) for f in cut["flows"]]


def test_one_day_earlier_the_same_data_tells_an_earlier_story(duck):
    fill(duck, **DATA)
    wf = compute_waterfall(snapshot(duck, datetime(2024, 3, 5), PB), S)
    got = {b["bucket"]: (b["deals"], b["count"]) for b in wf["buckets"]}
    assert got["won"] == (0, 0) and got["lost"] == (1, -1)   # won closes on 03-05 10:00; nulllost lost on 03-04
    assert wf["reconciles"]


def test_the_start_moment():
    tz = __import__("zoneinfo").ZoneInfo("Europe/Moscow")
    assert parse_since("7d", T, tz) == T - timedelta(days=7)
    assert parse_since("2w", T, tz) == T - timedelta(days=14)
    assert parse_since(None, T, tz) == T - timedelta(days=7)
    assert parse_since("2024-03-01", T, tz) == datetime(2024, 2, 29, 21)   # 00:00 in Moscow
    with pytest.raises(InputError, match="--since: expected a span such as 7d"):
        parse_since("last week", T, tz)
    with pytest.raises(InputError, match="не раньше as_of"):
        parse_since("2024-03-09", T, tz, "ru")


def test_expected_close_dates_in_both_spellings():
    assert str(parse_day("2024-05-31")) == str(parse_day("31.05.2024")) == "2024-05-31"
    assert parse_day("soon") is None and parse_day(None) is None


@pytest.mark.parametrize("touch, dwell, norm, state", [
    (3, 100, 10, "alive"),        # touched recently: alive however long in the stage
    (20, 5, 10, "stale"),         # past the stale limit (14 d)
    (30, 5, 10, "stale"),         # past 2 × the limit but not past the won deals' dwell
    (30, 11, 10, "dead"),         # past both
    (30, 11, None, "dead"),       # no norm known: the touch rule alone
    (None, 50, 10, "alive"),
])
def test_alive_stale_dead(touch, dwell, norm, state):
    assert deal_state(touch, dwell, 14.0, norm) == state


def test_several_currencies_are_named_not_converted(duck):
    fill(duck, deals=[_deal("r", "2024-02-01 09:00", 100), {**_deal("u", "2024-03-02 09:00", 5), "currency": "USD"}],
         stage_history=[("r", "new", "2024-02-01 09:00"), ("u", "new", "2024-03-02 09:00")])
    wf = compute_waterfall(snapshot(duck, T, PB), S)
    assert wf["currency"] is None and wf["currencies"] == ["RUB", "USD"]
    assert wf["reconciles"] and wf["buckets"][-1]["amount"] == 105.0
