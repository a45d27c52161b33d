"""Atypical deals as of a moment: why each one is far outside what its segment's deals do.

Four dimensions, each with its own line; a deal is atypical when it crosses at least one:

- **amount** (`amount_high`, `amount_low`): the robust z-score of log(amount) against the segment's
  deals known then (median and MAD, Iglewicz–Hoaglin's modified z) is beyond ±`AMOUNT_Z` (3.5).
  Log scale because amounts are multiplicative (a deal 6× the median is as odd as one 1/6 of it).
  A non-positive amount is always beyond the line.
- **path** (`path_skip`, `path_back`, `path_rare`): the deal's stage entries in time order (ties in the
  playbook's order) so far. Among the segment's deals that made at least as many stage entries, the
  share (other than this deal) that went exactly this way is below `rare` (0.5% by default). The
  reasons say how it differs: stages skipped, moves back (or re-entries), else just the rare path.
  A path that is common in the segment (say, smb deals that often skip a proposal) is never flagged.
- **dwell** (`dwell_long`, open deals only): time in the current stage (since its latest entry)
  longer than 95% of the segment's won deals stayed there, *and* that fewer than `rare` of the
  segment's deals that entered the stage at least that long ago (so could have stayed as long;
  won, lost or open) did stay: rare among every deal, lingering ones included, not only against
  the won ones (open deals linger more than won deals ever did: a third of the demo's open deals
  are beyond the won deals' p95).
- **segment** (`no_segment`, `segment_unknown`, `segment_rules`): no segment after the playbook's
  rules; a segment the playbook does not name; a segment the deal carries that its rules would not
  give it. Only when rare (at most `SEGMENT_MAX_SHARE` of the deals known then): when many deals
  do it, it is how the data is, said once as a notice, not a reason on each deal.

A segment with fewer than `MIN_REF` deals (or won deals, for dwell) is judged against every deal.

**Score** = the sum over the dimensions a deal crosses of how far beyond the line it is, each
expressed so that the line is about 1: amount |z| / 3.5; dwell 1 + log10(dwell / won deals' p95)
(one more point per tenfold); path 1 + how far below the rarity line the share is (1..2); segment 1;
each capped at `CAP`.
Transparent on purpose: every point of the score comes from a reason the row states. (An isolation
forest over the same features would rank combinations, but it cannot say why, depends on a random
state, and flags whatever is rare in the whole feature space, including harmless combinations.)

Everything is computed from a `Snapshot`, so only what was known at `as_of` counts: the deals, their
amounts and segments then, the stage entries by then, and the reference deals known by then.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import ibis
import numpy as np
import pandas as pd

from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.funnel import DAY, Notice, fetch_spells, stage_order
from dealpulse.playbook.model import TERMINAL_STAGES

AMOUNT_Z = 3.5  # modified z-score line (Iglewicz & Hoaglin)
RARE = 0.005  # a path or a dwell fewer than 1 in 200 of the segment's deals have
WON_QUANTILE = 0.95  # and a dwell longer than this share of won deals stayed
MIN_REF = 20  # fewer reference deals in a segment: judge against every deal
SEGMENT_MAX_SHARE = 0.05  # a segment problem more common than this is a notice, not a reason
CAP = 10.0  # a single dimension adds at most this much to the score
MAD_SCALE = 1.4826  # MAD of a normal distribution = 0.6745 sigma

DIMENSION = {
    "amount_high": "amount", "amount_low": "amount",
    "path_skip": "path", "path_back": "path", "path_rare": "path",
    "dwell_long": "dwell",
    "no_segment": "segment", "segment_unknown": "segment", "segment_rules": "segment",
}
CODES = tuple(DIMENSION)

METHOD = {
    "amount": f"robust z of log(amount) vs the segment's deals known then (median, MAD); |z| > {AMOUNT_Z}",
    "path": "share of the segment's deals that got as far and went exactly this way; below the rarity line",
    "dwell": f"time in the current stage longer than {round(100 * WON_QUANTILE)}% of the segment's won deals took, "
             "and that fewer than the rarity line of the segment's deals that entered the stage at least that long "
             "ago stayed",
    "segment": f"no segment, a segment the playbook does not name, or one its rules would not give; "
               f"only when at most {round(100 * SEGMENT_MAX_SHARE)}% of deals do it",
    "score": "sum over the dimensions crossed of how far beyond the line (the line = 1)",
    "min_reference": f"segments with fewer than {MIN_REF} deals are judged against every deal",
}


@dataclass(frozen=True)
class Reason:
    """Why a deal is atypical: `code` (an i18n key suffix), `params` (numbers and names for its text),
    `severity` (the line = 1), `key` (the code with what it is about, e.g. `dwell_long:proposal`:
    a mark made for one key does not cover another)."""

    code: str
    params: dict[str, Any]
    severity: float
    key: str

    @property
    def dimension(self) -> str:
        return DIMENSION[self.code]


@dataclass
class AtypicalResult:
    as_of: datetime
    rare: float
    closed_days: int | None
    n_open: int
    n_considered: int
    deals: pd.DataFrame  # one row per deal considered: deal_id, owner, segment, stage, status, amount, ...
    reasons: dict[str, list[Reason]]  # deal_id -> reasons (atypical deals only)
    notices: list[Notice] = field(default_factory=list)

    def score(self, deal_id: str) -> float:
        by_dim: dict[str, float] = {}
        for r in self.reasons.get(deal_id, []):
            by_dim[r.dimension] = max(by_dim.get(r.dimension, 0.0), min(r.severity, CAP))
        return round(sum(by_dim.values()), 2)


# -- robust statistics -----------------------------------------------------------------------------
def robust_z(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Modified z-scores of `x` against `ref`: (x - median) / (1.4826 MAD); when the MAD is 0, the
    mean absolute deviation (× 1.2533) instead; when every reference value is the same, anything
    else is infinitely far (and the same value 0)."""
    ref = np.asarray(ref, dtype=float)
    x = np.asarray(x, dtype=float)
    med = float(np.median(ref))
    scale = MAD_SCALE * float(np.median(np.abs(ref - med)))
    if scale <= 0:
        scale = 1.2533 * float(np.mean(np.abs(ref - med)))
    if scale <= 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x == med, 0.0, np.sign(x - med) * np.inf)
    return (x - med) / scale


# -- data ------------------------------------------------------------------------------------------
DEAL_COLUMNS = ("deal_id", "owner", "segment", "channel", "stage", "status", "amount", "created_at", "closed_at",
                "stage_entered_at")


def _deals(snap: Snapshot) -> pd.DataFrame:
    """Every deal known at as_of with the segment its own data (or account) gives and the one the
    playbook's rules would give."""
    d = snap.deals
    pb = snap.playbook
    if pb.segments:
        by_rule = ibis.cases(*[(s.rule.to_ibis(d), s.name) for s in pb.segments], else_=ibis.null("string"))
    else:
        by_rule = ibis.null("string")
    df = d.select(*DEAL_COLUMNS, rule_segment=by_rule).execute()
    for col in ("created_at", "closed_at", "stage_entered_at"):
        df[col] = pd.to_datetime(df[col])
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce")
    return df


def _paths(snap: Snapshot, order: tuple[str, ...], deals: pd.DataFrame) -> pd.Series:
    """deal_id -> tuple of the stages entered in time order (ties in stage order), up to the close."""
    ev = snap.stage_events
    ev = ev.filter(~ev.stage.isin(list(TERMINAL_STAGES))).select("deal_id", "stage", "entered_at").execute()
    if ev.empty:
        return pd.Series(dtype=object)
    ev["entered_at"] = pd.to_datetime(ev["entered_at"])
    index = {s: i for i, s in enumerate(order)}
    ev["_i"] = ev["stage"].map(index).fillna(len(order))
    closed = deals.set_index("deal_id")["closed_at"]
    ev = ev[~(ev["entered_at"] > ev["deal_id"].map(closed))]
    ev = ev.sort_values(["deal_id", "entered_at", "_i", "stage"], kind="stable")
    return ev.groupby("deal_id", sort=False)["stage"].agg(tuple)


def describe_path(path: tuple[str, ...], order: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    """The unusual moves of a path, in order: ("skip", stage entered, stages jumped over) and
    ("back", from the furthest stage so far, to). The first entry skips the stages before it
    (a deal that starts later); stages not in `order` are neither."""
    index = {s: i for i, s in enumerate(order)}
    moves: list[tuple[str, Any, Any]] = []
    furthest = -1
    for stage in path:
        i = index.get(stage)
        if i is None:
            continue
        if i <= furthest:
            moves.append(("back", order[furthest], stage))
            continue
        jumped = tuple(order[furthest + 1:i])
        if jumped:
            moves.append(("skip", stage, jumped))
        furthest = i
    return moves


# -- the four dimensions ---------------------------------------------------------------------------
def _groups(values: pd.Series, segment: pd.Series, mask: pd.Series) -> dict[Any, np.ndarray]:
    """segment -> reference values (where mask), plus None -> all of them."""
    out: dict[Any, np.ndarray] = {None: values[mask].to_numpy(dtype=float)}
    for seg, part in values[mask].groupby(segment[mask]):
        out[seg] = part.to_numpy(dtype=float)
    return out


def _ref_for(groups: dict[Any, Any], segment: Any, size: Any = len) -> tuple[Any, Any]:
    """(the reference of the segment, or of every deal when it has fewer than MIN_REF; which one)."""
    seg = segment if isinstance(segment, str) else None
    if seg is not None and seg in groups and size(groups[seg]) >= MIN_REF:
        return groups[seg], seg
    return groups.get(None), None


def _amount_reasons(all_deals: pd.DataFrame, cand: pd.DataFrame, out: dict[str, list[Reason]]) -> None:
    amt = all_deals["amount"]
    positive = amt.notna() & (amt > 0)
    groups = _groups(np.log(amt.where(positive)), all_deals["segment"], positive)
    for row in cand.itertuples(index=False):
        if row.amount is None or pd.isna(row.amount):
            continue
        ref, seg = _ref_for(groups, row.segment)
        if ref is None or len(ref) < MIN_REF:
            continue
        median = float(np.exp(np.median(ref)))
        params = {"amount": float(row.amount), "median": median, "segment": seg}
        if row.amount <= 0:
            out.setdefault(row.deal_id, []).append(Reason("amount_low", {**params, "ratio": 0.0}, CAP, "amount_low"))
            continue
        z = float(robust_z(np.array([math.log(row.amount)]), ref)[0])
        if abs(z) <= AMOUNT_Z:
            continue
        code = "amount_high" if z > 0 else "amount_low"
        params.update(ratio=float(row.amount) / median if median else math.inf, z=z)
        out.setdefault(row.deal_id, []).append(Reason(code, params, abs(z) / AMOUNT_Z, code))


def _path_reasons(all_deals: pd.DataFrame, cand: pd.DataFrame, paths: pd.Series, order: tuple[str, ...],
                  rare: float, out: dict[str, list[Reason]]) -> None:
    seg_of = all_deals.set_index("deal_id")["segment"]
    prefix: Counter = Counter()  # (segment, path prefix) -> deals
    reach: Counter = Counter()  # (segment, length) -> deals with at least that many entries
    for deal_id, path in paths.items():
        seg = seg_of.get(deal_id)
        seg = seg if isinstance(seg, str) else None
        for n in range(1, len(path) + 1):
            for s in {seg, None}:
                prefix[(s, path[:n])] += 1
                reach[(s, n)] += 1
    for row in cand.itertuples(index=False):
        path = paths.get(row.deal_id)
        if not path:
            continue
        n = len(path)
        seg = row.segment if isinstance(row.segment, str) and reach[(row.segment, n)] > MIN_REF else None
        others = reach[(seg, n)] - 1
        if others < MIN_REF:
            continue
        share = (prefix[(seg, path)] - 1) / others
        if share >= rare:
            continue
        severity = 1.0 + (rare - share) / rare
        base = {"share": share, "segment": seg, "reached": others, "path": path}
        found = False
        for kind, a, b in describe_path(path, order):
            if kind == "back":
                reason = Reason("path_back", {**base, "from_stage": a, "to_stage": b}, severity, f"path_back:{a}>{b}")
            else:
                reason = Reason("path_skip", {**base, "stage": a, "skipped": b}, severity, f"path_skip:{a}:{'+'.join(b)}")
            out.setdefault(row.deal_id, []).append(reason)
            found = True
        if not found:
            out.setdefault(row.deal_id, []).append(Reason("path_rare", base, severity, "path_rare:" + ">".join(path)))


class _StayCounts:
    """Among a stage's spells (optionally of one segment), other deals aside: how many entered at least
    `days` ago (`_age >= days`), and how many of those stayed at least `days` (`dwell_days >= days`).
    Sorted arrays and binary search instead of filtering the frame for every open deal."""

    def __init__(self, spells: pd.DataFrame) -> None:
        age = spells["_age"].to_numpy(dtype=float)
        # a spell cannot last longer than it has existed: min() makes "stayed" imply "entered long enough ago"
        stayed = np.minimum(spells["dwell_days"].to_numpy(dtype=float), age)
        seg = spells["segment"].to_numpy(dtype=object)
        deal = spells["deal_id"].to_numpy(dtype=object)
        self._sorted: dict[Any, tuple[np.ndarray, np.ndarray]] = {None: (np.sort(age), np.sort(stayed))}
        for s in {x for x in seg if isinstance(x, str)}:
            m = seg == s
            self._sorted[s] = (np.sort(age[m]), np.sort(stayed[m]))
        self._own: dict[Any, list[tuple[Any, float, float]]] = {}
        for d, s, a, st in zip(deal, seg, age, stayed):
            self._own.setdefault(d, []).append((s, a, st))

    def at(self, days: float, segment: Any, deal_id: Any) -> tuple[int, int]:
        ages, stayed = self._sorted.get(segment, (np.empty(0), np.empty(0)))
        n_old = len(ages) - int(np.searchsorted(ages, days, side="left"))
        n_stayed = len(stayed) - int(np.searchsorted(stayed, days, side="left"))
        for s, a, st in self._own.get(deal_id, ()):
            if segment is None or s == segment:
                n_old -= a >= days
                n_stayed -= st >= days
        return int(n_old), int(n_stayed)


def _dwell_reasons(snap: Snapshot, order: tuple[str, ...], cand: pd.DataFrame, rare: float,
                   out: dict[str, list[Reason]]) -> None:
    open_ = cand[(cand["status"] == "open") & cand["stage"].notna() & cand["stage_entered_at"].notna()]
    if open_.empty:
        return
    spells = fetch_spells(snap, order)
    if spells.empty:
        return
    as_of = pd.Timestamp(snap.as_of)
    spells["_age"] = (as_of - spells["entered_at"]).dt.total_seconds() / DAY
    won = spells[(spells["status"] == "won") & spells["left"]]
    for stage, part in open_.groupby("stage"):
        st_sp = spells[spells["stage"] == stage]
        st_won = won[won["stage"] == stage]
        won_groups = _groups(st_won["dwell_days"], st_won["segment"], pd.Series(True, index=st_won.index))
        counts = _StayCounts(st_sp)
        p_cache: dict[Any, float] = {}
        for row in part.itertuples(index=False):
            days = (as_of - row.stage_entered_at).total_seconds() / DAY
            won_ref, seg = _ref_for(won_groups, row.segment)
            if won_ref is None or len(won_ref) < MIN_REF:
                continue
            if seg not in p_cache:
                p_cache[seg] = float(np.quantile(won_ref, WON_QUANTILE))
            p_won = p_cache[seg]
            if days <= p_won:
                continue
            # the deals that entered the stage at least `days` ago (so could have stayed that long),
            # this one aside: the share that did
            n_old, n_stayed = counts.at(days, None, row.deal_id)
            n_pop, n_pop_stayed = (n_old, n_stayed) if seg is None else counts.at(days, seg, row.deal_id)
            if n_pop < MIN_REF:
                n_pop, n_pop_stayed, seg_pop = n_old, n_stayed, None
                if n_pop < MIN_REF:
                    continue
            else:
                seg_pop = seg
            staying = n_pop_stayed / n_pop
            if staying >= rare:
                continue
            severity = 1.0 + math.log10(days / p_won) if p_won > 0 else CAP
            params = {"stage": stage, "days": days, "segment": seg, "staying": staying, "staying_segment": seg_pop,
                      "reference": int(n_pop), "won_quantile": WON_QUANTILE, "won_days": p_won,
                      "won_n": int(len(won_ref))}
            out.setdefault(row.deal_id, []).append(Reason("dwell_long", params, severity, f"dwell_long:{stage}"))


def _segment_reasons(snap: Snapshot, all_deals: pd.DataFrame, cand: pd.DataFrame, out: dict[str, list[Reason]],
                     notices: list[Notice]) -> None:
    pb = snap.playbook
    n = len(all_deals)
    if n == 0:
        return
    seg = all_deals["segment"]
    names = set(pb.segment_names)
    has_seg = seg.notna()
    checks: dict[str, pd.Series] = {}
    if pb.segments or has_seg.mean() >= 0.5:
        checks["no_segment"] = ~has_seg
    if names:
        checks["segment_unknown"] = has_seg & ~seg.isin(list(names))
        rule = all_deals["rule_segment"]
        checks["segment_rules"] = has_seg & seg.isin(list(names)) & rule.notna() & (seg != rule)
    for code, mask in checks.items():
        count = int(mask.sum())
        if not count:
            continue
        share = count / n
        if share > SEGMENT_MAX_SHARE:
            notices.append(Notice(f"common_{code}", {"deals": count, "share": share}))
            continue
        flagged = set(all_deals.loc[mask, "deal_id"])
        for row in cand[cand["deal_id"].isin(flagged)].itertuples(index=False):
            params = {"segment": row.segment, "rule_segment": row.rule_segment, "amount": row.amount,
                      "segments": ", ".join(pb.segment_names)}
            out.setdefault(row.deal_id, []).append(Reason(code, params, 1.0, code))


# -- all together ----------------------------------------------------------------------------------
def find_atypical(snap: Snapshot, *, rare: float = RARE, closed_days: int | None = None,
                  only: list[str] | set[str] | None = None) -> AtypicalResult:
    """The atypical deals among the deals open at `snap.as_of` (and, with `closed_days`, those closed
    in the `closed_days` days before it), with their reasons. See the module docstring.
    `only`: judge just these deals (whatever their status), against the same references."""
    if not 0 < rare < 1:
        raise ValueError(f"rare: expected a share between 0 and 1, got {rare!r}")
    notices: list[Notice] = []
    all_deals = _deals(snap)
    is_open = all_deals["status"] == "open"
    cand_mask = is_open
    if closed_days is not None:
        since = pd.Timestamp(snap.as_of - timedelta(days=closed_days))
        cand_mask = cand_mask | (~is_open & (all_deals["closed_at"] > since))
    if only is not None:
        cand_mask = all_deals["deal_id"].isin(list(only))
    cand = all_deals[cand_mask].reset_index(drop=True)
    reasons: dict[str, list[Reason]] = {}
    if not cand.empty:
        order, _ = stage_order(snap)
        _amount_reasons(all_deals, cand, reasons)
        _path_reasons(all_deals, cand, _paths(snap, order, all_deals), order, rare, reasons)
        _dwell_reasons(snap, order, cand, rare, reasons)
        _segment_reasons(snap, all_deals, cand, reasons, notices)
    if len(all_deals) and all_deals["segment"].notna().any():
        small = all_deals["segment"].value_counts()
        small = sorted(str(s) for s, c in small.items() if c < MIN_REF)
        if small:
            notices.append(Notice("small_segments", {"segments": ", ".join(small), "min": MIN_REF}))
    return AtypicalResult(as_of=snap.as_of, rare=rare, closed_days=closed_days, n_open=int(is_open.sum()),
                          n_considered=len(cand), deals=cand, reasons=reasons, notices=notices)


__all__ = ["find_atypical", "AtypicalResult", "Reason", "robust_z", "describe_path", "CODES",
           "DIMENSION", "METHOD", "AMOUNT_Z", "RARE", "MIN_REF", "SEGMENT_MAX_SHARE", "WON_QUANTILE"]
