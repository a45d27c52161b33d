"""The early-warning sections of the HTML report (alerts, deals at risk, forecast calls, review queue,
which metrics matter) on the demo department as of 2024-11-15, when m07's late proposals alert, in
both languages; and one failing section leaving the rest of the report standing."""

from __future__ import annotations

import dataclasses
import html as htmllib
import re
from datetime import datetime

import pytest

from dealpulse.i18n import t
from dealpulse.metrics.asof import snapshot
from dealpulse.playbook import playbook_for_store
from dealpulse.report import build as report_build
from dealpulse.report import gather, render_report
from dealpulse.report.html import ORDER
from dealpulse.risk.score import score
from dealpulse.store import connect
from tests.builders import fill
from tests.unit.test_report import AS_OF, WINDOW, department

DEMO_AS_OF = "2024-11-15"  # m07's late proposals (planted from 2024-09-01) are alerted by then
EARLY = ("alerts", "risk", "optimism", "review", "leading")


def _section(page: str, key: str) -> str:
    m = re.search(rf'<section id="{key}"[^>]*>(.*?)</section>', page, re.S)
    assert m, key
    return m.group(1)


def _text(fragment: str) -> str:
    """The visible text of an HTML fragment (scripts dropped, entities decoded, spaces collapsed)."""
    fragment = re.sub(r"<script.*?</script>", " ", fragment, flags=re.S)
    return re.sub(r"[ \t\r\n\f\v]+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)))  # NBSP kept (1 234, 10 %)


@pytest.fixture(scope="module")
def demo(demo_db):
    """The demo report gathered once for both languages, the model it trained, and the two pages."""
    store = connect(demo_db)
    fitted = []

    def spy(history):
        fitted.append(report_build.fit_model(history))
        return fitted[-1]

    mp = pytest.MonkeyPatch()
    mp.setattr(report_build, "_fit", spy)
    try:
        pb = playbook_for_store(store, None)
        data = gather(store, as_of=DEMO_AS_OF, playbook=pb, strict=True, langs=("en", "ru"))
        snap = snapshot(store, DEMO_AS_OF, pb)
        _, rows = score(snap, lang="en", trained=fitted[0])  # the public API on the report's model
        _, rows_ru = score(snap, lang="ru", trained=fitted[0])
        pages = {lang: render_report(data, lang, pb) for lang in ("en", "ru")}
        yield data, fitted, rows, rows_ru, pages
    finally:
        mp.undo()
        store.close()


def test_the_model_is_trained_once_and_shared(demo):
    data, fitted, *_ = demo
    assert len(fitted) == 1
    assert data.risk is not None and data.optimism is not None
    assert data.risk.kind == fitted[0].model.kind == "boosting"
    assert data.risk.deals == fitted[0].model.n_groups > 1000
    assert data.risk.first_at is not None and data.risk.first_at < datetime(2024, 11, 15)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_early_section_is_there_in_the_language_and_in_order(demo, lang):
    page = demo[4][lang]
    for key in EARLY:
        assert t(f"report.{key}.title", lang) in _section(page, key)
    assert t("report.unavailable", lang, reason="x").split(":")[0] not in page
    starts = [page.index(f'<section id="{key}"') for key in ORDER]
    assert starts == sorted(starts)  # what changed this week first, then the alerts, right after the header
    assert ORDER[:2] == ("week", "alerts")
    for fig in ("fig-risk", "fig-leading"):
        assert re.search(rf'Plotly\.newPlot\(\s*"{fig}"', page), fig


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_alert_on_m07_is_at_the_top_with_its_evidence(demo, lang):
    data, page = demo[0], demo[4][lang]
    m07 = [a for a in data.alerts if a.subject.get("manager") == "m07"]
    assert m07 and m07[0].kind == "step_on_time" and m07[0].subject.get("step") == "proposal_sent"
    alerts = _section(page, "alerts")
    text = _text(alerts)
    assert m07[0].message[lang] in text and "m07" in text
    assert data.header.who("m07") in text  # the manager's name, not only the id
    assert f'class="badge {m07[0].severity}"' in alerts
    assert t(f"report.alerts.severity.{m07[0].severity}", lang) in text
    assert t("report.alerts.kind.step_on_time", lang) in text
    assert ("on time" if lang == "en" else "вовремя") in m07[0].message[lang]
    assert re.search(r"\d+\s?%", text) and "q " in text  # the evidence numbers


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_deal_most_at_risk_is_listed_with_its_reasons(demo, lang):
    data, _, rows, rows_ru, pages = demo
    top = max(rows, key=lambda r: r["value_at_risk"] or 0)
    risk = _section(pages[lang], "risk")
    m = re.search(rf'<tr data-deal="{top["deal_id"]}">(.*?)</tr>', risk, re.S)
    assert m, top["deal_id"]
    row = _text(m.group(1))
    reasons = top["reasons"] if lang == "en" else next(r for r in rows_ru if r["deal_id"] == top["deal_id"])["reasons"]
    assert reasons and all(x in row for x in reasons[:3])
    assert data.header.who(top["owner"]) in row
    text = _text(risk)
    assert t("report.risk.summary", lang, open="x", amount="x", expected="x", baseline="x").split("x")[0].strip() in text
    assert t(f"score.model.{data.risk.kind}", lang, won=data.risk.won, lost=data.risk.lost) in text
    # two tables: alive and slipping (the top 15 by value at risk), dead (close or revive)
    assert len(re.findall(r"<tr data-deal=", risk)) == len(data.risk.deals_at_risk) + len(data.risk.dead)
    assert len(data.risk.deals_at_risk) == 15 and all(d.state != "dead" for d in data.risk.deals_at_risk)
    assert data.risk.dead and all(d.state == "dead" for d in data.risk.dead)
    at_risk = [d.value_at_risk for d in data.risk.deals_at_risk]
    assert at_risk == sorted(at_risk, reverse=True)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_forecast_calls_review_queue_and_metrics_have_real_content(demo, lang):
    data, page = demo[0], demo[4][lang]
    optimism = _section(page, "optimism")
    assert data.optimism and len(re.findall(r'class="badge (overstates|understates|fair|not_enough_data)"', optimism)) == len(data.optimism)
    worst = data.optimism[0]
    assert worst.verdict == "overstates" and data.header.who(worst.manager) in _text(optimism)

    review = _section(page, "review")
    assert data.review and data.review.deals
    first = data.review.deals[0]
    assert f'data-deal="{first.deal_id}"' in review and first.reasons[lang][0] in _text(review)
    assert t("report.review.not_reviewed", lang) in review

    leading = _section(page, "leading")
    verdicts = {r.verdict for r in data.leading.rows}
    assert "matters" in verdicts
    for v in verdicts:
        assert f'class="badge {v}">{t(f"report.leading.verdict.{v}", lang)}<' in leading
    assert data.leading.rows[0].message[lang] in _text(leading)


def test_rendering_in_a_language_that_was_not_gathered_is_refused(demo):
    data = dataclasses.replace(demo[0], langs=("en",))
    with pytest.raises(ValueError, match="gathered for en"):
        render_report(data, "ru")


# -- a failing section --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dept_store(tmp_path_factory):
    s = connect(str(tmp_path_factory.mktemp("early") / "dept.duckdb"))
    fill(s, **department())
    yield s
    s.close()


def test_a_failing_early_section_says_so_and_the_rest_stands(dept_store, monkeypatch):
    pb = playbook_for_store(dept_store, None)

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(report_build, "_alerts", broken)
    monkeypatch.setattr(report_build, "_fit", broken)
    monkeypatch.setattr(report_build, "_cached_model", lambda moment: None)  # no model kept from an earlier test
    monkeypatch.setattr(report_build, "_leading", lambda *a: (_ for _ in ()).throw(ImportError("no leading here")))
    data = gather(dept_store, as_of=AS_OF, window=WINDOW, playbook=pb, langs=("en",))
    assert data.unavailable == {"alerts": "failed", "risk": "failed", "optimism": "failed", "leading": "missing"}
    assert any(w == "alerts: RuntimeError: boom" for w in data.warnings)
    page = render_report(data, "en", pb)
    failed = t("report.unavailable", "en", reason=t("report.unavailable.failed_plain", "en"))
    for key in ("alerts", "risk", "optimism"):  # no model, no forecast calls either
        assert failed in _text(_section(page, key))
        assert "RuntimeError" not in _section(page, key)  # the exception's text stays on stderr and in the log
    assert t("report.unavailable", "en", reason=t("report.unavailable.missing", "en")) in _section(page, "leading")
    assert data.review is not None and "STALE-1" in _section(page, "stale")  # the rest is still there
    with pytest.raises(RuntimeError, match="boom"):
        gather(dept_store, as_of=AS_OF, window=WINDOW, playbook=pb, strict=True, langs=("en",))
