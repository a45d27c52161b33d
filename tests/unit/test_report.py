"""Hand-made data for the report tests: a small department whose wins jumped this window.

as_of = 2025-03-01 00:00 UTC, window 28 days: this window is (2025-02-01, 2025-03-01],
the previous one (2025-01-04, 2025-02-01].
- 25 deals won this window (created in it), 3 won in the previous one: a change beyond chance;
- 2 deals lost this window, none before: a change on tiny numbers (not highlighted);
- first contacts: m1 late on most, m2 on time, m3 with only two (a greyed cell);
- STALE-1: an enterprise deal of 9,000,000 untouched since 2025-01-03 (limit 21 days);
- FRESH-1: an open deal touched a day ago (not stale);
- O00-O11: deals of mid-2024 that left qualification in half a day (this winter's deals take two
  days there: a dwell slowdown beyond chance).
"""

from __future__ import annotations

from datetime import datetime, timedelta

AS_OF = datetime(2025, 3, 1)
WINDOW = timedelta(days=28)


def department() -> dict[str, list]:
    deals, history, tasks = [], [], []
    t0 = datetime(2025, 2, 2)
    for i in range(25):
        owner = "m1" if i < 12 else ("m2" if i < 23 else "m3")
        created = t0 + timedelta(hours=10 * i)
        did = f"W{i:02d}"
        closed = created + timedelta(days=8 + i % 5)
        deals.append(dict(deal_id=did, title=f"Won deal {i}", owner=owner, segment="smb", amount=100_000.0 + 1000 * i,
                          currency="RUB", created_at=created, status="won", closed_at=closed))
        history += [(did, "new", created), (did, "qualification", created + timedelta(days=2)),
                    (did, "proposal", created + timedelta(days=4)), (did, "won", closed)]
        late = owner == "m1" and i % 4 != 0
        done = created + (timedelta(days=3) if late else timedelta(hours=5))
        tasks.append(dict(task_id=f"T{did}", deal_id=did, type="first_contact", owner=owner, created_at=created,
                          due_at=created + timedelta(days=1), completed_at=done))
    for i in range(3):
        did = f"P{i}"
        created = datetime(2024, 12, 20) + timedelta(days=i)
        deals.append(dict(deal_id=did, title=f"Old win {i}", owner="m2", segment="smb", amount=120_000.0,
                          currency="RUB", created_at=created, status="won", closed_at=datetime(2025, 1, 15) + timedelta(days=i)))
        history += [(did, "new", created), (did, "proposal", created + timedelta(days=5))]
    for i in range(2):
        did = f"L{i}"
        created = datetime(2025, 2, 5) + timedelta(days=i)
        deals.append(dict(deal_id=did, title=f"Lost deal {i}", owner="m2", segment="smb", amount=50_000.0,
                          currency="RUB", created_at=created, status="lost", closed_at=created + timedelta(days=6)))
        history += [(did, "new", created), (did, "qualification", created + timedelta(days=1))]
    for i in range(12):
        did = f"O{i:02d}"
        created = datetime(2024, 6, 1) + timedelta(days=i)
        deals.append(dict(deal_id=did, title=f"Summer deal {i}", owner="m2", segment="smb", amount=80_000.0,
                          currency="RUB", created_at=created, status="lost", closed_at=created + timedelta(days=10)))
        history += [(did, "new", created), (did, "qualification", created + timedelta(days=1)),
                    (did, "proposal", created + timedelta(days=1, hours=12))]
    deals.append(dict(deal_id="STALE-1", title="Big stuck deal", owner="m2", segment="enterprise", amount=9_000_000.0,
                      currency="RUB", created_at=datetime(2025, 1, 1), status="open"))
    history += [("STALE-1", "new", datetime(2025, 1, 1)), ("STALE-1", "qualification", datetime(2025, 1, 3))]
    deals.append(dict(deal_id="FRESH-1", title="Active deal", owner="m1", segment="smb", amount=200_000.0,
                      currency="RUB", created_at=datetime(2025, 2, 20), status="open"))
    history += [("FRESH-1", "new", datetime(2025, 2, 20)), ("FRESH-1", "qualification", datetime(2025, 2, 28))]
    managers = [dict(manager_id="m1", name="Anna Petrova", team="North"),
                dict(manager_id="m2", name="Boris Ivanov", team="North")]  # m3 is in no managers table
    return dict(deals=deals, stage_history=history, tasks=tasks, managers=managers)


# -- the report on it -----------------------------------------------------------------------------
import re  # noqa: E402

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from dealpulse.i18n import t  # noqa: E402
from dealpulse.playbook import playbook_for_store  # noqa: E402
from dealpulse.report import build as report_build  # noqa: E402
from dealpulse.report import gather, render_report, write_report  # noqa: E402
from dealpulse.store import connect  # noqa: E402
from tests.builders import fill  # noqa: E402

TITLES = ("changes", "funnel", "dwell", "heatmap", "stale", "managers")


@pytest.fixture(scope="module")
def dept_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "dept.duckdb"
    s = connect(str(path))
    fill(s, **department())
    s.close()
    return path


@pytest.fixture(scope="module")
def dept(dept_db):
    s = connect(str(dept_db))
    pb = playbook_for_store(s, None)
    data = gather(s, as_of=AS_OF, window=WINDOW, playbook=pb, strict=True)
    yield s, pb, data
    s.close()


@pytest.fixture(scope="module")
def pages(dept):
    _, pb, data = dept
    return {lang: render_report(data, lang, pb) for lang in ("en", "ru")}


def _section(html: str, key: str) -> str:
    m = re.search(rf'<section id="{key}">(.*?)</section>', html, re.S)
    assert m, key
    return m.group(1)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_one_self_contained_file(pages, lang):
    html = pages[lang]
    assert html.startswith("<!doctype html>") and f'<html lang="{lang}">' in html
    assert html.count("* plotly.js v") == 1  # the library is embedded once, not once per figure
    # the page outside the embedded library (whose code mentions map-tile servers it never calls here)
    page = re.sub(r"<script>/\*\*\s*\* plotly\.js v.*?</script>", "<script></script>", html, count=1, flags=re.S)
    assert len(page) < len(html) / 10
    assert not re.search(r"<script[^>]*\ssrc=", page, re.I)
    assert not re.search(r"<link[^>]*>", page, re.I)
    assert not re.search(r"@import|url\(", page, re.I)
    assert not re.search(r"https?:|(src|href)\s*=\s*[\"']?//", page, re.I)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_section_is_there_in_the_language(pages, lang):
    html = pages[lang]
    assert t("report.title", lang) in html
    for key in TITLES:
        assert t(f"report.{key}.title", lang) in _section(html, key)
    assert t("report.unavailable", lang, reason="x").split(":")[0] not in html  # nothing is missing
    if lang == "ru":
        assert "Воронка" in html and "Funnel" not in html


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_heat_map_and_funnel_figures_are_drawn(pages, lang):
    html = pages[lang]
    for fig in ("fig-funnel", "fig-dwell", "fig-heatmap"):
        assert re.search(rf'Plotly\.newPlot\(\s*"{fig}"', html), fig
    heat = _section(html, "heatmap")
    assert '"type":"heatmap"' in heat
    from dealpulse.labels import label

    assert label("first_contact", lang) in heat and "first_contact" not in heat and "n=13" in heat  # the step's label
    assert "Anna Petrova" in heat and '"m3  (' in heat  # names where the managers table has them


def test_heat_map_puts_the_worst_manager_first_and_greys_few_instances(dept):
    hm = dept[2].heatmap
    assert hm.managers[0] == "m1"  # 3 of 12 first contacts on time
    assert hm.steps[0] == "first_contact"
    i = hm.managers.index("m3")
    assert hm.n[i][0] == 2 < hm.min_n  # greyed in the figure


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_stale_deal_is_listed(pages, lang):
    stale = _section(pages[lang], "stale")
    assert "STALE-1" in stale and "Big stuck deal" in stale and "Boris Ivanov" in stale
    assert "FRESH-1" not in stale
    assert re.search(r'class="n over">57<', stale)  # 57 days since 2025-01-03


def test_stale_list_is_sorted_by_amount_times_staleness(dept):
    data = dept[2]
    assert [d.deal_id for d in data.stale] == ["STALE-1"]
    assert data.stale_total == 1
    assert data.stale[0].stale_after_days == 21  # the enterprise limit of the built-in playbook


def test_a_significant_change_is_highlighted_and_a_tiny_one_is_not(dept, pages):
    kpis = {k.key: k for k in dept[2].kpis}
    won, lost = kpis["won"], kpis["lost"]
    assert (won.prev, won.cur) == (3, 25) and won.highlighted and won.direction == "better"
    assert (lost.prev, lost.cur) == (0, 2) and lost.verdict.p is None and not lost.highlighted
    for lang, html in pages.items():
        changes = _section(html, "changes")
        assert re.search(r'class="card hl better" data-kpi="won"', changes)
        assert re.search(r'class="card" data-kpi="lost"', changes)
        assert t("report.change.won.better", lang, prev="3", cur="25") in changes
        assert t("report.change.lost.worse", lang, prev="0", cur="2") not in changes


def test_the_funnel_says_open_deals_are_censored(dept, pages):
    data = dept[2]
    assert [r.stage for r in data.funnel][:3] == ["new", "qualification", "proposal"]
    assert data.funnel_censored == 2
    for lang, html in pages.items():
        assert t("report.funnel.note", lang, open="2") in _section(html, "funnel")


def test_a_dwell_slowdown_is_found_and_said(dept, pages):
    data = dept[2]
    rows = {r.stage: r for r in data.dwell}
    q = rows["qualification"]
    assert (q.n_recent, q.n_before) == (29, 12)  # 25 won, 2 lost, STALE-1, FRESH-1
    assert q.median_days == 2.0 and q.before_median_days == 0.5
    assert q.shift == "slower"
    shifts = [(x.stage, x.segment, x.direction) for x in data.dwell_shifts]
    assert ("qualification", None, "slower") in shifts and ("qualification", "smb", "slower") in shifts
    assert not any(x.segment == "enterprise" for x in data.dwell_shifts)  # one deal: never tested
    assert data.dwell_since == AS_OF - timedelta(days=84)
    d = "\u00a0d"
    assert t("report.dwell.shift.slower", "en", stage="qualification", segment="", median="2" + d, before="0.5" + d,
             p80="2" + d, before_p80="0.5" + d, n="29") in _section(pages["en"], "dwell")


def test_stage_deadlines_add_up_steps_anchored_on_steps(dept):
    pb = dept[1]
    steps, last = report_build.stage_deadlines(pb, "proposal")
    assert [(d.step, d.days, d.after) for d in steps] == [("proposal_sent", 5, None), ("follow_up_call", 5, "proposal_sent")]
    assert steps[0].by_segment == {"enterprise": 10, "smb": 3}
    assert last == 10


def test_a_missing_module_makes_its_section_say_not_available(dept, monkeypatch):
    s, pb, _ = dept

    def missing(_snap):
        raise ImportError("dealpulse.metrics.funnel is not available")

    def broken(_snap):
        raise RuntimeError("boom")

    monkeypatch.setattr(report_build, "_funnel", missing)
    monkeypatch.setattr(report_build, "_norms", broken)
    monkeypatch.setattr(report_build, "_metrics", lambda *a: missing(None))
    data = gather(s, as_of=AS_OF, window=WINDOW, playbook=pb)
    assert data.unavailable == {"changes": "missing", "funnel": "missing", "norms": "failed",
                                "managers": "missing", "heatmap": "missing"}
    assert any("RuntimeError: boom" in w for w in data.warnings)
    html = render_report(data, "en", pb)
    for key in ("changes", "funnel", "heatmap", "managers"):
        assert t("report.unavailable", "en", reason=t("report.unavailable.missing", "en")) in _section(html, key)
    assert "STALE-1" in _section(html, "stale")  # the rest is still there
    assert t("report.dwell.no_norms", "en") in _section(html, "dwell")
    with pytest.raises(RuntimeError):
        gather(s, as_of=AS_OF, window=WINDOW, playbook=pb, strict=True)


def test_build_and_write_report(dept, tmp_path):
    s, _, _ = dept
    out = write_report(s, tmp_path / "sub" / "r.html", as_of="2025-03-01", window=WINDOW, lang="ru", strict=True)
    html = out.read_text(encoding="utf-8")
    assert out.name == "r.html" and t("report.title", "ru") in html
    assert "STALE-1" in html and "fig-heatmap" in html


def test_cli_writes_the_file_and_says_where(dept_db, tmp_path):
    from dealpulse.cli import app

    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", "--db", str(dept_db), "--out", str(out), "--as-of", "2025-03-01",
                                   "--window", "4w", "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.stat().st_size > 1_000_000
    assert str(out) in res.stderr and "MB" in res.stderr
    assert "fig-heatmap" in out.read_text(encoding="utf-8")


def test_cli_rejects_a_bad_window_and_a_missing_store(dept_db, tmp_path):
    from dealpulse.cli import app

    res = CliRunner().invoke(app, ["report", "--db", str(dept_db), "--window", "soon", "--out", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "--window" in res.stderr
    res = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "x.html")])
    assert res.exit_code == 5 and not (tmp_path / "x.html").exists()
