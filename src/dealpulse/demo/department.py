"""The department: its managers (teams, skill, discipline, hires) and the deals that come in
(arrival, segment, channel, hidden quality, owner, amount, account, when the client card gets filled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dealpulse.demo import clock, vocab
from dealpulse.demo.params import (
    AMOUNT, CARD_DELAY, CARD_DELAY_FALLBACK, CHANNEL_MIX, CHANNEL_QUALITY, CHANNELS, SEASON, SEGMENT_GROWTH,
    SEGMENT_SHARE, TEAM_AFFINITY,
)
from dealpulse.demo.plant_effects import add_surge_deals, lower_channel_quality, make_planted_managers_decent
from dealpulse.demo.world import draw

if TYPE_CHECKING:
    from dealpulse.demo.world import World


def hire_managers(world: World) -> None:
    rng, M = world.rng, world.M
    names = vocab.manager_names(rng, M)
    cut1, cut2 = max(1, round(M * 0.25)), max(1, round(M * 0.65))
    team = np.where(np.arange(M) < cut1, 0, np.where(np.arange(M) < cut2, 1, 2))
    lead = np.zeros(M, dtype=bool)
    for k in range(3):
        members = np.flatnonzero(team == k)
        if members.size > 2:
            lead[members[0]] = True
    span = world.end_s - world.seconds_since_origin(world.start)
    hired = world.seconds_since_origin(world.start) - rng.uniform(60, 1500, M) * clock.DAY
    new_hires = [i for i in (M - 2, M - 1) if M >= 6]
    for j, i in enumerate(new_hires):
        hired[i] = world.seconds_since_origin(world.start) + span * (0.3 + 0.3 * j)
    skill = rng.normal(0.0, 0.3, M)
    z = rng.normal(0.0, 1.0, M)
    discipline = 1 / (1 + np.exp(-(1.1 + 0.8 * z)))
    engagement = 0.25 * z + rng.normal(0.0, 0.2, M)
    email_rate = np.exp(rng.normal(np.log(1.5), 0.6, M))  # e-mails per deal-week: a habit
    optimistic = np.zeros(M, dtype=bool)
    optimistic[rng.choice(M, size=min(3, M), replace=False)] = True
    make_planted_managers_decent(world, discipline, skill, optimistic)
    world.m_team, world.m_lead, world.m_hired = team, lead, hired
    world.m_skill, world.m_disc, world.m_eng = skill, discipline, engagement
    world.m_email, world.m_opt, world.m_names = email_rate, optimistic, names


def tenure_penalty(world: World, owner: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """How far below their level a manager still is (1 when just hired, fading over ~4 months)."""
    days = np.maximum(at_s - world.m_hired[owner], 0.0) / clock.DAY
    return np.exp(-days / 120.0)


def open_deals(world: World) -> None:
    rng, n = world.rng, world.n
    month_starts = [clock.add_months(world.start, i) for i in range(world.months + 1)]
    years = np.arange(world.months) / 12.0
    season = SEASON[[(d.month - 1) for d in month_starts[:-1]]]
    w = season[:, None] * SEGMENT_SHARE[None, :] * (1 + SEGMENT_GROWTH[None, :] * years[:, None])
    counts = rng.multinomial(n, (w / w.sum()).ravel()).reshape(world.months, 3)
    bounds_b = clock.from_seconds(np.array([world.seconds_since_origin(d) for d in month_starts]))
    cell_month = np.repeat(np.repeat(np.arange(world.months), 3), counts.ravel())
    cell_seg = np.repeat(np.tile(np.arange(3), world.months), counts.ravel())
    lo, hi = bounds_b[cell_month], bounds_b[cell_month + 1]
    created = lo + rng.random(n) * (hi - lo)
    order = np.argsort(created, kind="stable")
    world.created_b = created[order]
    world.created_s = clock.to_seconds(world.created_b)
    world.seg = cell_seg[order].astype(np.int8)
    seg = world.seg

    # channel and hidden quality
    u = rng.random(n)
    world.channel = (u[:, None] > np.cumsum(CHANNEL_MIX[seg], axis=1)).sum(axis=1).clip(0, len(CHANNELS) - 1)
    world.quality = CHANNEL_QUALITY[world.channel] + rng.normal(0.0, 0.8, n)
    add_surge_deals(world)  # planted: extra deals from a channel (none without such a plant)
    n, seg = world.n, world.seg
    lower_channel_quality(world)  # planted: worse leads from a channel

    # owner: eligible managers by hire date, weighted by team affinity, role and ramp-up
    hired_ok = world.created_s[:, None] >= world.m_hired[None, :]
    ramp = np.clip(0.4 + (world.created_s[:, None] - world.m_hired[None, :]) / (150 * clock.DAY), 0.0, 1.0)
    weight = TEAM_AFFINITY[world.m_team][:, seg].T * np.where(world.m_lead, 0.6, 1.0)[None, :] * ramp * hired_ok
    weight[weight.sum(axis=1) == 0] = 1.0
    world.owner = draw(rng, weight).clip(0, world.M - 1)
    del weight, hired_ok, ramp

    # amount (final), inside the segment's bounds
    med = np.array([a[0] for a in AMOUNT], dtype=float)[seg]
    sig = np.array([a[1] for a in AMOUNT])[seg]
    log_spread = sig * rng.normal(size=n)
    if world.amount_boost is not None:
        log_spread = log_spread + world.amount_boost
    world.amount = clip_amount(med * np.exp(log_spread), seg)

    # accounts: a pool per segment, some clients buy more than once
    world.account = np.empty(n, dtype=np.int64)
    offset = 0
    acc_seg = []
    for s in range(3):
        idx = np.flatnonzero(seg == s)
        pool = max(1, int(np.ceil(idx.size * 0.72)))
        world.account[idx] = offset + (pool * rng.random(idx.size) ** 1.5).astype(np.int64)
        acc_seg.append(np.full(pool, s, dtype=np.int8))
        offset += pool
    world.acc_seg = np.concatenate(acc_seg)
    # a returning client mostly stays with the manager who had its first deal
    first_deal = np.full(offset, -1, dtype=np.int64)
    used, first = np.unique(world.account, return_index=True)
    first_deal[used] = first
    mine = first_deal[world.account]
    stay = (mine != np.arange(n)) & (rng.random(n) < 0.8)
    world.owner = np.where(stay, world.owner[mine], world.owner)
    world.acc_first_deal = first_deal

    world.engagement = world.m_eng[world.owner] + rng.normal(0.0, 0.4, n)
    world.busy = rng.normal(0.0, 1.0, n)  # a deal that lands in a busy week is handled worse

    # client card: when each field gets filled (business days after creation; inf = never)
    disc = world.m_disc[world.owner]
    world.card_fields = world.pb.card_fields
    world.card_b = {}
    for f in world.card_fields:
        mean = np.array(CARD_DELAY.get(f, CARD_DELAY_FALLBACK), dtype=float)[seg] * clock.BUSINESS_PER_CALENDAR
        mean = mean * (1.7 - disc) * np.exp(-0.25 * world.quality)
        never = rng.random(n) < 0.03 + 0.25 * (1 - disc) + 0.08 * (world.quality < -0.5)
        world.card_b[f] = np.where(never, np.inf, world.created_b + rng.exponential(1.0, n) * mean)


def clip_amount(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    lo = np.array([a[2] for a in AMOUNT], dtype=float)[seg]
    hi = np.array([a[3] for a in AMOUNT], dtype=float)[seg]
    step = np.array([a[4] for a in AMOUNT], dtype=float)[seg]
    return np.clip(np.round(np.clip(x, lo, hi) / step) * step, lo, hi)
