"""Changes for the better and for the worse, per segment and per channel (docs/dynamics.md).

Every subject (a value of each grouping in `by`: a segment, a channel, or a segment × channel pair)
is compared with its own baseline on seven metrics; each comparison is a two-sided test; one
weighted Benjamini–Hochberg control runs over everything tested at that moment, and a row is
significant only when its q ≤ `fdr` AND the change is at least the metric's minimum effect.

Windows, all ending at T = `facts.as_of` (half-open): the recent window (T − w, T] (`window`, 12 weeks
by default) and the baseline (T − w − 26w, T − w] (shorter if the data start later; at least
`min_baseline_weeks`). A window scan tries the last w/3, 2w/3 and w of the recent window against that
same baseline (the gap between a shorter window and the baseline is in neither), keeps the window
with the smallest p and multiplies that p by the number of windows tried (Bonferroni). New deals and
amount per week try only 2w/3 and w: they move with the seasons, and one slow month alone must not
look like a change of the subject (the share of all new deals, which seasons do not move, tries all three).

| metric | unit of `before`/`after` | what is compared | test | minimum effect |
|---|---|---|---|---|
| inflow_count | new deals per week | the subject's new deals, per week of exposure scaled by the rest of the department's change (the tide: seasons, growth) | conditional binomial (Poisson rates), mid-p | ×1.5 either way, and ×1.3 beyond the tide |
| inflow_amount | amount per week | the amount of the subject's new deals, per week, likewise | marked conditional binomial, saddlepoint | the same |
| inflow_share | share | the subject's share of all new deals | Fisher, mid-p | ×1.3 (relative) |
| early_conversion | share | deals (≥ N days old) past the first stage within N days of creation | Fisher, mid-p | 10 points |
| win_rate | share | deals (≥ D days old) won within D days of creation | Fisher, mid-p | 10 points |
| deal_size | amount (median) | the amounts of the subject's new deals | Mann–Whitney U | ×1.25 (medians) |
| cycle | days (median, see below) | time from creation to won, by creation cohort; lost deals censored at the loss, open ones at T; both sides followed at most as long as the recent window | log-rank (exact mid-p for few events) | ×1.5 (hazard ratio) |

`change` is relative (after / before − 1) for every metric but the two shares of deals
(early_conversion, win_rate), where it is in points (after − before); `unit` says which. For `cycle`
the change is 1 / hazard ratio − 1 (0.5: deals are won 1.5× more slowly) and before/after are the
median days to won among the deals won within H = half the window's length, of cohorts at least H
days old (a like-with-like description; the test is the log-rank).

Everything is computed from the `Facts` known at T (deal attributes and stage spells): a weekly
replay cuts one extraction back with `Facts.at` and calls `dynamics_from_facts` again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from dealpulse.alerts.facts import Facts, build_facts, deal_attributes
from dealpulse.alerts.stats import scan_p, weighted_bh
from dealpulse.dynamics import changepoint as cp
from dealpulse.dynamics.stats import (fisher_two_sided_p, logrank_two_sided, mann_whitney_two_sided_p,
                                      marked_rate_two_sided_p, rate_two_sided_p)
from dealpulse.errors import InputError
from dealpulse.i18n import t

METRICS = ("inflow_count", "inflow_amount", "inflow_share", "early_conversion", "win_rate", "deal_size", "cycle")
DIMENSIONS = ("segment", "channel")
DEFAULT_BY: tuple[tuple[str, ...], ...] = (("segment",), ("channel",))
WINDOW = timedelta(weeks=12)
GOOD_WHEN_UP = {"inflow_count": True, "inflow_amount": True, "inflow_share": True, "early_conversion": True,
                "win_rate": True, "deal_size": True, "cycle": False}
CHANGE_UNIT = {"inflow_count": "relative", "inflow_amount": "relative", "inflow_share": "relative",
               "early_conversion": "points", "win_rate": "points", "deal_size": "relative", "cycle": "relative"}
VALUE_UNIT = {"inflow_count": "deals_per_week", "inflow_amount": "amount_per_week", "inflow_share": "share",
              "early_conversion": "share", "win_rate": "share", "deal_size": "amount", "cycle": "days"}
ROW_KEYS = ("subject", "metric", "before", "after", "change", "unit", "direction", "good", "since", "q",
            "significant", "message", "evidence")
WEEK = np.timedelta64(7 * 86400, "s")
DAY_S = 86400.0


@dataclass(frozen=True)
class Settings:
    """How `dynamics` decides (docs/dynamics.md explains each)."""

    baseline: timedelta = timedelta(weeks=26)
    scan: tuple[float, ...] = (1 / 3, 2 / 3, 1.0)  # parts of the recent window tried (the last w/3, 2w/3, w)
    # new deals and amount per week: not the shortest part — one slow month (January brings 40% fewer
    # new deals than the autumn in the demo) must not look like a change of the subject
    inflow_scan: tuple[float, ...] = (2 / 3, 1.0)
    fdr: float = 0.05
    min_inflow_ratio: float = 1.5  # inflow_count, inflow_amount: ×1.5 up or ÷1.5 down (seasons move them ±35%)
    min_share_ratio: float = 1.3  # inflow_share: ×1.3 or ÷1.3 (seasons and growth of the whole cancel out)
    min_points: float = 0.10  # early_conversion, win_rate
    min_size_ratio: float = 1.25  # deal_size: the medians
    min_cycle_ratio: float = 1.5  # cycle: the hazard ratio of winning
    quality_days: int = 14  # early_conversion: past the first stage within N days of creation
    win_days: int = 42  # win_rate: won within D days of creation
    min_baseline_weeks: float = 8.0  # the data must reach this far into the baseline
    min_deals: int = 10  # inflow_count / amount: new deals of the subject on both sides together
    min_recent_all: int = 20  # inflow_share: all new deals in the recent window tried
    min_recent_cohort: int = 10  # early_conversion, win_rate, cycle: deals of the recent cohort
    min_baseline_cohort: int = 30
    min_recent_sizes: int = 8  # deal_size
    min_baseline_sizes: int = 20
    min_cycle_events: int = 10  # cycle: wins on both sides together (within the follow-up)

    def min_effect(self, metric: str) -> float:
        """The minimum |effect|: a log ratio for ratio metrics, points for the two cohort shares."""
        if metric in ("early_conversion", "win_rate"):
            return self.min_points
        if metric == "deal_size":
            return math.log(self.min_size_ratio)
        if metric == "cycle":
            return math.log(self.min_cycle_ratio)
        if metric == "inflow_share":
            return math.log(self.min_share_ratio)
        return math.log(self.min_inflow_ratio)


# -- the deals known at T, as arrays -----------------------------------------------------------------
@dataclass
class _Deals:
    T: np.datetime64
    created: np.ndarray  # datetime64[us]
    amount: np.ndarray  # float, NaN if unknown
    passed_at: np.ndarray  # first moment past the first stage (a later stage, or won); NaT if not yet
    won_at: np.ndarray  # NaT unless won by T
    lost_at: np.ndarray  # NaT unless lost by T
    dims: dict[str, np.ndarray]
    data_start: np.datetime64 | None
    text: dict[str, np.ndarray] = None  # type: ignore[assignment]  # each dimension as text, "" when unknown


def _deals(facts: Facts) -> _Deals:
    d = facts.deals
    T = np.datetime64(pd.Timestamp(facts.as_of), "us")
    created = d["created_at"].to_numpy(dtype="datetime64[us]")
    nat = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[us]")
    closed = pd.to_datetime(d["closed_at"]).to_numpy(dtype="datetime64[us]") if len(d) else nat
    status = d["status"].to_numpy(dtype=object)
    won_at = np.where((status == "won") & ~np.isnat(closed), closed, nat)
    lost_at = np.where((status == "lost") & ~np.isnat(closed), closed, nat)
    passed = nat.copy()
    sp = facts.spells
    if len(d) and not sp.empty:
        later = sp[sp["stage_index"] >= 1]
        if not later.empty:
            first = later.groupby("deal_id")["entered_at"].min()
            passed = first.reindex(d["deal_id"]).to_numpy(dtype="datetime64[us]")
    passed = np.where(np.isnat(passed) | (~np.isnat(won_at) & (won_at < passed)), won_at, passed)
    passed = np.where(np.isnat(passed), won_at, passed)
    amount = pd.to_numeric(d["amount"], errors="coerce").to_numpy(dtype=float) if len(d) else np.zeros(0)
    dims = {c: d[c].to_numpy(dtype=object) for c in DIMENSIONS}
    text = {c: d[c].astype(object).where(d[c].notna(), "").astype(str).to_numpy() if len(d) else np.zeros(0, dtype=str)
            for c in DIMENSIONS}
    return _Deals(T=T, created=created, amount=amount, passed_at=passed, won_at=won_at, lost_at=lost_at, dims=dims,
                  data_start=created.min() if len(created) else None, text=text)


def _between(t: np.ndarray, lo: np.datetime64, hi: np.datetime64) -> np.ndarray:
    return (t > lo) & (t <= hi)


@dataclass(frozen=True)
class _Window:
    index: int
    recent_from: np.datetime64
    weeks: float  # its length
    fraction: float  # of the whole recent window


@dataclass
class _Test:
    """One metric of one subject in one window tried."""

    p: float
    before: float | None
    after: float | None
    effect: float  # signed: log ratio, or points
    recent_n: int
    baseline_n: int
    extra: dict[str, Any]


def _ratio_effect(after: float | None, before: float | None) -> float:
    if after is None or before is None:
        return math.nan
    if before <= 0 and after <= 0:
        return 0.0
    if before <= 0:
        return math.inf
    if after <= 0:
        return -math.inf
    return math.log(after / before)


def _median(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else None


class _Subject:
    """The tests of one subject (mask over the deals) at T."""

    def __init__(self, deals: _Deals, mask: np.ndarray, windows: list[_Window], base_from: np.datetime64,
                 base_to: np.datetime64, base_weeks: float, s: Settings):
        self.d, self.m, self.windows, self.s = deals, mask, windows, s
        self.base_from, self.base_to, self.base_weeks = base_from, base_to, base_weeks
        self.base = _between(deals.created, base_from, base_to)
        self.recent = [_between(deals.created, w.recent_from, deals.T) for w in windows]

    # inflow --------------------------------------------------------------------------------------
    def _tide(self, j: int, amount: np.ndarray | None) -> float:
        """The rest of the department's rate in the recent window tried over its baseline rate (new deals,
        or with `amount` their amount): the seasons and the growth of the whole, which the subject shares.
        1 when there is no rest (a single subject) or it has no baseline."""
        w, rest = self.windows[j], ~self.m
        r, b = rest & self.recent[j], rest & self.base
        if amount is None:
            d1, d0 = float(r.sum()), float(b.sum())
        else:
            known = np.isfinite(amount)
            d1, d0 = float(amount[r & known].sum()), float(amount[b & known].sum())
        if d0 <= 0 or d1 <= 0:
            return 1.0
        return (d1 / w.weeks) / (d0 / self.base_weeks)

    def _inflow_extra(self, effect: float, tide: float) -> dict[str, Any]:
        return {"recent_weeks": None, "baseline_weeks": self.base_weeks, "department_change": tide - 1.0,
                "beyond_department": effect - math.log(tide) if math.isfinite(effect) else effect}

    def inflow_count(self, j: int) -> _Test | None:
        w, m = self.windows[j], self.m
        k1, k0 = int((m & self.recent[j]).sum()), int((m & self.base).sum())
        if k1 + k0 < self.s.min_deals:
            return None
        before, after = k0 / self.base_weeks, k1 / w.weeks
        effect, tide = _ratio_effect(after, before), self._tide(j, None)
        # the recent window's exposure scaled by the department's tide: is the subject's change beyond it?
        p = rate_two_sided_p(k1, w.weeks * tide, k0, self.base_weeks)
        return _Test(p, before, after, effect, k1, k0,
                     {**self._inflow_extra(effect, tide), "recent_weeks": w.weeks,
                      "test": "poisson_rate_conditional_binomial_mid_p_two_sided_department_adjusted"})

    def inflow_amount(self, j: int) -> _Test | None:
        w, m, a = self.windows[j], self.m, self.d.amount
        known = np.isfinite(a)
        r, b = m & self.recent[j] & known, m & self.base & known
        if int(r.sum() + b.sum()) < self.s.min_deals:
            return None
        before, after = float(a[b].sum()) / self.base_weeks, float(a[r].sum()) / w.weeks
        # the tide in new deals, not in amount: the rest's amount is dominated by a few large deals and
        # would bring its own noise into a test that takes the tide as known
        effect, tide = _ratio_effect(after, before), self._tide(j, None)
        p = marked_rate_two_sided_p(a[r], a[b], w.weeks * tide, self.base_weeks)
        return _Test(p, before, after, effect, int(r.sum()), int(b.sum()),
                     {**self._inflow_extra(effect, tide), "recent_weeks": w.weeks,
                      "test": "marked_poisson_rate_conditional_saddlepoint_two_sided_department_adjusted"})

    def inflow_share(self, j: int) -> _Test | None:
        m = self.m
        n1, n0 = int(self.recent[j].sum()), int(self.base.sum())
        k1, k0 = int((m & self.recent[j]).sum()), int((m & self.base).sum())
        if n1 < self.s.min_recent_all or n0 == 0 or k1 + k0 < self.s.min_deals or k1 == n1 and k0 == n0:
            return None
        before, after = k0 / n0, k1 / n1
        return _Test(fisher_two_sided_p(k1, n1, k0, n0), before, after, _ratio_effect(after, before), k1, k0,
                     {"recent_all": n1, "baseline_all": n0, "test": "fisher_mid_p_two_sided"})

    # cohorts -------------------------------------------------------------------------------------
    def _cohort_share(self, j: int, days: int, event_at: np.ndarray) -> _Test | None:
        d, m = self.d, self.m
        age_limit = d.T - np.timedelta64(int(days * DAY_S), "s")
        r = m & self.recent[j] & (d.created <= age_limit)
        b = m & self.base & (d.created <= age_limit)
        n1, n0 = int(r.sum()), int(b.sum())
        if n1 < self.s.min_recent_cohort or n0 < self.s.min_baseline_cohort:
            return None
        hit = ~np.isnat(event_at) & (event_at <= d.created + np.timedelta64(int(days * DAY_S), "s"))
        k1, k0 = int((r & hit).sum()), int((b & hit).sum())
        before, after = k0 / n0, k1 / n1
        return _Test(fisher_two_sided_p(k1, n1, k0, n0), before, after, after - before, n1, n0,
                     {"recent_k": k1, "baseline_k": k0, "within_days": days, "test": "fisher_mid_p_two_sided"})

    def early_conversion(self, j: int) -> _Test | None:
        return self._cohort_share(j, self.s.quality_days, self.d.passed_at)

    def win_rate(self, j: int) -> _Test | None:
        return self._cohort_share(j, self.s.win_days, self.d.won_at)

    def deal_size(self, j: int) -> _Test | None:
        a, m = self.d.amount, self.m
        x, y = a[m & self.recent[j] & np.isfinite(a)], a[m & self.base & np.isfinite(a)]
        if x.size < self.s.min_recent_sizes or y.size < self.s.min_baseline_sizes:
            return None
        before, after = _median(y), _median(x)
        return _Test(mann_whitney_two_sided_p(x, y), before, after, _ratio_effect(after, before), int(x.size),
                     int(y.size), {"test": "mann_whitney_u_two_sided"})

    def cycle_data(self, horizon_days: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(days from creation to won or censoring, won) for every deal; lost censored at the loss,
        open at T; with `horizon_days`, everything beyond it censored there."""
        d = self.d
        stop = np.where(~np.isnat(d.won_at), d.won_at, np.where(~np.isnat(d.lost_at), d.lost_at, d.T))
        dur = np.maximum((stop - d.created) / np.timedelta64(1, "s") / DAY_S, 0.0)
        won = ~np.isnat(d.won_at)
        if horizon_days is not None:
            won = won & (dur <= horizon_days)
            dur = np.minimum(dur, horizon_days)
        return dur, won

    def cycle(self, j: int) -> _Test | None:
        w, m, d = self.windows[j], self.m, self.d
        h = w.weeks * 7.0
        r, b = m & self.recent[j], m & self.base
        n1, n0 = int(r.sum()), int(b.sum())
        if n1 < self.s.min_recent_cohort or n0 < self.s.min_baseline_cohort:
            return None
        dur, won = self.cycle_data(h)
        sel = r | b
        if int(won[sel].sum()) < self.s.min_cycle_events or not won[b].any():
            return None
        lr, p = logrank_two_sided(dur[sel], won[sel], r[sel])
        if not math.isfinite(p):
            return None
        # the description: median days to won among deals won within H, cohorts at least H days old
        H = h / 2
        old = d.created <= d.T - np.timedelta64(int(H * DAY_S), "s")
        full, full_won = self.cycle_data(None)
        quick = full_won & (full <= H)
        before, after = _median(full[b & old & quick]), _median(full[r & old & quick])
        hr = lr.hazard_ratio
        if hr is None:  # nobody won on one side within the follow-up
            effect = -math.inf if not won[r].any() else math.inf
        else:
            effect = -math.log(hr) if hr > 0 else math.inf  # > 0: won more slowly (a longer cycle)
        return _Test(p, before, after, effect, n1, n0,
                     {"recent_events": int(won[r].sum()), "baseline_events": int(won[b].sum()),
                      "recent_expected_events": round(float(lr.expected), 2) if math.isfinite(lr.expected) else None,
                      "hazard_ratio": hr, "followup_days": h, "describe_within_days": H,
                      "test": "log_rank_two_sided" + ("_exact_mid_p" if int(won[r].sum()) <= 60 else "")})

    def run(self, metric: str) -> tuple[int, float, list[float], _Test | None]:
        """(window chosen, p after Bonferroni, p per window, its test) — (-1, NaN, …, None) if untestable."""
        fn: Callable[[int], _Test | None] = getattr(self, metric)
        allowed = self.s.inflow_scan if metric in ("inflow_count", "inflow_amount") else self.s.scan
        tests = [fn(j) if any(abs(w.fraction - f) < 1e-9 for f in allowed) else None for j, w in enumerate(self.windows)]
        ps = [x.p if x is not None and math.isfinite(x.p) else math.nan for x in tests]
        j, p = scan_p(ps)
        return j, p, ps, (tests[j] if j >= 0 else None)


# -- the whole computation -----------------------------------------------------------------------------
def normalize_by(by: str | Sequence[str] | Sequence[Sequence[str]] | None, lang: str = "en") -> tuple[tuple[str, ...], ...]:
    """Groupings from `by`: "channel", ("channel",), "segment,channel" (the pairs), or a list of them
    (each grouping separately). None: segments and channels, each separately."""
    if by is None:
        return DEFAULT_BY
    if isinstance(by, str):
        items: list[Any] = [by]
    else:
        items = list(by)
        if items and all(isinstance(x, str) and "," not in x for x in items):
            items = [tuple(items)]
    out: list[tuple[str, ...]] = []
    for item in items:
        dims = tuple(p.strip() for p in (item.split(",") if isinstance(item, str) else item) if p.strip())
        bad = [x for x in dims if x not in DIMENSIONS]
        if not dims or bad:
            raise InputError(t("dynamics.bad_by", lang, by=",".join(dims) or "''", allowed=", ".join(DIMENSIONS)),
                             suggestion=t("dynamics.bad_by.suggestion", lang))
        dims = tuple(sorted(dict.fromkeys(dims), key=DIMENSIONS.index))
        if dims not in out:
            out.append(dims)
    return tuple(out)


def _iso(t64: np.datetime64) -> datetime:
    return pd.Timestamp(t64).to_pydatetime()


def _local_date(at: datetime | None, tz: Any) -> date | None:
    if at is None:
        return None
    if tz is None:
        return at.date()
    return at.replace(tzinfo=timezone.utc).astimezone(tz).date()


def dynamics_from_facts(facts: Facts, by: Any = DEFAULT_BY, window: timedelta = WINDOW,
                        settings: Settings | None = None, *, lang: str = "en", tz: Any = None) -> list[dict[str, Any]]:
    """Every subject × metric at `facts.as_of` (see the module docstring), significant rows first.

    Each row: {subject, metric, before, after, change, unit, direction, good, since, q, significant,
    message, evidence}; JSON-able (dates as ISO text, no NaN). `tz`: the zone `since` is a date in."""
    s = settings or Settings()
    groupings = normalize_by(by)
    w_weeks = window / timedelta(weeks=1)
    if w_weeks <= 0:
        raise InputError(t("dynamics.bad_window", "en", window=str(window)), suggestion=t("dynamics.bad_window.suggestion", "en"))
    d = _deals(facts)
    T = d.T
    base_to = T - np.timedelta64(int(window.total_seconds()), "s")
    base_from = base_to - np.timedelta64(int(s.baseline.total_seconds()), "s")
    windows = [_Window(i, T - np.timedelta64(int(round(f * window.total_seconds())), "s"), f * w_weeks, f)
               for i, f in enumerate(sorted(set(s.scan) | set(s.inflow_scan)))]
    exposure_from = base_from if d.data_start is None else max(base_from, d.data_start)
    base_weeks = float((base_to - exposure_from) / WEEK) if d.data_start is not None else 0.0
    rows: list[dict[str, Any]] = []
    young = base_weeks < s.min_baseline_weeks
    for dims in groupings:
        ok = np.ones(len(d.created), dtype=bool)
        for c in dims:
            ok &= d.text[c] != ""
        seen = ok & (d.created > base_from) & (d.created <= T)
        combos = sorted({tuple(d.text[c][i] for c in dims) for i in np.flatnonzero(seen)})
        for combo in combos:
            mask = ok.copy()
            for c, v in zip(dims, combo):
                mask &= d.text[c] == v
            subj = _Subject(d, mask, windows, base_from, base_to, max(base_weeks, 1e-9), s)
            subject = dict(zip(dims, combo))
            for metric in METRICS:
                if metric == "inflow_share" and len(combos) < 2:
                    continue
                if young:
                    j, p, ps, test = -1, math.nan, [], None
                else:
                    j, p, ps, test = subj.run(metric)
                rows.append(_row(subject, metric, j, p, ps, test, subj, windows, s))
    _control(rows, s)
    for r in rows:
        ev = r["evidence"]
        if r["significant"]:
            at = _since(r, d, windows, base_from)
            ev["since_at"] = at
            r["since"] = _local_date(at, tz)
        r["message"] = message(r, lang)
    rows.sort(key=_order)
    from dealpulse.alerts.explain import _plain

    return [_plain({k: r[k] for k in ROW_KEYS}) for r in rows]


def _order(r: dict[str, Any]) -> tuple:
    q = r["q"]
    return (not r["significant"], q is None, q if q is not None else 1.0, METRICS.index(r["metric"]),
            sorted(r["subject"].items()))


def _row(subject: dict[str, str], metric: str, j: int, p: float, ps: list[float], test: _Test | None,
         subj: _Subject, windows: list[_Window], s: Settings) -> dict[str, Any]:
    ev: dict[str, Any] = {"tested": test is not None, "value_unit": VALUE_UNIT[metric],
                          "baseline_from": _iso(subj.base_from), "baseline_to": _iso(subj.base_to),
                          "recent_to": _iso(subj.d.T), "min_effect": s.min_effect(metric)}
    if test is None:
        ev["reason"] = "not_enough_data"
        return {"subject": subject, "metric": metric, "before": None, "after": None, "change": None,
                "unit": CHANGE_UNIT[metric], "direction": None, "good": None, "since": None, "q": None,
                "significant": False, "message": "", "evidence": ev, "_p": math.nan, "_effect": math.nan, "_window": -1}
    w = windows[j]
    effect = test.effect
    direction = None if math.isnan(effect) or effect == 0 else ("up" if effect > 0 else "down")
    if metric == "cycle":
        change = (math.exp(effect) - 1.0) if math.isfinite(effect) else None
    elif CHANGE_UNIT[metric] == "points":
        change = effect
    else:
        change = (test.after / test.before - 1.0) if test.before and test.after is not None else None
    good = None if direction is None else ((direction == "up") == GOOD_WHEN_UP[metric])
    ev.update({"recent_from": _iso(w.recent_from), "window_days": round(w.weeks * 7), "p_value": p,
               "p_window": test.p, "windows_tried": int(sum(1 for x in ps if math.isfinite(x))),
               "windows_days": [round(x.weeks * 7) for x in windows
                                if any(abs(x.fraction - f) < 1e-9 for f in (s.inflow_scan if metric in ("inflow_count", "inflow_amount") else s.scan))],
               "recent_n": test.recent_n,
               "baseline_n": test.baseline_n, "effect": effect, **test.extra})
    return {"subject": subject, "metric": metric, "before": test.before, "after": test.after, "change": change,
            "unit": CHANGE_UNIT[metric], "direction": direction, "good": good, "since": None, "q": None,
            "significant": False, "message": "", "evidence": ev, "_p": p, "_effect": effect, "_window": j}


def _control(rows: list[dict[str, Any]], s: Settings) -> None:
    """Weighted BH over every tested row (each metric the same share of the budget), then the minimum effect."""
    tested = [r for r in rows if math.isfinite(r["_p"])]
    if not tested:
        return
    per: dict[str, int] = {}
    for r in tested:
        per[r["metric"]] = per.get(r["metric"], 0) + 1
    m, F = len(tested), len(per)
    weights = [m / (F * per[r["metric"]]) for r in tested]
    q = weighted_bh([r["_p"] for r in tested], weights)
    for r, qv, wt in zip(tested, q, weights):
        r["q"] = float(qv)
        big = abs(r["_effect"]) >= s.min_effect(r["metric"]) - 1e-12
        r["evidence"]["change_big_enough"] = bool(big)
        if r["metric"] in ("inflow_count", "inflow_amount"):
            # a change of the subject's own, not the tide of the whole department (seasons, growth):
            # beyond the department's change in the same direction by at least the share's minimum
            beyond = r["evidence"].get("beyond_department", r["_effect"])
            own = abs(beyond) >= math.log(s.min_share_ratio) - 1e-12 and beyond * r["_effect"] > 0
            r["evidence"]["beyond_department_enough"] = bool(own)
            big = big and own
        r["significant"] = bool(qv <= s.fdr and big and r["direction"] is not None)
        r["evidence"].update(q_value=float(qv), weight=wt, tested_rows=m, big_enough=bool(big), fdr=s.fdr)


def _since(r: dict[str, Any], d: _Deals, windows: list[_Window], base_from: np.datetime64) -> datetime | None:
    """The change date of a significant row (see `changepoint`), from the baseline's start to T."""
    subject, metric, up = r["subject"], r["metric"], r["direction"] == "up"
    mask = np.ones(len(d.created), dtype=bool)
    for k, v in subject.items():
        mask &= d.text[k] == v
    span = _between(d.created, base_from, d.T)
    m = mask & span
    if metric == "inflow_count":
        return cp.rate_change(d.created[m], base_from, d.T, up)
    if metric == "inflow_amount":
        k = m & np.isfinite(d.amount)
        return cp.rate_change(d.created[k], base_from, d.T, up, weights=d.amount[k])
    if metric == "inflow_share":
        return cp.binary_change(d.created[span], mask[span], up)
    if metric in ("early_conversion", "win_rate"):
        days = r["evidence"]["within_days"]
        lim = np.timedelta64(int(days * DAY_S), "s")
        event = d.passed_at if metric == "early_conversion" else d.won_at
        k = m & (d.created <= d.T - lim)
        hit = ~np.isnat(event) & (event <= d.created + lim)
        return cp.binary_change(d.created[k], hit[k], up)
    if metric == "deal_size":
        k = m & np.isfinite(d.amount)
        if not k.any():
            return None
        return cp.binary_change(d.created[k], d.amount[k] > np.median(d.amount[k]), up)
    if metric == "cycle":
        stop = np.where(~np.isnat(d.won_at), d.won_at, np.where(~np.isnat(d.lost_at), d.lost_at, d.T))
        dur = np.maximum((stop - d.created) / np.timedelta64(1, "s") / DAY_S, 0.0)
        return cp.survival_change(d.created[m], dur[m], ~np.isnat(d.won_at[m]), later=up)
    return None


# -- words -------------------------------------------------------------------------------------------
def _fmt_num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.1f}M" if a < 1e8 else f"{x / 1e6:.0f}M"
    if a >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:.1f}" if a < 100 else f"{x:.0f}"


def value_text(metric: str, x: float | None, lang: str) -> str:
    """`before` / `after` of a metric as people read it."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    from dealpulse.report import fmt

    if VALUE_UNIT[metric] == "share":
        return fmt.pct(x, lang, 0 if x >= 0.1 or x == 0 else 1)
    if VALUE_UNIT[metric] == "days":
        return t("dynamics.days", lang, days=fmt.number(x, lang, 0))
    if abs(x) >= 1e4:  # amounts: 8,7 млн / 8.7M, 755 тыс. / 755K
        return fmt.money(x, lang)
    return fmt.number(x, lang, 1 if abs(x) < 100 else 0)


def fmt_times(x: float, lang: str) -> str:
    from dealpulse.report import fmt

    return fmt.number(x, lang, 1)


def change_text(row: dict[str, Any], lang: str) -> str:
    c = row["change"]
    if c is None or not math.isfinite(c):
        if row["metric"] == "cycle" and row["evidence"].get("hazard_ratio") == 0:
            return t("dynamics.change.no_wins", lang)
        return t("dynamics.change.new", lang) if row["before"] in (0, 0.0) else "—"
    if row["unit"] == "points":
        from dealpulse.report import fmt

        text = ("+" if c > 0 else "") + fmt.number(100 * c, lang, 0)
        return t("dynamics.change.points", lang, points=text)
    if row["metric"] == "cycle":
        ratio = 1 + c
        return t("dynamics.change.slower" if c > 0 else "dynamics.change.faster", lang,
                 times=fmt_times(ratio if c > 0 else 1 / ratio, lang))
    from dealpulse.report import fmt

    return ("+" if c > 0 else "") + fmt.pct(c, lang)


def subject_text(subject: dict[str, Any], lang: str) -> str:
    return ", ".join(t(f"dynamics.dim.{k}", lang, value=v) for k, v in subject.items())


def message(row: dict[str, Any], lang: str) -> str:
    """One sentence (ru/en) for a row: what changed, how much, how sure, since when."""
    subject = subject_text(row["subject"], lang)
    name = t(f"dynamics.metric.{row['metric']}", lang)
    ev = row["evidence"]
    if not ev.get("tested"):
        return t("dynamics.msg.not_enough_data", lang, subject=subject, metric=name)
    weeks = round(ev["window_days"] / 7)
    base = t(f"dynamics.msg.{row['metric']}", lang, subject=subject, before=value_text(row["metric"], row["before"], lang),
             after=value_text(row["metric"], row["after"], lang), change=change_text(row, lang), weeks=weeks,
             days=ev.get("within_days", ""))
    q = row["q"]
    from babel.numbers import format_decimal

    from dealpulse.report import fmt

    qtext = ("<" + format_decimal(0.001, locale=lang) if q is not None and q < 0.001
             else format_decimal(float(f"{q:.2g}"), format="0.####", locale=lang) if q is not None else "—")
    if row["significant"]:
        verdict = t("dynamics.verdict.good" if row["good"] else "dynamics.verdict.bad", lang, q=qtext)
        since = row.get("since")
        when = t("dynamics.since", lang, since=since.isoformat() if isinstance(since, date) else str(since)) if since else ""
        return " ".join(x for x in (base, verdict, when) if x)
    if q is not None and q <= ev.get("fdr", 0.05) and not ev.get("big_enough", True):
        if ev.get("change_big_enough") and ev.get("beyond_department_enough") is False and ev.get("department_change") is not None:
            dep = ("+" if ev["department_change"] > 0 else "") + fmt.pct(ev["department_change"], lang)
            return f"{base} {t('dynamics.verdict.tide', lang, q=qtext, department=dep)}"
        return f"{base} {t('dynamics.verdict.small', lang, q=qtext)}"
    return f"{base} {t('dynamics.verdict.chance', lang, q=qtext)}"


# -- from a snapshot -----------------------------------------------------------------------------------
def extract_facts(snap: Any) -> Facts:
    """The facts `dynamics` needs (deal attributes and stage spells; no step instances) at `snap.as_of`."""
    from dealpulse.alerts.facts import INSTANCE_COLUMNS, SPELL_COLUMNS, _times
    from dealpulse.metrics.funnel import stage_order, stage_spells

    deals = deal_attributes(snap)
    order, _ = stage_order(snap)
    sp = stage_spells(snap, order)
    spells = _times(sp.select(*SPELL_COLUMNS).execute(), ("entered_at", "exit_at"))
    empty = pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c.endswith("_at") else object) for c in INSTANCE_COLUMNS})
    return build_facts(snap.as_of, snap.playbook, tuple(order), deals, empty, spells)


def compute_dynamics(snap: Any, by: Any = DEFAULT_BY, window: timedelta = WINDOW, settings: Settings | None = None,
                     *, lang: str = "en") -> list[dict[str, Any]]:
    """`dynamics_from_facts` on the facts known at `snap.as_of`; `since` in the store's zone."""
    from dealpulse.metrics.asof import store_tz

    return dynamics_from_facts(extract_facts(snap), by=by, window=window, settings=settings, lang=lang,
                               tz=store_tz(snap.store))


__all__ = ["METRICS", "DEFAULT_BY", "WINDOW", "Settings", "dynamics_from_facts", "compute_dynamics", "normalize_by",
           "extract_facts", "message", "value_text", "change_text", "subject_text", "ROW_KEYS"]
