"""The tasks table: the playbook's step tasks, logged calls, meetings and e-mails, and the call the
owner schedules in each stage; a task never done stays open until the deal closes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dealpulse.demo import clock
from dealpulse.demo.world import ids

if TYPE_CHECKING:
    from dealpulse.demo.world import World


def tasks_table(world: World, deal_ids: pl.Series) -> pl.DataFrame:
    rng = world.rng
    # playbook steps
    d, step, a_s, due_s, comp_b, status = world.step_tasks
    d = d.astype(np.int64)
    comp_s = np.where(np.isfinite(comp_b), clock.to_seconds(np.where(np.isfinite(comp_b), comp_b, 0.0)), np.inf)
    type_names = [s.task_type for s in world.step_order]

    # logged activities during each stage visit: calls and meetings follow engagement, e-mails a habit
    v_d, v_k, v_e, v_x, _ = world.visits
    weeks = np.maximum(v_x - v_e, 0.0) / 5.0
    eng = np.exp(world.engagement[v_d])
    seg = world.seg[v_d]
    rates = np.stack([1.1 * eng, np.array([0.25, 0.4, 0.55])[seg] * eng,
                      world.m_email[world.owner[v_d]] * np.exp(0.3 * rng.normal(size=v_d.size))], axis=1)
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
    disc = world.m_disc[world.owner[sched_d]]
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
    keep = np.flatnonzero(all_created < world.end_s)
    all_d, all_type, all_created, all_due, all_comp, never = (
        a[keep] for a in (all_d, all_type, all_created, all_due, all_comp, never))
    del keep
    # a task never done: a few get cancelled; the rest stay open until the deal closes, when the owner
    # closes its leftover tasks. (The export keeps no time of cancelling, so tasks cancelled at the
    # close would look cancelled at every earlier moment too and hide what was overdue then; and tasks
    # left open forever would pile up as "overdue" on long-closed deals.)
    cancel = never & (rng.random(all_d.size) < 0.05)
    sweep = never & ~cancel & world.closed[all_d]
    all_comp = np.where(sweep, world.close_s[all_d] + rng.uniform(30.0, 1800.0, all_d.size), all_comp)
    del sweep, never
    done = all_comp < world.end_s
    cancel &= ~done
    status_code = np.where(done, 1, np.where(cancel, 2, 0)).astype(np.int8)
    all_comp = np.where(done, np.floor(all_comp), np.inf)
    del cancel, done
    order = np.lexsort((status_code, all_comp, all_type, all_d, all_created))
    dd = all_d[order].astype(np.int64)
    del all_d
    types = pl.Series(type_names + act_types, dtype=pl.Utf8)
    return pl.DataFrame({
        "task_id": ids("t", order.size),
        "deal_id": deal_ids.gather(dd),
        "type": types.gather(all_type[order].astype(np.int64)),
        "owner": world.owner_ids().gather(world.owner[dd]),
        "created_at": world.to_dt(all_created[order]),
        "due_at": world.to_dt(all_due[order]),
        "completed_at": world.to_dt(all_comp[order]),
        "status": pl.Series(["open", "done", "cancelled"], dtype=pl.Utf8).gather(status_code[order].astype(np.int64)),
    })


def _kinds(counts: np.ndarray) -> np.ndarray:
    """For a (visits x kinds) count matrix, the kind of each activity in `np.repeat(visits, sum)` order."""
    flat = counts.ravel()
    kinds = np.tile(np.arange(counts.shape[1]), counts.shape[0])
    return np.repeat(kinds, flat)
