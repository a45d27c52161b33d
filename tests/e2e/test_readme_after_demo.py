"""A new user's first minutes: `dealpulse demo`, then the README's examples in the order it lists them, in
a fresh folder and HOME, with no --db and no DEALPULSE_DB: they must find the demo's store (and say
so), not answer "no deals yet". The examples that need the user's own files (import, sync) are left out.
"""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from dealpulse.cli import app
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SKIP = ("import", "sync", "user", "token", "digest", "serve")  # need the user's own export, CRM, people or a server
# (`serve` runs until stopped; the web app has its own tests in tests/web/)


def readme_examples() -> list[list[str]]:
    """The `dealpulse ...` lines of the README's first example block under "## Commands"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Commands.*?```sh\n(.*?)```", text, re.S).group(1)
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        args = shlex.split(line, comments=True)
        if not args or args[0] != "dealpulse" or args[1] in SKIP:
            continue
        if ">" in args:  # a shell redirection: the output goes to stdout, the test reads it there
            args = args[:args.index(">")]
        out.append(args[1:])
    return out


def test_the_readme_right_after_the_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DEALPULSE_DB", raising=False)
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--deals", "400", "--lang", "en"])
    assert demo.exit_code == 0, demo.output
    assert (tmp_path / "dealpulse-demo" / "dealpulse.duckdb").exists()
    examples = readme_examples()
    assert len(examples) >= 8 and ["score", "--limit", "20"] in examples
    for args in examples:
        if args[0] == "backtest":  # the same command on fewer replay dates (the demo's store is the point here)
            args = [*args[:-1], "120d", "--no-alerts"]
        res = runner.invoke(app, [*args, "--lang", "en"] if "--lang" not in args else args)
        assert res.exit_code == 0, (args, res.output)
        assert "no deals yet" not in res.output, args
        assert "dealpulse-demo/dealpulse.duckdb" in res.stderr, (args, res.stderr)  # it says which store it used
    assert (tmp_path / "weekly.html").exists()
    # once the user has a store of their own here, it wins
    (tmp_path / "dealpulse.duckdb").write_bytes((tmp_path / "dealpulse-demo" / "dealpulse.duckdb").read_bytes())
    res = runner.invoke(app, ["funnel", "--lang", "en"])
    assert res.exit_code == 0 and "dealpulse-demo" not in res.stderr
