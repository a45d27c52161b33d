"""`simulate()`: run the department (managers, deals, the walk through the stages) and return the
tables with the hidden truth behind them.

The truth (`Simulation.truth`, polars frames):
- `managers`: manager_id, skill, discipline, engagement, email_rate, optimistic, hired_at;
- `deals`: deal_id, quality, engagement, planted (touched by any plant), died_at (when the owner
  stopped working on it; null if it had not died by the end of the simulation, which runs past
  the export moment), zombie (closed as lost long after it died);
- `plants`: one row per plant: plant (its code), kind, since, manager, step, stage, segment,
  channel (null where they do not apply), magnitude, deals (how many it touched);
- `planted`: deal_id, plant: every deal each plant touched (a LateStep or SkipStep: an instance of
  the step due from the date; SlowSteps: any step due from the date; LateLoss: a death closed late;
  OverCommit: a stage entry called early; SlowStage / ConversionDrop: an entry into the stage;
  ChannelSurge: an extra deal; ChannelQuality: a deal of the channel created from the date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np
import polars as pl

from dealpulse.demo import clock
from dealpulse.demo.deal_flow import walk_stages
from dealpulse.demo.department import hire_managers, open_deals
from dealpulse.demo.params import DEALS_PER_MANAGER_MONTH
from dealpulse.demo.plants import AUTO, Plant
from dealpulse.demo.tables import build_frames
from dealpulse.demo.world import World, ids
from dealpulse.errors import InputError
from dealpulse.playbook.load import load_playbook
from dealpulse.playbook.model import Playbook


@dataclass
class Simulation:
    """The generated tables (typed native frames) and the hidden truth behind them."""

    frames: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    start: date
    end: date
    plants: tuple[Plant, ...]
    seed: int


def simulate(*, deals: int | None = None, managers: int = 20, months: int = 24, seed: int = 42,
             start: date = date(2023, 1, 1), plant: str | Sequence[str | Plant] | None = AUTO,
             lang: str = "ru", playbook: Playbook | None = None) -> Simulation:
    """Run the department and return the tables plus the hidden truth (for tests and benchmarks)."""
    problems = []
    if not isinstance(managers, int) or managers < 1:
        problems.append(f"managers: expected a whole number of at least 1, got {managers!r}")
    if not isinstance(months, int) or months < 1 or months > 240:
        problems.append(f"months: expected a whole number from 1 to 240, got {months!r}")
    if deals is not None and (not isinstance(deals, int) or deals < 1):
        problems.append(f"deals: expected a whole number of at least 1, got {deals!r}")
    if problems:
        raise InputError("Cannot generate the demo data:", problems=problems,
                         suggestion="For example: deals=5000, managers=20, months=24.")
    pb = playbook or load_playbook(None)
    n_deals = deals if deals is not None else max(1, round(DEALS_PER_MANAGER_MONTH * managers * months))
    world = World(pb, n_deals, managers, months, seed, start, plant, lang)
    hire_managers(world)
    open_deals(world)
    walk_stages(world)
    frames = build_frames(world)
    return Simulation(frames=frames, truth=truth(world), start=world.start, end=world.end,
                      plants=world.plants, seed=world.seed)


def truth(world: World) -> dict[str, pl.DataFrame]:
    deal_ids = ids("d", world.n)
    hits = [h if h is not None else np.zeros(world.n, dtype=bool) for h in world.plant_hits]
    planted = world.planted_deal.copy()
    for h in hits:
        planted |= h
    return {
        "managers": pl.DataFrame({
            "manager_id": world.manager_ids, "skill": world.m_skill, "discipline": world.m_disc,
            "engagement": world.m_eng, "email_rate": world.m_email, "optimistic": world.m_opt,
            "hired_at": world.to_dt(world.m_hired),
        }),
        "deals": pl.DataFrame({
            "deal_id": deal_ids, "quality": world.quality, "engagement": world.engagement,
            "planted": planted, "died_at": world.to_dt(clock.to_seconds(world.death_b)), "zombie": world.zombie,
        }),
        "plants": _plants_frame(world.plants, hits),
        "planted": _planted_frame(world.plants, hits, deal_ids),
    }


def _planted_frame(plants: tuple[Plant, ...], hits: list[np.ndarray], deal_ids: pl.Series) -> pl.DataFrame:
    """deal_id, plant: one row per deal each plant touched."""
    rows = [np.flatnonzero(h) for h in hits]
    deals = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    codes = np.repeat(np.array([p.code for p in plants], dtype=object), [r.size for r in rows]) if rows else []
    return pl.DataFrame({"deal_id": deal_ids.gather(deals), "plant": pl.Series(list(codes), dtype=pl.Utf8)})


def _plants_frame(plants: tuple[Plant, ...], hits: list[np.ndarray]) -> pl.DataFrame:
    def field(p: Plant, name: str) -> str | None:
        return getattr(p, name, None)

    return pl.DataFrame({
        "plant": [p.code for p in plants], "kind": [p.kind for p in plants], "since": [p.since for p in plants],
        **{name: [field(p, name) for p in plants] for name in ("manager", "step", "stage", "segment", "channel")},
        "magnitude": [p.magnitude for p in plants], "deals": [int(h.sum()) for h in hits],
    }, schema={"plant": pl.Utf8, "kind": pl.Utf8, "since": pl.Date, "manager": pl.Utf8, "step": pl.Utf8,
               "stage": pl.Utf8, "segment": pl.Utf8, "channel": pl.Utf8, "magnitude": pl.Float64, "deals": pl.Int64})

