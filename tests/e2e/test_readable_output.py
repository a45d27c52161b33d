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
        return self._cache[key]


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
