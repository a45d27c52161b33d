"""Planted problems in the synthetic department (dealpulse.demo.plants): every kind changes what it
should, from its date on, and nothing big elsewhere; the default demo stays byte-identical.

Small departments (10-12 managers, 12-15 months, 2,000-3,000 deals), fixed seeds; each simulation
takes a fraction of a second. Margins are about half the effect measured when the test was written.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from dealpulse.demo import simulate


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
