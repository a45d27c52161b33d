"""Do the signals hold in departments this project has never seen? Randomised families of planted problems.

    python benchmarks/plants.py                        # 20 runs per type + 20 quiet worlds, 2 processes
    python benchmarks/plants.py --runs 5 --types slow_steps,surge --out /tmp/p.json
    python benchmarks/plants.py --runs 10 --quiet-runs 0 --types slow_steps@20 --append   # at 20-25 deals a month

Each run generates a department (`dealpulse.demo.simulation.simulate`) of a random size — 8 to 40 managers,
8 to 20 new deals per manager a month (the demo has about 10), 15 months from 2023-01-01 — with ONE problem of the given type
planted by `dealpulse.demo.plants.random_plant`: a random subject (manager, step, stage, segment,
channel), a random moderate magnitude and a random start day between 2023-11-01 and 2024-01-05 (so at
least 12 weeks follow it). Nothing of the demo's own plants: other shapes, sizes and volumes every run.
The department is written into a DuckDB store, the facts are extracted once at the end of the data and
cut back to every replay date (`Facts.at`, exact: nothing after the date), as `dealpulse backtest` does.

Weekly replays from 2 weeks before the start to 8 weeks after:
- alerts: the lifecycle machine (`alerts.lifecycle.Tracker`, the state `dealpulse alerts` shows);
  detected at the first date an alert on the planted subject is open (any kind; a manager's plant:
  subject manager = m; a stage or conversion plant: segment = s and, if the alert names a stage, that
  stage; a channel's quality: channel = c); `stays_open`: the share of dates from the detection to the
  end of the replay on which an alert on the subject is open (the plants never end);
- dynamics (`dynamics_from_facts`, by segment and by channel): a surge is detected at the first date
  with a significant rise of the channel's inflow (count, amount or share); a quality drop may also be
  detected there (a significant fall of its early conversion or win rate);
- optimism (`risk.optimism`, the win model trained as of the date): for `late_lost`, `overcommit` and
  the two together (`late_overcommit`: the "all will be fine" manager), detected when the planted
  manager ranks first as of 8 weeks after the start (one training per run: `detected_4w` is not
  measured for these types and is reported as null).
Detected within 4 / 8 weeks: at a replay date ≤ start + 28 / 56 days. `median_delay_days`: from the
start to the detection, over the detected runs.

Quiet worlds: 20 departments of 20 managers with nothing planted, replayed weekly over their last 16
weeks: every alert opened there is a false alarm (`false_alarms_per_month` = alerts opened per month of
replay, per department); also the dynamics rows flagged per date and the managers optimism calls
`overstates` at the last date. (The simulated world still has its own real changes — a growing mid
segment, new hires ramping up, seasons — so a "false" alarm here may be a true one.)

Writes `benchmarks/results/plants.json`: per type `runs`, `detected_4w`, `detected_8w` (shares),
`median_delay_days`, `stays_open`, `other_alerts_per_month`, and the runs themselves; `quiet` with
`false_alarms_per_month`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
START = date(2023, 1, 1)
MONTHS = 15
PLANT_FROM, PLANT_TO = date(2023, 11, 1), date(2024, 1, 5)
BEFORE, AFTER = 2, 8  # replay weeks around the plant's start
ALERT_TYPES = ("late_step", "slow_steps", "skip_step", "slow_stage", "drop_conversion", "junk")
OPTIMISM_TYPES = ("late_lost", "overcommit", "late_overcommit")
TYPES = ("late_step", "slow_steps", "skip_step", "late_lost", "overcommit", "late_overcommit", "slow_stage",
         "drop_conversion", "surge", "junk")
QUIET_MANAGERS = 20
VOLUME = (8.0, 20.0)  # new deals per manager a month (the demo department has about 10)
QUIET_WEEKS = 16


def _seed(kind: str, i: int) -> int:
    return zlib.crc32(f"{kind}:{i}".encode()) % (2**31)


def _plant(kind: str, rng, managers: list[str], pb):
    from dealpulse.demo.plants import LateLoss, OverCommit, random_plant

    if kind == "late_overcommit":  # one manager: marks lost deals late and calls too many deals commit
        a = random_plant("late_lost", rng, manager_ids=managers, start=PLANT_FROM, end=PLANT_TO, playbook=pb)
        b = random_plant("overcommit", rng, manager_ids=managers, start=PLANT_FROM, end=PLANT_TO, playbook=pb)
        return [a, OverCommit(manager=a.manager, since=a.since, share=b.share)]
    return [random_plant(kind, rng, manager_ids=managers, start=PLANT_FROM, end=PLANT_TO, playbook=pb)]


def _matches(kind: str, plant, subject: dict) -> bool:
    if kind in ("late_step", "slow_steps", "skip_step", "late_lost", "overcommit", "late_overcommit"):
        return subject.get("manager") == plant.manager
    if kind in ("slow_stage", "drop_conversion"):
        return subject.get("segment") == plant.segment and subject.get("stage", plant.stage) == plant.stage
    if kind in ("surge", "junk"):
        return subject.get("channel") == plant.channel
    return False


def _store(sim, folder: str):
    from dealpulse.ingest.write import write_tables
    from dealpulse.store import connect

    store = connect(os.path.join(folder, "bench.duckdb"))
    write_tables(store, dict(sim.frames), [], source="benchmarks/plants.py", tz="Europe/Moscow")
    return store


def run_one(kind: str, i: int) -> dict:
    """One department with one plant of `kind` (or none: kind 'quiet'), replayed; what was caught when.
    `kind@V` (e.g. `slow_steps@20`): the same with V to V + 5 new deals per manager a month."""
    volume = None
    if "@" in kind:
        kind, v = kind.split("@")
        volume = float(v)
    label = kind if volume is None else f"{kind}@{volume:g}"
    import numpy as np
    import polars as pl

    from dealpulse.alerts.facts import extract
    from dealpulse.alerts.lifecycle import Tracker, attributes_at
    from dealpulse.demo.simulation import simulate
    from dealpulse.dynamics.compute import dynamics_from_facts
    from dealpulse.metrics.asof import Snapshot, snapshot
    from dealpulse.playbook import playbook_for_store
    from dealpulse.playbook.load import load_playbook

    t0 = time.perf_counter()
    seed = _seed(label, i)
    rng = np.random.default_rng(seed)
    quiet = kind == "quiet"
    managers = QUIET_MANAGERS if quiet else int(rng.integers(8, 41))
    per_month = float(rng.uniform(*VOLUME)) if volume is None else float(rng.uniform(volume, volume + 5))
    deals = int(round(managers * MONTHS * per_month))
    ids = [f"m{k + 1:02d}" for k in range(managers)]
    pb0 = load_playbook(None)
    plants = [] if quiet else _plant(kind, rng, ids, pb0)
    sim = simulate(deals=deals, managers=managers, months=MONTHS, seed=seed, start=START, plant=plants or None)
    end = datetime.combine(sim.end, datetime.min.time())
    with tempfile.TemporaryDirectory() as folder:
        store = _store(sim, folder)
        try:
            pb = playbook_for_store(store, None)
            last = snapshot(store, None, pb)
            try:
                facts = extract(last)
            finally:
                last.release()
            if quiet:
                start = None
                dates = [facts.as_of - timedelta(weeks=w) for w in range(QUIET_WEEKS, -1, -1)]
            else:
                start = datetime.combine(plants[0].since, datetime.min.time())
                dates = [start + timedelta(weeks=w) for w in range(-BEFORE, AFTER + 1)]
                dates = [d for d in dates if d <= facts.as_of]
            tracker = Tracker()
            per_date = []
            for d in dates:
                f = facts if d == facts.as_of else facts.at(d, attributes_at(facts.deals, d))
                opened = tracker.step(f)
                rec = {"date": d.isoformat(), "open": [[a.kind, a.subject] for a in tracker.open],
                       "opened": [[a.kind, a.subject] for a in opened]}
                if kind in ("surge", "junk", "quiet"):
                    rows = dynamics_from_facts(f, by=(("segment",), ("channel",)))
                    rec["dynamics"] = [[r["metric"], r["subject"], r["direction"]] for r in rows if r["significant"]]
                per_date.append(rec)
            optimism = {}
            if kind in OPTIMISM_TYPES or quiet:
                checks = [8] if not quiet else [None]
                for w in checks:
                    at = facts.as_of if w is None else start + timedelta(weeks=w)
                    optimism[str(w or "end")] = _optimism_at(store, pb, min(at, facts.as_of))
        finally:
            store.close()
    return {"kind": label, "plant_kind": kind, "i": i, "seed": seed, "managers": managers, "deals": deals, "per_month": round(per_month, 2),
            "plants": [p.code for p in plants], "start": start.isoformat() if start else None,
            "optimists": [r["manager_id"] for r in sim.truth["managers"].filter(pl.col("optimistic")).iter_rows(named=True)],
            "end": end.isoformat(), "per_date": per_date, "optimism": optimism,
            "seconds": round(time.perf_counter() - t0, 1)}


def _optimism_at(store, pb, at: datetime) -> list[dict]:
    from dealpulse.metrics.asof import snapshot
    from dealpulse.risk.optimism import optimism
    from dealpulse.risk.train import train

    snap = snapshot(store, at, pb)
    try:
        rows = optimism(train(snap))
    finally:
        snap.release()
    keep = ("manager", "optimism", "optimism_low", "optimism_high", "rank", "verdict", "late_bad_news_days",
            "zombie_deals", "commit_deals")
    return [{k: r.get(k) for k in keep} for r in rows]


# -- the verdicts ----------------------------------------------------------------------------------------
def judge(run: dict) -> dict:
    """When the planted problem was first caught (days after its start), and how it stayed caught."""
    from dealpulse.demo.plants import parse_plant
    from dealpulse.playbook.load import load_playbook

    kind = run.get("plant_kind", run["kind"])
    pb = load_playbook(None)
    plant = parse_plant(run["plants"][0], pb)
    start = datetime.fromisoformat(run["start"])
    out: dict = {"delay_days": None, "stays_open": None, "other_alerts": 0, "replay_days": 0}
    dates = [datetime.fromisoformat(r["date"]) for r in run["per_date"]]
    if dates:
        out["replay_days"] = (dates[-1] - dates[0]).days
    # alerts on other subjects: opened during the replay
    out["other_alerts"] = sum(1 for r in run["per_date"] for k, s in r["opened"] if not _matches(kind, plant, s))
    out["before_start"] = sum(1 for r, d in zip(run["per_date"], dates)
                              for k, s in r["opened"] if d < start and _matches(kind, plant, s))
    hit = None
    if kind in ALERT_TYPES:
        caught = [d for r, d in zip(run["per_date"], dates) if d >= start and any(_matches(kind, plant, s) for _, s in r["open"])]
        if kind == "junk":
            caught += [d for r, d in zip(run["per_date"], dates) if d >= start and any(
                s.get("channel") == plant.channel and m in ("early_conversion", "win_rate") and di == "down"
                for m, s, di in r.get("dynamics", []))]
        hit = min(caught) if caught else None
        if hit is not None:
            after = [(r, d) for r, d in zip(run["per_date"], dates) if d >= hit]
            out["stays_open"] = sum(1 for r, _ in after if any(_matches(kind, plant, s) for _, s in r["open"])) / len(after)
    elif kind == "surge":
        caught = [d for r, d in zip(run["per_date"], dates) if d >= start and any(
            s.get("channel") == plant.channel and "segment" not in s and m.startswith("inflow") and di == "up"
            for m, s, di in r.get("dynamics", []))]
        hit = min(caught) if caught else None
    else:  # optimism: the planted manager ranked first
        first = {w: (rows[0]["manager"] if rows else None) for w, rows in run["optimism"].items()}
        out["optimism_first"] = first
        ranked = [r["manager"] for r in run["optimism"].get("8", [])]
        out["rank"] = ranked.index(plant.manager) + 1 if plant.manager in ranked else None
        # the generator gives every department habitual optimists (they call commit a stage or two early on every
        # deal, all along): ranked above them or not, the planted manager should be above everyone else
        habitual = set(run.get("optimists") or []) - {plant.manager}
        others = [m for m in ranked if m not in habitual]
        out["rank_apart_from_habitual"] = others.index(plant.manager) + 1 if plant.manager in others else None
        if first.get("8") == plant.manager:
            hit = start + timedelta(weeks=8)
    out["delay_days"] = (hit - start).days if hit is not None else None
    return out


def summarise(runs: list[dict]) -> dict:
    by_kind: dict[str, list[dict]] = {}
    for r in runs:
        by_kind.setdefault(r["kind"], []).append(r)
    types = {}
    for kind, rs in by_kind.items():
        if kind == "quiet":
            continue
        verdicts = [judge(r) for r in rs]
        delays = [v["delay_days"] for v in verdicts if v["delay_days"] is not None]
        stays = [v["stays_open"] for v in verdicts if v["stays_open"] is not None]
        months = sum(v["replay_days"] for v in verdicts) / 30.4375
        types[kind] = {
            "runs": len(rs),
            "detected_4w": None if kind.split("@")[0] in OPTIMISM_TYPES else sum(1 for d in delays if d <= 28) / len(rs),
            "detected_8w": sum(1 for d in delays if d <= 56) / len(rs),
            "median_delay_days": median(delays) if delays else None,
            "stays_open": (sum(stays) / len(stays)) if stays else None,
            **({"ranked_first": sum(1 for v in verdicts if v.get("rank") == 1) / len(rs),
                "in_top_3": sum(1 for v in verdicts if v.get("rank") and v["rank"] <= 3) / len(rs),
                "first_apart_from_habitual": sum(1 for v in verdicts if v.get("rank_apart_from_habitual") == 1) / len(rs),
                "median_rank": median([v["rank"] for v in verdicts if v.get("rank")]) if any(v.get("rank") for v in verdicts) else None}
               if kind.split("@")[0] in OPTIMISM_TYPES else {}),
            "caught_before_start": sum(v["before_start"] for v in verdicts),
            "other_alerts_per_month": (sum(v["other_alerts"] for v in verdicts) / months) if months else None,
            "managers": [r["managers"] for r in rs],
            "delays": [v["delay_days"] for v in verdicts],
        }
    quiet = by_kind.get("quiet", [])
    q = {}
    if quiet:
        opened = [sum(len(d["opened"]) for d in r["per_date"][1:]) for r in quiet]  # the first date opens what is already there
        months = [max((datetime.fromisoformat(r["per_date"][-1]["date"]) - datetime.fromisoformat(r["per_date"][0]["date"])).days, 1) / 30.4375
                  for r in quiet]
        kinds: dict[str, int] = {}
        for r in quiet:
            for d in r["per_date"][1:]:
                for k, _ in d["opened"]:
                    kinds[k] = kinds.get(k, 0) + 1
        dyn = [len(d.get("dynamics", [])) for r in quiet for d in r["per_date"]]
        over = [sum(1 for x in r["optimism"].get("end", []) if x.get("verdict") == "overstates") for r in quiet]
        q = {"runs": len(quiet), "managers": QUIET_MANAGERS, "weeks": QUIET_WEEKS,
             "false_alarms_per_month": sum(opened) / sum(months), "false_alarms_by_kind": kinds,
             "dynamics_rows_per_date": sum(dyn) / len(dyn) if dyn else None,
             "dynamics_dates_with_rows": sum(1 for x in dyn if x) / len(dyn) if dyn else None,
             "overstates_per_department": sum(over) / len(over)}
    return {"types": types, "quiet": q}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--quiet-runs", type=int, default=20)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "plants.json"))
    ap.add_argument("--summarise-only", action="store_true", help="Recompute the summary of the runs in --out, run nothing.")
    ap.add_argument("--append", action="store_true",
                    help="Keep the runs of other types already in --out (a type run again replaces its runs).")
    args = ap.parse_args(argv)
    if args.summarise_only:
        old = json.loads(Path(args.out).read_text(encoding="utf-8"))
        old.update(summarise(old["runs"]))
        Path(args.out).write_text(json.dumps(old, indent=1, default=str), encoding="utf-8")
        for k, v in old["types"].items():
            print(k, {x: v[x] for x in v if x not in ("managers", "delays")})
        return 0
    kinds = [k for k in args.types.split(",") if k]
    jobs = [(k, i) for k in kinds for i in range(args.runs)] + [("quiet", i) for i in range(args.quiet_runs)]
    t0 = time.perf_counter()
    runs = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, k, i): (k, i) for k, i in jobs}
        for n, fut in enumerate(as_completed(futures), 1):
            k, i = futures[fut]
            try:
                runs.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - a failed run is reported, not hidden
                runs.append({"kind": k, "i": i, "error": f"{type(exc).__name__}: {exc}"})
            print(f"[{n}/{len(jobs)}] {k} #{i} {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    ok = [r for r in runs if "error" not in r]
    if args.append and Path(args.out).exists():
        again = {r["kind"] for r in runs}
        ok += [r for r in json.loads(Path(args.out).read_text(encoding="utf-8")).get("runs", []) if r["kind"] not in again]
    result = {"generated": datetime.now().isoformat(timespec="seconds"), "seconds": round(time.perf_counter() - t0),
              "runs_per_type": args.runs, "errors": [r for r in runs if "error" in r], **summarise(ok), "runs": ok}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(f"{'type':<18} {'runs':>4} {'4w':>5} {'8w':>5} {'median d':>8} {'stays':>6} {'other/mo':>8}")
    for k, v in result["types"].items():
        four = "  —  " if v["detected_4w"] is None else f"{v['detected_4w']:>5.0%}"
        print(f"{k:<18} {v['runs']:>4} {four} {v['detected_8w']:>5.0%} "
              f"{(v['median_delay_days'] if v['median_delay_days'] is not None else float('nan')):>8.0f} "
              f"{(v['stays_open'] if v['stays_open'] is not None else float('nan')):>6.0%} "
              f"{(v['other_alerts_per_month'] or 0):>8.2f}")
    if result["quiet"]:
        qq = result["quiet"]
        print(f"quiet: {qq['runs']} departments of {qq['managers']} managers, false alarms per month "
              f"{qq['false_alarms_per_month']:.2f} {qq['false_alarms_by_kind']}; dynamics rows per date "
              f"{qq['dynamics_rows_per_date']}; overstates per department {qq['overstates_per_department']}")
    print(f"errors: {len(result['errors'])}; {result['seconds']} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
