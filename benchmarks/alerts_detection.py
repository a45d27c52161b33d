"""How early `dealpulse alerts` catches planted problems, and how often it cries wolf.

    python benchmarks/alerts_detection.py                     # seeds 42, 7, 11; cache in $TMPDIR/dealpulse-alerts-bench
                                                              # (first run builds 10 demos: ~5 min on 2 cores; then ~2 min)
    python benchmarks/alerts_detection.py --seeds 42 --jobs 2 --cache /tmp/ab --json out.json

Demo departments (5,000 deals, 2023-01..2024-12, `dealpulse.demo.generator.generate`) per seed:

- `default`: the default plants — late proposals by m07 from 2024-09-01, enterprise contracts 3× slower
  from 2024-10-01;
- `mid`: late proposals by m07 from 2024-09-01, mid-segment negotiation 3× slower from 2024-10-01;
- `none`: no plant (every alert is a false alarm, or a real change of the simulated world);
- `early` (first seed only): m07 from 2024-04-01, mid negotiation from 2024-05-01 — does an ongoing
  problem stay flagged for months, or is it absorbed into the baseline?

Each is imported once into DuckDB (cached under `--cache`, keyed by scenario and seed) and the alerts
are replayed every week from 2024-03-01 to 2024-12-27 (`alerts.backtest.replay`: facts extracted
once, cut back exactly to each date). Printed per planted problem: days from its start to the first
alert on its subject (any kind), alerts on that subject before the start (must be 0), the share of
the weeks after the first alert on which it is flagged, the last week flagged; per department: the
other alerts (alert-weeks on other subjects) and their rate per month of replay.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

DATES = [datetime(2024, 3, 1) + timedelta(weeks=i) for i in range(44)]  # Fridays, 2024-03-01 .. 2024-12-27
MONTHS = (DATES[-1] - DATES[0]).days / 30.4375
M07 = ("late proposals m07", {"manager": "m07"})
SCENARIOS = {
    "default": ("auto", [(*M07, datetime(2024, 9, 1)),
                         ("slow contract enterprise", {"segment": "enterprise", "stage": "contract"}, datetime(2024, 10, 1))]),
    "mid": ("late_proposals:m07:2024-09-01,slow_negotiation:mid:2024-10-01",
            [(*M07, datetime(2024, 9, 1)),
             ("slow negotiation mid", {"segment": "mid", "stage": "negotiation"}, datetime(2024, 10, 1))]),
    "none": (None, []),
    "early": ("late_proposals:m07:2024-04-01,slow_negotiation:mid:2024-05-01",
              [(*M07, datetime(2024, 4, 1)),
               ("slow negotiation mid", {"segment": "mid", "stage": "negotiation"}, datetime(2024, 5, 1))]),
}


def _store(cache: Path, scenario: str, seed: int) -> str:
    """The demo of (scenario, seed) imported into a DuckDB file, built once."""
    from dealpulse.demo.generator import generate
    from dealpulse.ingest.importer import import_path
    from dealpulse.store import connect

    folder = cache / f"{scenario}_{seed}"
    db, done = folder / "demo.duckdb", folder / "imported.ok"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if db.exists():
            db.unlink()
        generate(folder / "export", seed=seed, plant=SCENARIOS[scenario][0])
        store = connect(str(db))
        try:
            import_path(store, folder / "export")
        finally:
            store.close()
        done.write_text("ok")
    return str(db)


def _matches(alert: dict, subject: dict) -> bool:
    return all(alert["subject"].get(k) == v for k, v in subject.items())


def run_one(cache: str, scenario: str, seed: int) -> dict:
    from dealpulse.alerts.backtest import replay
    from dealpulse.playbook import parse_playbook, playbook_text_for_store
    from dealpulse.store import connect

    t0 = time.perf_counter()
    store = connect(_store(Path(cache), scenario, seed))
    try:
        text, source = playbook_text_for_store(store, None)
        got = replay(store, parse_playbook(text, source), DATES)
    finally:
        store.close()
    plants = SCENARIOS[scenario][1]
    rows = []
    for label, subject, start in plants:
        fired = sorted({m for m in DATES for a in got[m] if _matches(a, subject)})
        after = [m for m in fired if m > start]
        first = after[0] if after else None
        weeks_after = [m for m in DATES if first and m >= first]
        kinds = sorted({a["kind"] for m in after for a in got[m] if _matches(a, subject)})
        rows.append({"plant": label, "start": start.date().isoformat(), "delay_days": (first - start).days if first else None,
                     "before": sum(1 for m in fired if m <= start), "flagged_share": len(after) / len(weeks_after) if first else None,
                     "last": after[-1].date().isoformat() if after else None, "kinds": kinds})
    other = [(m.date().isoformat(), a["kind"], a["subject"]) for m in DATES for a in got[m]
             if not any(_matches(a, s) for _, s, _ in plants)]
    return {"scenario": scenario, "seed": seed, "plants": rows, "other": other, "other_per_month": len(other) / MONTHS,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 11])
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "dealpulse-alerts-bench"))
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    jobs = [(args.cache, sc, seed) for sc in args.scenarios
            for seed in (args.seeds[:1] if sc == "early" else args.seeds)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run_one, *zip(*jobs)))
    print(f"weekly replay {DATES[0].date()}..{DATES[-1].date()} ({len(DATES)} dates, {MONTHS:.1f} months)\n")
    print(f"{'scenario':8} {'seed':>4}  {'planted problem':26} {'start':10} {'delay, d':>8} {'before':>6} "
          f"{'flagged':>7} {'last':10}  kinds")
    for r in results:
        for p in r["plants"]:
            flagged = "—" if p["flagged_share"] is None else f"{100 * p['flagged_share']:.0f}%"
            delay = "missed" if p["delay_days"] is None else str(p["delay_days"])
            print(f"{r['scenario']:8} {r['seed']:>4}  {p['plant']:26} {p['start']:10} {delay:>8} {p['before']:>6} "
                  f"{flagged:>7} {p['last'] or '—':10}  {','.join(p['kinds'])}")
    print(f"\n{'scenario':8} {'seed':>4}  {'other alerts':>12} {'per month':>9}  first of them")
    for r in results:
        shown = "; ".join(f"{d} {k} {'/'.join(s.values())}" for d, k, s in r["other"][:4])
        print(f"{r['scenario']:8} {r['seed']:>4}  {len(r['other']):>12} {r['other_per_month']:>9.2f}  {shown}")
    calm = [r for r in results if r["scenario"] == "none"]
    if calm:
        total = sum(len(r["other"]) for r in calm)
        print(f"\nno-plant departments: {total} alerts in {len(calm) * MONTHS:.0f} department-months "
              f"= {total / (len(calm) * MONTHS):.2f} false alerts per month")
    print(f"({time.perf_counter() - t0:.0f} s; demo stores cached in {args.cache})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
