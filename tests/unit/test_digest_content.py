"""Digest content per role on a small generated store: the head's digest is the department's `changes`, the
managers' digests partition it (their waterfalls add up to the head's, each reconciles), a lead sees their
team, quality control the review queue; deals to save are alive deals by value at risk; alerts by subject;
texts in ru and en with display names and the zone named; the model is trained once for everyone."""

from __future__ import annotations

import re

import pytest

from dealpulse.app import Session
from dealpulse.app import models
from dealpulse.demo.simulation import simulate
from dealpulse.digest import render
from dealpulse.digest.content import DigestBuilder
from dealpulse.digest.people import Recipient
from dealpulse.ingest.write import write_tables
from dealpulse.store import connect

MANAGERS = ("m01", "m02", "m03", "m04")
TEAM = {"m01": "Ключевые клиенты", "m02": "Москва", "m03": "Москва", "m04": "Регионы"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digest")
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEALPULSE_CONFIG_DIR", str(tmp / "cfg"))
        models.forget_memory()
        from dealpulse.risk import train as train_mod

        real = train_mod.train

        def counting(snap, **kw):
            calls.append(snap.as_of)
            return real(snap, **kw)

        mp.setattr(train_mod, "train", counting)
        store = connect(str(tmp / "d.duckdb"))
        write_tables(store, dict(simulate(deals=400, managers=4, months=8, seed=5).frames), [], source="test",
                     tz="Europe/Moscow")
        moment = Session(store).at(None)
        builder = DigestBuilder(moment, "7d", langs=("en", "ru"))
        people = [Recipient("boss", "head", lang="en"), Recipient("qc", "qc", lang="en"),
                  Recipient("lead", "lead", team="Москва", lang="ru")]
        people += [Recipient(f"u_{m}", "manager", manager_id=m, team=TEAM[m], lang="ru" if m == "m01" else "en")
                   for m in MANAGERS]
        digests = {r.login: builder.for_person(r) for r in people}
        yield {"store": store, "builder": builder, "digests": digests, "calls": calls, "moment": moment, "people": people}
        store.close()


def test_the_model_is_trained_once_for_every_digest(world):
    assert len(world["calls"]) == 1  # the session's cached model, not one per person or language


def test_head_digest_is_the_department_changes(world):
    from dealpulse.changes import compute_changes

    m = world["moment"]
    ch = compute_changes(m.snapshot, "7d", trained=m.trained(), limit=5, alerts=False)
    head = world["digests"]["boss"]
    assert [(f.bucket, f.deals, f.count, round(f.amount, 2)) for f in head.waterfall] == \
           [(b["bucket"], b["deals"], b["count"], round(b["amount"], 2)) for b in ch["waterfall"]]
    assert head.reconciles and head.live == ch["movers"]["live"]
    assert [x.deal_id for x in head.movers_down] == [x["deal_id"] for x in ch["movers"]["down"]]
    assert [x.deal_id for x in head.movers_up] == [x["deal_id"] for x in ch["movers"]["up"]]
    assert head.slipped_total == ch["movers"]["slipped_total"]
    for mv, x in zip(head.movers_down, ch["movers"]["down"]):  # why it fell: reasons against that appeared
        assert set(mv.why) <= {r["text"] for r in x["reasons_added"] if r["side"] == "against"}
    assert (head.start, head.as_of) == (ch["start"], ch["as_of"]) and head.tz == "Europe/Moscow"


def test_managers_digests_partition_the_department(world):
    d = world["digests"]
    head = d["boss"]
    for bucket in ("open_start", "new", "won", "lost", "amount_up", "amount_down", "advanced", "open_end"):
        parts = [d[f"u_{m}"].flow(bucket) for m in MANAGERS]
        whole = head.flow(bucket)
        assert sum(p.deals for p in parts) == whole.deals and sum(p.count for p in parts) == whole.count
        assert round(sum(p.amount for p in parts), 2) == round(whole.amount, 2)
    for m in MANAGERS:
        mine = d[f"u_{m}"]
        assert mine.reconciles and mine.role == "manager" and mine.scope_manager == m
        owners = {x.owner for x in (*mine.movers_up, *mine.movers_down, *mine.slipped, *mine.to_save)}
        assert owners <= {m}
    assert sum(d[f"u_{m}"].live for m in MANAGERS) == head.live
    assert any(d[f"u_{m}"].to_save for m in MANAGERS)


def test_lead_sees_their_team(world):
    lead = world["digests"]["lead"]
    team = {m for m, t in TEAM.items() if t == "Москва"}
    owners = {x.owner for x in (*lead.movers_up, *lead.movers_down, *lead.slipped, *lead.to_save)}
    assert owners and owners <= team
    d = world["digests"]
    assert lead.flow("open_end").count == sum(d[f"u_{m}"].flow("open_end").count for m in team)
    assert lead.lang == "ru" and lead.scope_team == "Москва"


def test_deals_to_save_are_alive_deals_by_value_at_risk(world):
    rows = [r for r in world["builder"].scores("en") if r["state"] == "alive" and r["value_at_risk"] is not None]
    rows.sort(key=lambda r: -r["value_at_risk"])
    head = world["digests"]["boss"]
    assert [s.deal_id for s in head.to_save] == [r["deal_id"] for r in rows[:5]]
    assert head.at_risk_total == pytest.approx(sum(r["value_at_risk"] for r in rows))
    dead = {r["deal_id"] for r in world["builder"].scores("en") if r["state"] != "alive"}
    assert not dead & {s.deal_id for s in head.to_save}
    assert all(s.owner_name and not re.fullmatch(r"m\d+", s.owner_name) for s in head.to_save)  # names, not ids


def test_quality_control_gets_the_review_queue(world):
    qc = world["digests"]["qc"]
    q = world["builder"].review("en")
    assert qc.review is not None and qc.review.n_waiting == len(q.rows) and qc.review.n_atypical == q.n_atypical
    assert not qc.to_save and not qc.alerts and not qc.movers_down
    subject, body = render.text(qc)
    assert "Review queue" in body and "Deals to save" not in body
    assert world["digests"]["boss"].review is None


def test_alerts_are_scoped_by_their_subject(world):
    b = world["builder"]
    fake = [
        {"kind": "manager_pace", "subject": {"manager": "m02"}, "severity": "high", "status": "open",
         "since": "2023-08-01", "opened": "2099-01-01", "resolved": None, "message": "m02 slower"},
        {"kind": "step_on_time", "subject": {"manager": "m04", "step": "proposal_sent"}, "severity": "medium",
         "status": "open", "since": "2023-07-01", "opened": "2023-07-02", "resolved": None, "message": "m04 late"},
        {"kind": "stage_dwell", "subject": {"segment": "smb", "stage": "proposal"}, "severity": "low", "status": "open",
         "since": "2023-07-01", "opened": "2023-07-02", "resolved": None, "message": "smb proposal slow"},
        {"kind": "manager_pace", "subject": {"manager": "m02"}, "severity": "low", "status": "resolved",
         "since": "2023-05-01", "opened": "2023-05-02", "resolved": "2099-01-01", "message": "old"},
    ]
    saved = dict(b._alerts)
    b._alerts["en"] = fake
    try:
        m02 = b.for_person(Recipient("x", "manager", manager_id="m02", lang="en"))
        m04 = b.for_person(Recipient("y", "manager", manager_id="m04", lang="en"))
        head = b.for_person(Recipient("z", "head", lang="en"))
    finally:
        b._alerts.clear()
        b._alerts.update(saved)
    assert [a.message for a in m02.alerts] == ["m02 slower", "smb proposal slow"] and m02.alerts_resolved == 1
    assert m02.alerts[0].new and not m02.alerts[1].new
    name = world["store"].query("SELECT name FROM managers WHERE manager_id = 'm02'")[0][0]
    assert m02.alerts[0].subject_names == {"manager": name}
    assert [a.message for a in m04.alerts] == ["m04 late", "smb proposal slow"]
    assert head.alerts_total == 3
    _, body = render.text(m02)
    assert "[high] NEW m02 slower" in body and "1 new in the period, 1 resolved" in body


def test_texts_in_russian_and_english_with_names_and_the_zone(world):
    d = world["digests"]
    ru_subject, ru = render.text(d["u_m01"])
    en_subject, en = render.text(d["u_m02"])
    name_m01 = world["store"].query("SELECT name FROM managers WHERE manager_id = 'm01'")[0][0]
    assert ru_subject.startswith("Сводка dealpulse по ") and name_m01 in ru_subject
    assert "Что изменилось" in ru and "Открытые алерты" in ru and "Сделки, которые надо спасать" in ru
    assert "What changed" in en and "Open alerts" in en and "Deals to save" in en
    assert "(Europe/Moscow)" in ru and "(Europe/Moscow)" in en
    assert not re.search(r"\bm0\d\b", ru + en)  # people by name, never by id
    html = render.email_html(d["u_m01"])
    assert html.startswith("<!doctype html>") and 'lang="ru"' in html and "Что изменилось" in html
    msgs = render.telegram(d["boss"])
    assert msgs and all(len(m) <= 4096 for m in msgs) and "<b>What changed</b>" in msgs[0]
    small = render.telegram(d["boss"], limit=600)
    assert len(small) > 1 and all(len(m) <= 600 for m in small)
    doc = d["u_m01"].document()
    assert doc["lang"] == "ru" and doc["as_of"]["tz"] == "Europe/Moscow" and doc["kind"] == "dealpulse.digest"
    assert {"waterfall", "movers_down", "alerts", "to_save", "period"} <= set(doc)


def test_knowing_the_scopes_explains_fewer_movers_and_changes_nothing_shown(world):
    from dealpulse.digest.people import scope_of

    people = [p for p in world["people"] if p.role != "head"]
    b = DigestBuilder(world["moment"], "7d", langs=("en", "ru"), scopes=[scope_of(world["store"], r) for r in people])
    for r in people:
        assert b.for_person(r).document() == world["digests"][r.login].document(), r.login
    ch, full = b.changes()["movers"], world["builder"].changes()["movers"]
    assert len(ch["up"]) + len(ch["down"]) < len(full["up"]) + len(full["down"])
