"""What each planted problem does to the simulated world, called from the department, the deal flow
and the field history at the point where its behaviour is drawn.

The randomness a plant needs comes from `world.prng`, a generator of its own (seeded from the seed),
never from `world.rng`: a run without these plants draws exactly what it drew before they existed,
so the default demo keeps its bytes. Each plant records the deals it touched in
`world.plant_hits[i]` (parallel to `world.plants`) for the hidden truth.

- `LateStep` (deal_flow itself, `late_odds` here): the manager's on-time chance for the step falls
  towards 12% (lower for factors above 4) and late completions are `factor` times later.
- `SlowSteps`: the time from a step's anchor to its completion is multiplied by `factor`; an on-time
  completion pushed past the deadline becomes late.
- `SkipStep`: a `share` of the step's instances is never done (on top of the usual misses).
- `LateLoss`: a deal that dies is closed as lost a gamma(2)-distributed delay later (mean `days`);
  nothing is done in between and the expected close keeps being pushed until the close.
- `OverCommit`: on a `share` of the manager's deals, each stage entry is called as if one (half the
  time two) stages later, so commit comes at negotiation or even at the proposal.
- `SlowStage` (deal_flow itself): the stage's dwell is multiplied by `factor`.
- `ConversionDrop`: `logit` is added to the logit of moving on from the stage.
- `ChannelSurge`: extra deals from the channel after the date, (factor - 1) times as many as it
  brings anyway, at the same moments give or take a few days, mostly mid and enterprise and larger.
- `ChannelQuality`: the hidden quality of the channel's deals after the date is lower by `drop`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dealpulse.demo import clock
from dealpulse.demo.params import CHANNEL_QUALITY, CHANNELS, SEGMENTS
from dealpulse.demo.plant_kinds import (
    LATE_FACTOR, MANAGER_PLANTS, ChannelQuality, ChannelSurge, ConversionDrop, LateLoss, LateStep, OverCommit,
    SkipStep, SlowSteps,
)

if TYPE_CHECKING:
    from dealpulse.demo.world import World

PRNG_KEY = 0x706C616E  # "plan": the second word of the plants' own seed
SURGE_SEGMENTS = np.array([0.2, 0.45, 0.35])  # smb, mid, enterprise among a surge's extra deals
SURGE_AMOUNT = 0.35  # log-amount added to a surge's extra deals (x1.4 before the segment's bounds)
SURGE_JITTER = 3.0  # business days around the moment of a deal the channel brings anyway


def plant_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, PRNG_KEY])


def of_kind(world: World, *types: type) -> list[tuple[int, object]]:
    """(position in world.plants, plant) of the plants of these types."""
    return [(i, p) for i, p in enumerate(world.plants) if isinstance(p, types)]


def mark(world: World, i: int, deals: np.ndarray) -> None:
    """Record that plant `i` touched these deals (indices or a mask over all deals)."""
    hits = world.plant_hits
    if hits[i] is None or hits[i].size != world.n:
        hits[i] = np.zeros(world.n, dtype=bool)
    hits[i][deals] = True


# -- the department ----------------------------------------------------------------------------
def make_planted_managers_decent(world: World, discipline: np.ndarray, skill: np.ndarray,
                                 optimistic: np.ndarray) -> None:
    """A planted manager is a good one before the problem starts, so the change is a change."""
    for p in world.plants:
        if isinstance(p, MANAGER_PLANTS):
            i = world.manager_ids.index(p.manager)
            discipline[i] = max(discipline[i], 0.88)
            skill[i] = max(skill[i], 0.15)
            optimistic[i] = False


def add_surge_deals(world: World) -> None:
    """Add the extra deals of every `ChannelSurge` and re-sort all deals by creation (so ids stay in
    time order); sets `world.amount_boost`. Nothing changes without surges."""
    surges = of_kind(world, ChannelSurge)
    if not surges:
        return
    rng = world.prng
    created, seg, channel, quality = [world.created_b], [world.seg], [world.channel], [world.quality]
    owner_plant = [np.full(world.n, -1)]
    for i, p in surges:
        c = CHANNELS.index(p.channel)
        since_b = float(clock.from_seconds(np.array(world.seconds_since_origin(p.since))))
        anyway = world.created_b[(world.channel == c) & (world.created_b >= since_b)]
        extra = int(round((p.factor - 1.0) * anyway.size))
        if extra <= 0:
            continue
        at = rng.choice(anyway, size=extra) + rng.uniform(-SURGE_JITTER, SURGE_JITTER, extra)
        created.append(np.clip(at, since_b, np.nextafter(world.end_b, -np.inf)))
        s = (rng.random(extra)[:, None] > np.cumsum(SURGE_SEGMENTS)[None, :]).sum(axis=1).clip(0, 2)
        seg.append(s.astype(np.int8))
        channel.append(np.full(extra, c, dtype=world.channel.dtype))
        quality.append(CHANNEL_QUALITY[c] + rng.normal(0.0, 0.8, extra))
        owner_plant.append(np.full(extra, i))
    created_b = np.concatenate(created)
    order = np.argsort(created_b, kind="stable")
    world.created_b = created_b[order]
    world.created_s = clock.to_seconds(world.created_b)
    world.seg = np.concatenate(seg)[order].astype(np.int8)
    world.channel = np.concatenate(channel)[order]
    world.quality = np.concatenate(quality)[order]
    which = np.concatenate(owner_plant)[order]
    world.n = created_b.size
    world.amount_boost = np.where(which >= 0, SURGE_AMOUNT, 0.0)
    for i, _ in surges:
        mark(world, i, which == i)


def lower_channel_quality(world: World) -> None:
    """`ChannelQuality`: the channel's deals created from the date are worse."""
    for i, p in of_kind(world, ChannelQuality):
        hit = (world.channel == CHANNELS.index(p.channel)) & (world.created_s >= world.seconds_since_origin(p.since))
        world.quality = np.where(hit, world.quality - p.drop, world.quality)
        mark(world, i, hit)


# -- the deal flow -----------------------------------------------------------------------------
def late_odds(plant: LateStep, p_on: np.ndarray, p_never: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The on-time and never-done chances of a `LateStep` manager's step: 12% and 8% at the default
    factor 4 (exactly as before the factor existed); a smaller factor moves them part of the way back
    to the manager's own (none of the way at factor 1), a larger one lowers the on-time chance further."""
    w = min(1.0, np.log(max(plant.factor, 1.0)) / np.log(LATE_FACTOR))
    target = 0.12 * min(1.0, LATE_FACTOR / plant.factor)
    return p_on * (1.0 - w) + target * w, p_never * (1.0 - w) + 0.08 * w


def step_plants(world: World, step_name: str, deals: np.ndarray, own: np.ndarray, a_s: np.ndarray, a_b: np.ndarray,
                due_b: np.ndarray, status: np.ndarray, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`SlowSteps` and `SkipStep` on one step's instances (status 0 on time, 1 late, 2 never; `comp` the
    completion in business time, inf if never)."""
    for i, p in of_kind(world, SlowSteps, SkipStep):
        if isinstance(p, SkipStep) and p.step != step_name:
            continue
        hit = (own == world.manager_ids.index(p.manager)) & (a_s >= world.seconds_since_origin(p.since))
        if not hit.any():
            continue
        if isinstance(p, SlowSteps):
            comp = np.where(hit & np.isfinite(comp), a_b + (comp - a_b) * p.factor, comp)
            status = np.where(hit & (status == 0) & (comp > due_b), 1, status)
        else:
            skip = hit & (world.prng.random(hit.size) < p.share)
            status = np.where(skip, 2, status)
            comp = np.where(skip, np.inf, comp)
        mark(world, i, deals[hit])
    return status, comp


def stage_plants(world: World, deals: np.ndarray, k: np.ndarray, seg: np.ndarray, e_s: np.ndarray,
                 logit: np.ndarray) -> np.ndarray:
    """`ConversionDrop`: deals of the segment entering the stage from the date move on less often."""
    for i, p in of_kind(world, ConversionDrop):
        hit = ((k == world.stages.index(p.stage)) & (seg == SEGMENTS.index(p.segment))
               & (e_s >= world.seconds_since_origin(p.since)))
        logit = logit + p.logit * hit
        mark(world, i, deals[hit])
    return logit


def late_losses(world: World, deals: np.ndarray, own: np.ndarray, adv: np.ndarray, x: np.ndarray,
                closes: np.ndarray, zombie: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`LateLoss`: a deal of the manager that dies (`~adv`, at `x`) from the date is closed as lost a
    delay later (gamma with shape 2, mean `days` calendar days); it counts as a zombie. Sets
    `world.late_lost` for the field history."""
    plants = of_kind(world, LateLoss)
    if not plants:
        return closes, zombie
    if world.late_lost is None:
        world.late_lost = np.zeros(world.n, dtype=bool)
    x_s = clock.to_seconds(x)
    for i, p in plants:
        hit = ~adv & (own == world.manager_ids.index(p.manager)) & (x_s >= world.seconds_since_origin(p.since))
        if not hit.any():
            continue
        delay = world.prng.gamma(2.0, p.days / 2.0, hit.size) * clock.BUSINESS_PER_CALENDAR
        closes = np.where(hit, x + delay, closes)
        zombie = zombie | hit
        world.late_lost[deals[hit]] = True
        mark(world, i, deals[hit])
    return closes, zombie


# -- the field history -------------------------------------------------------------------------
def overcommit_shift(world: World, v_d: np.ndarray, v_at: np.ndarray, u: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """`OverCommit`: on a `share` of the manager's deals, stage entries from the date are called one
    stage ahead, or two when `u` (the visit's own draw) is under one half."""
    for i, p in of_kind(world, OverCommit):
        chosen = world.prng.random(world.n) < p.share
        hit = ((world.owner[v_d] == world.manager_ids.index(p.manager)) & chosen[v_d]
               & (v_at >= world.seconds_since_origin(p.since)))
        shift = np.where(hit, np.where(u < 0.5, 2, 1), shift)
        mark(world, i, v_d[hit])
    return shift


def alive_until(world: World) -> np.ndarray:
    """Until when the owner keeps a deal looking alive (pushing its expected close): its death, or its
    close for the deals a `LateLoss` manager closed late."""
    if world.late_lost is None:
        return world.death_b
    return np.where(world.late_lost, world.close_b, world.death_b)
