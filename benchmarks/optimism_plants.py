"""Does `dealpulse optimism` find the "all will be fine" manager? Random departments with one planted.

    python benchmarks/optimism_plants.py                     # 20 planted + 10 quiet departments, 2 processes
    python benchmarks/optimism_plants.py --runs 5 --quiet-runs 0 --weeks 8

Each planted run generates a department (`dealpulse.demo.simulation.simulate`) of 8 to 40 managers, 7 to 13
new deals per manager a month, 15 months from 2023-01-01 (the setting of benchmarks/plants.py), with one
manager who, from a random day between 2023-11-01 and 2024-01-05, both marks dead deals lost late
(`late_lost`, 30-60 days on average) and calls deals commit a stage or two early (`overcommit`, 70-95% of
the deals) — drawn by `dealpulse.demo.plants.random_plant`. `optimism` (the win model trained as of then)
is computed `--weeks` after that day (8 and 12 by default); the run counts when the planted manager
ranks first. The generator's three permanent optimists (`optimistic` in the truth) are there too.

Quiet runs: 20 managers, nothing planted, optimism as of the end of the data: how many managers are
called `overstates`, split into the generator's optimists (true) and the others (false positives).

Prints one JSON line per run and a summary; writes benchmarks/results/optimism_plants.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = date(2023, 1, 1)
MONTHS = 15
PLANT_FROM, PLANT_TO = date(2023, 11, 1), date(2024, 1, 5)
QUIET_MANAGERS = 20


def run_one(kind: str, i: int, weeks: tuple[int, ...]) -> dict:
    import numpy as np

    from dealpulse.demo.plants import OverCommit, random_plant
    from dealpulse.demo.simulation import simulate
    from dealpulse.ingest.write import write_tables
    from dealpulse.metrics.asof import snapshot
    from dealpulse.playbook import playbook_for_store
    from dealpulse.playbook.load import load_playbook
    from dealpulse.risk.optimism import optimism
    from dealpulse.risk.train import train
    from dealpulse.store import connect

    t0 = time.perf_counter()
    seed = zlib.crc32(f"optimism:{kind}:{i}".encode()) % (2**31)
    rng = np.random.default_rng(seed)
    quiet = kind == "quiet"
    managers = QUIET_MANAGERS if quiet else int(rng.integers(8, 41))
    deals = int(round(managers * MONTHS * float(rng.uniform(7, 13))))
    ids = [f"m{k + 1:02d}" for k in range(managers)]
    plants = []
    if not quiet:
        pb0 = load_playbook(None)
        a = random_plant("late_lost", rng, manager_ids=ids, start=PLANT_FROM, end=PLANT_TO, playbook=pb0)
        b = random_plant("overcommit", rng, manager_ids=ids, start=PLANT_FROM, end=PLANT_TO, playbook=pb0)
        plants = [a, OverCommit(manager=a.manager, since=a.since, share=b.share)]
    sim = simulate(deals=deals, managers=managers, months=MONTHS, seed=seed, start=START, plant=plants or None)
    truth = sim.truth["managers"]
    optimists = set(truth.filter(truth["optimistic"])["manager_id"].to_list())
    end = datetime.combine(sim.end, datetime.min.time())
    out: dict = {"kind": kind, "i": i, "seed": seed, "managers": managers, "deals": deals,
                 "plants": [p.code for p in plants], "optimists": sorted(optimists), "at": {}}
    with tempfile.TemporaryDirectory() as folder:
        store = connect(str(Path(folder) / "bench.duckdb"))
        try:
            write_tables(store, dict(sim.frames), [], source="benchmarks/optimism_plants.py", tz="Europe/Moscow")
            pb = playbook_for_store(store, None)
            moments = {"end": end} if quiet else {
                str(w): min(datetime.combine(plants[0].since, datetime.min.time()) + timedelta(weeks=w), end) for w in weeks}
            for key, at in moments.items():
                snap = snapshot(store, at, pb)
                try:
                    t1 = time.perf_counter()
                    tr = train(snap)
                    t2 = time.perf_counter()
                    rows = optimism(tr)
                    t3 = time.perf_counter()
                finally:
                    snap.release()
                over = [r["manager"] for r in rows if r["verdict"] == "overstates"]
                out.setdefault("components", {})[key] = {r["manager"]: {c: round(v["z"], 3) for c, v in r["components"].items()}
                                                         for r in rows}
                rec = {"top": rows[0]["manager"] if rows else None, "overstates": over,
                       "train_seconds": round(t2 - t1, 1), "optimism_seconds": round(t3 - t2, 1)}
                if not quiet:
                    who = plants[0].manager
                    mine = next((r for r in rows if r["manager"] == who), None)
                    rec.update(planted=who, rank=mine["rank"] if mine else None, verdict=mine["verdict"] if mine else None,
                               components={c: round(v["z"], 2) for c, v in mine["components"].items()} if mine else None)
                out["at"][key] = rec
        finally:
            store.close()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def summary(runs: list[dict], weeks: tuple[int, ...]) -> dict:
    planted = [r for r in runs if r["kind"] != "quiet"]
    quiet = [r for r in runs if r["kind"] == "quiet"]
    s: dict = {"planted_runs": len(planted), "quiet_runs": len(quiet)}
    for w in weeks:
        at = [r["at"][str(w)] for r in planted if str(w) in r["at"]]
        if at:
            s[f"first_at_{w}w"] = sum(1 for a in at if a["rank"] == 1) / len(at)
            s[f"overstates_verdict_at_{w}w"] = sum(1 for a in at if a["verdict"] == "overstates") / len(at)
            s[f"ranks_at_{w}w"] = [a["rank"] for a in at]
    if quiet:
        n_opt = sum(len(r["optimists"]) for r in quiet)
        n_other = sum(r["managers"] - len(r["optimists"]) for r in quiet)
        over_opt = sum(len(set(r["at"]["end"]["overstates"]) & set(r["optimists"])) for r in quiet)
        over_other = sum(len(set(r["at"]["end"]["overstates"]) - set(r["optimists"])) for r in quiet)
        s.update(overstates_per_department=(over_opt + over_other) / len(quiet),
                 optimists_called_overstates=over_opt / n_opt if n_opt else None,
                 others_called_overstates=over_other / n_other if n_other else None,
                 departments_with_a_false_overstates=sum(
                     1 for r in quiet if set(r["at"]["end"]["overstates"]) - set(r["optimists"])) / len(quiet))
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--quiet-runs", type=int, default=10)
    ap.add_argument("--weeks", default="8,12", help="Weeks after the plant's start at which optimism is computed.")
    ap.add_argument("--first", type=int, default=0, help="Index of the first run (runs are seeded by their index).")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "optimism_plants.json"))
    args = ap.parse_args(argv)
    weeks = tuple(int(w) for w in args.weeks.split(",") if w)
    jobs = ([("late_overcommit", args.first + i) for i in range(args.runs)]
            + [("quiet", args.first + i) for i in range(args.quiet_runs)])
    runs = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, k, i, weeks) for k, i in jobs]
        for f in as_completed(futures):
            r = f.result()
            runs.append(r)
            sys.stdout.write(json.dumps({k: r[k] for k in ("kind", "i", "managers", "plants", "at", "seconds")}) + "\n")
            sys.stdout.flush()
    runs.sort(key=lambda r: (r["kind"], r["i"]))
    s = summary(runs, weeks)
    s["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": s, "runs": runs}, indent=1), encoding="utf-8")
    sys.stdout.write(json.dumps(s, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
