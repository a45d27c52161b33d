"""Planted problems in the synthetic department (dealpulse.demo.plants): every kind changes what it
should, from its date on, and nothing big elsewhere; the default demo stays byte-identical.

Small departments (10-12 managers, 12-15 months, 2,000-3,000 deals), fixed seeds; each simulation
takes a fraction of a second. Margins are about half the effect measured when the test was written.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dealpulse.demo import simulate
from dealpulse.demo.plants import (
    KINDS, RANDOM_MAGNITUDE, ChannelQuality, ChannelSurge, ConversionDrop, LateLoss, LateStep, OverCommit, SkipStep,
    SlowSteps, parse_plant, random_plant,
)
from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.playbook import load_playbook

PLAYBOOK = load_playbook(None)


def _digest(sim) -> str:
    """sha256 of the CSV text of every frame and of the truth's original columns."""
    m = hashlib.sha256()
    for name, df in sim.frames.items():
        m.update(name.encode())
        m.update(df.write_csv(datetime_format="%Y-%m-%dT%H:%M:%S").encode())
    keep = {"managers": ["manager_id", "skill", "discipline", "engagement", "email_rate", "optimistic", "hired_at"],
            "deals": ["deal_id", "quality", "engagement", "planted"]}
    for name, cols in keep.items():
        m.update(name.encode())
        m.update(sim.truth[name].select(cols).write_csv().encode())
    return m.hexdigest()


# Recorded before the new kinds of plants existed (commit d4c058d): runs without them must not move.
BEFORE = [
    (dict(), "79dede707909c548c119a48a0218ef753ab62a21ca0def3551c0a4364cdd9876"),
    (dict(seed=7), "767ea0cc9a254c13fe9cfe0e5abeb23a9ff886ac52c2c70cd34a58b2f0e85fa1"),
    (dict(plant=None), "53a2f6081ca3f6abf082859a4db4c200cfee7b6f8e9cac7f6e4ccaf12cadce11"),
    (dict(seed=3, managers=10, months=14, deals=2000), "f4cc89b07e0165a6ba4e4385560fa9d23db5725f4f20b1fbce9360e05a9077e9"),
    (dict(seed=5, managers=12, months=15, deals=2500,
          plant="late_proposals:m03:2023-08-01,slow_proposal:mid:2023-09-01:2"),
     "d9b24616face48b51a16db1276a9d0dfb0b498f93d7be6b36276a2b60c1f40d2"),
]


@pytest.mark.parametrize("kwargs, expected", BEFORE, ids=["default", "seed7", "no_plants", "small", "old_kinds"])
def test_runs_without_new_plants_are_byte_identical_to_before(kwargs, expected):
    assert _digest(simulate(**kwargs)) == expected


# -- the text form -------------------------------------------------------------------------------
ALL_CODES = [
    "late_proposals:m04:2023-07-01", "late_brief_meeting:m04:2023-07-01:2.5", "slow_steps:m04:2023-07-01",
    "slow_steps:m04:2023-07-01:1.8", "skip_follow_up_call:m04:2023-07-01", "skip_proposal_sent:m04:2023-07-01:0.5",
    "late_lost:m04:2023-07-01", "late_lost:m04:2023-07-01:30", "overcommit:m04:2023-07-01",
    "overcommit:m04:2023-07-01:0.6", "slow_contract:enterprise:2023-07-01", "slow_new:smb:2023-07-01:2",
    "drop_proposal:mid:2023-07-01", "drop_contract:smb:2023-07-01:-1.1", "surge:partner:2023-07-01",
    "surge:events:2023-07-01:2.2", "junk:referral:2023-07-01", "junk:inbound:2023-07-01:1.5",
]


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_kind_round_trips_through_its_code(code):
    plant = parse_plant(code, PLAYBOOK)
    assert plant.code == code == str(plant)
    assert parse_plant(plant.code, PLAYBOOK) == plant
    for lang in ("en", "ru"):
        text = plant.describe(lang)
        assert "2023-07-01" in text and "{" not in text
        assert getattr(plant, "manager", None) in (None,) or plant.manager in text


def test_defaults_and_aliases():
    since = date(2023, 7, 1)
    assert parse_plant("late_proposals:m04:2023-07-01", PLAYBOOK) == LateStep("m04", since, "proposal_sent", 4.0)
    assert parse_plant("slow_steps:m04:2023-07-01", PLAYBOOK) == SlowSteps("m04", since, 1.5)
    assert parse_plant("skip_proposals:m04:2023-07-01", PLAYBOOK) == SkipStep("m04", since, "proposal_sent", 0.7)
    assert parse_plant("late_lost:m04:2023-07-01", PLAYBOOK) == LateLoss("m04", since, 45.0)
    assert parse_plant("overcommit:m04:2023-07-01", PLAYBOOK) == OverCommit("m04", since, 0.85)
    assert parse_plant("drop_proposal:mid:2023-07-01", PLAYBOOK) == ConversionDrop("proposal", "mid", since, -0.9)
    assert parse_plant("drop_proposal:mid:2023-07-01:0.9", PLAYBOOK).logit == -0.9, "a drop is always down"
    assert parse_plant("surge:partner:2023-07-01", PLAYBOOK) == ChannelSurge("partner", since, 2.0)
    assert parse_plant("junk:partner:2023-07-01", PLAYBOOK) == ChannelQuality("partner", since, 1.2)


@pytest.mark.parametrize("text, message", [
    ("skip_dances:m04:2023-07-01", "'dances' is not a step of the playbook"),
    ("drop_closing:mid:2023-07-01", "'closing' is not a stage of the playbook"),
    ("drop_proposal:huge:2023-07-01", "the segment must be one of smb, mid, enterprise, got 'huge'"),
    ("surge:tv:2023-07-01", "the channel must be one of inbound, outbound, partner, events, referral, got 'tv'"),
    ("junk:partner:2023-07-01:lots", "the drop must be a number such as 1.2, got 'lots'"),
    ("skip_follow_up_call:m04:2023-07-01:1.5", "the share must be between 0.01 and 1, got 1.5"),
    ("late_lost:m04", "expected late_lost:<manager>:<date>[:<days>]"),
    ("overcommit:m99:2023-07-01", "there is no manager 'm99'"),
    ("slow_steps:m04:2023-02-30", "expected a date such as 2024-09-01, got '2023-02-30'"),
])
def test_bad_texts_are_explained(text, message):
    with pytest.raises(InputError) as exc:
        simulate(deals=200, managers=10, months=6, plant=[text])
    assert message in str(exc.value)


def test_bad_plants_are_listed_together_and_objects_are_checked_too():
    with pytest.raises(InputError) as exc:
        simulate(deals=200, managers=10, months=6,
                 plant=["surge:tv:2023-07-01", SlowSteps("m42", date(2023, 7, 1)), ChannelQuality("partner", date(2023, 7, 1), 9.0)])
    assert len(exc.value.problems) == 3
    assert "there is no manager 'm42'" in exc.value.problems[1]
    assert "the drop must be between" in exc.value.problems[2]


def test_messages_exist_in_both_languages():
    for key in ("demo.plant." + k for k in KINDS + ("many", "bad", "bad.suggestion", "reason.kind", "reason.range")):
        assert t(key, "en") != key and t(key, "ru") != t(key, "en"), key


# -- random plants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("managers", [8, 40])
def test_random_plants_of_every_kind_work_in_any_department(managers):
    rng = np.random.default_rng(managers)
    ids = [f"m{i + 1:02d}" for i in range(managers)]
    start, end = date(2023, 6, 1), date(2023, 12, 1)
    for kind in KINDS:
        plant = random_plant(kind, rng, manager_ids=ids, start=start, end=end, playbook=PLAYBOOK)
        assert plant.kind == kind and start <= plant.since <= end
        assert parse_plant(plant.code, PLAYBOOK) == plant
        assert getattr(plant, "manager", "m01") in ids[:-2], "not one of the mid-timeline hires"
        low, high = RANDOM_MAGNITUDE[kind]
        assert low <= abs(plant.magnitude) <= high
        sim = simulate(managers=managers, months=15, deals=100 * managers, seed=int(rng.integers(1000)), plant=[plant])
        row = sim.truth["plants"].row(0, named=True)
        assert row["plant"] == plant.code and row["kind"] == kind and row["deals"] > 0
        touched = sim.truth["planted"]
        assert touched.height == row["deals"] and set(touched["deal_id"]) <= set(sim.frames["deals"]["deal_id"])
    with pytest.raises(InputError):
        random_plant("faster", rng, manager_ids=ids, start=start, end=end, playbook=PLAYBOOK)
