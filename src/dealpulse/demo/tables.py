"""The export tables (managers, accounts, deals, stage_history, tasks, field_history) from a walked world."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dealpulse.demo import clock, vocab
from dealpulse.demo.field_history import field_history_table
from dealpulse.demo.params import CHANNELS, REGION_CAPITALS, REGION_WEIGHTS, SEGMENTS, TABLES
from dealpulse.demo.tasks import tasks_table
from dealpulse.demo.world import ids

if TYPE_CHECKING:
    from dealpulse.demo.world import World


def build_frames(world: World) -> dict[str, pl.DataFrame]:
    deal_ids = ids("d", world.n)
    frames = {
        "managers": _managers_frame(world),
        "accounts": None,
        "deals": None,
        "stage_history": _stage_history(world, deal_ids),
        "tasks": tasks_table(world, deal_ids),
        "field_history": None,
    }
    fh, amount_now = field_history_table(world, deal_ids)
    frames["field_history"] = fh
    frames["deals"], frames["accounts"] = _deals_and_accounts(world, deal_ids, amount_now)
    return {k: frames[k] for k in TABLES}


def _managers_frame(world: World) -> pl.DataFrame:
    teams = vocab.words("team", vocab.TEAMS, world.lang)
    return pl.DataFrame({
        "manager_id": world.manager_ids,
        "name": [nm for nm, _ in world.m_names],
        "team": [teams[k] for k in world.m_team],
        "role": ["team_lead" if x else "manager" for x in world.m_lead],
        "hired_at": world.to_dt(np.floor(world.m_hired / clock.DAY) * clock.DAY + 9 * 3600),
        "email": [em for _, em in world.m_names],
    }, schema={"manager_id": pl.Utf8, "name": pl.Utf8, "team": pl.Utf8, "role": pl.Utf8,
               "hired_at": pl.Datetime("us"), "email": pl.Utf8})


def _stage_history(world: World, deal_ids: pl.Series) -> pl.DataFrame:
    idx, k, e, _, _ = world.visits
    e_s = clock.to_seconds(e)
    keep = e_s < world.end_s
    names = pl.Series(list(world.stages) + ["won", "lost"], dtype=pl.Utf8)
    closed = np.flatnonzero(world.closed)
    deal = np.concatenate([idx[keep], closed])
    stage = np.concatenate([k[keep], world.outcome[closed]])
    at = np.concatenate([e_s[keep], world.close_s[closed]])
    df = pl.DataFrame({"_d": deal, "_t": np.floor(at), "_k": stage})
    df = df.sort(["_d", "_t", "_k"], maintain_order=True)
    d, kk = df["_d"].to_numpy(), df["_k"].to_numpy()
    return pl.DataFrame({
        "deal_id": deal_ids.gather(d),
        "stage": names.gather(kk),
        "entered_at": world.to_dt(df["_t"].to_numpy()),
        "changed_by": world.owner_ids().gather(world.owner[d]),
    })


def _deals_and_accounts(world: World, deal_ids: pl.Series, amount_now: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng, n = world.rng, world.n
    used, acc_index = np.unique(world.account, return_inverse=True)  # accounts that have deals
    acc_ids = ids("a", used.size)
    acc_seg = world.acc_seg[used]
    names = vocab.company_names(rng, acc_seg, SEGMENTS)
    industries = vocab.words("industry", vocab.INDUSTRIES, world.lang)
    regions = vocab.words("region", vocab.REGIONS, world.lang)
    emp_med = np.array([40.0, 300.0, 3000.0])[acc_seg]
    accounts = pl.DataFrame({
        "account_id": acc_ids,
        "name": pl.Series(names.tolist(), dtype=pl.Utf8),
        "segment": pl.Series(SEGMENTS, dtype=pl.Utf8).gather(acc_seg),
        "industry": pl.Series(industries, dtype=pl.Utf8).gather(rng.integers(len(industries), size=used.size)),
        "region": pl.Series(regions, dtype=pl.Utf8).gather(_regions(world, used)),
        "employees": pl.Series(np.round(emp_med * np.exp(rng.normal(0, 0.6, used.size))).astype(np.int64) + 3),
    })
    product_keys = [vocab.PRODUCTS[s] for s in SEGMENTS]
    prod = rng.integers(3, size=n)
    titles_by = [[vocab.word("product", p, world.lang) for p in keys] for keys in product_keys]
    titles = [f"{titles_by[s][p]} — {names[a]}" for s, p, a in zip(world.seg, prod, acc_index)]
    status = np.where(world.closed, np.where(world.outcome == world.WON, 1, 2), 0)
    reasons = vocab.words("lost_reason", vocab.LOST_REASONS, world.lang)
    lost = status == 2
    deals = pl.DataFrame({
        "deal_id": deal_ids,
        "account_id": acc_ids.gather(acc_index),
        "title": pl.Series(titles, dtype=pl.Utf8),
        "owner": world.owner_ids().gather(world.owner),
        "segment": pl.Series(SEGMENTS, dtype=pl.Utf8).gather(world.seg.astype(np.int64)),
        "channel": pl.Series(CHANNELS, dtype=pl.Utf8).gather(world.channel),
        "amount": pl.Series(amount_now, dtype=pl.Float64),
        "currency": pl.Series(["RUB"] * n, dtype=pl.Utf8),
        "created_at": world.to_dt(np.floor(world.created_s)),
        "status": pl.Series(["open", "won", "lost"], dtype=pl.Utf8).gather(status),
        "closed_at": world.to_dt(np.where(world.closed, np.floor(world.close_s), np.nan)),
        "lost_reason": pl.Series([None] + reasons, dtype=pl.Utf8).gather(np.where(lost, world.lost_reason + 1, 0)),
    })
    return deals, accounts


def _regions(world: World, accounts: np.ndarray) -> np.ndarray:
    """A region per account, by the team of its first manager: Moscow's team serves Moscow and
    St Petersburg, the regional team the rest of the country, key accounts anyone."""
    team = world.m_team[world.owner[world.acc_first_deal[accounts]]]
    weights = np.array([REGION_WEIGHTS, REGION_WEIGHTS * REGION_CAPITALS, REGION_WEIGHTS * (1 - REGION_CAPITALS)])
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)[team]
    return (world.rng.random(accounts.size)[:, None] > cum).sum(axis=1).clip(0, len(REGION_WEIGHTS) - 1)
