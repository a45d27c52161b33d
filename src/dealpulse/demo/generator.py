"""The synthetic sales department behind `dealpulse demo`, the tests and the benchmarks: writing it.

`generate(out_dir)` writes a native export folder (deals, stage_history, tasks, field_history,
accounts, managers); `generate_frames()` returns the same tables as typed Polars frames.

How the department works (everything is drawn from one seeded generator, vectorised over deals):

- Managers (m01..m20) in three teams, each with a skill, a discipline (how often a playbook step is
  done on time), an engagement (how often they touch a deal), an e-mail habit and, for a few, an
  optimistic forecast. The last two are new hires: weaker and less disciplined while they ramp up.
- Deals arrive over `months` with seasonality (January and May dips, an autumn peak) and a growing
  mid segment. Each deal belongs to an account of its segment (smb/mid/enterprise, amounts inside
  the playbook's segment rules), comes from a channel of its own quality, and has a hidden quality.
- A deal walks the playbook's stages. In each stage the playbook's steps become tasks due by the
  step's deadline (segment overrides included); the owner completes them on time, late or never
  according to discipline. Whether the deal then advances or is lost depends on its hidden quality,
  the owner's skill, engagement, whether the client card was complete before `complete_by`, and on
  how the steps went - in this stage and, weaker, in earlier ones. So leading metrics (step
  compliance, card completeness, touches) predict lagging ones (win rate, cycle) causally, with
  plenty of noise. E-mail counts are vanity: they follow a personal habit and change nothing.
- Deals sometimes skip a stage or go back one. Weak deals stall; lost deals linger before they die,
  so their expected close date gets pushed again and again. Optimistic managers commit early. Now
  and then an owner abandons a dying deal and closes it as lost only weeks later (a stale deal).
- Besides the steps, the owner logs calls, meetings and e-mails and schedules a call in each stage.
  A task not done stays open (overdue once due) until the deal closes, when the owner closes the
  leftovers; a few are cancelled. So the overdue count at any past moment is what it was then.
- Everything after the export moment (`start` + `months`) is cut off: unfinished deals are the open
  pipeline, unfinished tasks are open (some overdue), later field changes are unknown.

Planted problems (see `plants.py`: nine kinds, on a manager, a stage in a segment or a channel)
change the behaviour from a date on; by default two are planted late in the timeline (late proposals,
slow enterprise contracts) so that the report and the alerts have something real to find. Their
randomness comes from a generator of their own, so a run without the newer kinds is unchanged.

Where it lives: `params.py` (the numbers above), `world.py` (the seeded generator and the timeline),
`department.py` (managers, incoming deals, accounts), `deal_flow.py` (the walk through the stages),
`tasks.py`, `field_history.py` and `tables.py` (the export tables), `plant_kinds.py`, `plants.py` and
`plant_effects.py` (the planted problems), `simulation.py` (`simulate`, the hidden truth); this module
writes the folder and sums it up.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

import polars as pl

from dealpulse.demo.params import TABLES
from dealpulse.demo.plants import AUTO, Plant, default_plants
from dealpulse.demo.simulation import Simulation, simulate
from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.playbook.model import Playbook

__all__ = ["AUTO", "GenerationSummary", "Simulation", "default_plants", "generate", "generate_frames", "simulate"]

FORMATS = ("csv", "parquet")
CSV_DATETIME = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    deals: int
    won: int
    lost: int
    open: int
    start: date
    end: date  # the export moment: `end` 00:00, nothing at or after it is in the data
    seed: int
    plants: tuple[Plant, ...]
    seconds: float = 0.0

    @property
    def planted(self) -> tuple[Plant, ...]:
        """The planted problems (`str(p)` is its code, `p.describe(lang)` a sentence)."""
        return self.plants

    def describe(self, lang: str = "en") -> str:
        lines = [t("demo.summary", lang, deals=self.deals, won=self.won, lost=self.lost, open=self.open,
                   start=self.start.isoformat(), end=self.end.isoformat(), path=str(self.out_dir))]
        lines += [f"- {p.describe(lang)}" for p in self.plants]
        return "\n".join(lines)


def generate(out_dir: str | Path, *, deals: int | None = None, managers: int = 20, months: int = 24,
             seed: int = 42, start: date = date(2023, 1, 1), plant: str | Sequence[str | Plant] | None = AUTO,
             fmt: str = "csv", lang: str = "ru", playbook: Playbook | None = None) -> GenerationSummary:
    """Write a native export folder of a synthetic department; the same seed gives the same bytes.

    `plant`: "auto" (two problems, late in the timeline), None or () for none, or texts such as
    "late_proposals:m07:2024-09-01" / "slow_contract:enterprise:2024-10-01" / "surge:partner:2024-05-01:2"
    (a list, or one text with commas; every kind in `plants.py`) or plant objects (`LateStep`, ...).
    A channel surge adds deals, so there are then more than `deals`.
    """
    t0 = _time.perf_counter()
    if fmt not in FORMATS:
        raise InputError(f"fmt: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    sim = simulate(deals=deals, managers=managers, months=months, seed=seed, start=start, plant=plant,
                   lang=lang, playbook=playbook)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in TABLES:
        df = sim.frames[name]
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            _for_csv(df).write_csv(path, datetime_format=CSV_DATETIME)
        else:
            df.write_parquet(path, statistics=False)
        files[name] = path
    d = sim.frames["deals"]
    status = d["status"].value_counts()
    counts = dict(zip(status["status"].to_list(), status["count"].to_list()))
    return GenerationSummary(
        out_dir=out, files=files, rows={k: v.height for k, v in sim.frames.items()}, deals=d.height,
        won=counts.get("won", 0), lost=counts.get("lost", 0), open=counts.get("open", 0),
        start=sim.start, end=sim.end, seed=seed, plants=sim.plants, seconds=_time.perf_counter() - t0,
    )


def generate_frames(*, deals: int | None = None, managers: int = 20, months: int = 24, seed: int = 42,
                    start: date = date(2023, 1, 1), plant: str | Sequence[str | Plant] | None = AUTO,
                    lang: str = "ru", playbook: Playbook | None = None) -> dict[str, pl.DataFrame]:
    """The tables `generate` writes, as typed native frames (in memory, nothing written)."""
    return simulate(deals=deals, managers=managers, months=months, seed=seed, start=start, plant=plant,
                    lang=lang, playbook=playbook).frames



def _for_csv(df: pl.DataFrame) -> pl.DataFrame:
    """Money as whole roubles in the files (the frames keep Float64)."""
    if "amount" in df.columns:
        df = df.with_columns(pl.col("amount").round(0).cast(pl.Int64))
    return df
