import pytest
from hypothesis import given, settings, strategies as st

from dealpulse.errors import InputError
from dealpulse.playbook.rules import parse_rule
from tests.builders import fill


@pytest.mark.parametrize("text,row,expected", [
    ("true", {}, True),
    ("amount >= 5000000", {"amount": 5_000_000}, True),
    ("amount >= 5_000_000", {"amount": 4_999_999.5}, False),
    ("amount >= 5000000", {"amount": None}, False),
    ("amount >= 1000000 and channel == 'partner'", {"amount": 2e6, "channel": "partner"}, True),
    ("amount >= 1000000 and channel == 'partner'", {"amount": 2e6, "channel": "inbound"}, False),
    ("channel in ('partner', \"events\") or amount > 10", {"channel": "events", "amount": 1}, True),
    ("not (amount < 10)", {"amount": 12}, True),
    ("region != 'msk'", {"region": "spb"}, True),
    ("amount > 10", {"amount": "not a number"}, False),
])
def test_rules_evaluate(text, row, expected):
    assert parse_rule(text).evaluate(row) is expected


@pytest.mark.parametrize("bad", ["amount >>= 5", "amount >=", "and true", "amount in 5", "__import__('os')",
                                 "amount >= 5 extra", "(amount > 1", "", "amount ~ 3"])
def test_bad_rules_are_refused_not_evaluated(bad):
    with pytest.raises(InputError):
        parse_rule(bad)


def test_rule_fields():
    assert parse_rule("amount > 1 and (channel == 'x' or not region in ('a'))").fields == {"amount", "channel", "region"}


AMOUNTS = [None, 0.0, 999_999.0, 1_000_000.0, 4_999_999.0, 5_000_000.0, 7e6]
RULES = ["amount >= 5000000", "amount >= 1000000 and channel == 'partner'",
         "channel in ('partner', 'events') or amount < 1000", "not (amount > 10)", "true", "false"]


def test_rules_compile_to_the_engine_with_the_same_answers(store):
    rows = [dict(deal_id=f"d{i}", owner="m1", created_at="2024-01-01", status="open", amount=a,
                 channel=["partner", "events", "inbound", None][i % 4]) for i, a in enumerate(AMOUNTS * 2)]
    fill(store, deals=rows)
    deals = store.table("deals")
    for text in RULES:
        rule = parse_rule(text)
        got = deals.select("deal_id", hit=rule.to_ibis(deals)).execute()
        got = dict(zip(got.deal_id, got.hit.astype(bool)))
        for r in rows:
            assert got[r["deal_id"]] == rule.evaluate(r), (text, r)


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9), st.sampled_from(RULES))
def test_rule_evaluation_is_total(amount, text):
    assert isinstance(parse_rule(text).evaluate({"amount": amount, "channel": "partner"}), bool)
