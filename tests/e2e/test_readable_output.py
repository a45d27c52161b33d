"""What a person reads, command by command, on one small demo store in Europe/Moscow (issue 8, part 4):
one as-of format with the zone named, display names instead of ids, tables that fit 100 columns,
Russian numbers and plurals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app

TZ = "Europe/Moscow"
COMMANDS = ["metrics", "funnel", "norms", "score", "alerts", "optimism", "review", "changes", "dynamics",
            "validate-metrics"]
runner = CliRunner()


class Demo:
    def __init__(self, db: str, import_output: str):
        self.db = db
        self.import_output = import_output
        self._cache: dict[tuple, object] = {}

    def run(self, cmd: str, lang: str = "en", fmt: str = "table", *extra: str, width: int = 100):
        """The command's output (table: stdout and stderr as one text; json: the parsed document)."""
        key = (cmd, lang, fmt, extra, width)
        if key not in self._cache:
            from dealpulse.cli import app as app_module

            cli = __import__("dealpulse.cli.app", fromlist=["out"])
            old = (cli.out._width, cli.err._width)
            cli.out._width = cli.err._width = width
            try:
                res = runner.invoke(app_module, [*cmd.split(), "--db", self.db, "--lang", lang, "--format", fmt, *extra])
            finally:
                cli.out._width, cli.err._width = old
            assert res.exit_code == 0, (cmd, lang, fmt, res.output)
            self._cache[key] = json.loads(res.stdout) if fmt == "json" else res.output
            self._cache[("stdout",) + key] = res.stdout
        return self._cache[key]

    def stdout(self, cmd: str, lang: str = "en", fmt: str = "table", *extra: str, width: int = 100) -> str:
        """The results alone (messages on stderr are not laid out as tables)."""
        self.run(cmd, lang, fmt, *extra, width=width)
        return self._cache[("stdout", cmd, lang, fmt, extra, width)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    from dealpulse.demo.generator import generate

    folder = tmp_path_factory.mktemp("readable") / "export"
    generate(folder, deals=400, managers=8, months=14, seed=7)
    db = str(folder.parent / "store.duckdb")
    res = runner.invoke(app, ["import", str(folder), "--db", db, "--tz", TZ, "--lang", "en"])
    assert res.exit_code == 0, res.output
    return Demo(db, res.output)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# -- 1. one as-of format, in the export's zone, the zone named -------------------------------------------

def test_every_command_shows_the_same_as_of_with_its_zone(demo):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    docs = {cmd: demo.run(cmd, "en", "json") for cmd in COMMANDS}
    as_of = docs["score"]["as_of"]
    assert as_of["tz"] == TZ and as_of["utc"].endswith("Z") and as_of["local"].endswith("+03:00")
    for cmd, doc in docs.items():
        assert doc["as_of"] == as_of, cmd
    local = datetime.fromisoformat(as_of["local"])
    assert local == datetime.fromisoformat(as_of["utc"].replace("Z", "+00:00")).astimezone(ZoneInfo(TZ))
    shown = f"{local:%Y-%m-%d %H:%M} ({TZ})"
    for lang in ("en", "ru"):
        for cmd in COMMANDS:
            assert shown in _flat(demo.run(cmd, lang)), (cmd, lang)
    # the import names the data's last moment the same way (no microseconds, no bare UTC)
    assert shown in _flat(demo.import_output)
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", demo.import_output)


def test_show_moment_and_moment_json():
    from datetime import datetime

    from dealpulse.timefmt import moment_json, show_moment

    at = datetime(2024, 3, 31, 15, 0, 0, 123456)  # naive UTC, as stored
    assert show_moment(at, "Europe/Moscow", "ru") == "2024-03-31 18:00 (Europe/Moscow)"
    assert show_moment(at, None, "en") == "2024-03-31 15:00 (UTC)"
    assert moment_json(at, "Europe/Moscow") == {"local": "2024-03-31T18:00:00+03:00", "utc": "2024-03-31T15:00:00Z",
                                                "tz": "Europe/Moscow"}
    assert show_moment(None, "UTC") == "—" and moment_json(None, "UTC") is None


def test_report_header_names_the_zone(demo, tmp_path):
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--db", demo.db, "--lang", "ru", "--out", str(out)])
    assert res.exit_code == 0, res.output
    as_of = demo.run("score", "en", "json")["as_of"]
    from datetime import datetime

    shown = f"{datetime.fromisoformat(as_of['local']):%Y-%m-%d %H:%M} ({TZ})"
    assert shown in out.read_text(encoding="utf-8")


# -- 3. terminal tables fit 100 columns, no word broken ---------------------------------------------------

TABLE_RUNS = [("metrics", ()), ("metrics --by manager", ()), ("funnel", ()), ("funnel --by channel", ()),
              ("norms", ()), ("score", ("--limit", "20")), ("alerts", ()), ("optimism", ()),
              ("review", ("--rare", "10")), ("changes", ()), ("dynamics", ()), ("validate-metrics", ())]


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_tables_fit_100_columns_without_broken_words(demo, lang):
    from rich.cells import cell_len

    from dealpulse.i18n import t

    allowed_extra = _tokens(t("common.hidden_columns", lang, columns=""))
    for cmd, extra in TABLE_RUNS:
        narrow = demo.run(cmd, lang, "table", *extra, width=100)
        too_long = [ln for ln in demo.stdout(cmd, lang, "table", *extra, width=100).splitlines() if cell_len(ln) > 100]
        assert not too_long, (cmd, too_long[:3])
        # every word of the narrow output is a word of the same output laid out wide: none was cut in two
        wide = demo.run(cmd, lang, "table", *extra, "--wide", width=1000)
        broken = _tokens(narrow) - _tokens(wide) - allowed_extra
        assert not broken, (cmd, sorted(broken)[:10])
    score = demo.run("score", lang, "table", "--limit", "20", width=100)
    assert len(score.splitlines()) < 8 * 20, "score --limit 20 should not need more than a few lines a deal"


def test_wide_shows_every_column(demo):
    narrow = demo.run("score", "en", "table", "--limit", "3", width=100)
    wide = demo.run("score", "en", "table", "--limit", "3", "--wide", width=400)
    heads = lambda text: _flat(" ".join(ln for ln in text.splitlines() if "┃" in ln))  # noqa: E731
    assert "Close" not in heads(narrow) and "--wide shows every column" in _flat(narrow)
    assert "Close" in heads(wide) and "--wide shows" not in wide


# -- 2. display names and labels, not ids and keys; JSON keeps the ids beside them ------------------------

NAME_RUNS = TABLE_RUNS + [("funnel --by manager", ()), ("metrics --by step", ()), ("playbook show", ())]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_people_read_names_and_labels_not_ids_and_keys(demo, lang):
    from dealpulse.playbook import load_playbook

    steps = [s.name for s in load_playbook().steps]
    for cmd, extra in NAME_RUNS:
        text = demo.run(cmd, lang, "table", *extra, width=100)
        assert not re.search(r"\bm\d\d\b", text), (cmd, re.findall(r".*\bm\d\d\b.*", text)[:3])
        assert not [s for s in steps if s in text], (cmd, [s for s in steps if s in text])
        assert not re.search(r"\b[a-z]+(?:_[a-z]+)+:", text), (cmd, re.findall(r".*\b[a-z]+(?:_[a-z]+)+:.*", text)[:3])


def test_json_keeps_ids_beside_names(demo):
    score = demo.run("score", "en", "json")
    row = score["rows"][0]
    assert re.fullmatch(r"m\d\d", row["owner"]) and row["manager_name"] and not re.search(r"\bm\d\d\b", row["manager_name"])
    by_manager = demo.run("metrics --by manager", "en", "json")["rows"][0]
    assert re.fullmatch(r"m\d\d", by_manager["manager"]) and by_manager["manager_name"] != by_manager["manager"]
    review = demo.run("review", "en", "json", "--rare", "10")["rows"][0]
    assert re.fullmatch(r"m\d\d", review["owner"]) and review["manager_name"] != review["owner"]
    metrics = {r["metric"] for r in demo.run("validate-metrics", "en", "json")["rows"]}
    assert "step_on_time:proposal_sent" in metrics  # the key stays in JSON; tables show "proposal sent on time"
    assert "proposal sent on time" in demo.run("validate-metrics", "en", "table", "--wide", width=1000)
    assert "«КП отправлено» в срок" in demo.run("validate-metrics", "ru", "table", "--wide", width=1000)


def test_labels_and_metric_labels():
    from dealpulse.labels import label, metric_label, people_from_rows, person

    assert label("proposal_sent", "ru") == "КП отправлено" and label("proposal_sent", "en") == "proposal sent"
    assert label("custom_step", "ru") == "custom step"  # no label: the name in words

    class PB:
        labels = {"ru": {"custom_step": "Свой шаг"}}

    assert label("custom_step", "ru", PB()) == "Свой шаг" and label("custom_step", "en", PB()) == "custom step"
    assert metric_label("step_on_time:first_contact", "en") == "first contact on time"
    assert metric_label("activities:call", "ru") == "активности: call"
    people = people_from_rows([("m01", "Анна Петрова"), ("m02", "Анна Петрова"), ("m03", None)])
    assert people == {"m01": "Анна Петрова (m01)", "m02": "Анна Петрова (m02)"}
    assert person("m03", people) == "m03" and person(None, people) == "—"


# -- 4. Russian numbers and plurals, by Babel ---------------------------------------------------------------

def test_plural_forms_in_russian_by_cldr_rules():
    from dealpulse.i18n import plural, t

    forms = ["сделка", "сделки", "сделок"]
    got = {n: plural(n, forms, "ru") for n in (1, 2, 5, 11, 21, 22, 25)}
    assert got == {1: "сделка", 2: "сделки", 5: "сделок", 11: "сделок", 21: "сделка", 22: "сделки", 25: "сделок"}
    assert plural("1,5", forms, "ru") == "сделки" and plural(1, ["deal", "deals"], "en") == "deal"
    assert t("score.title", "ru", as_of="x", n=3).endswith("(3 сделки)")
    assert t("score.title", "ru", as_of="x", n=21).endswith("(21 сделка)")
    assert t("score.title", "en", as_of="x", n=1).endswith("(1 deal)")
    assert "в 13 раз " in t("alerts.msg.stage_dwell", "ru", segment="s", stage="x", recent_from="d", slowdown="13",
                            recent="1", baseline="2", recent_n=5, since="d")
    assert t("report.week.lead", "ru", start="a", end="b", open_start=1, amount_start="x", open_end=2, amount_end="y",
             new=0, won=0, lost=0, won_amount="", lost_amount="").count("1 открытая сделка") == 1


def test_babel_number_formats():
    from dealpulse.report import fmt

    assert fmt.number(1234567.891, "ru", 1) == "1\u00a0234\u00a0567,9" and fmt.number(1234567.891, "en", 1) == "1,234,567.9"
    assert fmt.pct(0.255, "ru") == "26\u00a0%" and fmt.pct(0.255, "en") == "26%"
    assert fmt.money(67_700_000, "ru") == "67,7\u00a0млн" and fmt.money(67_700_000, "en") == "67.7M"
    assert fmt.money(1.2e9, "ru") == "1,2\u00a0млрд" and fmt.money(350_000, "ru") == "350\u00a0тыс."
    from datetime import timedelta

    assert fmt.duration(timedelta(hours=27), "ru") == "27\u00a0ч" and fmt.duration(timedelta(days=14), "en") == "2 w"


ENGLISH_DECIMAL = re.compile(r"(?<![\d.:])\d+\.\d+(?![\d.])")  # 0.8, 5.0 (not a date, a time or a version)
ENGLISH_GROUP = re.compile(r"(?<![\d,])[1-9]\d{0,2},\d{3}(?![\d])")  # 67,700,000


def test_russian_numbers_are_written_one_way_in_cli_and_report(demo, tmp_path):
    for cmd, extra in TABLE_RUNS:
        text = demo.run(cmd, "ru", "table", *extra, "--wide", width=1000)
        assert not ENGLISH_GROUP.search(text), (cmd, ENGLISH_GROUP.findall(text)[:5])
        assert not ENGLISH_DECIMAL.search(text), (cmd, [ln for ln in text.splitlines() if ENGLISH_DECIMAL.search(ln)][:3])
    score = demo.run("score", "ru", "table", "--wide", width=1000)
    assert re.search(r"\d+,\d\u00a0млн", score) and "\u00a0%" in score  # amounts and chances as the report writes them
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--db", demo.db, "--lang", "ru", "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    body = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    assert not ENGLISH_GROUP.search(text), ENGLISH_GROUP.findall(text)[:5]
    assert '"separators":",\u00a0"' in page or '"separators":",\\u00a0"' in page  # chart axes: 1 000,5
    assert "млн" in page and '"tickformat":"~s"' not in page  # money axes in млн/млрд, not Plotly's 200M/1G


def test_a_playbook_gives_its_own_labels(tmp_path):
    from dealpulse.errors import DealpulseError
    from dealpulse.labels import label
    from dealpulse.playbook import parse_playbook
    from dealpulse.playbook.load import default_playbook_text

    pb = parse_playbook(default_playbook_text() + '\nlabels: {ru: {proposal_sent: "Коммерческое предложение"}, '
                                                  'en: {proposal: "Offer"}}\n', "mine.yaml")
    assert label("proposal_sent", "ru", pb) == "Коммерческое предложение" and label("proposal", "en", pb) == "Offer"
    assert label("proposal", "ru", pb) == "КП"  # no ru label of its own: the catalogue's
    with pytest.raises(DealpulseError):
        parse_playbook(default_playbook_text() + "\nlabels: [1]\n", "bad.yaml")


def test_numbers_that_are_names_stay_as_they_are():
    from dealpulse.i18n import t

    assert "http://127.0.0.1:8000/" in t("serve.starting", "en", host="127.0.0.1", port=8000, db="x")
    assert "12\u00a0345" in t("score.title", "ru", as_of="x", n=12345) and "12,345" in t("score.title", "en", as_of="x", n=12345)
