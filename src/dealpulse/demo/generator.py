"""The synthetic sales department behind `dealpulse demo`, the tests and the benchmarks.

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

Planted problems (see `plants.py`) change the behaviour from a date on; by default both are
planted late in the timeline so that the report and the alerts have something real to find.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from dealpulse.demo import clock, vocab
from dealpulse.demo.plants import LateStep, Plant, SlowStage, resolve_plants
from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.playbook.load import load_playbook
from dealpulse.playbook.model import ANCHOR_DEAL_CREATED, ANCHOR_STAGE_ENTERED, Playbook

AUTO = "auto"
FORMATS = ("csv", "parquet")
TABLES = ("managers", "accounts", "deals", "stage_history", "tasks", "field_history")
DEALS_PER_MANAGER_MONTH = 5000 / (20 * 24)  # the default: ~5,000 deals for 20 managers over 24 months
CSV_DATETIME = "%Y-%m-%dT%H:%M:%S"

SEGMENTS = ("smb", "mid", "enterprise")
SMB, MID, ENT = 0, 1, 2
# lognormal median, sigma, lowest, highest, rounding step (roubles); bounds keep the playbook's rules
AMOUNT = ((350_000, 0.55, 60_000, 990_000, 5_000),
          (2_000_000, 0.45, 1_000_000, 4_950_000, 10_000),
          (11_000_000, 0.6, 5_000_000, 90_000_000, 100_000))
SEGMENT_SHARE = np.array([0.56, 0.30, 0.14])
SEGMENT_GROWTH = np.array([0.0, 0.45, 0.08])  # inflow growth per year
SEASON = np.array([0.62, 0.92, 1.06, 1.04, 0.80, 0.96, 0.86, 0.86, 1.10, 1.16, 1.14, 0.98])
SEGMENT_ADVANCE = np.array([0.1, 0.0, -0.1])  # logit offset of every stage move

CHANNELS = ("inbound", "outbound", "partner", "events", "referral")
CHANNEL_MIX = np.array([[0.45, 0.30, 0.08, 0.07, 0.10],
                        [0.30, 0.30, 0.15, 0.15, 0.10],
                        [0.10, 0.35, 0.25, 0.20, 0.10]])
CHANNEL_QUALITY = np.array([0.15, -0.45, 0.35, 0.0, 0.6])

# Per stage of the built-in playbook (others get the fallback): mean calendar days in the stage per
# segment, the logit of moving on, and the chance of skipping the next stage per segment.
STAGE_DWELL = {"new": (2, 3, 6), "qualification": (6, 12, 31), "proposal": (7, 15, 45),
               "negotiation": (7, 16, 54), "contract": (4, 10, 38)}
STAGE_ADVANCE = {"new": 1.6, "qualification": 0.75, "proposal": 0.3, "negotiation": 1.05, "contract": 1.7}
STAGE_SKIP = {"new": (0.05, 0.03, 0.01), "qualification": (0.01, 0.005, 0.0), "proposal": (0.12, 0.05, 0.01),
              "negotiation": (0.08, 0.0, 0.0)}
STAGE_BACK = {"negotiation": 0.07, "contract": 0.04}
DWELL_FALLBACK, ADVANCE_FALLBACK, SKIP_FALLBACK = (5, 10, 20), 1.2, (0.02, 0.02, 0.01)

# Effect of a step on the logit of moving on from its stage: (on time, late, never done).
STEP_EFFECT = {"first_contact": (0.45, -0.15, -1.1), "brief_meeting": (0.4, 0.0, -0.8),
               "proposal_sent": (0.45, -0.9, -1.3), "follow_up_call": (0.35, 0.0, -0.35),
               "negotiation_meeting": (0.3, -0.1, -0.6), "contract_sent": (0.3, -0.2, -0.8)}
STEP_EFFECT_FALLBACK = (0.3, -0.2, -0.6)
CARRY = 0.35  # share of a step's effect that stays with the deal in later stages

LOST_WEIGHTS = {  # lost reason weights per stage, in vocab.LOST_REASONS order
    "new": (0.55, 0.35, 0.10, 0, 0, 0, 0, 0),
    "qualification": (0.20, 0.35, 0.35, 0, 0, 0.10, 0, 0),
    "proposal": (0.10, 0, 0, 0.35, 0.30, 0.15, 0.10, 0),
    "negotiation": (0, 0, 0, 0.35, 0.35, 0.15, 0.15, 0),
    "contract": (0, 0, 0, 0.10, 0.30, 0, 0.20, 0.40),
}
LOST_FALLBACK = (0.25, 0, 0, 0.25, 0.25, 0, 0.25, 0)
R_NO_RESPONSE, R_NO_DM, R_COMPETITOR = 0, 5, 4

CARD_DELAY = {"decision_maker": (3, 6, 12), "budget": (4, 8, 16), "need": (2, 3, 6), "timeline": (4, 8, 16)}
CARD_DELAY_FALLBACK = (5, 10, 18)

TEAM_AFFINITY = np.array([[0.05, 0.35, 1.0],   # key accounts: enterprise and mid
                          [0.60, 0.60, 0.12],  # moscow
                          [1.00, 0.35, 0.05]])  # regions


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


@dataclass
class Simulation:
    """The generated tables (typed native frames) and the hidden truth behind them."""

    frames: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    start: date
    end: date
    plants: tuple[Plant, ...]
    seed: int


# ---------------------------------------------------------------------------------------------
def generate(out_dir: str | Path, *, deals: int | None = None, managers: int = 20, months: int = 24,
             seed: int = 42, start: date = date(2023, 1, 1), plant: str | Sequence[str | Plant] | None = AUTO,
             fmt: str = "csv", lang: str = "ru", playbook: Playbook | None = None) -> GenerationSummary:
    """Write a native export folder of a synthetic department; the same seed gives the same bytes.

    `plant`: "auto" (both problems, late in the timeline), None or () for none, or texts such as
    "late_proposals:m07:2024-09-01" / "slow_contract:enterprise:2024-10-01" (a list, or one text with
    commas) or `LateStep` / `SlowStage` objects.
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


def default_plants(start: date, months: int, manager_ids: Sequence[str]) -> tuple[Plant, ...]:
    """Both problems, late in the timeline: late proposals by m07 from month 20 of 24 (5/6 of the way),
    slow enterprise contracts from month 21 (7/8 of the way). None for a timeline under six months:
    there would be no time left to see them."""
    if months < 6:
        return ()
    late_on = _add_months(start, max(1, round(months * 5 / 6)))
    slow_on = _add_months(start, max(1, round(months * 7 / 8)))
    who = "m07" if "m07" in manager_ids else manager_ids[-1]
    return (LateStep(manager=who, since=late_on), SlowStage(stage="contract", segment="enterprise", since=slow_on))


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1 if d.day > 28 else d.day)


def _for_csv(df: pl.DataFrame) -> pl.DataFrame:
    """Money as whole roubles in the files (the frames keep Float64)."""
    if "amount" in df.columns:
        df = df.with_columns(pl.col("amount").round(0).cast(pl.Int64))
    return df


# ---------------------------------------------------------------------------------------------
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
    return _World(pb, n_deals, managers, months, seed, start, plant, lang).run()


class _World:
    def __init__(self, pb: Playbook, n: int, n_managers: int, months: int, seed: int, start: date,
                 plant: str | Sequence[str | Plant] | None, lang: str):
        self.pb, self.n, self.M, self.months, self.seed, self.lang = pb, n, n_managers, months, seed, lang
        self.rng = np.random.default_rng(np.random.PCG64(seed))
        self.start = start
        self.end = _add_months(start, months)
        self.start_dt = datetime.combine(start, datetime.min.time())
        self.end_dt = datetime.combine(self.end, datetime.min.time())
        monday = self.start_dt - timedelta(days=self.start_dt.weekday())
        self.origin_s = int((monday - datetime(1970, 1, 1)).total_seconds())  # calendar seconds of business time 0
        self.end_s = (self.end_dt - monday).total_seconds()  # export moment, seconds since origin
        self.end_b = float(clock.from_seconds(np.array(self.end_s)))
        width = max(2, len(str(n_managers)))
        self.manager_ids = [f"m{i + 1:0{width}d}" for i in range(n_managers)]
        if plant == AUTO:
            self.plants = default_plants(start, months, self.manager_ids)
        else:
            if isinstance(plant, (LateStep, SlowStage)):
                plant = [plant]
            elif isinstance(plant, str):  # one text, or several separated by commas
                plant = [p for p in plant.split(",") if p.strip()]
            self.plants = resolve_plants(plant or (), pb, self.manager_ids)
        self.stages = pb.stages
        self.S = len(self.stages)
        self.WON, self.LOST = self.S, self.S + 1

    # -- helpers ------------------------------------------------------------------------------
    def seconds_since_origin(self, d: date) -> float:
        return (datetime.combine(d, datetime.min.time()) - datetime(1970, 1, 1)).total_seconds() - self.origin_s

    def to_dt(self, secs: np.ndarray) -> pl.Series:
        """Seconds since the origin -> naive datetimes (whole seconds); NaN/inf -> null."""
        secs = np.asarray(secs, dtype=np.float64)
        ok = np.isfinite(secs)
        us = (np.floor(np.where(ok, secs, 0.0)).astype(np.int64) + self.origin_s) * 1_000_000
        s = pl.Series(us).cast(pl.Datetime("us"))
        return s if ok.all() else pl.select(pl.when(pl.Series(ok)).then(s).otherwise(None)).to_series()

    def run(self) -> Simulation:
        self._managers()
        self._deals()
        self._walk()
        frames = self._frames()
        return Simulation(frames=frames, truth=self._truth(), start=self.start, end=self.end,
                          plants=self.plants, seed=self.seed)

    # -- managers -----------------------------------------------------------------------------
    def _managers(self) -> None:
        rng, M = self.rng, self.M
        names = vocab.manager_names(rng, M)
        cut1, cut2 = max(1, round(M * 0.25)), max(1, round(M * 0.65))
        team = np.where(np.arange(M) < cut1, 0, np.where(np.arange(M) < cut2, 1, 2))
        lead = np.zeros(M, dtype=bool)
        for k in range(3):
            members = np.flatnonzero(team == k)
            if members.size > 2:
                lead[members[0]] = True
        span = self.end_s - self.seconds_since_origin(self.start)
        hired = self.seconds_since_origin(self.start) - rng.uniform(60, 1500, M) * clock.DAY
        new_hires = [i for i in (M - 2, M - 1) if M >= 6]
        for j, i in enumerate(new_hires):
            hired[i] = self.seconds_since_origin(self.start) + span * (0.3 + 0.3 * j)
        skill = rng.normal(0.0, 0.3, M)
        z = rng.normal(0.0, 1.0, M)
        discipline = 1 / (1 + np.exp(-(1.1 + 0.8 * z)))
        engagement = 0.25 * z + rng.normal(0.0, 0.2, M)
        email_rate = np.exp(rng.normal(np.log(1.5), 0.6, M))  # e-mails per deal-week: a habit
        optimistic = np.zeros(M, dtype=bool)
        optimistic[rng.choice(M, size=min(3, M), replace=False)] = True
        for p in self.plants:  # the planted manager is a good one before the problem starts
            if isinstance(p, LateStep):
                i = self.manager_ids.index(p.manager)
                discipline[i] = max(discipline[i], 0.88)
                skill[i] = max(skill[i], 0.15)
                optimistic[i] = False
        self.m_team, self.m_lead, self.m_hired = team, lead, hired
        self.m_skill, self.m_disc, self.m_eng = skill, discipline, engagement
        self.m_email, self.m_opt, self.m_names = email_rate, optimistic, names

    def _tenure_penalty(self, owner: np.ndarray, at_s: np.ndarray) -> np.ndarray:
        """How far below their level a manager still is (1 when just hired, fading over ~4 months)."""
        days = np.maximum(at_s - self.m_hired[owner], 0.0) / clock.DAY
        return np.exp(-days / 120.0)

    # -- deals --------------------------------------------------------------------------------
    def _deals(self) -> None:
        rng, n = self.rng, self.n
        month_starts = [_add_months(self.start, i) for i in range(self.months + 1)]
        years = np.arange(self.months) / 12.0
        season = SEASON[[(d.month - 1) for d in month_starts[:-1]]]
        w = season[:, None] * SEGMENT_SHARE[None, :] * (1 + SEGMENT_GROWTH[None, :] * years[:, None])
        counts = rng.multinomial(n, (w / w.sum()).ravel()).reshape(self.months, 3)
        bounds_b = clock.from_seconds(np.array([self.seconds_since_origin(d) for d in month_starts]))
        cell_month = np.repeat(np.repeat(np.arange(self.months), 3), counts.ravel())
        cell_seg = np.repeat(np.tile(np.arange(3), self.months), counts.ravel())
        lo, hi = bounds_b[cell_month], bounds_b[cell_month + 1]
        created = lo + rng.random(n) * (hi - lo)
        order = np.argsort(created, kind="stable")
        self.created_b = created[order]
        self.created_s = clock.to_seconds(self.created_b)
        self.seg = cell_seg[order].astype(np.int8)
        seg = self.seg

        # channel and hidden quality
        u = rng.random(n)
        self.channel = (u[:, None] > np.cumsum(CHANNEL_MIX[seg], axis=1)).sum(axis=1).clip(0, len(CHANNELS) - 1)
        self.quality = CHANNEL_QUALITY[self.channel] + rng.normal(0.0, 0.8, n)

        # owner: eligible managers by hire date, weighted by team affinity, role and ramp-up
        hired_ok = self.created_s[:, None] >= self.m_hired[None, :]
        ramp = np.clip(0.4 + (self.created_s[:, None] - self.m_hired[None, :]) / (150 * clock.DAY), 0.0, 1.0)
        weight = TEAM_AFFINITY[self.m_team][:, seg].T * np.where(self.m_lead, 0.6, 1.0)[None, :] * ramp * hired_ok
        weight[weight.sum(axis=1) == 0] = 1.0
        cum = np.cumsum(weight, axis=1)
        pick = rng.random(n) * cum[:, -1]
        self.owner = (cum < pick[:, None]).sum(axis=1).clip(0, self.M - 1)
        del weight, cum, hired_ok, ramp

        # amount (final), inside the segment's bounds
        med = np.array([a[0] for a in AMOUNT], dtype=float)[seg]
        sig = np.array([a[1] for a in AMOUNT])[seg]
        self.amount = self._clip_amount(med * np.exp(sig * rng.normal(size=n)), seg)

        # accounts: a pool per segment, some clients buy more than once
        self.account = np.empty(n, dtype=np.int64)
        offset = 0
        acc_seg = []
        for s in range(3):
            idx = np.flatnonzero(seg == s)
            pool = max(1, int(np.ceil(idx.size * 0.72)))
            self.account[idx] = offset + (pool * rng.random(idx.size) ** 1.5).astype(np.int64)
            acc_seg.append(np.full(pool, s, dtype=np.int8))
            offset += pool
        self.acc_seg = np.concatenate(acc_seg)
        # a returning client mostly stays with the manager who had its first deal
        first_deal = np.full(offset, -1, dtype=np.int64)
        used, first = np.unique(self.account, return_index=True)
        first_deal[used] = first
        mine = first_deal[self.account]
        stay = (mine != np.arange(n)) & (rng.random(n) < 0.8)
        self.owner = np.where(stay, self.owner[mine], self.owner)
        self.acc_first_deal = first_deal

        self.engagement = self.m_eng[self.owner] + rng.normal(0.0, 0.4, n)
        self.busy = rng.normal(0.0, 1.0, n)  # a deal that lands in a busy week is handled worse

        # client card: when each field gets filled (business days after creation; inf = never)
        disc = self.m_disc[self.owner]
        self.card_fields = self.pb.card_fields
        self.card_b = {}
        for f in self.card_fields:
            mean = np.array(CARD_DELAY.get(f, CARD_DELAY_FALLBACK), dtype=float)[seg] * clock.BUSINESS_PER_CALENDAR
            mean = mean * (1.7 - disc) * np.exp(-0.25 * self.quality)
            never = rng.random(n) < 0.03 + 0.25 * (1 - disc) + 0.08 * (self.quality < -0.5)
            self.card_b[f] = np.where(never, np.inf, self.created_b + rng.exponential(1.0, n) * mean)

    @staticmethod
    def _clip_amount(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
        lo = np.array([a[2] for a in AMOUNT], dtype=float)[seg]
        hi = np.array([a[3] for a in AMOUNT], dtype=float)[seg]
        step = np.array([a[4] for a in AMOUNT], dtype=float)[seg]
        return np.clip(np.round(np.clip(x, lo, hi) / step) * step, lo, hi)

    # -- the walk through the stages ----------------------------------------------------------
    def _walk(self) -> None:
        rng, n, pb, S = self.rng, self.n, self.pb, self.S
        stage = np.zeros(n, dtype=np.int64)
        enter = self.created_b.copy()
        alive = np.ones(n, dtype=bool)
        back_used = np.zeros(n, dtype=bool)
        visited = np.zeros((n, S), dtype=bool)
        carry = np.zeros(n)
        self.close_b = np.full(n, np.inf)
        self.death_b = np.full(n, np.inf)  # when the owner stopped working on it (= close, except zombies)
        self.zombie = np.zeros(n, dtype=bool)
        self.outcome = np.full(n, -1, dtype=np.int64)  # WON / LOST / -1 (still running when cut off)
        self.lost_reason = np.full(n, -1, dtype=np.int64)
        self.planted_deal = np.zeros(n, dtype=bool)
        step_order = _topological(pb)
        done_at = {s.name: np.full(n, np.inf) for s in pb.steps}
        stage_of = {name: i for i, name in enumerate(self.stages)}
        dwell_mean = np.array([STAGE_DWELL.get(s, DWELL_FALLBACK) for s in self.stages], dtype=float)  # S x 3
        advance = np.array([STAGE_ADVANCE.get(s, ADVANCE_FALLBACK) for s in self.stages])
        skip = np.array([STAGE_SKIP.get(s, SKIP_FALLBACK) for s in self.stages])
        back = np.array([STAGE_BACK.get(s, 0.0) for s in self.stages])
        lost_w = np.array([LOST_WEIGHTS.get(s, LOST_FALLBACK) for s in self.stages], dtype=float)
        card_stage = stage_of.get(pb.card_complete_by) if pb.card_complete_by else None
        late_plants = [p for p in self.plants if isinstance(p, LateStep)]
        slow_plants = [p for p in self.plants if isinstance(p, SlowStage)]
        visits: list[tuple[np.ndarray, ...]] = []
        tasks: list[tuple[np.ndarray, ...]] = []

        for _ in range(3 * S + 4):
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            k, e = stage[idx], enter[idx]
            e_s = clock.to_seconds(e)
            beyond = e_s >= self.end_s  # nothing after the export moment needs simulating
            if beyond.any():
                alive[idx[beyond]] = False
                idx, k, e, e_s = idx[~beyond], k[~beyond], e[~beyond], e_s[~beyond]
            m = idx.size
            if m == 0:
                break
            seg, own = self.seg[idx], self.owner[idx]
            first = ~visited[idx, k]
            visited[idx, k] = True
            ramp = self._tenure_penalty(own, e_s)
            logit = (advance[k] + SEGMENT_ADVANCE[seg] + 0.5 * self.quality[idx] + self.m_skill[own] - 0.7 * ramp
                     + 0.35 * self.engagement[idx] + carry[idx])
            disc_logit = np.log(self.m_disc[own] / (1 - self.m_disc[own])) - 0.9 * ramp
            busy = self.busy[idx]
            latest_done = e.copy()
            missed_first = np.zeros(m, dtype=bool)
            late_planted = np.zeros(m, dtype=bool)
            for step in step_order:
                sk = stage_of[step.stage]
                sel = k == sk
                if step.anchor == ANCHOR_DEAL_CREATED:
                    sel &= first
                    anchor = self.created_b[idx]
                elif step.anchor == ANCHOR_STAGE_ENTERED:
                    anchor = e
                else:  # another step: its latest completion, if it was done
                    anchor = done_at[step.anchor][idx]
                    sel &= np.isfinite(anchor) & (anchor >= e)
                j = np.flatnonzero(sel)
                if j.size == 0:
                    continue
                a_b = anchor[j]
                a_s = clock.to_seconds(a_b)
                within = np.array([step.within_for(s).total_seconds() for s in SEGMENTS])[seg[j]]
                due_s = a_s + within
                due_b = clock.from_seconds(due_s)
                p_on = 1 / (1 + np.exp(-(disc_logit[j] + 0.5 * busy[j] + 0.5 * rng.normal(size=j.size))))
                p_never = 0.12 + 0.3 * (1 - self.m_disc[own[j]])
                late_scale = np.ones(j.size)
                for p in late_plants:
                    if p.step == step.name:
                        hit = (own[j] == self.manager_ids.index(p.manager)) & (a_s >= self.seconds_since_origin(p.since))
                        p_on = np.where(hit, 0.12, p_on)
                        p_never = np.where(hit, 0.08, p_never)
                        late_scale = np.where(hit, 4.0, late_scale)
                        late_planted[j[hit]] = True
                u = rng.random(j.size)
                status = np.where(u < p_on, 0, np.where(u > 1 - (1 - p_on) * p_never, 2, 1))
                span_b = np.maximum(due_b - a_b, 0.01)
                late_mean = np.maximum(0.6, span_b * 0.9) * late_scale
                comp = np.where(status == 0, a_b + rng.uniform(0.08, 0.95, j.size) * span_b,
                                np.where(status == 1, due_b + 0.02 + rng.exponential(1.0, j.size) * late_mean, np.inf))
                eff = np.array(STEP_EFFECT.get(step.name, STEP_EFFECT_FALLBACK))[status]
                # the later a step, the colder the client: a late step weighs by how late it was
                lateness = np.where(status == 1, (np.where(status == 1, comp, 0.0) - due_b) / span_b, 0.0)
                eff = np.where(status == 1, eff * np.clip(0.5 + 0.5 * lateness, 0.5, 3.0), eff)
                logit[j] += eff
                carry[idx[j]] += CARRY * eff
                done_at[step.name][idx[j]] = np.where(np.isfinite(comp), comp, done_at[step.name][idx[j]])
                latest_done[j] = np.maximum(latest_done[j], np.where(np.isfinite(comp), comp, -np.inf))
                if step.anchor == ANCHOR_DEAL_CREATED or sk == 0:
                    missed_first[j] |= status == 2
                tasks.append((idx[j], np.full(j.size, step_order.index(step)), a_s, due_s, comp, status))

            # client card: complete before its stage, and a known decision maker later on
            dm_missing = np.zeros(m, dtype=bool)
            if card_stage is not None and self.card_fields:
                filled = np.ones(m, dtype=bool)
                for f in self.card_fields:
                    filled &= self.card_b[f][idx] <= e
                at_card = k >= card_stage
                logit += np.where(at_card, np.where(filled, 0.3, -0.2), 0.0)
                if "decision_maker" in self.card_b:
                    dm_missing = at_card & (k > card_stage) & (self.card_b["decision_maker"][idx] > e)
                    logit -= 0.4 * dm_missing

            # weak deals stall: a low hidden quality and little engagement stretch every stage
            dwell = (dwell_mean[k, seg] * clock.BUSINESS_PER_CALENDAR * (1 - 0.15 * self.m_skill[own])
                     * np.exp(-0.2 * self.quality[idx] - 0.2 * self.engagement[idx]))
            for p in slow_plants:
                hit = (k == stage_of[p.stage]) & (seg == SEGMENTS.index(p.segment)) & (e_s >= self.seconds_since_origin(p.since))
                dwell = np.where(hit, dwell * p.factor, dwell)
                logit -= 0.15 * hit
                self.planted_deal[idx[hit]] = True
            self.planted_deal[idx[late_planted]] = True

            adv = rng.random(m) < 1 / (1 + np.exp(-logit))
            d = rng.gamma(3.0, 1 / 3.0, m) * dwell
            # lost deals linger before they die, the more so once a proposal is on the table
            linger = np.where(k >= min(2, S - 1), rng.uniform(1.5, 4.5, m), rng.uniform(1.0, 3.0, m))
            d = np.where(adv, d, d * linger)
            x = np.maximum(e + np.maximum(d, 0.06), latest_done + rng.uniform(0.02, 0.6, m))
            # a zombie: the deal died but its owner closes it as lost only much later (if ever)
            zombie = ~adv & (rng.random(m) < 0.03 + 0.3 * (1 - self.m_disc[own]))
            closes = np.where(zombie, x + 10 + rng.exponential(50.0, m), x)

            # where an advancing deal goes: back once, skip a stage, or the next one (won after the last)
            u = rng.random(m)
            p_back = np.where(back_used[idx], 0.0, back[k])
            p_skip = skip[k, seg]
            nxt = np.where(u < p_back, k - 1, np.where(u < p_back + p_skip, k + 2, k + 1))
            nxt = np.where(nxt >= S, self.WON, nxt)
            back_used[idx] |= adv & (nxt < k)
            nxt = np.where(adv, nxt, self.LOST)

            lost = np.flatnonzero(~adv)
            if lost.size:
                w = lost_w[k[lost]].copy()
                w[:, R_NO_RESPONSE] *= np.where(missed_first[lost], 3.0, 1.0)
                w[:, R_NO_DM] *= np.where(dm_missing[lost], 3.0, 1.0)
                w[:, R_COMPETITOR] *= np.where(late_planted[lost], 2.5, 1.0)
                w[:, R_NO_RESPONSE] *= np.where(zombie[lost], 3.0, 1.0)
                cum = np.cumsum(w, axis=1)
                pick = rng.random(lost.size) * cum[:, -1]
                self.lost_reason[idx[lost]] = (cum < pick[:, None]).sum(axis=1)

            visits.append((idx, k, e, x, nxt))
            term = nxt >= S
            self.death_b[idx[term]] = x[term]
            self.close_b[idx[term]] = closes[term]
            self.zombie[idx[term]] = zombie[term]
            self.outcome[idx[term]] = nxt[term]
            alive[idx[term]] = False
            stage[idx] = np.where(term, stage[idx], nxt)
            enter[idx] = x

        self.visits = [np.concatenate(c) for c in zip(*visits)] if visits else [np.empty(0, np.int64)] * 5
        self.step_tasks = [np.concatenate(c) for c in zip(*tasks)] if tasks else [np.empty(0)] * 6
        self.step_order = step_order
        self.close_s = clock.to_seconds(self.close_b)
        self.closed = self.close_s < self.end_s  # closed by the export moment

    # -- tables -------------------------------------------------------------------------------
    def _frames(self) -> dict[str, pl.DataFrame]:
        deal_ids = _ids("d", self.n)
        frames = {
            "managers": self._managers_frame(),
            "accounts": None,
            "deals": None,
            "stage_history": self._stage_history(deal_ids),
            "tasks": self._tasks(deal_ids),
            "field_history": None,
        }
        fh, amount_now = self._field_history(deal_ids)
        frames["field_history"] = fh
        frames["deals"], frames["accounts"] = self._deals_and_accounts(deal_ids, amount_now)
        return {k: frames[k] for k in TABLES}

    def _managers_frame(self) -> pl.DataFrame:
        teams = vocab.words("team", vocab.TEAMS, self.lang)
        return pl.DataFrame({
            "manager_id": self.manager_ids,
            "name": [nm for nm, _ in self.m_names],
            "team": [teams[k] for k in self.m_team],
            "role": ["team_lead" if x else "manager" for x in self.m_lead],
            "hired_at": self.to_dt(np.floor(self.m_hired / clock.DAY) * clock.DAY + 9 * 3600),
            "email": [em for _, em in self.m_names],
        }, schema={"manager_id": pl.Utf8, "name": pl.Utf8, "team": pl.Utf8, "role": pl.Utf8,
                   "hired_at": pl.Datetime("us"), "email": pl.Utf8})

    def _stage_history(self, deal_ids: pl.Series) -> pl.DataFrame:
        idx, k, e, _, _ = self.visits
        e_s = clock.to_seconds(e)
        keep = e_s < self.end_s
        names = pl.Series(list(self.stages) + ["won", "lost"], dtype=pl.Utf8)
        closed = np.flatnonzero(self.closed)
        deal = np.concatenate([idx[keep], closed])
        stage = np.concatenate([k[keep], self.outcome[closed]])
        at = np.concatenate([e_s[keep], self.close_s[closed]])
        df = pl.DataFrame({"_d": deal, "_t": np.floor(at), "_k": stage})
        df = df.sort(["_d", "_t", "_k"], maintain_order=True)
        d, kk = df["_d"].to_numpy(), df["_k"].to_numpy()
        return pl.DataFrame({
            "deal_id": deal_ids.gather(d),
            "stage": names.gather(kk),
            "entered_at": self.to_dt(df["_t"].to_numpy()),
            "changed_by": self._owner_ids().gather(self.owner[d]),
        })

    def _owner_ids(self) -> pl.Series:
        return pl.Series(self.manager_ids, dtype=pl.Utf8)

    def _tasks(self, deal_ids: pl.Series) -> pl.DataFrame:
        rng = self.rng
        # playbook steps
        d, step, a_s, due_s, comp_b, status = self.step_tasks
        d = d.astype(np.int64)
        comp_s = np.where(np.isfinite(comp_b), clock.to_seconds(np.where(np.isfinite(comp_b), comp_b, 0.0)), np.inf)
        type_names = [s.task_type for s in self.step_order]

        # logged activities during each stage visit: calls and meetings follow engagement, e-mails a habit
        v_d, v_k, v_e, v_x, _ = self.visits
        weeks = np.maximum(v_x - v_e, 0.0) / 5.0
        eng = np.exp(self.engagement[v_d])
        seg = self.seg[v_d]
        rates = np.stack([1.1 * eng, np.array([0.25, 0.4, 0.55])[seg] * eng,
                          self.m_email[self.owner[v_d]] * np.exp(0.3 * rng.normal(size=v_d.size))], axis=1)
        counts = rng.poisson(rates * weeks[:, None])
        act_types = ["call", "meeting", "email"]
        per_visit = counts.sum(axis=1)
        rep = np.repeat(np.arange(v_d.size), per_visit)
        kind = _kinds(counts)
        at_b = v_e[rep] + rng.random(rep.size) * (v_x[rep] - v_e[rep])
        act_s = clock.to_seconds(at_b)

        # a call the owner schedules in each stage: done by its due date, late, or not at all when the
        # stage ends first (then it stays open, or is cancelled once the deal closes)
        sched_d = v_d
        disc = self.m_disc[self.owner[sched_d]]
        made_b = v_e + rng.uniform(0.0, 0.8, v_d.size) * (v_x - v_e)
        due_b = made_b + rng.uniform(0.5, 6.0, v_d.size)
        on_time = rng.random(v_d.size) < disc
        done_b = np.where(on_time, made_b + rng.uniform(0.1, 1.0, v_d.size) * (due_b - made_b),
                          due_b + 0.02 + rng.exponential(1.0, v_d.size) * 3.0 * (1.5 - disc))
        sched_never = done_b > v_x
        made_s = clock.to_seconds(made_b)
        next_due_s = clock.to_seconds(due_b)
        sched_comp_s = np.where(sched_never, np.inf, clock.to_seconds(done_b))

        n_types = len(type_names)
        all_d = np.concatenate([d, v_d[rep], sched_d]).astype(np.int32)
        all_type = np.concatenate([step, n_types + kind, np.full(sched_d.size, n_types)]).astype(np.int8)
        all_created = np.floor(np.concatenate([a_s, act_s, made_s]))
        all_due = np.floor(np.concatenate([due_s, np.full(rep.size, np.nan), next_due_s]))
        all_comp = np.concatenate([comp_s, act_s, sched_comp_s])
        never = np.concatenate([status == 2, np.zeros(rep.size, bool), sched_never])
        del rep, kind, at_b, act_s, made_s, next_due_s, sched_comp_s, sched_never
        keep = np.flatnonzero(all_created < self.end_s)
        all_d, all_type, all_created, all_due, all_comp, never = (
            a[keep] for a in (all_d, all_type, all_created, all_due, all_comp, never))
        del keep
        # a task never done: a few get cancelled; the rest stay open until the deal closes, when the owner
        # closes its leftover tasks. (The export keeps no time of cancelling, so tasks cancelled at the
        # close would look cancelled at every earlier moment too and hide what was overdue then; and tasks
        # left open forever would pile up as "overdue" on long-closed deals.)
        cancel = never & (rng.random(all_d.size) < 0.05)
        sweep = never & ~cancel & self.closed[all_d]
        all_comp = np.where(sweep, self.close_s[all_d] + rng.uniform(30.0, 1800.0, all_d.size), all_comp)
        del sweep, never
        done = all_comp < self.end_s
        cancel &= ~done
        status_code = np.where(done, 1, np.where(cancel, 2, 0)).astype(np.int8)
        all_comp = np.where(done, np.floor(all_comp), np.inf)
        del cancel, done
        order = np.lexsort((status_code, all_comp, all_type, all_d, all_created))
        dd = all_d[order].astype(np.int64)
        del all_d
        types = pl.Series(type_names + act_types, dtype=pl.Utf8)
        return pl.DataFrame({
            "task_id": _ids("t", order.size),
            "deal_id": deal_ids.gather(dd),
            "type": types.gather(all_type[order].astype(np.int64)),
            "owner": self._owner_ids().gather(self.owner[dd]),
            "created_at": self.to_dt(all_created[order]),
            "due_at": self.to_dt(all_due[order]),
            "completed_at": self.to_dt(all_comp[order]),
            "status": pl.Series(["open", "done", "cancelled"], dtype=pl.Utf8).gather(status_code[order].astype(np.int64)),
        })

    def _field_history(self, deal_ids: pl.Series) -> tuple[pl.DataFrame, np.ndarray]:
        rng, n = self.rng, self.n
        parts: list[tuple[np.ndarray, np.ndarray, int, pl.Series]] = []
        field_names: list[str] = []
        v_d, v_k, v_e, v_x, v_next = self.visits
        stage_of = {s: i for i, s in enumerate(self.stages)}
        jitter = rng.uniform(0.001, 0.05, v_d.size)  # the card is updated just after the move
        v_at = clock.to_seconds(v_e + jitter)
        opt = self.m_opt[self.owner]

        def add(field_name: str, deal: np.ndarray, at_s: np.ndarray, value: pl.Series | list) -> None:
            if field_name not in field_names:
                field_names.append(field_name)
            parts.append((np.asarray(deal, dtype=np.int64), np.floor(at_s), field_names.index(field_name),
                          value if isinstance(value, pl.Series) else pl.Series(value, dtype=pl.Utf8)))

        # amount: an estimate at creation, the proposal's figure, the contract's (final) figure
        a0 = self._clip_amount(self.amount * np.exp(rng.normal(0.0, 0.3, n)), self.seg)
        a1 = self._clip_amount(self.amount * rng.uniform(1.0, 1.2, n), self.seg)
        amt_d = [np.arange(n)]
        amt_t = [self.created_s + 1]
        amt_v = [a0]
        for name, value in (("proposal", a1), ("contract", self.amount)):
            if name in stage_of:
                first = _first_visit(v_d, v_k == stage_of[name])
                amt_d.append(v_d[first]); amt_t.append(v_at[first]); amt_v.append(value[v_d[first]])
        ad, at, av = np.concatenate(amt_d), np.concatenate(amt_t), np.concatenate(amt_v)
        ok = at < self.end_s
        ad, at, av = ad[ok], at[ok], av[ok]
        order = np.lexsort((at, ad))
        ad, at, av = ad[order], at[order], av[order]
        amount_now = a0.copy()
        amount_now[ad] = av  # the last write per deal wins: the latest known amount
        add("amount", ad, at, pl.Series(av).cast(pl.Int64).cast(pl.Utf8))

        # forecast category and the manager's own probability at each stage entry; 100/0 at the close
        best_from = stage_of.get("negotiation", max(0, self.S - 2))
        commit_from = stage_of.get("contract", self.S - 1)
        u_opt = rng.random(v_d.size)  # optimists call a deal best case / commit a stage or two early
        shift = np.where(opt[v_d], np.where(u_opt < 0.5, 2, 1), np.where(u_opt < 0.08, 1, 0))
        level = np.where(v_k + shift >= commit_from, 2, np.where(v_k + shift >= best_from, 1, 0))
        cat_d = np.concatenate([np.arange(n), v_d])
        cat_t = np.concatenate([self.created_s + 2, v_at])
        cat_l = np.concatenate([np.zeros(n, np.int64), level])
        add("forecast_category", *_changes_only(cat_d, cat_t, cat_l, ["pipeline", "best_case", "commit"]))
        base = np.linspace(10, 80, self.S) if self.S > 1 else np.array([50.0])
        prob = base[v_k] + 12 * opt[v_d] + rng.normal(0.0, 5.0, v_d.size)
        prob = np.clip(np.round(prob / 5) * 5, 5, 95)
        closed = np.flatnonzero(self.closed)
        prob_d = np.concatenate([v_d, closed])
        prob_t = np.concatenate([v_at, self.close_s[closed] + 1])
        prob_v = np.concatenate([prob, np.where(self.outcome[closed] == self.WON, 100.0, 0.0)])
        add("probability", *_changes_only(prob_d, prob_t, prob_v.astype(np.int64), None))

        # expected close: the owner's first guess, pushed whenever it passes while the deal is open
        cycle = np.array([sum(STAGE_DWELL.get(s, DWELL_FALLBACK)[g] for s in self.stages) for g in range(3)], dtype=float)
        guess = 1.1 * cycle[self.seg] * np.where(opt, 0.75, 1.0) * np.exp(rng.normal(0.0, 0.25, n))
        cur = np.floor((self.created_s + guess * clock.DAY) / clock.DAY) * clock.DAY
        ec_d, ec_t, ec_v = [np.arange(n)], [self.created_s + 3], [cur]
        disc = self.m_disc[self.owner]
        horizon = np.minimum(clock.to_seconds(self.death_b), self.end_s)
        active = np.arange(n)
        first_guess = cur.copy()
        for _ in range(16):
            push = cur[active] + clock.DAY * (1 + rng.exponential(1.0, active.size) * (2 + 14 * (1 - disc[active])))
            push = clock.to_seconds(clock.from_seconds(push) + rng.uniform(0.0, 0.9, active.size))
            go = push < horizon[active]
            active, push = active[go], push[go]
            if active.size == 0:
                break
            step_days = np.array([14.0, 21.0, 30.0])[self.seg[active]] * rng.uniform(0.7, 2.0, active.size)
            cur[active] = np.floor((push + step_days * clock.DAY) / clock.DAY) * clock.DAY
            ec_d.append(active); ec_t.append(push); ec_v.append(cur[active])
        ec_d, ec_t, ec_v = np.concatenate(ec_d), np.concatenate(ec_t), np.concatenate(ec_v)
        add("expected_close", ec_d, ec_t, self.to_dt(ec_v).dt.strftime("%Y-%m-%d"))

        # client card fields, filled when the owner gets to it (if before the close)
        horizon_card = np.minimum(self.close_s, self.end_s)
        positions = vocab.words("position", vocab.POSITIONS, self.lang)
        needs = vocab.words("need", vocab.NEEDS, self.lang)
        for f in self.card_fields:
            at = clock.to_seconds(np.where(np.isfinite(self.card_b[f]), self.card_b[f], 0.0))
            ok = np.flatnonzero(np.isfinite(self.card_b[f]) & (at < horizon_card))
            if f == "decision_maker":
                people = vocab.person_names(rng, ok.size)
                pos = rng.integers(len(positions), size=ok.size)
                add(f, ok, at[ok], [f"{p}, {positions[q]}" for p, q in zip(people, pos)])
                # sometimes the decision maker changes later
                again = ok[rng.random(ok.size) < 0.06]
                at2 = clock.to_seconds(self.card_b[f][again] + rng.uniform(5, 40, again.size))
                keep = at2 < horizon_card[again]
                again, at2 = again[keep], at2[keep]
                people2 = vocab.person_names(rng, again.size)
                pos2 = rng.integers(len(positions), size=again.size)
                add(f, again, at2, [f"{p}, {positions[q]}" for p, q in zip(people2, pos2)])
            elif f == "budget":
                budget = self._clip_amount(self.amount[ok] * rng.uniform(0.8, 1.3, ok.size), self.seg[ok])
                add(f, ok, at[ok], pl.Series(budget).cast(pl.Int64).cast(pl.Utf8))
            elif f == "need":
                add(f, ok, at[ok], pl.Series(needs, dtype=pl.Utf8).gather(rng.integers(len(needs), size=ok.size)))
            elif f == "timeline":
                when = self.to_dt(first_guess[ok])
                add(f, ok, at[ok], pl.select(pl.format("{}-Q{}", when.dt.year(), when.dt.quarter())).to_series())
            else:
                add(f, ok, at[ok], pl.Series(["+"] * ok.size, dtype=pl.Utf8))

        d = np.concatenate([p[0] for p in parts])
        at = np.concatenate([p[1] for p in parts])
        code = np.concatenate([np.full(p[0].size, p[2], dtype=np.int64) for p in parts])
        values = pl.concat([p[3] for p in parts], rechunk=True)
        del parts
        # by deal, time and field; of two changes of a field at the same second the later one wins
        keep = np.flatnonzero(at < self.end_s)
        order = keep[np.lexsort((code[keep], at[keep], d[keep]))]
        same_as_next = np.zeros(order.size, dtype=bool)
        same_as_next[:-1] = ((d[order[1:]] == d[order[:-1]]) & (at[order[1:]] == at[order[:-1]])
                             & (code[order[1:]] == code[order[:-1]]))
        order = order[~same_as_next]
        dd = d[order]
        out = pl.DataFrame({
            "entity": pl.Series(["deal"], dtype=pl.Utf8).gather(np.zeros(order.size, dtype=np.int64)),
            "entity_id": deal_ids.gather(dd),
            "field": pl.Series(field_names, dtype=pl.Utf8).gather(code[order]),
            "value": values.gather(order),
            "changed_at": self.to_dt(at[order]),
            "changed_by": self._owner_ids().gather(self.owner[dd]),
        })
        return out, amount_now

    def _deals_and_accounts(self, deal_ids: pl.Series, amount_now: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
        rng, n = self.rng, self.n
        used, acc_index = np.unique(self.account, return_inverse=True)  # accounts that have deals
        acc_ids = _ids("a", used.size)
        acc_seg = self.acc_seg[used]
        names = vocab.company_names(rng, acc_seg, SEGMENTS)
        industries = vocab.words("industry", vocab.INDUSTRIES, self.lang)
        regions = vocab.words("region", vocab.REGIONS, self.lang)
        emp_med = np.array([40.0, 300.0, 3000.0])[acc_seg]
        accounts = pl.DataFrame({
            "account_id": acc_ids,
            "name": pl.Series(names.tolist(), dtype=pl.Utf8),
            "segment": pl.Series(SEGMENTS, dtype=pl.Utf8).gather(acc_seg),
            "industry": pl.Series(industries, dtype=pl.Utf8).gather(rng.integers(len(industries), size=used.size)),
            "region": pl.Series(regions, dtype=pl.Utf8).gather(self._regions(used)),
            "employees": pl.Series(np.round(emp_med * np.exp(rng.normal(0, 0.6, used.size))).astype(np.int64) + 3),
        })
        product_keys = [vocab.PRODUCTS[s] for s in SEGMENTS]
        prod = rng.integers(3, size=n)
        titles_by = [[vocab.word("product", p, self.lang) for p in keys] for keys in product_keys]
        titles = [f"{titles_by[s][p]} — {names[a]}" for s, p, a in zip(self.seg, prod, acc_index)]
        status = np.where(self.closed, np.where(self.outcome == self.WON, 1, 2), 0)
        reasons = vocab.words("lost_reason", vocab.LOST_REASONS, self.lang)
        lost = status == 2
        deals = pl.DataFrame({
            "deal_id": deal_ids,
            "account_id": acc_ids.gather(acc_index),
            "title": pl.Series(titles, dtype=pl.Utf8),
            "owner": self._owner_ids().gather(self.owner),
            "segment": pl.Series(SEGMENTS, dtype=pl.Utf8).gather(self.seg.astype(np.int64)),
            "channel": pl.Series(CHANNELS, dtype=pl.Utf8).gather(self.channel),
            "amount": pl.Series(amount_now, dtype=pl.Float64),
            "currency": pl.Series(["RUB"] * n, dtype=pl.Utf8),
            "created_at": self.to_dt(np.floor(self.created_s)),
            "status": pl.Series(["open", "won", "lost"], dtype=pl.Utf8).gather(status),
            "closed_at": self.to_dt(np.where(self.closed, np.floor(self.close_s), np.nan)),
            "lost_reason": pl.Series([None] + reasons, dtype=pl.Utf8).gather(np.where(lost, self.lost_reason + 1, 0)),
        })
        return deals, accounts

    def _regions(self, accounts: np.ndarray) -> np.ndarray:
        """A region per account, by the team of its first manager: Moscow's team serves Moscow and
        St Petersburg, the regional team the rest of the country, key accounts anyone."""
        team = self.m_team[self.owner[self.acc_first_deal[accounts]]]
        weights = np.array([REGION_WEIGHTS, REGION_WEIGHTS * REGION_CAPITALS, REGION_WEIGHTS * (1 - REGION_CAPITALS)])
        cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)[team]
        return (self.rng.random(accounts.size)[:, None] > cum).sum(axis=1).clip(0, len(REGION_WEIGHTS) - 1)

    def _truth(self) -> dict[str, pl.DataFrame]:
        deal_ids = _ids("d", self.n)
        return {
            "managers": pl.DataFrame({
                "manager_id": self.manager_ids, "skill": self.m_skill, "discipline": self.m_disc,
                "engagement": self.m_eng, "email_rate": self.m_email, "optimistic": self.m_opt,
                "hired_at": self.to_dt(self.m_hired),
            }),
            "deals": pl.DataFrame({
                "deal_id": deal_ids, "quality": self.quality, "engagement": self.engagement,
                "planted": self.planted_deal,
            }),
        }


REGION_WEIGHTS = np.array(vocab.REGION_WEIGHTS)
REGION_CAPITALS = np.array([r in ("moscow", "spb") for r in vocab.REGIONS], dtype=float)


def _ids(prefix: str, n: int) -> pl.Series:
    width = max(5, len(str(n)))
    return pl.select((pl.lit(prefix) + (pl.int_range(1, n + 1, eager=False)).cast(pl.Utf8).str.zfill(width)).alias("id")).to_series()


def _kinds(counts: np.ndarray) -> np.ndarray:
    """For a (visits x kinds) count matrix, the kind of each activity in `np.repeat(visits, sum)` order."""
    flat = counts.ravel()
    kinds = np.tile(np.arange(counts.shape[1]), counts.shape[0])
    return np.repeat(kinds, flat)


def _first_visit(v_d: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Indices of the first visit per deal among those where `mask` holds (visits are in time order per deal)."""
    cand = np.flatnonzero(mask)
    _, first = np.unique(v_d[cand], return_index=True)
    return cand[first]


def _changes_only(d: np.ndarray, at: np.ndarray, value: np.ndarray,
                  labels: list[str] | None) -> tuple[np.ndarray, np.ndarray, pl.Series]:
    """(deal, time, value text) of the rows where the value differs from the deal's previous one."""
    at = np.floor(at)
    order = np.lexsort((at, d))
    d, at, value = d[order], at[order], value[order]
    changed = np.ones(d.size, dtype=bool)
    changed[1:] = (d[1:] != d[:-1]) | (value[1:] != value[:-1])
    d, at, value = d[changed], at[changed], value[changed]
    text = pl.Series(labels, dtype=pl.Utf8).gather(value) if labels is not None else pl.Series(value).cast(pl.Utf8)
    return d, at, text


def _topological(pb: Playbook) -> list:
    """Steps ordered so that a step comes after the step it is anchored on."""
    names = {s.name for s in pb.steps}
    out, placed = [], set()
    pending = list(pb.steps)
    while pending:
        progressed = False
        for s in list(pending):
            if s.anchor not in names or s.anchor in placed:
                out.append(s)
                placed.add(s.name)
                pending.remove(s)
                progressed = True
        if not progressed:  # a cycle cannot pass the playbook check; keep the rest in file order
            out.extend(pending)
            break
    return out
