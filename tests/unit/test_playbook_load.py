from datetime import timedelta
from pathlib import Path

import pytest

from dealpulse.errors import InputError, PlaybookError
from dealpulse.playbook import load_playbook, parse_playbook
from dealpulse.playbook.durations import format_duration, parse_duration

EXAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "design" / "playbook-example.yaml"


def test_builtin_playbook_is_the_documented_cycle():
    pb = load_playbook()
    assert pb.stages == ("new", "qualification", "proposal", "negotiation", "contract")
    assert [s.name for s in pb.steps] == [
        "first_contact", "brief_meeting", "proposal_sent", "follow_up_call", "negotiation_meeting", "contract_sent"]
    proposal = pb.step("proposal_sent")
    assert proposal.within == timedelta(days=5)
    assert proposal.within_for("smb") == timedelta(days=3)
    assert proposal.within_for("enterprise") == timedelta(days=10)
    assert proposal.within_for("mid") == timedelta(days=5)
    assert pb.step("follow_up_call").anchor == "proposal_sent"
    assert pb.card_fields == ("decision_maker", "budget", "need", "timeline")
    assert pb.card_complete_by == "proposal"
    assert pb.stale_for("enterprise") == timedelta(days=21)
    assert pb.stale_for("smb") == timedelta(days=14)
    assert pb.segment_names == ("enterprise", "mid", "smb")


def test_design_example_loads():
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} is absent")
    assert len(load_playbook(EXAMPLE).steps) == 6


def test_every_problem_is_reported_with_its_line():
    text = """stages: [new, won, new]
steps:
  a: {stage: nope, within: 5x, from: zzz}
  b: {stage: new, within: 2d, from: c, colour: red}
  c: {stage: new, within: 2d, from: b}
  d: {stage: new}
segments:
  big: "amount >>= 5"
client_card: {fields: [x], complete_by: foo}
stale_after: {default: 2q}
bogus: 1
"""
    with pytest.raises(PlaybookError) as err:
        parse_playbook(text, "pb.yaml")
    problems = err.value.problems
    assert "pb.yaml, line 1: 'won' is a terminal stage and is implied; leave it out of `stages`" in problems
    assert "pb.yaml, line 1: stage 'new' is listed twice" in problems
    assert "pb.yaml, line 3: step 'a': stage 'nope' is not in `stages` (new)" in problems
    assert "pb.yaml, line 3: expected a duration such as 12h, 3d or 2w, got '5x'" in problems
    assert any(p.startswith("pb.yaml, line 3: step 'a': `from` must be") for p in problems)
    assert any(p.startswith("pb.yaml, line 4: step 'b': unknown key 'colour'") for p in problems)
    assert any("steps anchored in a cycle: b -> c -> b" in p for p in problems)
    assert "pb.yaml, line 6: step 'd': `within` is missing (a deadline such as 5d)" in problems
    assert any(p.startswith("pb.yaml, line 8: segment 'big'") for p in problems)
    assert "pb.yaml, line 9: `complete_by` must be one of the stages, got 'foo'" in problems
    assert "pb.yaml, line 10: expected a duration such as 12h, 3d or 2w, got '2q'" in problems
    assert any(p.startswith("pb.yaml, line 11: unknown key 'bogus'") for p in problems)
    assert "Suggestion:" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(PlaybookError, match=r"pb.yaml, line 3: not valid YAML"):
        parse_playbook("stages: [new]\nsteps: {a: [\n", "pb.yaml")


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_playbook(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text,expected", [
    ("12h", timedelta(hours=12)), ("3d", timedelta(days=3)), ("2w", timedelta(weeks=2)),
    ("90m", timedelta(minutes=90)), ("1.5d", timedelta(days=1.5)), (4, timedelta(days=4)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "5", "d", "3 days", None, "-2d"])
def test_bad_durations(bad):
    with pytest.raises(InputError):
        parse_duration(bad)


@pytest.mark.parametrize("td,text", [(timedelta(days=14), "2w"), (timedelta(days=3), "3d"), (timedelta(hours=12), "12h")])
def test_format_duration_round_trips(td, text):
    assert format_duration(td) == text
    assert parse_duration(text) == td
