"""The XES reader: the fast column-wise reader and the lxml one agree; broken files are named."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from dealpulse.errors import InputError
from dealpulse.ingest.xes import read_xes
from tests.conftest import TEST_DATA

SMALL = TEST_DATA / "eventlog_small.xes"
KEYS = ["concept:name", "time:timestamp", "org:resource", "lifecycle:transition"]


def test_fast_reader_reads_the_canonical_layout():
    log = read_xes(SMALL, KEYS)
    assert log.reader == "fast"
    assert [tr["concept:name"] for tr in log.traces] == ["c1", "c2", "c3", "c4"]  # c4 has no events
    assert log.traces[0]["AMOUNT_REQ"] == "20000"
    assert log.traces[2]["note"] == "R&D <team>"  # entities decoded
    assert log.trace_lines == [9, 79, 101, 135]
    ev = log.events
    assert ev.height == 19
    assert ev["_trace"].to_list() == [0] * 11 + [1] * 3 + [2] * 5
    first = ev.row(0, named=True)
    assert first == {"_trace": 0, "_line": 13, "concept:name": "A_SUBMITTED",
                     "time:timestamp": "2024-03-01T10:00:00.000+02:00", "org:resource": "112",
                     "lifecycle:transition": "COMPLETE"}
    assert ev["org:resource"][3] is None  # the START without a resource does not borrow one


def test_lxml_reader_gives_the_same_result():
    fast = read_xes(SMALL, KEYS)
    slow = read_xes(SMALL, KEYS, fast=False)
    assert slow.reader == "lxml"
    assert fast.traces == slow.traces and fast.trace_lines == slow.trace_lines
    assert fast.events.equals(slow.events)


def test_gzip_and_other_layouts(tmp_path: Path):
    text = SMALL.read_text(encoding="utf-8")
    gz = tmp_path / "log.xes.gz"
    gz.write_bytes(gzip.compress(text.encode("utf-8")))
    assert read_xes(gz, KEYS).events.drop("_line").equals(read_xes(SMALL, KEYS).events.drop("_line"))
    # value before key, a comment, a nested attribute: the lxml reader takes over, same values
    odd = (text.replace('<string key="org:resource" value="112"/>', '<string value="112" key="org:resource"/>')
               .replace("<trace>", "<!-- a comment --><trace>", 1)
               .replace('<string key="concept:name" value="A_APPROVED"/>',
                        '<string key="concept:name" value="A_APPROVED"><string key="concept:name" value="nested"/></string>'))
    p = tmp_path / "odd.xes"
    p.write_text(odd, encoding="utf-8")
    log = read_xes(p, KEYS)
    assert log.reader == "lxml"
    assert log.events.drop("_line").equals(read_xes(SMALL, KEYS).events.drop("_line"))


def test_a_namespaced_log_is_read(tmp_path: Path):
    text = SMALL.read_text(encoding="utf-8").replace("<log ", '<log xmlns="http://www.xes-standard.org/" ', 1)
    p = tmp_path / "ns.xes"
    p.write_text(text, encoding="utf-8")
    assert read_xes(p, KEYS).events.height == 19


def test_a_cut_file_names_its_line(tmp_path: Path):
    lines = SMALL.read_text(encoding="utf-8").splitlines()
    p = tmp_path / "cut.xes"
    p.write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_xes(p, KEYS)
    assert "cut.xes, line" in str(exc.value) and "Suggestion" in str(exc.value)
    gz = tmp_path / "cut.xes.gz"
    gz.write_bytes(gzip.compress(SMALL.read_bytes())[:300])
    with pytest.raises(InputError):
        read_xes(gz, KEYS)


def test_not_xes(tmp_path: Path):
    p = tmp_path / "x.xes"
    p.write_text("<?xml version='1.0'?><html><trace><event/></trace></html>", encoding="utf-8")
    with pytest.raises(InputError, match="not an XES event log"):
        read_xes(p, KEYS)
    with pytest.raises(InputError, match="does not exist"):
        read_xes(tmp_path / "missing.xes", KEYS)


def test_event_outside_a_trace(tmp_path: Path):
    p = tmp_path / "x.xes"
    p.write_text('<log>\n<event><string key="concept:name" value="a"/></event>\n</log>\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        read_xes(p, KEYS)


def test_duplicate_key_in_an_event_first_counts(tmp_path: Path):
    text = ('<log><trace><string key="concept:name" value="t"/><event>'
            '<string key="concept:name" value="first"/><string key="concept:name" value="second"/>'
            '</event></trace></log>')
    p = tmp_path / "d.xes"
    p.write_text(text, encoding="utf-8")
    for fast in (True, False):
        assert read_xes(p, ["concept:name"], fast=fast).events["concept:name"].to_list() == ["first"]


def test_small_chunks_give_the_same_result(monkeypatch):
    import dealpulse.ingest.xes as xes

    whole = read_xes(SMALL, KEYS)
    for size in (97, 500, 2000):
        monkeypatch.setattr(xes, "CHUNK_BYTES", size)
        part = read_xes(SMALL, KEYS)
        assert part.reader == "fast"
        assert part.events.equals(whole.events) and part.traces == whole.traces and part.trace_lines == whole.trace_lines
