"""Real event logs end to end: BPIC2012 (XES) and the Olist funnel (two CSVs), through import_path
and the CLI exactly as examples/*/README.md documents them. Counts from ../shared/data/README.md."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dealpulse.ingest.eventlog import read_eventlog
from dealpulse.ingest.xes import read_xes
from dealpulse.store import connect
from tests.conftest import ROOT, shared_data

pytestmark = pytest.mark.slow

BPIC = ("bpic2012", "BPI_Challenge_2012.xes.gz")
OLIST = ("olist_marketing_funnel",)


def _import(store, path, example: str):
    from dealpulse.ingest import import_path

    folder = ROOT / "examples" / example
    return import_path(store, path, mapping_path=folder / "mapping.yaml", playbook_path=folder / "playbook.yaml")


def test_bpic2012_outcomes_stages_and_tasks(duck):
    path = shared_data(*BPIC)
    report = _import(duck, path, "bpic2012")
    assert report.tables["deals"]["imported"] == 13087
    assert report.tables["deals"]["quarantined"] == 0 and not report.problems
    status = dict(duck.query("SELECT status, count(*) FROM deals GROUP BY 1"))
    assert status == {"won": 2246, "lost": 7635 + 2807, "open": 399}
    reasons = dict(duck.query("SELECT lost_reason, count(*) FROM deals WHERE status = 'lost' GROUP BY 1"))
    assert reasons == {"declined": 7635, "cancelled": 2807}
    entered = dict(duck.query("SELECT stage, count(DISTINCT deal_id) FROM stage_history GROUP BY 1"))
    assert entered["new"] == 13087 and entered["won"] == 2246 and entered["lost"] == 10442
    assert entered["new"] > entered["qualification"] > entered["negotiation"] > entered["contract"] > entered["won"]
    # timestamps were +01:00/+02:00: stored as UTC
    first = duck.query("SELECT min(created_at), max(created_at) FROM deals")[0]
    assert str(first[0]) == "2011-09-30 22:38:44.546000"
    done = dict(duck.query("SELECT type, count(*) FROM tasks WHERE status = 'done' GROUP BY 1"))
    assert done["follow_up_call"] > 10000 and done["complete_application"] > 10000
    assert duck.query("SELECT count(*) FROM tasks WHERE completed_at < created_at")[0][0] == 0
    # amounts known from each application's start; owners never the system user
    assert duck.query("SELECT count(*) FROM field_history WHERE field = 'amount'")[0][0] == 13087
    assert duck.query("SELECT count(*) FROM deals WHERE owner = '112'")[0][0] == 0
    assert duck.get_meta("playbook_source").endswith("playbook.yaml")


def test_bpic2012_fast_and_lxml_readers_agree():
    path = shared_data(*BPIC)
    keys = ["concept:name", "lifecycle:transition", "time:timestamp", "org:resource"]
    fast = read_xes(path, keys)
    assert fast.reader == "fast" and fast.n_events == 262200 and len(fast.traces) == 13087
    slow = read_xes(path, keys, fast=False)
    assert fast.traces == slow.traces
    # libxml2 stops counting lines at 65535: compare the values only
    assert fast.events.drop("_line").equals(slow.events.drop("_line"))


def test_olist_leads_won_and_channels(duck):
    path = shared_data(*OLIST)
    report = _import(duck, path, "olist")
    assert report.tables["deals"]["imported"] == 8000 and not report.problems
    status = dict(duck.query("SELECT status, count(*) FROM deals GROUP BY 1"))
    assert status == {"won": 842, "open": 8000 - 842}
    leads = dict(duck.query("SELECT coalesce(channel, '-'), count(*) FROM deals GROUP BY 1"))
    assert leads["organic_search"] == 2296 and leads["paid_search"] == 1586 and leads["-"] == 60
    assert sum(leads.values()) == 8000
    # the segment is known from the won date only: never before it
    early = duck.query(
        "SELECT count(*) FROM field_history f JOIN deals d ON d.deal_id = f.entity_id "
        "WHERE f.field = 'segment' AND f.changed_at < d.closed_at")[0][0]
    assert early == 0
    assert duck.query("SELECT count(DISTINCT owner) FROM deals WHERE status = 'won'")[0][0] == 22  # sr_id


def test_read_eventlog_alone_matches_the_data_readme():
    frames, quarantine = read_eventlog(shared_data(*OLIST), ROOT / "examples" / "olist" / "mapping.yaml", None)
    assert quarantine == [] and frames["deals"].height == 8000


@pytest.mark.parametrize("example,data", [("bpic2012", BPIC), ("olist", OLIST)])
def test_cli_import_as_the_readme_says(tmp_path, example, data):
    from dealpulse.cli import app

    if "import" not in {c.name or c.callback.__name__ for c in app.registered_commands}:
        pytest.skip("the `dealpulse import` command is not there yet")
    path = shared_data(*data)
    db = tmp_path / "store.duckdb"
    folder = ROOT / "examples" / example
    result = CliRunner().invoke(app, ["import", str(path), "--mapping", str(folder / "mapping.yaml"),
                                      "--playbook", str(folder / "playbook.yaml"), "--db", str(db), "-f", "json"])
    assert result.exit_code == 0, result.output
    with connect(str(db)) as store:
        won = store.query("SELECT count(*) FROM deals WHERE status = 'won'")[0][0]
    assert won == {"bpic2012": 2246, "olist": 842}[example]
