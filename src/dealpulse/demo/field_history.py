"""The field history of deals: amount, forecast category, probability, expected close (pushed while
the deal drags on) and the client card fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dealpulse.demo import clock, vocab
from dealpulse.demo.department import clip_amount
from dealpulse.demo.params import DWELL_FALLBACK, STAGE_DWELL
from dealpulse.demo.plant_effects import alive_until, overcommit_shift

if TYPE_CHECKING:
    from dealpulse.demo.world import World


def field_history_table(world: World, deal_ids: pl.Series) -> tuple[pl.DataFrame, np.ndarray]:
    rng, n = world.rng, world.n
    parts: list[tuple[np.ndarray, np.ndarray, int, pl.Series]] = []
    field_names: list[str] = []
    v_d, v_k, v_e, v_x, v_next = world.visits
    stage_of = {s: i for i, s in enumerate(world.stages)}
    jitter = rng.uniform(0.001, 0.05, v_d.size)  # the card is updated just after the move
    v_at = clock.to_seconds(v_e + jitter)
    opt = world.m_opt[world.owner]

    def add(field_name: str, deal: np.ndarray, at_s: np.ndarray, value: pl.Series | list) -> None:
        if field_name not in field_names:
            field_names.append(field_name)
        parts.append((np.asarray(deal, dtype=np.int64), np.floor(at_s), field_names.index(field_name),
                      value if isinstance(value, pl.Series) else pl.Series(value, dtype=pl.Utf8)))

    # amount: an estimate at creation, the proposal's figure, the contract's (final) figure
    a0 = clip_amount(world.amount * np.exp(rng.normal(0.0, 0.3, n)), world.seg)
    a1 = clip_amount(world.amount * rng.uniform(1.0, 1.2, n), world.seg)
    amt_d = [np.arange(n)]
    amt_t = [world.created_s + 1]
    amt_v = [a0]
    for name, value in (("proposal", a1), ("contract", world.amount)):
        if name in stage_of:
            first = _first_visit(v_d, v_k == stage_of[name])
            amt_d.append(v_d[first]); amt_t.append(v_at[first]); amt_v.append(value[v_d[first]])
    ad, at, av = np.concatenate(amt_d), np.concatenate(amt_t), np.concatenate(amt_v)
    ok = at < world.end_s
    ad, at, av = ad[ok], at[ok], av[ok]
    order = np.lexsort((at, ad))
    ad, at, av = ad[order], at[order], av[order]
    amount_now = a0.copy()
    amount_now[ad] = av  # the last write per deal wins: the latest known amount
    add("amount", ad, at, pl.Series(av).cast(pl.Int64).cast(pl.Utf8))

    # forecast category and the manager's own probability at each stage entry; 100/0 at the close
    best_from = stage_of.get("negotiation", max(0, world.S - 2))
    commit_from = stage_of.get("contract", world.S - 1)
    u_opt = rng.random(v_d.size)  # optimists call a deal best case / commit a stage or two early
    shift = np.where(opt[v_d], np.where(u_opt < 0.5, 2, 1), np.where(u_opt < 0.08, 1, 0))
    shift = overcommit_shift(world, v_d, v_at, u_opt, shift)  # planted: a manager starts committing early
    level = np.where(v_k + shift >= commit_from, 2, np.where(v_k + shift >= best_from, 1, 0))
    cat_d = np.concatenate([np.arange(n), v_d])
    cat_t = np.concatenate([world.created_s + 2, v_at])
    cat_l = np.concatenate([np.zeros(n, np.int64), level])
    add("forecast_category", *_changes_only(cat_d, cat_t, cat_l, ["pipeline", "best_case", "commit"]))
    base = np.linspace(10, 80, world.S) if world.S > 1 else np.array([50.0])
    prob = base[v_k] + 12 * opt[v_d] + rng.normal(0.0, 5.0, v_d.size)
    prob = np.clip(np.round(prob / 5) * 5, 5, 95)
    closed = np.flatnonzero(world.closed)
    prob_d = np.concatenate([v_d, closed])
    prob_t = np.concatenate([v_at, world.close_s[closed] + 1])
    prob_v = np.concatenate([prob, np.where(world.outcome[closed] == world.WON, 100.0, 0.0)])
    add("probability", *_changes_only(prob_d, prob_t, prob_v.astype(np.int64), None))

    # expected close: the owner's first guess, pushed whenever it passes while the deal is open
    cycle = np.array([sum(STAGE_DWELL.get(s, DWELL_FALLBACK)[g] for s in world.stages) for g in range(3)], dtype=float)
    guess = 1.1 * cycle[world.seg] * np.where(opt, 0.75, 1.0) * np.exp(rng.normal(0.0, 0.25, n))
    cur = np.floor((world.created_s + guess * clock.DAY) / clock.DAY) * clock.DAY
    ec_d, ec_t, ec_v = [np.arange(n)], [world.created_s + 3], [cur]
    disc = world.m_disc[world.owner]
    horizon = np.minimum(clock.to_seconds(alive_until(world)), world.end_s)
    active = np.arange(n)
    first_guess = cur.copy()
    for _ in range(16):
        push = cur[active] + clock.DAY * (1 + rng.exponential(1.0, active.size) * (2 + 14 * (1 - disc[active])))
        push = clock.to_seconds(clock.from_seconds(push) + rng.uniform(0.0, 0.9, active.size))
        go = push < horizon[active]
        active, push = active[go], push[go]
        if active.size == 0:
            break
        step_days = np.array([14.0, 21.0, 30.0])[world.seg[active]] * rng.uniform(0.7, 2.0, active.size)
        cur[active] = np.floor((push + step_days * clock.DAY) / clock.DAY) * clock.DAY
        ec_d.append(active); ec_t.append(push); ec_v.append(cur[active])
    ec_d, ec_t, ec_v = np.concatenate(ec_d), np.concatenate(ec_t), np.concatenate(ec_v)
    add("expected_close", ec_d, ec_t, world.to_dt(ec_v).dt.strftime("%Y-%m-%d"))

    # client card fields, filled when the owner gets to it (if before the close)
    horizon_card = np.minimum(world.close_s, world.end_s)
    positions = vocab.words("position", vocab.POSITIONS, world.lang)

    def decision_makers(size: int) -> list[str]:
        people = vocab.person_names(rng, size)
        pos = rng.integers(len(positions), size=size)
        return [f"{p}, {positions[q]}" for p, q in zip(people, pos)]

    needs = vocab.words("need", vocab.NEEDS, world.lang)
    for f in world.card_fields:
        at = clock.to_seconds(np.where(np.isfinite(world.card_b[f]), world.card_b[f], 0.0))
        ok = np.flatnonzero(np.isfinite(world.card_b[f]) & (at < horizon_card))
        if f == "decision_maker":
            add(f, ok, at[ok], decision_makers(ok.size))
            # sometimes the decision maker changes later
            again = ok[rng.random(ok.size) < 0.06]
            at2 = clock.to_seconds(world.card_b[f][again] + rng.uniform(5, 40, again.size))
            keep = at2 < horizon_card[again]
            again, at2 = again[keep], at2[keep]
            add(f, again, at2, decision_makers(again.size))
        elif f == "budget":
            budget = clip_amount(world.amount[ok] * rng.uniform(0.8, 1.3, ok.size), world.seg[ok])
            add(f, ok, at[ok], pl.Series(budget).cast(pl.Int64).cast(pl.Utf8))
        elif f == "need":
            add(f, ok, at[ok], pl.Series(needs, dtype=pl.Utf8).gather(rng.integers(len(needs), size=ok.size)))
        elif f == "timeline":
            when = world.to_dt(first_guess[ok])
            add(f, ok, at[ok], pl.select(pl.format("{}-Q{}", when.dt.year(), when.dt.quarter())).to_series())
        else:
            add(f, ok, at[ok], pl.Series(["+"] * ok.size, dtype=pl.Utf8))

    d = np.concatenate([p[0] for p in parts])
    at = np.concatenate([p[1] for p in parts])
    code = np.concatenate([np.full(p[0].size, p[2], dtype=np.int64) for p in parts])
    values = pl.concat([p[3] for p in parts], rechunk=True)
    del parts
    # by deal, time and field; of two changes of a field at the same second the later one wins
    keep = np.flatnonzero(at < world.end_s)
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
        "changed_at": world.to_dt(at[order]),
        "changed_by": world.owner_ids().gather(world.owner[dd]),
    })
    return out, amount_now


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
