"""The deal flow: each deal walks the playbook's stages; its steps become tasks done on time, late or
never; the deal advances, skips, goes back or is lost (with a reason), and some die as zombies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dealpulse.demo import clock
from dealpulse.demo.department import tenure_penalty
from dealpulse.demo.params import (
    ADVANCE_FALLBACK, CARRY, DWELL_FALLBACK, LOST_FALLBACK, LOST_WEIGHTS, R_COMPETITOR, R_NO_DM, R_NO_RESPONSE,
    SEGMENT_ADVANCE, SEGMENTS, SKIP_FALLBACK, STAGE_ADVANCE, STAGE_BACK, STAGE_DWELL, STAGE_SKIP, STEP_EFFECT,
    STEP_EFFECT_FALLBACK,
)
from dealpulse.demo.plant_effects import late_losses, late_odds, mark, of_kind, stage_plants, step_plants
from dealpulse.demo.plants import LateStep, SlowStage
from dealpulse.demo.world import draw
from dealpulse.playbook.model import ANCHOR_DEAL_CREATED, ANCHOR_STAGE_ENTERED, Playbook

if TYPE_CHECKING:
    from dealpulse.demo.world import World


def walk_stages(world: World) -> None:
    rng, n, pb, S = world.rng, world.n, world.pb, world.S
    stage = np.zeros(n, dtype=np.int64)
    enter = world.created_b.copy()
    alive = np.ones(n, dtype=bool)
    back_used = np.zeros(n, dtype=bool)
    visited = np.zeros((n, S), dtype=bool)
    carry = np.zeros(n)
    world.close_b = np.full(n, np.inf)
    world.death_b = np.full(n, np.inf)  # when the owner stopped working on it (= close, except zombies)
    world.zombie = np.zeros(n, dtype=bool)
    world.outcome = np.full(n, -1, dtype=np.int64)  # WON / LOST / -1 (still running when cut off)
    world.lost_reason = np.full(n, -1, dtype=np.int64)
    world.planted_deal = np.zeros(n, dtype=bool)
    step_order = _topological(pb)
    done_at = {s.name: np.full(n, np.inf) for s in pb.steps}
    stage_of = {name: i for i, name in enumerate(world.stages)}
    dwell_mean = np.array([STAGE_DWELL.get(s, DWELL_FALLBACK) for s in world.stages], dtype=float)  # S x 3
    advance = np.array([STAGE_ADVANCE.get(s, ADVANCE_FALLBACK) for s in world.stages])
    skip = np.array([STAGE_SKIP.get(s, SKIP_FALLBACK) for s in world.stages])
    back = np.array([STAGE_BACK.get(s, 0.0) for s in world.stages])
    lost_w = np.array([LOST_WEIGHTS.get(s, LOST_FALLBACK) for s in world.stages], dtype=float)
    card_stage = stage_of.get(pb.card_complete_by) if pb.card_complete_by else None
    late_plants = of_kind(world, LateStep)
    slow_plants = of_kind(world, SlowStage)
    visits: list[tuple[np.ndarray, ...]] = []
    tasks: list[tuple[np.ndarray, ...]] = []

    for _ in range(3 * S + 4):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        k, e = stage[idx], enter[idx]
        e_s = clock.to_seconds(e)
        beyond = e_s >= world.end_s  # nothing after the export moment needs simulating
        if beyond.any():
            alive[idx[beyond]] = False
            idx, k, e, e_s = idx[~beyond], k[~beyond], e[~beyond], e_s[~beyond]
        m = idx.size
        if m == 0:
            break
        seg, own = world.seg[idx], world.owner[idx]
        first = ~visited[idx, k]
        visited[idx, k] = True
        ramp = tenure_penalty(world, own, e_s)
        logit = (advance[k] + SEGMENT_ADVANCE[seg] + 0.5 * world.quality[idx] + world.m_skill[own] - 0.7 * ramp
                 + 0.35 * world.engagement[idx] + carry[idx])
        disc_logit = np.log(world.m_disc[own] / (1 - world.m_disc[own])) - 0.9 * ramp
        busy = world.busy[idx]
        latest_done = e.copy()
        missed_first = np.zeros(m, dtype=bool)
        late_planted = np.zeros(m, dtype=bool)
        for step in step_order:
            sk = stage_of[step.stage]
            sel = k == sk
            if step.anchor == ANCHOR_DEAL_CREATED:
                sel &= first
                anchor = world.created_b[idx]
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
            p_never = 0.12 + 0.3 * (1 - world.m_disc[own[j]])
            late_scale = np.ones(j.size)
            for i, p in late_plants:
                if p.step == step.name:
                    hit = (own[j] == world.manager_ids.index(p.manager)) & (a_s >= world.seconds_since_origin(p.since))
                    hit_on, hit_never = late_odds(p, p_on, p_never)
                    p_on = np.where(hit, hit_on, p_on)
                    p_never = np.where(hit, hit_never, p_never)
                    late_scale = np.where(hit, p.factor, late_scale)
                    late_planted[j[hit]] = True
                    mark(world, i, idx[j[hit]])
            u = rng.random(j.size)
            status = np.where(u < p_on, 0, np.where(u > 1 - (1 - p_on) * p_never, 2, 1))
            span_b = np.maximum(due_b - a_b, 0.01)
            late_mean = np.maximum(0.6, span_b * 0.9) * late_scale
            comp = np.where(status == 0, a_b + rng.uniform(0.08, 0.95, j.size) * span_b,
                            np.where(status == 1, due_b + 0.02 + rng.exponential(1.0, j.size) * late_mean, np.inf))
            status, comp = step_plants(world, step.name, idx[j], own[j], a_s, a_b, due_b, status, comp)
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
        if card_stage is not None and world.card_fields:
            filled = np.ones(m, dtype=bool)
            for f in world.card_fields:
                filled &= world.card_b[f][idx] <= e
            at_card = k >= card_stage
            logit += np.where(at_card, np.where(filled, 0.3, -0.2), 0.0)
            if "decision_maker" in world.card_b:
                dm_missing = at_card & (k > card_stage) & (world.card_b["decision_maker"][idx] > e)
                logit -= 0.4 * dm_missing

        # weak deals stall: a low hidden quality and little engagement stretch every stage
        dwell = (dwell_mean[k, seg] * clock.BUSINESS_PER_CALENDAR * (1 - 0.15 * world.m_skill[own])
                 * np.exp(-0.2 * world.quality[idx] - 0.2 * world.engagement[idx]))
        for i, p in slow_plants:
            hit = (k == stage_of[p.stage]) & (seg == SEGMENTS.index(p.segment)) & (e_s >= world.seconds_since_origin(p.since))
            dwell = np.where(hit, dwell * p.factor, dwell)
            logit -= 0.15 * hit
            world.planted_deal[idx[hit]] = True
            mark(world, i, idx[hit])
        world.planted_deal[idx[late_planted]] = True
        logit = stage_plants(world, idx, k, seg, e_s, logit)  # planted: fewer deals move on

        adv = rng.random(m) < 1 / (1 + np.exp(-logit))
        d = rng.gamma(3.0, 1 / 3.0, m) * dwell
        # lost deals linger before they die, the more so once a proposal is on the table
        linger = np.where(k >= min(2, S - 1), rng.uniform(1.5, 4.5, m), rng.uniform(1.0, 3.0, m))
        d = np.where(adv, d, d * linger)
        x = np.maximum(e + np.maximum(d, 0.06), latest_done + rng.uniform(0.02, 0.6, m))
        # a zombie: the deal died but its owner closes it as lost only much later (if ever)
        zombie = ~adv & (rng.random(m) < 0.03 + 0.3 * (1 - world.m_disc[own]))
        closes = np.where(zombie, x + 10 + rng.exponential(50.0, m), x)
        closes, zombie = late_losses(world, idx, own, adv, x, closes, zombie)  # planted: lost marked late

        # where an advancing deal goes: back once, skip a stage, or the next one (won after the last)
        u = rng.random(m)
        p_back = np.where(back_used[idx], 0.0, back[k])
        p_skip = skip[k, seg]
        nxt = np.where(u < p_back, k - 1, np.where(u < p_back + p_skip, k + 2, k + 1))
        nxt = np.where(nxt >= S, world.WON, nxt)
        back_used[idx] |= adv & (nxt < k)
        nxt = np.where(adv, nxt, world.LOST)

        lost = np.flatnonzero(~adv)
        if lost.size:
            w = lost_w[k[lost]].copy()
            w[:, R_NO_RESPONSE] *= np.where(missed_first[lost], 3.0, 1.0)
            w[:, R_NO_DM] *= np.where(dm_missing[lost], 3.0, 1.0)
            w[:, R_COMPETITOR] *= np.where(late_planted[lost], 2.5, 1.0)
            w[:, R_NO_RESPONSE] *= np.where(zombie[lost], 3.0, 1.0)
            world.lost_reason[idx[lost]] = draw(rng, w)

        visits.append((idx, k, e, x, nxt))
        term = nxt >= S
        world.death_b[idx[term]] = x[term]
        world.close_b[idx[term]] = closes[term]
        world.zombie[idx[term]] = zombie[term]
        world.outcome[idx[term]] = nxt[term]
        alive[idx[term]] = False
        stage[idx] = np.where(term, stage[idx], nxt)
        enter[idx] = x

    world.visits = [np.concatenate(c) for c in zip(*visits)] if visits else [np.empty(0, np.int64)] * 5
    world.step_tasks = [np.concatenate(c) for c in zip(*tasks)] if tasks else [np.empty(0)] * 6
    world.step_order = step_order
    world.close_s = clock.to_seconds(world.close_b)
    world.closed = world.close_s < world.end_s  # closed by the export moment


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
