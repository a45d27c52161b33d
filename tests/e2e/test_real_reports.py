"""`dealpulse report` on every real data set in ../shared/data and on the demo, in ru and en: exit 0, no
traceback, no library warning, and no internal error text or missing value (nan, None) on the page; a
section with no data says so in words.

Each data set is imported once per session, as its example README (or the data's README) says. The
report's sections do not depend on the language except the texts the early-warning modules write, which
`gather` collects for every language asked: so the sections are computed once per store for both
languages (a cache around `report.build.gather`), and the CLI renders and writes the page twice.
"""

from __future__ import annotations

import gzip
import html as html_lib
import re
import shutil
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from tests.conftest import ROOT, SHARED_DATA

pytestmark = pytest.mark.slow

DATASETS = ("bpic2012", "olist", "maven", "ibm", "demo")
LANGS = ("en", "ru")
# what must never reach the page a person reads
LEAKS = re.compile(r"Traceback|Error|Warning|KeyError|IndexError|object has no attribute|\bnan\b|\bNaN\b|\bNone\b"
                   r"|\bnull\b|\bundefined\b|\binf\b")


def _invoke(*args: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, list(args))
    shown = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not shown, [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in shown]
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _import(name: str, folder: Path) -> str:
    db = str(folder / f"{name}.duckdb")
    examples = ROOT / "examples"
    if name == "demo":
        res = _invoke("demo", "--out", str(folder / "demo"), "--deals", "600", "--db", db, "--lang", "en")
        assert res.exit_code == 0, res.output
        return db
    if name == "bpic2012":
        args = [str(SHARED_DATA / "bpic2012" / "BPI_Challenge_2012.xes.gz"), "--mapping", str(examples / "bpic2012" / "mapping.yaml"),
                "--playbook", str(examples / "bpic2012" / "playbook.yaml")]
    elif name == "olist":
        args = [str(SHARED_DATA / "olist_marketing_funnel"), "--mapping", str(examples / "olist" / "mapping.yaml"),
                "--playbook", str(examples / "olist" / "playbook.yaml")]
    elif name == "maven":
        args = [str(SHARED_DATA / "maven_crm_sales_opportunities")]  # the built-in synonyms read it
    else:  # ibm: examples/ibm/mapping.yaml reads the decompressed CSV
        csv = folder / "ibm" / "opportunities.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(SHARED_DATA / "ibm_sales_win_loss" / "WA_Fn-UseC_-Sales-Win-Loss.csv.gz", "rb") as src, open(csv, "wb") as dst:
            shutil.copyfileobj(src, dst)
        args = [str(csv), "--mapping", str(examples / "ibm" / "mapping.yaml")]
    res = _invoke("import", *args, "--db", db, "--format", "json")
    assert res.exit_code == 0, res.output
    return db


@pytest.fixture(scope="session")
def real_stores(tmp_path_factory):
    """name -> DuckDB path, each data set imported once per session."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data {SHARED_DATA} is absent (it lives in ../shared/data beside the checkout)")
    folder = tmp_path_factory.mktemp("real_reports")
    return {name: _import(name, folder) for name in DATASETS}


@pytest.fixture(scope="session")
def gathered():
    """A cache of the report's sections per store, gathered once for both languages."""
    return {}


def visible_text(page: str) -> str:
    """The text a person reads: scripts (Plotly and the figures' data) and styles removed, tags stripped."""
    page = re.sub(r"(?is)<script\b[^>]*>.*?</script>", " ", page)
    page = re.sub(r"(?is)<style\b[^>]*>.*?</style>", " ", page)
    return html_lib.unescape(re.sub(r"(?s)<[^>]+>", " ", page))


def figure_data(page: str) -> str:
    """The figures' JSON (the scripts that draw them, not the Plotly library)."""
    scripts = re.findall(r"(?is)<script\b[^>]*>(.*?)</script>", page)
    return "\n".join(s for s in scripts if "Plotly.newPlot" in s and len(s) < 3_000_000)


@pytest.mark.parametrize("name", DATASETS)
def test_report_in_both_languages(real_stores, gathered, name, tmp_path, monkeypatch):
    from dealpulse.report import build

    real_gather = build.gather

    def gather_once(source, **kw):  # a store, or the CLI's Moment (the application layer)
        url = source.url if hasattr(source, "url") else source.store.url
        key = (url, kw.get("as_of"))
        if key not in gathered:
            gathered[key] = real_gather(source, **{**kw, "langs": LANGS})
        return gathered[key]

    monkeypatch.setattr(build, "gather", gather_once)
    db = real_stores[name]
    for lang in LANGS:
        out = tmp_path / f"{name}-{lang}.html"
        res = _invoke("report", "--db", db, "--lang", lang, "--out", str(out))
        assert res.exit_code == 0, res.output
        assert "Traceback" not in res.output and "Warning" not in res.output, res.output
        page = out.read_text(encoding="utf-8")
        text = visible_text(page)
        leaks = [text[max(0, m.start() - 60):m.end() + 60].replace("\n", " ") for m in LEAKS.finditer(text)]
        assert not leaks, f"{name} ({lang}): {leaks[:5]}"
        bad_numbers = re.findall(r".{40}\b(?:NaN|Infinity|nan)\b.{20}", figure_data(page))
        assert not bad_numbers, f"{name} ({lang}): {bad_numbers[:3]}"
        data = gathered[(db, None)]
        assert not data.unavailable, f"{name}: sections not computed: {data.warnings}"


def _score(db: str, *extra: str) -> dict:
    import json

    res = _invoke("score", "--db", db, "--format", "json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_no_chance_the_data_cannot_support(real_stores, tmp_path):
    """Olist records no loss: no chance, and what to do; with `lost_after: 90d` in its playbook, a real
    chance that falls as a lead ages. Maven is a snapshot: its open deals' stages were never seen in
    a closed deal's life."""
    olist = _score(real_stores["olist"])
    assert [n["code"] for n in olist["notices"]] == ["no_lost_deals"]
    assert olist["rows"] and all(r["p_win"] is None for r in olist["rows"])
    playbook = tmp_path / "olist-lost-after.yaml"
    playbook.write_text((ROOT / "examples" / "olist" / "playbook.yaml").read_text(encoding="utf-8") + "lost_after: 90d\n",
                        encoding="utf-8")
    scored = _score(real_stores["olist"], "--playbook", str(playbook), "--as-of", "2018-06-01")
    assert not scored["notices"] and scored["model"]["trained_on"]["lost"] > 3000
    rows = scored["rows"]
    assert len(rows) > 3000 and all(r["p_win"] is not None for r in rows)
    fresh = [r["p_win"] for r in rows if r["days_in_stage"] < 14]
    old = [r["p_win"] for r in rows if r["days_in_stage"] > 60]
    assert sum(fresh) / len(fresh) > 2 * sum(old) / len(old)  # a real chance: it falls as the lead ages
    assert 0.03 < sum(fresh) / len(fresh) < 0.15
    maven = _score(real_stores["maven"])
    assert [n["code"] for n in maven["notices"]] == ["stage_not_in_history"]
    assert all(r["p_win"] is None and r["notice"] == "stage_not_in_history" for r in maven["rows"])
