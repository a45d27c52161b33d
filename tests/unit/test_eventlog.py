"""Event logs as deals: stages, steps, outcome, owner and attributes from a tiny XES and CSVs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from dealpulse.errors import InputError, MappingError
from dealpulse.ingest.eventlog import (
    check_against_playbook,
    import_eventlog,
    is_eventlog_mapping,
    load_mapping,
    parse_mapping,
    read_eventlog,
)
from dealpulse.ingest.tables import native_schema
from dealpulse.playbook import load_playbook
from tests.conftest import ROOT, TEST_DATA

SMALL_XES = TEST_DATA / "eventlog_small.xes"
SMALL_CSV = TEST_DATA / "eventlog_small.csv"

XES_MAPPING = """\
format: eventlog
source:
  attributes:
    amount: AMOUNT_REQ
    note: note
stages:
  A_SUBMITTED: new
  A_PREACCEPTED: qualification
  A_ACCEPTED: {stage: proposal, lifecycle: complete}
stage_entries: STAGE_MODE
steps:
  W_Call: follow_up_call
outcome:
  won: [A_APPROVED]
  lost: {A_DECLINED: declined}
owner:
  ignore: ["112"]
"""


def D(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _xes(tmp_path: Path, mode: str = "change", extra: str = "") -> dict[str, pl.DataFrame]:
    m = tmp_path / "mapping.yaml"
    m.write_text(XES_MAPPING.replace("STAGE_MODE", mode) + extra, encoding="utf-8")
    frames, q = read_eventlog(SMALL_XES, m, None)
    frames["_q"] = q  # type: ignore[assignment]
    return frames


def _rows(frame: pl.DataFrame, deal: str, *cols: str, key: str = "deal_id") -> list[tuple]:
    return frame.filter(pl.col(key) == deal).select(cols).rows()


def test_frames_have_the_native_types(tmp_path):
    frames = _xes(tmp_path)
    for table in ("deals", "stage_history", "tasks", "field_history", "managers"):
        schema = native_schema(table)
        got = {c: d for c, d in frames[table].schema.items() if not c.startswith("_")}
        assert got == schema, table


def test_offsets_become_utc_and_outcome_first_one_wins(tmp_path):
    deals = _xes(tmp_path)["deals"]
    assert deals["deal_id"].to_list() == ["c1", "c2", "c3"]  # c4 has no events: no deal
    c1 = deals.row(0, named=True)
    assert c1["created_at"] == D("2024-03-01 08:00:00")  # +02:00 -> UTC
    assert (c1["status"], c1["closed_at"], c1["lost_reason"]) == ("won", D("2024-03-05 15:00:00"), None)  # A_DECLINED later is ignored
    c2 = deals.row(1, named=True)
    assert (c2["status"], c2["closed_at"], c2["lost_reason"]) == ("lost", D("2024-03-03 08:00:00"), "declined")
    assert deals.row(2, named=True)["status"] == "open"


def test_stage_entries_change_mode(tmp_path):
    sh = _xes(tmp_path)["stage_history"]
    assert _rows(sh, "c1", "stage", "entered_at", "changed_by") == [
        ("new", D("2024-03-01 08:00:00"), "112"),
        ("qualification", D("2024-03-01 08:00:01"), "112"),
        ("proposal", D("2024-03-01 10:30:00"), "10862"),
        ("won", D("2024-03-05 15:00:00"), "10862"),  # A_PREACCEPTED after the outcome: no entry
    ]
    assert _rows(sh, "c2", "stage") == [("new",), ("lost",)]
    # back to new; A_ACCEPTED with lifecycle START does not count (the rule says complete)
    assert _rows(sh, "c3", "stage", "entered_at") == [
        ("new", D("2024-03-04 07:00:00")), ("qualification", D("2024-03-04 07:01:00")), ("new", D("2024-03-04 07:30:00"))]


def test_stage_entries_first_mode(tmp_path):
    sh = _xes(tmp_path, "first")["stage_history"]
    assert _rows(sh, "c3", "stage") == [("new",), ("qualification",)]


def test_work_items_become_tasks(tmp_path):
    tasks = _xes(tmp_path)["tasks"]
    assert _rows(tasks, "c1", "task_id", "type", "owner", "created_at", "completed_at", "status") == [
        ("c1:follow_up_call:1", "follow_up_call", "10862", D("2024-03-01 08:00:02"), D("2024-03-01 10:45:00"), "done"),
        ("c1:follow_up_call:2", "follow_up_call", "10863", D("2024-03-02 08:00:00"), D("2024-03-02 08:10:00"), "done"),
    ]
    assert _rows(tasks, "c2", "status", "created_at", "completed_at") == [("cancelled", D("2024-03-03 07:00:01"), None)]  # closed case
    assert _rows(tasks, "c3", "status", "created_at") == [("open", D("2024-03-04 08:00:00"))]  # open case
    assert tasks["due_at"].null_count() == tasks.height


def test_step_with_a_lifecycle_filter_is_done_at_each_event(tmp_path):
    tasks = _xes(tmp_path, extra="")["tasks"]
    m = tmp_path / "m2.yaml"
    m.write_text(XES_MAPPING.replace("STAGE_MODE", "change").replace("W_Call: follow_up_call",
                                                                     "W_Call: {type: call, lifecycle: [start]}"), encoding="utf-8")
    frames, _ = read_eventlog(SMALL_XES, m, None)
    got = _rows(frames["tasks"], "c1", "created_at", "completed_at", "status")
    assert got == [(D("2024-03-01 10:00:00"), D("2024-03-01 10:00:00"), "done"),
                   (D("2024-03-02 08:00:00"), D("2024-03-02 08:00:00"), "done")]
    assert tasks.height == 4


def test_owner_is_the_first_person_and_is_known_from_then(tmp_path):
    frames = _xes(tmp_path)
    deals, fh = frames["deals"], frames["field_history"]
    assert dict(deals.select("deal_id", "owner").rows()) == {"c1": "10862", "c2": "unassigned", "c3": "10900"}
    owner_rows = fh.filter(pl.col("field") == "owner")
    assert _rows(owner_rows, "c1", "value", "changed_at", key="entity_id") == [
        ("unassigned", D("2024-03-01 08:00:00")), ("10862", D("2024-03-01 10:30:00"))]
    assert _rows(owner_rows, "c2", "value", key="entity_id") == [("unassigned",)]
    managers = frames["managers"]
    assert set(managers["manager_id"]) >= {"10862", "10863", "10900", "unassigned", "112"}
    assert managers.filter(pl.col("manager_id") == "112")["role"].to_list() == ["system"]


def test_attributes_amount_and_extra_fields(tmp_path):
    frames = _xes(tmp_path)
    deals, fh, q = frames["deals"], frames["field_history"], frames["_q"]
    assert dict(deals.select("deal_id", "amount").rows()) == {"c1": 20000.0, "c2": None, "c3": None}
    assert _rows(fh.filter(pl.col("field") == "amount"), "c1", "value", "changed_at", key="entity_id") == [
        ("20000", D("2024-03-01 08:00:00"))]
    assert _rows(fh.filter(pl.col("field") == "note"), "c3", "value", key="entity_id") == [("R&D <team>",)]
    assert len(q) == 1 and q[0]["found"] == "abc" and q[0]["column_name"] == "AMOUNT_REQ" and q[0]["reason"] == "number"
    assert q[0]["table_name"] == "events" and q[0]["file"] == "eventlog_small.xes"


CSV_MAPPING = """\
format: eventlog
source:
  file: eventlog_small.csv
  case: case id
  activity: Activity
  timestamp: Start Time
  resource: Resource
  attributes: {amount: Deal Amount, currency: {value: RUB}}
stages: {Lead: new, Meeting: qualification, Proposal: proposal}
outcome: {won: [Won], lost: [Lost]}
owner: {ignore: [bot]}
"""


def test_csv_log_in_a_zone_with_quarantine(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(CSV_MAPPING, encoding="utf-8")
    frames, q = read_eventlog(SMALL_CSV, m, "Europe/Moscow")
    deals = frames["deals"]
    d1 = deals.filter(pl.col("deal_id") == "d1").row(0, named=True)
    assert d1["created_at"] == D("2024-03-01 07:00:00")  # 10:00 Moscow
    assert (d1["owner"], d1["status"], d1["amount"], d1["currency"]) == ("anna", "won", 2_000_000.0, "RUB")
    amounts = frames["field_history"].filter((pl.col("field") == "amount") & (pl.col("entity_id") == "d1"))
    assert amounts.select("value", "changed_at").rows() == [("1500000.5", D("2024-03-01 07:00:00")), ("2000000", D("2024-03-02 06:00:00"))]
    assert _rows(frames["stage_history"], "d2", "stage") == [("new",), ("lost",)]
    assert sorted((r["row_number"], r["column_name"]) for r in q) == [(7, "Start Time"), (9, "case id")]
    bad = next(r for r in q if r["row_number"] == 7)
    assert bad["found"] == "not a date" and json.loads(bad["raw"])["case"] == "d2" and bad["reason"] == "timestamp"
    assert next(r for r in q if r["row_number"] == 9)["reason"] == "required"
    # the mapping's own tz applies when the caller gives none
    m.write_text("tz: Asia/Tokyo\n" + CSV_MAPPING, encoding="utf-8")
    frames, _ = read_eventlog(SMALL_CSV, m, None)
    assert frames["deals"].filter(pl.col("deal_id") == "d1")["created_at"].item() == D("2024-03-01 01:00:00")


def _olist_like(tmp_path: Path) -> Path:
    (tmp_path / "leads.csv").write_text(
        "mql_id,first_contact_date,origin\nl1,2017-10-15,social\nl2,2018-01-10,paid_search\nl3,2018-01-11,\n", encoding="utf-8")
    (tmp_path / "won.csv").write_text(
        "mql_id,won_date,sr_id,business_segment\nl1,2017-11-01 10:00:00,sr9,pet\n", encoding="utf-8")
    m = tmp_path / "mapping.yaml"
    m.write_text("""\
format: eventlog
tz: America/Sao_Paulo
sources:
  - file: leads.csv
    case: mql_id
    activity: {value: lead created}
    timestamp: first_contact_date
    attributes: {channel: origin}
  - file: won.csv
    case: mql_id
    activity: {value: won}
    timestamp: won_date
    resource: sr_id
    attributes: {segment: business_segment}
stages: {lead created: mql}
outcome: {won: [won], lost_after: 60d, lost_after_reason: no answer}
""", encoding="utf-8")
    return m


def test_several_sources_and_attributes_known_later(tmp_path):
    m = _olist_like(tmp_path)
    frames, q = read_eventlog(tmp_path, m, None)
    assert q == []
    deals = frames["deals"].sort("deal_id")
    # 2017-10-15 00:00 does not exist in Sao Paulo (DST began at midnight): the day starts at 03:00 UTC
    assert deals.select("deal_id", "created_at", "status", "channel", "segment", "owner").rows() == [
        ("l1", D("2017-10-15 03:00:00"), "won", "social", "pet", "sr9"),
        ("l2", D("2018-01-10 02:00:00"), "open", "paid_search", None, "unassigned"),
        ("l3", D("2018-01-11 02:00:00"), "open", None, None, "unassigned"),
    ]
    seg = frames["field_history"].filter(pl.col("field") == "segment")
    assert seg.select("entity_id", "value", "changed_at").rows() == [("l1", "pet", D("2017-11-01 12:00:00"))]  # from the won date on


def test_lost_after_closes_cases_the_log_outlives(tmp_path):
    m = _olist_like(tmp_path)
    m.write_text(m.read_text(encoding="utf-8").replace("lost_after: 60d", "lost_after: 1d"), encoding="utf-8")
    deals = read_eventlog(tmp_path, m, None)[0]["deals"].sort("deal_id")
    # l1 was won after more than a day: the timeout came first. l2 timed out within the log; l3's deadline is past its end
    assert deals.select("status", "lost_reason", "closed_at").rows() == [
        ("lost", "no answer", D("2017-10-16 03:00:00")),
        ("lost", "no answer", D("2018-01-11 02:00:00")),
        ("open", None, None),
    ]


# -- mapping checks -----------------------------------------------------------------------------
def _problems(text: str, **kw) -> list[str]:
    with pytest.raises(MappingError) as exc:
        parse_mapping(text, "m.yaml", **kw)
    assert exc.value.suggestion
    return exc.value.problems or [exc.value.message]


def test_mapping_problems_are_all_named_with_lines():
    problems = _problems("""\
format: eventlog
sourse: {}
stages:
  A_SUBMITTED: won
  A_X: {stage: new, lifecycle: 5.5x}
steps: [a, b]
outcome:
  won: [A_APPROVED]
  lost: [A_APPROVED]
stage_entries: every
owner: {ignore: {a: 1}}
""")
    text = "\n".join(problems)
    assert "m.yaml, line 2: unknown key sourse" in text and "Did you mean source?" in text
    assert "line 4:" in text and "outcome" in text
    assert "m.yaml, line 6:" in text
    assert "A_APPROVED is listed as both won and lost" in text
    assert "line 10:" in text and "every" in text
    assert "line 11:" in text
    assert "`source` is missing" in text


def test_mapping_not_yaml_and_wrong_format():
    problems = _problems("format: eventlog\nstages: [a\n")
    assert "m.yaml, line" in problems[0]
    problems = _problems("format: native\nsource: {case: c, activity: a, timestamp: t}\nstages: {}\n")
    assert any("line 1" in p and "eventlog" in p for p in problems)


def test_a_python_tag_is_a_mapping_error_never_evaluated():
    with pytest.raises(MappingError, match=r"m.yaml, line 2: .*python/name:os.system"):
        parse_mapping("format: eventlog\ncase: !!python/name:os.system\n", "m.yaml")


def test_csv_columns_must_exist(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(CSV_MAPPING.replace("timestamp: Start Time", "timestamp: Start Tme"), encoding="utf-8")
    with pytest.raises(MappingError) as exc:
        read_eventlog(SMALL_CSV, m, None)
    text = str(exc.value)
    assert "m.yaml, line 6" in text and "Start Tme" in text and "Did you mean Start Time?" in text
    m.write_text(CSV_MAPPING.replace("file: eventlog_small.csv", "file: nothere.csv"), encoding="utf-8")
    with pytest.raises(InputError, match="line 3"):
        read_eventlog(SMALL_CSV, m, None)


def test_unseen_activities_warn_and_bad_tz(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(CSV_MAPPING.replace("Meeting: qualification", "Meting: qualification"), encoding="utf-8")
    warnings: list[str] = []
    read_eventlog(SMALL_CSV, m, None, warnings=warnings)
    assert len(warnings) == 1 and "Meting" in warnings[0] and "line 9" in warnings[0] and "Meeting" in warnings[0]
    with pytest.raises(InputError, match="Mars/Olympus"):
        read_eventlog(SMALL_CSV, m, "Mars/Olympus")
    with pytest.raises(MappingError):
        read_eventlog(SMALL_CSV, None, None)


def test_russian_messages(tmp_path):
    with pytest.raises(MappingError) as exc:
        parse_mapping("format: eventlog\nsourse: {}\n", "m.yaml", lang="ru")
    assert "строка 2" in str(exc.value)


@pytest.mark.parametrize("example", ["bpic2012", "olist"])
def test_examples_agree_with_their_playbooks(example):
    folder = ROOT / "examples" / example
    assert is_eventlog_mapping(folder / "mapping.yaml")
    mapping = load_mapping(folder / "mapping.yaml", is_xes=example == "bpic2012")
    playbook = load_playbook(folder / "playbook.yaml")
    problems = check_against_playbook(mapping, playbook)
    assert not [p for p in problems if "not a stage" in p], problems
    assert set(mapping.stage_names) <= set(playbook.stages)
    step_types = {s.task_type for s in playbook.steps}
    assert step_types <= set(mapping.step_types)


def test_import_eventlog_reports_counts(tmp_path):
    m = tmp_path / "mapping.yaml"
    m.write_text(XES_MAPPING.replace("STAGE_MODE", "change"), encoding="utf-8")
    result = import_eventlog(SMALL_XES, m)
    assert result.events == 19 and result.warnings == []


def test_outcome_from_a_case_attribute(tmp_path):
    (tmp_path / "log.csv").write_text(
        "case,act,ts,result\na,open,2024-01-01 10:00,\na,call,2024-01-02 10:00,Won\n"
        "b,open,2024-01-01 11:00,Lost\nb,call,2024-01-03 11:00,\nc,open,2024-01-04 09:00,\n", encoding="utf-8")
    m = tmp_path / "m.yaml"
    m.write_text("format: eventlog\nsource: {file: log.csv, case: case, activity: act, timestamp: ts,"
                 " attributes: {result: result}}\nstages: {open: new}\n"
                 "outcome: {attribute: result, won: [Won], lost: {Lost: no budget}}\n", encoding="utf-8")
    deals = read_eventlog(tmp_path, m, None)[0]["deals"].sort("deal_id")
    assert deals.select("deal_id", "status", "closed_at", "lost_reason").rows() == [
        ("a", "won", D("2024-01-02 10:00:00"), None),
        ("b", "lost", D("2024-01-03 11:00:00"), "no budget"),  # closes at the case's last event
        ("c", "open", None, None),
    ]
