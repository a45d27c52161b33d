"""Norms learned from history: how long steps and stages take in won deals versus lost ones, the
deadline that suggests, and where won and lost deals differ most.

Definitions:

- Only deals closed by as_of count (won or lost as of then); open deals have no outcome yet.
- Step duration: anchor -> completion of a step instance (`metrics.steps.step_instances`: the anchor
  is deal creation, the first entry into the step's stage or another step's completion; completion
  is the first done task of the step's type). Instances never completed are left out (their `n`
  is smaller than the number of deals); a task done before its anchor counts as 0 days.
- Stage dwell: entering the stage -> leaving it (`metrics.funnel` spells: a later stage or the close;
  back-moves stay at the furthest stage). In a closed deal every spell has ended.
- Per row: n, median, 75th percentile (linear interpolation), and a percentile-bootstrap interval
  for the median (`n_resamples` resamples, seeded from `random_state` and the row, so each row is
  reproducible on its own; see `bootstrap_median_interval`), for won and lost deals; rows per
  segment and for all.
- Suggested deadline (steps only): the 75th percentile of won deals — the time within which three
  of four won deals did it — rounded up to whole days (to whole hours under two days); only
  where at least `min_deals` won deals completed the step.
- Difference: Cliff's delta = P(won > lost) - P(won < lost) of the durations (negative: won deals are
  faster), the won-minus-lost median difference, the two-sided Mann–Whitney p-value and the
  Benjamini–Hochberg q-value over every comparison made; needs `MIN_COMPARE` durations on each side;
  ranked by |delta| among steps and, separately, among stages. An association, not a cause: won deals went further and faster for many reasons.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.funnel import Notice, fetch_spells, stage_order
from dealpulse.playbook.durations import format_duration
from dealpulse.playbook.model import TERMINAL_STAGES

MIN_DEALS = 20
MIN_COMPARE = 5
DAY = 86400.0
ALL = None  # the segment key of the rows over every segment

METHOD = {
    "population": "deals closed (won or lost) by as_of",
    "step_duration": "anchor -> first done task of the step's type (metrics.steps); never-completed instances left out",
    "stage_dwell": "stage entry -> next stage or close (metrics.funnel spells)",
    "quantiles": "median and p75 with linear interpolation",
    "interval": "percentile bootstrap of the median",
    "suggested": "p75 of won deals rounded up to whole days (whole hours under two days), when n_won >= min_deals",
    "difference": "Cliff's delta (won vs lost), Mann-Whitney two-sided p, Benjamini-Hochberg q; ranked by |delta| within steps and within stages",
}


@dataclass
class NormsResult:
    as_of: datetime
    min_deals: int
    confidence: float
    random_state: int
    n_won: int
    n_lost: int
    rows: list[dict[str, Any]]
    notices: list[Notice]
    method: dict[str, str] = field(default_factory=lambda: dict(METHOD))

    def differences(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Rows with a won-vs-lost comparison, most different first (steps, then stages)."""
        rows = [r for r in self.rows if r["rank"] is not None and (kind is None or r["kind"] == kind)]
        return sorted(rows, key=lambda r: (r["kind"] != "step", r["rank"]))

    def suggestion(self, step: str, segment: str | None = ALL) -> dict[str, Any] | None:
        for r in self.rows:
            if r["kind"] == "step" and r["name"] == step and r["segment"] == segment:
                return r
        return None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def document(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "min_deals": self.min_deals, "confidence": self.confidence,
                "random_state": self.random_state, "n_won": self.n_won, "n_lost": self.n_lost,
                "method": dict(self.method)}


# -- statistics -----------------------------------------------------------------------------------
def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def describe(values: np.ndarray, *, confidence: float, n_resamples: int, seed: Any) -> dict[str, Any]:
    """n, median, p75 and a bootstrap interval for the median of durations in days (unrounded)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        return dict(n=0, median=None, p75=None, ci_low=None, ci_high=None)
    lo = hi = None
    if n >= 3:
        lo, hi = bootstrap_median_interval(x, confidence=confidence, n_resamples=n_resamples,
                                           rng=np.random.default_rng(seed))
    return dict(n=n, median=float(np.median(x)), p75=float(np.quantile(x, 0.75)), ci_low=lo, ci_high=hi)


def bootstrap_median_interval(x: np.ndarray, *, confidence: float, n_resamples: int,
                              rng: np.random.Generator) -> tuple[float, float]:
    """Percentile-bootstrap interval for the median, as `scipy.stats.bootstrap(..., method="percentile")`
    gives it, without drawing whole resamples.

    A resample's median is its k-th order statistic (the mean of the k-th and (k+1)-th for even n).
    Drawing n indices uniformly is flooring n iid U(0,1) times n, and flooring keeps order, so the
    k-th smallest index is floor(n * U_(k)) with U_(k) ~ Beta(k, n-k+1); given U_(k) = u, the next
    one is u + (1-u) * Beta(1, n-k). So each resample costs O(1) instead of O(n): the report learns
    norms for every step, stage and segment. `test_norms.py` checks it against scipy."""
    xs = np.sort(np.asarray(x, dtype=float))
    n = xs.size
    if n == 1 or xs[0] == xs[-1]:
        return float(xs[0]), float(xs[-1])
    k = (n + 1) // 2 if n % 2 else n // 2
    u1 = rng.beta(k, n - k + 1, size=n_resamples)
    i1 = np.minimum((u1 * n).astype(np.int64), n - 1)
    if n % 2:
        medians = xs[i1]
    else:
        u2 = u1 + (1.0 - u1) * rng.beta(1, n - k, size=n_resamples)
        i2 = np.minimum((u2 * n).astype(np.int64), n - 1)
        medians = (xs[i1] + xs[i2]) / 2.0
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def cliffs_delta(won: np.ndarray, lost: np.ndarray) -> float:
    """P(won > lost) - P(won < lost) over every pair."""
    w, l = np.asarray(won, dtype=float), np.asarray(lost, dtype=float)
    ls = np.sort(l)
    greater = np.searchsorted(ls, w, side="left").sum()  # lost values below each won value
    less = (l.size - np.searchsorted(ls, w, side="right")).sum()  # lost values above
    return float(greater - less) / (w.size * l.size)


def suggest_within(p75_days: float | None) -> timedelta | None:
    """The deadline suggested by a p75: rounded up to whole days, or to whole hours under two days
    (1.2 days is 29h, not 2d; at least 1h)."""
    if p75_days is None:
        return None
    if p75_days < 2.0:
        return timedelta(hours=max(1, math.ceil(round(p75_days * 24, 6))))
    return timedelta(days=math.ceil(round(p75_days, 6)))


def _seed(random_state: int, *key: Any) -> list[int]:
    return [int(random_state), zlib.crc32("|".join(str(k) for k in key).encode())]


# -- data -----------------------------------------------------------------------------------------
def step_durations(snap: Snapshot) -> pd.DataFrame:
    """deal_id, step, segment, outcome, days: completed step instances of deals closed by as_of."""
    from dealpulse.metrics.steps import step_instances

    cols = ["deal_id", "step", "segment", "outcome", "days"]
    if not snap.playbook.steps:
        return pd.DataFrame(columns=cols)
    si = step_instances(snap)
    si = si.filter(si.completed_at.notnull())
    d = snap.deals
    d = d.filter(d.status.isin(list(TERMINAL_STAGES))).select(d_id=d.deal_id, outcome=d.status)
    j = si.inner_join(d, si.deal_id == d.d_id)
    df = j.select("deal_id", "step", "segment", "outcome", "anchor_at", "completed_at").execute()
    if df.empty:
        return pd.DataFrame(columns=cols)
    days = (pd.to_datetime(df["completed_at"]) - pd.to_datetime(df["anchor_at"])).dt.total_seconds() / DAY
    df["days"] = days.clip(lower=0.0)
    return df[cols]


def stage_durations(snap: Snapshot, order: tuple[str, ...] | None = None) -> pd.DataFrame:
    """deal_id, stage, segment, outcome, days: stage dwell in deals closed by as_of."""
    order = order if order is not None else stage_order(snap)[0]
    sp = fetch_spells(snap, order)
    sp = sp[sp["status"].isin(TERMINAL_STAGES) & sp["left"]]
    return pd.DataFrame({"deal_id": sp["deal_id"], "stage": sp["stage"], "segment": sp["segment"],
                         "outcome": sp["status"], "days": sp["dwell_days"]}).reset_index(drop=True)


# -- learning -------------------------------------------------------------------------------------
def learn_norms(snap: Snapshot, *, min_deals: int = MIN_DEALS, confidence: float = 0.9,
                n_resamples: int = 2000, random_state: int = 0) -> NormsResult:
    """Step and stage durations in won vs lost deals closed by `snap.as_of`, suggested step deadlines
    and the ranked won-vs-lost differences (see the module docstring)."""
    pb = snap.playbook
    d = snap.deals
    counts = d.filter(d.status.isin(list(TERMINAL_STAGES))).group_by("status").aggregate(n=d.deal_id.count()).execute()
    by_status = {str(r.status): int(r.n) for r in counts.itertuples()}
    n_won, n_lost = by_status.get("won", 0), by_status.get("lost", 0)
    notices: list[Notice] = []
    if n_won + n_lost == 0:
        notices.append(Notice("no_closed"))
    elif n_won < min_deals:
        notices.append(Notice("few_won", {"won": n_won, "min": min_deals}))

    steps = step_durations(snap)
    order, _ = stage_order(snap)
    stages = stage_durations(snap, order)
    segments = sorted(set(steps["segment"].dropna()) | set(stages["segment"].dropna()), key=str)

    items: list[tuple[str, str, pd.DataFrame]] = []
    for step in pb.steps:
        items.append(("step", step.name, steps[steps["step"] == step.name]))
    for stage in order:
        part = stages[stages["stage"] == stage]
        if stage in pb.stages or len(part):
            items.append(("stage", stage, part))

    rows: list[dict[str, Any]] = []
    for kind, name, part in items:
        for seg in [ALL, *segments]:
            sub = part if seg is ALL else part[part["segment"] == seg]
            won = sub.loc[sub["outcome"] == "won", "days"].to_numpy(dtype=float)
            lost = sub.loc[sub["outcome"] == "lost", "days"].to_numpy(dtype=float)
            if seg is not ALL and won.size + lost.size == 0:
                continue
            rows.append(_row(snap, kind, name, seg, won, lost, min_deals=min_deals, confidence=confidence,
                             n_resamples=n_resamples, random_state=random_state))
    _rank(rows)
    if any(r["kind"] == "step" and r["segment"] is ALL and r["suggested_days"] is None and r["won_n"] for r in rows):
        notices.append(Notice("kept_steps", {"min": min_deals,
                                             "steps": ", ".join(r["name"] for r in rows if r["kind"] == "step"
                                                                and r["segment"] is ALL and r["suggested_days"] is None)}))
    return NormsResult(as_of=snap.as_of, min_deals=min_deals, confidence=confidence, random_state=random_state,
                       n_won=n_won, n_lost=n_lost, rows=rows, notices=notices)


def _row(snap: Snapshot, kind: str, name: str, seg: str | None, won: np.ndarray, lost: np.ndarray, *,
         min_deals: int, confidence: float, n_resamples: int, random_state: int) -> dict[str, Any]:
    w = describe(won, confidence=confidence, n_resamples=n_resamples, seed=_seed(random_state, kind, name, seg, "won"))
    l = describe(lost, confidence=confidence, n_resamples=n_resamples, seed=_seed(random_state, kind, name, seg, "lost"))
    row: dict[str, Any] = {"kind": kind, "name": name, "step": name if kind == "step" else None, "segment": seg}
    if kind == "step":
        step = snap.playbook.step(name)
        row.update(stage=step.stage, anchor=step.anchor, current_days=_r(step.within_for(seg).total_seconds() / DAY, 4))
    else:
        row.update(stage=name, anchor=None, current_days=None)
    row.update({f"won_{k}": v if k == "n" else _r(v, 4) for k, v in w.items()})
    row.update({f"lost_{k}": v if k == "n" else _r(v, 4) for k, v in l.items()})
    suggested = suggest_within(w["p75"]) if kind == "step" and w["n"] >= min_deals else None
    row["suggested_days"] = _r(suggested.total_seconds() / DAY, 4) if suggested else None
    row["suggested"] = format_duration(suggested) if suggested else None
    row.update(median_diff_days=None, cliffs_delta=None, p_value=None, q_value=None, rank=None)
    if won.size >= MIN_COMPARE and lost.size >= MIN_COMPARE:
        from scipy.stats import mannwhitneyu

        row["median_diff_days"] = _r(float(np.median(won) - np.median(lost)), 4)
        row["cliffs_delta"] = _r(cliffs_delta(won, lost), 4)
        if np.all(won == won[0]) and np.all(lost == won[0]):
            row["p_value"] = 1.0
        else:
            row["p_value"] = float(mannwhitneyu(won, lost, alternative="two-sided").pvalue)
    return row


def _rank(rows: list[dict[str, Any]]) -> None:
    """q-values over every comparison; ranks by |Cliff's delta| within each kind (steps, stages):
    lost deals linger in the stage they are lost from, so stage dwell differences would crowd out
    the step ones, which are what a manager can act on."""
    compared = [r for r in rows if r["p_value"] is not None]
    if not compared:
        return
    from scipy.stats import false_discovery_control

    q = false_discovery_control(np.array([r["p_value"] for r in compared]), method="bh")
    for r, qv in zip(compared, q):
        r["q_value"] = float(qv)
    for kind in ("step", "stage"):
        ordered = sorted((r for r in compared if r["kind"] == kind),
                         key=lambda r: (-abs(r["cliffs_delta"]), r["p_value"], r["name"], str(r["segment"])))
        for i, r in enumerate(ordered, 1):
            r["rank"] = i


# -- a playbook with the learned deadlines --------------------------------------------------------
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _key(name: str) -> str:
    return name if _PLAIN.match(name) else json.dumps(name, ensure_ascii=False)


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6).strip()


def playbook_with_norms(result: NormsResult, text: str, *, source: str = "<playbook>", lang: str = "en", tz: Any = None) -> str:
    """The playbook `text` with each step's `within` and `by_segment` replaced by the learned
    deadlines where enough won deals back them, with comments saying what was learned, as of
    when, from how many deals. The result passes `parse_playbook` (checked before it is returned)."""
    from dealpulse.i18n import t
    from dealpulse.playbook.load import parse_playbook

    pb = parse_playbook(text, source)
    data = yaml.safe_load(text) or {}
    seg_names = set(pb.segment_names)
    from dealpulse.labels import playbook_source_text
    from dealpulse.timefmt import show_moment

    as_of = show_moment(result.as_of, tz, lang)
    out = [
        "# " + t("norms.yaml.header", lang, as_of=as_of, won=result.n_won, lost=result.n_lost,
                 source=playbook_source_text(source, lang)),
        "# " + t("norms.yaml.rule", lang, min=result.min_deals),
    ]
    steps_raw = data.get("steps") or {}
    for key, value in data.items():
        if key != "steps":
            nested = isinstance(value, (dict, list))  # scalars alone would come out as `{key: value}`
            out.append(yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True,
                                      default_flow_style=None if nested else False, width=10**6).rstrip())
            continue
        out.append("steps:")
        for name, spec in steps_raw.items():
            spec = dict(spec or {})
            notes = []
            overall = result.suggestion(str(name), ALL)
            won_n = overall["won_n"] if overall else 0
            if overall and overall["suggested"]:
                was = spec.get("within")
                spec["within"] = overall["suggested"]
                notes.append(t("norms.yaml.learned", lang, n=won_n, within=overall["suggested"], was=was))
            else:
                notes.append(t("norms.yaml.kept", lang, n=won_n, min=result.min_deals))
            by_seg = dict(spec.get("by_segment") or {})
            for r in result.rows:
                if r["kind"] != "step" or r["name"] != name or r["segment"] is ALL:
                    continue
                seg = r["segment"]
                if not r["suggested"]:
                    if r["won_n"]:
                        notes.append(t("norms.yaml.seg_kept", lang, segment=seg, n=r["won_n"]))
                    continue
                if seg_names and seg not in seg_names:
                    notes.append(t("norms.yaml.seg_unknown", lang, segment=seg))
                    continue
                if r["suggested"] == spec.get("within"):
                    by_seg.pop(seg, None)
                else:
                    by_seg[seg] = r["suggested"]
                notes.append(t("norms.yaml.seg_learned", lang, segment=seg, within=r["suggested"], n=r["won_n"]))
            if by_seg:
                spec["by_segment"] = by_seg
            else:
                spec.pop("by_segment", None)
            out.append(f"  # {name}: " + "; ".join(notes))
            out.append(f"  {_key(str(name))}: {_flow(spec)}")
    text_out = "\n".join(out) + "\n"
    parse_playbook(text_out, source)
    return text_out


__all__ = ["NormsResult", "learn_norms", "playbook_with_norms", "describe", "bootstrap_median_interval", "cliffs_delta", "suggest_within", "step_durations",
           "stage_durations", "MIN_DEALS", "MIN_COMPARE", "METHOD"]
