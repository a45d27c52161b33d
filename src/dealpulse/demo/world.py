"""The simulated world: the seeded generator, the timeline (business time and calendar seconds) and the
state the department, the deal flow and the tables fill in, one array per deal or manager."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Sequence

import numpy as np
import polars as pl

from dealpulse.demo import clock
from dealpulse.demo.plant_effects import plant_rng
from dealpulse.demo.plants import Plant, choose_plants
from dealpulse.playbook.model import Playbook


class World:
    """Set up here: the playbook, sizes, the generator, the timeline, manager ids and plants.
    Filled in by `department.hire_managers` (m_*), `department.open_deals` (per deal: created, seg,
    channel, quality, owner, amount, account, card; a channel surge adds deals, so `n` grows there)
    and `deal_flow.walk_stages` (visits, step tasks, close, outcome)."""

    def __init__(self, pb: Playbook, n: int, n_managers: int, months: int, seed: int, start: date,
                 plant: str | Sequence[str | Plant] | None, lang: str):
        self.pb, self.n, self.M, self.months, self.seed, self.lang = pb, n, n_managers, months, seed, lang
        self.rng = np.random.default_rng(np.random.PCG64(seed))
        self.start = start
        self.end = clock.add_months(start, months)
        self.start_dt = datetime.combine(start, datetime.min.time())
        self.end_dt = datetime.combine(self.end, datetime.min.time())
        monday = self.start_dt - timedelta(days=self.start_dt.weekday())
        self.origin_s = int((monday - datetime(1970, 1, 1)).total_seconds())  # calendar seconds of business time 0
        self.end_s = (self.end_dt - monday).total_seconds()  # export moment, seconds since origin
        self.end_b = float(clock.from_seconds(np.array(self.end_s)))
        width = max(2, len(str(n_managers)))
        self.manager_ids = [f"m{i + 1:0{width}d}" for i in range(n_managers)]
        self.plants = choose_plants(plant, pb, start, months, self.manager_ids)
        self.prng = plant_rng(seed)  # the plants' own randomness (plant_effects), never self.rng
        self.plant_hits: list[np.ndarray | None] = [None] * len(self.plants)  # deals each plant touched
        self.amount_boost: np.ndarray | None = None  # log-amount added per deal (a channel surge)
        self.late_lost: np.ndarray | None = None  # deals a LateLoss manager closed late
        self.stages = pb.stages
        self.S = len(self.stages)
        self.WON, self.LOST = self.S, self.S + 1

    def seconds_since_origin(self, d: date) -> float:
        return (datetime.combine(d, datetime.min.time()) - datetime(1970, 1, 1)).total_seconds() - self.origin_s

    def to_dt(self, secs: np.ndarray) -> pl.Series:
        """Seconds since the origin -> naive datetimes (whole seconds); NaN/inf -> null."""
        secs = np.asarray(secs, dtype=np.float64)
        ok = np.isfinite(secs)
        us = (np.floor(np.where(ok, secs, 0.0)).astype(np.int64) + self.origin_s) * 1_000_000
        s = pl.Series(us).cast(pl.Datetime("us"))
        return s if ok.all() else pl.select(pl.when(pl.Series(ok)).then(s).otherwise(None)).to_series()

    def owner_ids(self) -> pl.Series:
        return pl.Series(self.manager_ids, dtype=pl.Utf8)


def draw(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of `weights` (non-negative, not necessarily normalised), with those odds."""
    cum = np.cumsum(weights, axis=1)
    pick = rng.random(weights.shape[0]) * cum[:, -1]
    return (cum < pick[:, None]).sum(axis=1)


def ids(prefix: str, n: int) -> pl.Series:
    """prefix + a zero-padded running number: d00001, d00002, ..."""
    width = max(5, len(str(n)))
    return pl.select((pl.lit(prefix) + (pl.int_range(1, n + 1, eager=False)).cast(pl.Utf8).str.zfill(width)).alias("id")).to_series()
