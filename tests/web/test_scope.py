"""The web app's scopes (dealpulse.web.scope): who sees which deals, alerts and names, and who may act."""

from __future__ import annotations

import pytest

from dealpulse.web.scope import Scope, scope_of
from dealpulse.web.users import User


@pytest.fixture
def store(duck):
    duck.execute("INSERT INTO managers (manager_id, name, team) VALUES "
                 "('m1', 'Анна', 'north'), ('m2', 'Борис', 'north'), ('m3', 'Вера', 'south')")
    return duck


DEALS = [{"deal_id": "d1", "owner": "m1"}, {"deal_id": "d2", "owner": "m2"}, {"deal_id": "d3", "owner": "m3"},
         {"deal_id": "d4", "owner": None}]
ALERTS = [{"kind": "step_on_time", "subject": {"manager": "m1", "step": "call"}},
          {"kind": "manager_pace", "subject": {"manager": "m3"}},
          {"kind": "stage_dwell", "subject": {"stage": "contract", "segment": "enterprise"}},
          {"kind": "channel_inflow", "subject": {"channel": "partner"}}]
PEOPLE = {"m1": "Анна", "m2": "Борис", "m3": "Вера"}


def _ids(rows, key="deal_id"):
    return [r[key] for r in rows]


@pytest.mark.parametrize("user, deals, managers_named, alert_kinds", [
    (User("boss", "head"), ["d1", "d2", "d3", "d4"], ["m1", "m2", "m3"],
     ["step_on_time", "manager_pace", "stage_dwell", "channel_inflow"]),
    (User("qc", "qc"), ["d1", "d2", "d3", "d4"], ["m1", "m2", "m3"],
     ["step_on_time", "manager_pace", "stage_dwell", "channel_inflow"]),
    (User("lead", "lead", team="north"), ["d1", "d2"], ["m1", "m2"], ["step_on_time", "stage_dwell", "channel_inflow"]),
    (User("anna", "manager", manager_id="m1", team="north"), ["d1"], ["m1"], ["step_on_time", "stage_dwell", "channel_inflow"]),
    (User("vera", "manager", manager_id="m3", team="south"), ["d3"], ["m3"], ["manager_pace", "stage_dwell", "channel_inflow"]),
    (User("nobody", "manager"), [], [], ["stage_dwell", "channel_inflow"]),  # a manager without an id sees no deal
])
def test_what_each_role_sees(store, user, deals, managers_named, alert_kinds):
    s = scope_of(user, store)
    assert _ids(s.deals(DEALS)) == deals
    assert sorted(s.people(PEOPLE)) == managers_named
    assert _ids(s.alerts(ALERTS), "kind") == alert_kinds
    for d in DEALS:
        assert s.sees_deal(d["owner"]) == (d["deal_id"] in deals)


def test_who_may_act():
    head = Scope("head", "boss")
    lead = Scope("lead", "lead", team="north", managers=frozenset({"m1", "m2"}))
    manager = Scope("manager", "anna", manager_id="m1", managers=frozenset({"m1"}))
    qc = Scope("qc", "qc")
    own, other, dept = ALERTS[0], ALERTS[1], ALERTS[2]
    assert head.can_act_on_alert(own) and head.can_act_on_alert(other) and head.can_act_on_alert(dept)
    assert lead.can_act_on_alert(own) and not lead.can_act_on_alert(other) and lead.can_act_on_alert(dept)
    assert manager.can_act_on_alert(own) and not manager.can_act_on_alert(other) and not manager.can_act_on_alert(dept)
    assert not any(qc.can_act_on_alert(a) for a in ALERTS)  # quality control is read-only on alerts
    assert qc.can_mark_review("m3") and head.can_mark_review("m3")
    assert lead.can_mark_review("m1") and not lead.can_mark_review("m3")
    assert not manager.can_mark_review("m1")


def test_a_playing_lead_sees_own_deals_too(store):
    s = scope_of(User("pl", "lead", manager_id="m3", team="north"), store)
    assert sorted(s.managers) == ["m1", "m2", "m3"]
    assert s.as_dict()["managers"] == ["m1", "m2", "m3"]


def test_any_document_within_the_scope():
    s = Scope("manager", "anna", manager_id="m1", managers=frozenset({"m1"}))
    doc = {"as_of": "2024-06-01", "movers": {"up": [{"owner": "m2", "owner_name": "Борис"}, {"owner": "m1"}]},
           "rows": [{"manager": "m2", "x": 1}, {"manager": "m1", "x": 2}, {"segment": "smb", "message": "Борис got worse"},
                    {"segment": "mid", "id": "m10"}, {"subject": {"manager": "m3"}}],
           "note": "about m2"}
    out = s.document(doc, PEOPLE)
    assert out["movers"] == {"up": [{"owner": "m1"}]}
    assert out["rows"] == [{"manager": "m1", "x": 2}, {"segment": "mid", "id": "m10"}]  # m10 is not m1
    assert out["note"] is None and out["scope_redacted"] == ["note"]
    assert Scope("head", "boss").document(doc, PEOPLE) == doc
