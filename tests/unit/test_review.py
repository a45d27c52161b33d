"""The review queue on hand-made data (DuckDB and PostgreSQL): each kind of atypical deal is flagged with
its reason, ordinary deals are not; marks are stored, as-of aware, and a new reason brings a deal back."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from dealpulse.errors import InputError, NotFound
from dealpulse.metrics.asof import Snapshot
from dealpulse.playbook import parse_playbook
from dealpulse.review import build_queue, find_atypical, mark_deal, marks_as_of, review_queue
from dealpulse.review.atypical import CODES, Reason, describe_path, robust_z
from dealpulse.review.queue import reason_text
from tests.builders import fill

PLAYBOOK = parse_playbook("""
stages: [new, qualification, proposal, negotiation, contract]
segments:
  mid: "amount >= 1000000"
  smb: "amount < 1000000"
""")
AS_OF = datetime(2024, 12, 1)
D = timedelta(days=1)


def _deal(deal_id, created, status="open", closed=None, amount=2_000_000.0, segment="mid"):
    return dict(deal_id=deal_id, owner="m1", segment=segment, amount=amount, created_at=created, status=status,
                closed_at=closed)


def _scenario():
    deals, sh = [], []
    for i in range(30):  # won: proposal takes 5 days
        c = datetime(2024, 1, 1) + i * D
        deals.append(_deal(f"w{i:02d}", c, "won", c + 20 * D, 1_500_000 + i * 30_000))
        sh += [(f"w{i:02d}", s, c + k * D) for s, k in
               (("new", 0), ("qualification", 2), ("proposal", 5), ("negotiation", 10), ("contract", 15), ("won", 20))]
    for i in range(30):  # lost from proposal after 10..39 days there
        c = datetime(2024, 2, 1) + i * D
        deals.append(_deal(f"l{i:02d}", c, "lost", c + (16 + i) * D, 1_600_000 + i * 25_000))
        sh += [(f"l{i:02d}", s, c + k * D) for s, k in
               (("new", 0), ("qualification", 3), ("proposal", 6), ("lost", 16 + i))]
    for i in range(5):  # ordinary open deals, 4 days in proposal
        c = datetime(2024, 11, 20) + i * timedelta(hours=1)
        deals.append(_deal(f"o{i}", c, amount=1_900_000 + i * 50_000))
        sh += [(f"o{i}", "new", c), (f"o{i}", "qualification", c + 3 * D), (f"o{i}", "proposal", datetime(2024, 11, 27))]
    deals.append(_deal("big", datetime(2024, 11, 25), amount=48_000_000))
    sh += [("big", "new", datetime(2024, 11, 25)), ("big", "qualification", datetime(2024, 11, 26)),
           ("big", "proposal", datetime(2024, 11, 28))]
    deals.append(_deal("skip", datetime(2024, 11, 22)))
    sh += [("skip", "new", datetime(2024, 11, 22)), ("skip", "proposal", datetime(2024, 11, 25))]
    deals.append(_deal("back", datetime(2024, 11, 10)))
    sh += [("back", "new", datetime(2024, 11, 10)), ("back", "qualification", datetime(2024, 11, 12)),
           ("back", "proposal", datetime(2024, 11, 15)), ("back", "negotiation", datetime(2024, 11, 20)),
           ("back", "proposal", datetime(2024, 11, 25))]
    deals.append(_deal("long", datetime(2024, 3, 1)))
    sh += [("long", "new", datetime(2024, 3, 1)), ("long", "qualification", datetime(2024, 3, 3)),
           ("long", "proposal", datetime(2024, 3, 6))]
    deals.append(_deal("noseg", datetime(2024, 11, 30), amount=None, segment=None))
    sh += [("noseg", "new", datetime(2024, 11, 30))]
    return deals, sh


@pytest.fixture
def filled(store):
    deals, sh = _scenario()
    fill(store, deals=deals, stage_history=sh)
    return store


def _snap(store, as_of=AS_OF):
    return Snapshot(store=store, as_of=as_of, playbook=PLAYBOOK)


def test_each_kind_of_atypical_deal_is_flagged_with_its_reason_and_ordinary_ones_are_not(filled):
    res = find_atypical(_snap(filled))
    codes = {d: {r.code for r in rs} for d, rs in res.reasons.items()}
    assert codes == {"big": {"amount_high"}, "skip": {"path_skip"}, "back": {"path_back"}, "long": {"dwell_long"},
                     "noseg": {"no_segment"}}
    assert res.n_open == 10 and res.n_considered == 10
    skip = res.reasons["skip"][0]
    assert skip.params["skipped"] == ("qualification",) and skip.params["share"] == 0
    back = res.reasons["back"][0]
    assert (back.params["from_stage"], back.params["to_stage"]) == ("negotiation", "proposal")
    long = res.reasons["long"][0]
    assert long.params["stage"] == "proposal" and long.params["days"] == pytest.approx(270)
    assert long.params["won_days"] == pytest.approx(5) and long.params["staying"] == 0


def test_queue_rows_are_ranked_with_texts_in_both_languages(filled):
    snap = _snap(filled)
    rows = review_queue(snap, filled, lang="en")
    assert [r["rank"] for r in rows] == list(range(1, 6))
    assert rows[0]["deal_id"] == "big"  # 48M against a ~2M median: the farthest out
    assert all(rows[i]["score"] >= rows[i + 1]["score"] for i in range(4))
    by = {r["deal_id"]: r for r in rows}
    big = by["big"]
    assert big["reasons_codes"] == ["amount_high"] and big["reviewed"] is None and big["segment"] == "mid"
    assert big["reasons"][0].startswith("amount 48 000 000 is ") and "the median of mid deals" in big["reasons"][0]
    assert by["long"]["reasons"][0].startswith("in proposal for 270 days; won mid deals: 95% within 5.0 days; none of")
    assert "skipped qualification (went straight to proposal)" in by["skip"]["reasons"][0]
    assert "moved back from negotiation to proposal" in by["back"]["reasons"][0]
    assert by["noseg"]["reasons"][0].startswith("no segment")
    ru = {r["deal_id"]: r for r in review_queue(snap, filled, lang="ru")}
    assert ru["big"]["reasons"][0].startswith("сумма 48 000 000 в ") and "медианы сделок сегмента mid" in ru["big"]["reasons"][0]
    assert ru["long"]["reasons"][0].startswith("на этапе «КП» уже 270 дн.; выигранные сделки сегмента mid: 95\u00a0% — не дольше 5,0 дн.")
    assert ru["skip"]["reasons"][0].startswith("пропущено: квалификация")
    assert ru["back"]["reasons"][0].startswith("возврат с этапа «переговоры» на «КП»")
    assert ru["noseg"]["reasons"][0].startswith("нет сегмента")
    assert review_queue(snap, filled, limit=2)[1]["rank"] == 2 and len(review_queue(snap, filled, limit=2)) == 2


def test_only_what_was_known_then_counts(filled):
    # on 2024-11-24 the skip deal had not skipped anything yet, and the big one did not exist
    res = find_atypical(_snap(filled, datetime(2024, 11, 24)))
    assert "big" not in res.reasons and "skip" not in res.reasons
    # closed deals are looked at only when asked
    assert "w00" not in find_atypical(_snap(filled)).deals["deal_id"].tolist()
    res = find_atypical(_snap(filled, datetime(2024, 3, 10)), closed_days=30)
    assert {"l00", "w20"} <= set(res.deals["deal_id"])


def test_marks_are_as_of_aware_and_a_new_reason_brings_a_deal_back(filled):
    mark = mark_deal(filled, "big", "checked: a framework agreement", reviewer="head_of_sales", playbook=PLAYBOOK,
                     at=AS_OF)
    assert mark.reasons == ("amount_high",) and mark.reviewed_at == AS_OF
    snap = _snap(filled)
    assert "big" not in [r["deal_id"] for r in review_queue(snap, filled)]
    q = build_queue(snap, filled, include_reviewed=True)
    big = next(r for r in q.rows if r["deal_id"] == "big")
    assert big["reviewed"] == {"by": "head_of_sales", "at": AS_OF, "comment": "checked: a framework agreement"}
    assert big["new_reasons"] == []
    assert build_queue(snap, filled).n_reviewed_hidden == 1
    # before the mark was made the deal is unmarked
    before = review_queue(_snap(filled, AS_OF - timedelta(hours=1)), filled)
    assert next(r for r in before if r["deal_id"] == "big")["reviewed"] is None
    assert set(marks_as_of(filled, AS_OF)) == {"big"} and marks_as_of(filled, AS_OF - D) == {}
    # `back` reviewed on 2024-11-21 (nothing odd then); it moved back on 2024-11-25: a new reason
    mark_deal(filled, "back", "fine", reviewer="qc", at="2024-11-21", playbook=PLAYBOOK)
    row = next(r for r in review_queue(snap, filled) if r["deal_id"] == "back")
    assert row["reviewed"]["by"] == "qc" and row["new_reasons"] == ["path_back"]


def test_marking_an_unknown_or_not_yet_created_deal_is_a_clear_error(filled):
    with pytest.raises(NotFound, match="no-such-deal"):
        mark_deal(filled, "no-such-deal", "x", reviewer="qc", playbook=PLAYBOOK)
    with pytest.raises(NotFound, match="В хранилище нет сделки no-such-deal"):
        mark_deal(filled, "no-such-deal", "x", reviewer="qc", playbook=PLAYBOOK, lang="ru")
    with pytest.raises(InputError, match="big"):
        mark_deal(filled, "big", "x", reviewer="qc", at="2024-11-01", playbook=PLAYBOOK)
    with pytest.raises(InputError, match="comment"):
        mark_deal(filled, "big", "  ", reviewer="qc", playbook=PLAYBOOK)
    assert filled.query("SELECT count(*) FROM reviews")[0][0] == 0


def test_a_common_segment_problem_is_a_notice_not_a_reason(duck):
    deals, sh = _scenario()
    for d in deals[:10]:  # 10 of 70 deals without a segment that fits: how this data is
        d.update(segment=None, amount=None)
    fill(duck, deals=deals, stage_history=sh)
    res = find_atypical(_snap(duck))
    assert not any(r.code == "no_segment" for rs in res.reasons.values() for r in rs)
    assert [n.code for n in res.notices] == ["common_no_segment"]


def test_robust_z_and_paths():
    ref = np.log(np.array([1.0, 2, 2, 3, 4]))
    assert robust_z(np.array([np.log(2.0)]), ref)[0] == 0
    assert robust_z(np.array([5.0]), np.ones(5))[0] == np.inf  # no spread: anything else is far
    order = ("new", "qualification", "proposal", "negotiation")
    assert describe_path(("new", "proposal", "negotiation", "proposal"), order) == [
        ("skip", "proposal", ("qualification",)), ("back", "negotiation", "proposal")]
    assert describe_path(("new", "qualification", "x", "proposal"), order) == []


def test_every_reason_code_has_a_text_in_both_languages():
    params = dict(amount=1e6, median=2e6, ratio=0.5, segment="mid", share=0.001, path=("new", "proposal"),
                  from_stage="negotiation", to_stage="proposal", stage="proposal", skipped=("qualification",),
                  days=50.0, staying=0.0, staying_segment=None, reference=40, won_quantile=0.95, won_days=5.0,
                  rule_segment="smb", segments="mid, smb")
    for code in CODES:
        for lang in ("en", "ru"):
            text = reason_text(Reason(code, params, 1.0, code), lang)
            assert "{" not in text and not text.startswith("review."), (code, lang, text)


def test_a_cut_store_keeps_the_marks_made_by_then(filled, other_store):
    from dealpulse.store.cut import cut_store

    mark_deal(filled, "long", "on hold", reviewer="qc", at="2024-11-15", playbook=PLAYBOOK)
    mark_deal(filled, "big", "checked", reviewer="qc", at=AS_OF, playbook=PLAYBOOK)
    moment = datetime(2024, 11, 28)
    cut_store(filled, other_store, moment)
    assert other_store.query("SELECT deal_id FROM reviews") == [("long",)]
    full = review_queue(_snap(filled, moment), filled, include_reviewed=True)
    cut = review_queue(_snap(other_store, moment), other_store, include_reviewed=True)
    assert [(r["deal_id"], r["reviewed"], r["reasons"]) for r in full] == [
        (r["deal_id"], r["reviewed"], r["reasons"]) for r in cut]
