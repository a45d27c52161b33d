"""Outcome prediction on BPIC2012 with the standard protocol (../shared/design/benchmarks.md), scored
by dealpulse's own deal-risk pipeline.

    python benchmarks/outcome_bpic2012.py                      # all three tasks, prefixes 1..40
    python benchmarks/outcome_bpic2012.py --json out.json      # default: benchmarks/results/outcome_bpic2012.json
    python benchmarks/outcome_bpic2012.py --tasks cancelled --max-prefix 20

Protocol (Teinemaa, Dumas, La Rosa, Maggi, ACM TKDD 2019; irhete/predictive-monitoring-benchmark):
- Event stream: every event of the log, all lifecycle transitions (SCHEDULE/START/COMPLETE), in
  time order within the case (the file's order breaks ties; it is already time-sorted). That is the
  benchmark's `bpic2012` (its activities are `name-lifecycle`, e.g. `O_CANCELLED-COMPLETE`): the
  4,685 labelled cases have 15..175 events (median 35) and 36 event classes, as the paper's table.
- Label: the last `O_*` COMPLETE event of the case, among O_ACCEPTED / O_DECLINED / O_CANCELLED
  (other cases dropped; 4,685 remain); three one-vs-rest tasks. Labels come from the protocol, not
  from the store's won/lost.
- Split: cases ordered by their first event, first 80% train, last 20% test; training prefixes
  whose moment is at or after the first test event are dropped (strict temporal split). The
  training History and the norms (`build_reference`) are loaded as of just before that moment, so
  nothing after it reaches the model.
- Prefix k = the first k events of the case; its moment t = the k-th event's timestamp. Every test
  prefix 1..40 is scored. Reported: ROC AUC pooled over prefixes, per prefix length, and over the
  prefixes that do not yet contain an O_ACCEPTED/O_DECLINED/O_CANCELLED (COMPLETE) event.

dealpulse's pipeline: the XES is imported with `examples/bpic2012/mapping.yaml` and playbook into a
temporary DuckDB store, a `History` is loaded from a snapshot, `features(history, pairs, reference)`
computes the product's features at each (case, t), `fit_win_model` fits LightGBM with calibration
(groups = case, so a case's prefixes never sit on both sides of a calibration fold). The baseline is
`StageRates` (win rate by stage at t and segment among the training prefixes).

One deliberate departure from a plain `features()` call: the store records each application's
owner history (`unassigned` until the first employee touches it), but `features()` reads the deal's
owner *as of the history's as_of*, so an early prefix would see who eventually took the case — and
3,432 applications are never touched (all lost). Here the owner is the one recorded at t
(`features_owner_asof`), as a live score at t would see it. See benchmarks/README.md.

Two feature sets per task: `product` (what `features()` gives) and `product+generic` (plus generic
event-log aggregates of the prefix: count of each activity-lifecycle class, the last event's class,
events so far, time since the previous event, hour/weekday of the creation and of the last event).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
BPIC = ROOT.parent / "shared" / "data" / "bpic2012" / "BPI_Challenge_2012.xes.gz"
EXAMPLE = ROOT / "examples" / "bpic2012"
RESULTS = ROOT / "benchmarks" / "results" / "outcome_bpic2012.json"

OUTCOMES = {"accepted": "O_ACCEPTED", "declined": "O_DECLINED", "cancelled": "O_CANCELLED"}
TRAIN_SHARE = 0.8
MAX_PREFIX = 40
SHOWN_PREFIXES = (1, 5, 10, 15, 20, 30, 40)
# the reference table of ../shared/design/benchmarks.md (single bucket, aggregation encoding, XGBoost)
REFERENCE = {
    "accepted": {"pooled": 0.693, "before_outcome": 0.648, "prefix": {1: 0.56, 5: 0.57, 10: 0.56, 20: 0.72}},
    "declined": {"pooled": 0.589, "before_outcome": 0.515, "prefix": {1: 0.58, 5: 0.54, 10: 0.51, 20: 0.56}},
    "cancelled": {"pooled": 0.708, "before_outcome": 0.670, "prefix": {1: 0.53, 5: 0.52, 10: 0.50, 20: 0.77}},
}
RECORD_SUFFIX = "\x1frecord"
GENERIC_CATEGORICAL = ("x_last", "x_resource_last")


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# -- the protocol's event stream, labels and split ------------------------------------------------

def read_events(path: Path = BPIC) -> pl.DataFrame:
    """case_id, k (1-based position in the case), activity (`name-lifecycle`), ts (naive UTC), amount."""
    from dealpulse.ingest.xes import read_xes

    log = read_xes(path, ["concept:name", "lifecycle:transition", "time:timestamp", "org:resource"])
    cases = pl.DataFrame({"_trace": pl.Series(range(len(log.traces)), dtype=pl.Int64),
                          "case_id": [t.get("concept:name") for t in log.traces],
                          "amount": [t.get("AMOUNT_REQ") for t in log.traces]})
    ev = log.events.with_columns(pl.col("_trace").cast(pl.Int64)).join(cases, on="_trace", how="left")
    ev = ev.with_columns(
        ts=pl.col("time:timestamp").str.to_datetime(time_zone="UTC").dt.replace_time_zone(None).cast(pl.Datetime("us")),
        activity=pl.col("concept:name") + "-" + pl.col("lifecycle:transition").fill_null(""),
        name=pl.col("concept:name"), lifecycle=pl.col("lifecycle:transition"), resource=pl.col("org:resource"),
        amount=pl.col("amount").cast(pl.Float64, strict=False))
    ev = ev.sort("case_id", "ts", "_line", maintain_order=True)
    ev = ev.with_columns(k=pl.int_range(1, pl.len() + 1).over("case_id"))
    return ev.select("case_id", "k", "name", "lifecycle", "activity", "ts", "amount", "resource")


def protocol(ev: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, datetime]:
    """(events of the labelled cases, cases: case_id, outcome, start, train, split moment)."""
    o = ev.filter(pl.col("name").str.starts_with("O_") & (pl.col("lifecycle") == "COMPLETE"))
    last = o.group_by("case_id").agg(outcome=pl.col("name").sort_by("k").last())
    last = last.filter(pl.col("outcome").is_in(list(OUTCOMES.values())))
    ev = ev.join(last.select("case_id"), on="case_id", how="semi")
    cases = ev.group_by("case_id").agg(start=pl.col("ts").min(), length=pl.len()).join(last, on="case_id")
    cases = cases.sort("start", "case_id")
    n_train = int(TRAIN_SHARE * cases.height)
    cases = cases.with_columns(train=pl.int_range(0, pl.len()) < n_train)
    split_at = cases.filter(~pl.col("train"))["start"].min()
    return ev, cases, split_at


def prefixes(ev: pl.DataFrame, cases: pl.DataFrame, split_at: datetime, max_prefix: int) -> pl.DataFrame:
    """One row per scored prefix: case_id, k, t, train, outcome, before_outcome + generic prefix aggregates.

    Training prefixes: train cases, k ≤ max_prefix, t before the split. Test: test cases, k ≤ max_prefix.
    """
    ev = ev.join(cases.select("case_id", "train", "outcome", "start"), on="case_id")
    ev = ev.filter(pl.col("k") <= max_prefix)
    ev = ev.filter(~pl.col("train") | (pl.col("ts") < split_at))
    outcome_ev = pl.col("name").is_in(list(OUTCOMES.values())) & (pl.col("lifecycle") == "COMPLETE")
    classes = sorted(ev["activity"].unique().to_list())
    counts = [(pl.col("activity") == a).cast(pl.Int32).cum_sum().over("case_id").alias(f"x_n_{_slug(a)}") for a in classes]
    ev = ev.sort("case_id", "k").with_columns(
        *counts,
        before_outcome=(outcome_ev.cast(pl.Int32).cum_sum().over("case_id") == 0),
        x_last=pl.col("activity"),
        x_events=pl.col("k").cast(pl.Float64),
        x_since_prev_h=((pl.col("ts") - pl.col("ts").shift(1).over("case_id")).dt.total_seconds() / 3600).fill_null(0.0),
        x_resource_last=pl.col("resource").forward_fill().over("case_id"),
        x_hour=pl.col("ts").dt.hour().cast(pl.Float64) + pl.col("ts").dt.minute() / 60,
        x_weekday=pl.col("ts").dt.weekday().cast(pl.Float64),
        x_start_hour=pl.col("start").dt.hour().cast(pl.Float64) + pl.col("start").dt.minute() / 60,
        x_start_weekday=pl.col("start").dt.weekday().cast(pl.Float64),
    )
    ev = ev.with_columns(x_max_gap_h=pl.col("x_since_prev_h").cum_max().over("case_id"))
    return ev.rename({"ts": "t"}).drop("name", "lifecycle", "activity", "start", "amount", "resource")


def open_deals_at(h, t: pl.Series) -> np.ndarray:
    """How many deals of the store were open at each moment t (created by t, not closed by t): the
    department's load, known at t."""
    created = np.sort(h.deals["created_at"].drop_nulls().to_numpy())
    closed = np.sort(h.deals["closed_at"].drop_nulls().to_numpy())
    tt = t.cast(pl.Datetime("us")).to_numpy()
    return (np.searchsorted(created, tt, side="right") - np.searchsorted(closed, tt, side="right")).astype(float)


def _slug(a: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in a)


# -- dealpulse's pipeline ------------------------------------------------------------------------

def import_store(db: str, source: Path = BPIC):
    from dealpulse.ingest import import_path
    from dealpulse.store import connect

    store = connect(db)
    import_path(store, source, mapping_path=EXAMPLE / "mapping.yaml", playbook_path=EXAMPLE / "playbook.yaml")
    return store


def history_at(store, as_of: datetime | None):
    from dealpulse.metrics.asof import Snapshot, resolve_as_of
    from dealpulse.playbook import playbook_for_store
    from dealpulse.risk.history import load_history

    pb = playbook_for_store(store)
    snap = Snapshot(store=store, as_of=as_of if as_of is not None else resolve_as_of(store, None), playbook=pb)
    return load_history(snap)


def owner_changes(store, as_of: datetime) -> pl.DataFrame:
    """deal_id, changed_at, owner: the owner's recorded history, known at as_of."""
    fh = store.table("field_history")
    fh = fh.filter((fh.entity == "deal") & (fh.field == "owner") & (fh.changed_at <= as_of))
    df = fh.select(deal_id=fh.entity_id, changed_at=fh.changed_at.cast("timestamp"), owner=fh.value).to_polars()
    return df.with_columns(pl.col("changed_at").cast(pl.Datetime("us"))).sort("deal_id", "changed_at")


def features_owner_asof(h, pairs: pl.DataFrame, ref, changes: pl.DataFrame) -> pl.DataFrame:
    """`features(h, pairs, ref)` with each pair's owner as recorded at t (not as of h.as_of).

    `features()` takes the owner from `h.deals` (as of the history's as_of) both for the scored deal
    and for the closed deals that make up owners' records. Here, per owner version v (the v-th
    recorded owner of the deal), the scored deals get that owner and are marked open, while the
    closed deals' records stay under their final owner (as pseudo-deals that match no pair).
    """
    from dealpulse.risk.features import features

    p = pairs.select("deal_id", pl.col("t").cast(pl.Datetime("us"))).with_row_index("_row")
    ch = changes.with_columns(_v=pl.int_range(0, pl.len()).over("deal_id"))
    p = p.sort("t").join_asof(ch.sort("changed_at").select("deal_id", "changed_at", "_v"), left_on="t",
                              right_on="changed_at", by="deal_id", strategy="backward", check_sortedness=False)
    p = p.with_columns(_v=pl.col("_v").fill_null(0)).sort("_row")  # before the first record: the earliest (as Snapshot)
    record = h.closed.with_columns(deal_id=pl.col("deal_id") + RECORD_SUFFIX)
    parts = []
    for v in sorted(p["_v"].unique().to_list()):
        sub = p.filter(pl.col("_v") == v)
        owner_v = ch.filter(pl.col("_v") == v).select("deal_id", _owner_v="owner")
        scored = (h.deals.join(owner_v, on="deal_id", how="left")
                  .with_columns(owner=pl.coalesce("_owner_v", "owner"), status=pl.lit("open"),
                                closed_at=pl.lit(None, pl.Datetime("us")))
                  .drop("_owner_v"))
        h_v = _replace(h, deals=pl.concat([scored, record], how="vertical_relaxed"))
        x = features(h_v, sub.select("deal_id", "t"), ref)
        parts.append(x.with_columns(_row=sub["_row"]))
    return pl.concat(parts, how="diagonal_relaxed").sort("_row").drop("_row")


def _replace(h, **kw):
    from dataclasses import replace

    return replace(h, **kw)


# -- grading -------------------------------------------------------------------------------------

def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from dealpulse.risk.model import auc

    a = auc(y, p)
    return None if a is None else round(a, 4)


def auc_se(a: float | None, y: np.ndarray) -> float | None:
    """Hanley & McNeil (1982) standard error of an AUC (rows taken as independent: for pooled
    prefixes of the same cases it is optimistic; per prefix length each case counts once)."""
    if a is None:
        return None
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    v = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
    return round(float(np.sqrt(max(v, 0.0))), 4)


def grade(test: pl.DataFrame, y: np.ndarray, scores: dict[str, np.ndarray], max_prefix: int) -> dict:
    from dealpulse.risk.backtest import brier, calibration_error, reliability

    k = test["k"].to_numpy()
    before = test["before_outcome"].to_numpy()
    out = {}
    for name, p in scores.items():
        rel = reliability(y, p)
        out[name] = rec = {
            "pooled": _auc(y, p),
            "before_outcome": _auc(y[before], p[before]),
            "after_outcome": _auc(y[~before], p[~before]),
            "prefix": {int(j): _auc(y[k == j], p[k == j]) for j in range(1, max_prefix + 1)},
            "prefix_n": {int(j): int((k == j).sum()) for j in range(1, max_prefix + 1)},
            "brier": round(brier(y, p), 4),
            "ece": calibration_error(rel),
            "reliability": rel,
        }
        rec["prefix_se"] = {j: auc_se(a, y[k == j]) for j, a in rec["prefix"].items()}
        rec["before_outcome_se"] = auc_se(rec["before_outcome"], y[before])
    return out


# -- the benchmark -------------------------------------------------------------------------------

def run(tasks=tuple(OUTCOMES), max_prefix: int = MAX_PREFIX, extra: bool = True, db: str | None = None,
        seed: int = 0, owner_final: bool = False, log=print) -> dict:
    from dealpulse.risk.features import CATEGORICAL, build_reference, feature_columns
    from dealpulse.risk.model import StageRates, fit_win_model

    phases: dict[str, float] = {}
    t0 = time.perf_counter()

    def mark(name: str) -> None:
        phases[name] = round(time.perf_counter() - t0 - sum(phases.values()), 2)

    ev = read_events()
    ev, cases, split_at = protocol(ev)
    px = prefixes(ev, cases, split_at, max_prefix)
    mark("events_and_prefixes")

    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="dealpulse-bpic-")
        db = str(Path(tmp.name) / "bpic2012.duckdb")
    store = import_store(db)
    mark("import")

    train_px = px.filter(pl.col("train"))
    test_px = px.filter(~pl.col("train"))
    before_split = split_at - timedelta(microseconds=1)
    h_train = history_at(store, before_split)
    h_test = history_at(store, None)
    train_ids = cases.filter(pl.col("train"))["case_id"]
    ref = build_reference(h_train, train_ids)
    if owner_final:  # evidence only: the owner as of the history's as_of, as plain features() has it (leaks)
        from dealpulse.risk.features import features

        x_train = features(h_train, train_px.select(deal_id="case_id", t="t"), ref)
        x_test = features(h_test, test_px.select(deal_id="case_id", t="t"), ref)
    else:
        x_train = features_owner_asof(h_train, train_px.select(deal_id="case_id", t="t"), ref, owner_changes(store, before_split))
        x_test = features_owner_asof(h_test, test_px.select(deal_id="case_id", t="t"), ref, owner_changes(store, h_test.as_of))
    train_px = train_px.with_columns(x_open_deals=pl.Series(open_deals_at(h_train, train_px["t"])))
    test_px = test_px.with_columns(x_open_deals=pl.Series(open_deals_at(h_test, test_px["t"])))
    mark("features")

    product_cols = feature_columns(x_train)
    generic_cols = [c for c in train_px.columns if c.startswith("x_")]
    X_train = x_train.select(product_cols).to_pandas()
    X_test = x_test.select(product_cols).to_pandas()
    if extra:
        Xg_train = pl.concat([x_train.select(product_cols), train_px.select(generic_cols)], how="horizontal").to_pandas()
        Xg_test = pl.concat([x_test.select(product_cols), test_px.select(generic_cols)], how="horizontal").to_pandas()
    groups = train_px["case_id"].to_numpy()

    n_train_cases = int(cases["train"].sum())
    late_labels = (ev.join(cases.filter(pl.col("train")).select("case_id"), on="case_id", how="semi")
                   .filter(pl.col("name").str.starts_with("O_") & (pl.col("lifecycle") == "COMPLETE"))
                   .group_by("case_id").agg(pl.col("ts").max()).filter(pl.col("ts") >= split_at).height)
    result: dict = {
        "protocol": {
            "event_stream": "all events (SCHEDULE/START/COMPLETE), time order within a case",
            "cases": cases.height, "train_cases": n_train_cases, "test_cases": cases.height - n_train_cases,
            "split_at_utc": str(split_at), "max_prefix": max_prefix,
            "train_prefixes": train_px.height, "test_prefixes": test_px.height,
            "test_prefixes_before_outcome": int(test_px["before_outcome"].sum()),
            "train_cases_labelled_after_split": late_labels,
            "owner": "as recorded at t" if not owner_final else "as of the history's as_of (LEAKY, evidence only)",
            "outcomes": {k: int((cases["outcome"] == v).sum()) for k, v in OUTCOMES.items()},
        },
        "features": {"product": product_cols, "generic": generic_cols},
        "tasks": {},
    }
    log(f"BPIC2012: {cases.height} cases ({n_train_cases} train / {cases.height - n_train_cases} test), "
        f"split at {split_at} UTC; {train_px.height} train / {test_px.height} test prefixes "
        f"({int(test_px['before_outcome'].sum())} before any outcome event); "
        f"{len(product_cols)} product + {len(generic_cols)} generic features")
    y_all_train = train_px["outcome"].to_numpy()
    y_all_test = test_px["outcome"].to_numpy()
    for task in tasks:
        target = OUTCOMES[task]
        y_tr = (y_all_train == target).astype(int)
        y_te = (y_all_test == target).astype(int)
        baseline = StageRates().fit(X_train, y_tr)
        scores = {"baseline": baseline.predict(X_test)}
        m = fit_win_model(X_train, y_tr, groups, categorical=CATEGORICAL, seed=seed)
        scores["product"] = m.predict(X_test)
        kinds = {"product": m.kind}
        if extra:
            mg = fit_win_model(Xg_train, y_tr, groups, categorical=(*CATEGORICAL, *GENERIC_CATEGORICAL), seed=seed)
            scores["product+generic"] = mg.predict(Xg_test)
            kinds["product+generic"] = mg.kind
        g = grade(test_px, y_te, scores, max_prefix)
        g["positive_share_test"] = round(float(y_te.mean()), 4)
        g["model_kind"] = kinds
        g["reference"] = REFERENCE[task]
        result["tasks"][task] = g
        mark(f"model_{task}")
        log(table(task, g))
    result["seconds"] = phases
    result["seconds_total"] = round(time.perf_counter() - t0, 2)
    result["peak_rss_mb"] = _peak_mb()
    if tmp is not None:
        tmp.cleanup()
    return result


def _f(x: float | None, width: int = 6) -> str:
    return f"{x:>{width}.3f}" if x is not None else f"{'-':>{width}}"


def table(task: str, g: dict) -> str:
    ref = g["reference"]
    ks = [k for k in SHOWN_PREFIXES if str(k) in {str(j) for j in g["baseline"]["prefix"]}]
    head = f"{'':<17}{'pooled':>7}{'before':>7}" + "".join(f"{'k=' + str(k):>7}" for k in ks) + f"{'Brier':>7}{'ECE':>7}"
    lines = [f"\n{task} (positives in test prefixes: {g['positive_share_test']:.1%})", head]
    ref_row = f"{'reference XGBoost':<17}" + _f(ref["pooled"], 7) + _f(ref["before_outcome"], 7)
    ref_row += "".join(_f(ref["prefix"].get(k), 7) for k in ks)
    lines.append(ref_row)
    for name in ("baseline", "product", "product+generic"):
        if name not in g:
            continue
        r = g[name]
        label = "stage baseline" if name == "baseline" else name
        row = f"{label:<17}" + _f(r["pooled"], 7) + _f(r["before_outcome"], 7)
        row += "".join(_f(r["prefix"].get(k), 7) for k in ks) + _f(r["brier"], 7) + _f(r["ece"], 7)
        lines.append(row)
    best = "product+generic" if "product+generic" in g else "product"
    lines.append(f"reliability ({best}): " + "  ".join(
        f"[{b['p_from']:.1f},{b['p_to']:.1f}) n={b['n']} pred {b['predicted']:.2f} obs {b['observed']:.2f}"
        for b in g[best]["reliability"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", choices=list(OUTCOMES), default=list(OUTCOMES))
    ap.add_argument("--max-prefix", type=int, default=MAX_PREFIX)
    ap.add_argument("--no-generic", action="store_true", help="product features only")
    ap.add_argument("--owner-final", action="store_true",
                    help="evidence only: plain features() (owner as of the end of the log: leaks)")
    ap.add_argument("--json", default=str(RESULTS), help="where to write the figures ('' for nowhere)")
    args = ap.parse_args(argv)
    if not BPIC.exists():
        print(f"BPIC2012 is absent: {BPIC}", file=sys.stderr)
        return 2
    res = run(tuple(args.tasks), args.max_prefix, extra=not args.no_generic, owner_final=args.owner_final)
    print(f"\ntime {res['seconds_total']} s {res['seconds']}; peak memory {res['peak_rss_mb']} MB (max RSS)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
