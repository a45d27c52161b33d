"""The application layer's registry: `run(name, moment, **options).document()` is exactly what
`dealpulse <name> --format json` prints (the CLI calls the same function), options arrive typed or as query
texts and a bad one names the option (not a CLI flag), and score + optimism + changes in one session train
the win model once."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealpulse.app import Session, models
from dealpulse.app.commands import COMMANDS, run
from dealpulse.app.options import OptionError
from dealpulse.cli import app
from dealpulse.demo.simulation import simulate
from dealpulse.errors import NotFound
from dealpulse.ingest.write import write_tables
from dealpulse.report import build as report_build
from dealpulse.report.build import gather
from dealpulse.store import connect


def _counted(fn, name, runs):
    def wrapper(*a, **k):
        runs[name] = runs.get(name, 0) + 1
        return fn(*a, **k)

    return wrapper


# (command, language, options as the web API gets them, the same as CLI arguments)
CASES = [
    ("metrics", "en", {"by": "manager", "window": "14d"}, ["--by", "manager", "--window", "14d"]),
    ("funnel", "ru", {"by": "segment", "min-deals": "10"}, ["--by", "segment", "--min-deals", "10"]),
    ("norms", "en", {"seed": "1"}, ["--seed", "1"]),
    ("score", "ru", {"sort": "p_win", "limit": "5"}, ["--sort", "p_win", "--limit", "5"]),
    ("alerts", "en", {"all": "true"}, ["--all"]),
    ("optimism", "en", {"min_deals": 3}, ["--min-deals", "3"]),
    ("review", "en", {"limit": "4", "rare": "1"}, ["--limit", "4", "--rare", "1"]),
    ("dynamics", "ru", {"by": "segment,channel"}, ["--by", "segment,channel"]),
    ("changes", "en", {"since": "14d", "limit": "3"}, ["--since", "14d", "--limit", "3"]),
    ("validate-metrics", "en", {}, []),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("app_commands") / "deals.duckdb"
    store = connect(str(path))
    write_tables(store, dict(simulate(deals=500, managers=5, months=9, seed=11).frames), [], source="test",
                 tz="Europe/Moscow")
    store.close()
    return str(path)


@pytest.fixture(scope="module")
def documents(db, tmp_path_factory):
    """Every case through the registry, in one session (one moment), counting the trainings."""
    from dealpulse.risk import train as train_mod

    mp = pytest.MonkeyPatch()
    mp.setenv("DEALPULSE_CONFIG_DIR", str(tmp_path_factory.mktemp("cfg")))
    models.forget_memory()
    calls: list = []
    real = train_mod.train

    def counting(snap, **kw):
        calls.append(snap.as_of)
        return real(snap, **kw)

    mp.setattr(train_mod, "train", counting)
    mp.setattr(report_build, "_fit", lambda history: calls.append("report fit"))
    try:
        with Session.open(db) as s:
            m = s.at(None)
            docs = {name: run(name, m, lang=lang, **opts).document() for name, lang, opts, _ in CASES}
            # the report on the same moment, in two languages: the deals at risk and the forecast calls on the
            # same model, and every analysis run once (only texts are written per language)
            runs: dict[str, int] = {}
            for module, name in (("dealpulse.review.queue", "find_atypical"), ("dealpulse.leading.deal_level", "closed_deals")):
                target = __import__(module, fromlist=[name])
                real_fn = getattr(target, name)
                mp.setattr(target, name, _counted(real_fn, name, runs))
            docs["report"] = gather(m, langs=("en", "ru"), strict=True)
            docs["report_runs"] = runs
        mp.setattr(train_mod, "train", real)
        yield docs, calls
    finally:
        mp.undo()
        models.forget_memory()


def test_every_command_with_a_json_document_is_in_the_registry():
    assert set(COMMANDS) == {name for name, *_ in CASES}
    assert {n for n, c in COMMANDS.items() if c.trains} == {"score", "optimism", "changes"}


def test_score_optimism_changes_and_the_report_train_the_model_once(documents):
    docs, calls = documents
    assert len(calls) == 1  # score trained it; optimism, changes and the report reused the moment's model
    report = docs["report"]
    assert report.risk is not None and report.optimism is not None and not report.unavailable
    model = docs["score"]["model"]
    assert (report.risk.kind, report.risk.won, report.risk.lost) == (model["kind"], model["trained_on"]["won"],
                                                                     model["trained_on"]["lost"])
    assert {r.manager for r in report.optimism} == {r["manager"] for r in docs["optimism"]["rows"]}
    # two languages, each analysis once: the review queue, the leading metrics (and the model above)
    assert docs["report_runs"] == {"find_atypical": 1, "closed_deals": 1}
    assert report.langs == ("en", "ru") and all(set(d.reasons) == {"en", "ru"} for d in report.risk.deals_at_risk)
    trained_on = [docs[n]["model"]["trained_on"] for n in ("score", "optimism", "changes")]
    assert trained_on[0] == trained_on[1] == trained_on[2] and trained_on[0]["deals"] > 0


@pytest.mark.parametrize("name,lang,opts,args", CASES, ids=[c[0] for c in CASES])
def test_the_registry_gives_what_the_cli_prints(documents, db, name, lang, opts, args):
    docs, _ = documents
    res = CliRunner().invoke(app, [name, "--db", db, "--format", "json", "--lang", lang, *args],
                             catch_exceptions=False, env={"COLUMNS": "100"})
    assert res.exit_code == 0, res.output
    assert res.stdout == json.dumps(docs[name], ensure_ascii=False, indent=2) + "\n"
    assert isinstance(docs[name]["rows"], list) and docs[name]["as_of"]["tz"] == "Europe/Moscow"


def test_options_are_checked_once_and_named_without_cli_flags(db):
    with Session.open(db) as s:
        m = s.at(None)
        with pytest.raises(OptionError) as bad:
            run("metrics", m, window="0d")
        assert str(bad.value).startswith("window 0d: expected a duration") and "--" not in str(bad.value)
        assert bad.value.code == "bad_window" and bad.value.option == "window"
        with pytest.raises(OptionError, match=r"^sort: ожидалось одно из value, p_win, amount, close"):
            run("score", m, lang="ru", sort="loudest")
        with pytest.raises(OptionError, match="^since: expected a span"):
            run("changes", m, since="last week")
        with pytest.raises(OptionError, match="^rare: expected a percentage"):
            run("review", m, rare="150")
        with pytest.raises(OptionError, match="^limit: expected a whole number"):
            run("review", m, limit="three")
        with pytest.raises(NotFound):
            run("forecast", m)
        with pytest.raises(OptionError, match=r"^as_of 2030-01-01 00:00 \(Europe/Moscow\) is [\d,]+ days after the data ends"):
            s.at("2030-01-01")
        with pytest.raises(OptionError, match="^as_of: expected a date such as"):
            s.at("soon")
        with pytest.raises(Exception, match="unknown option 'colour'"):
            run("funnel", m, colour="red")
    # the CLI says the same with its own spelling of the option
    res = CliRunner().invoke(app, ["metrics", "--db", db, "--window", "0d"], env={"COLUMNS": "100"})
    assert res.exit_code == 2 and "--window 0d: expected a duration" in res.output
