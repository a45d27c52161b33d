"""Benchmarks: import + all metrics + funnel + norms, timed per phase, with peak memory; then deal risk
(train + score every open deal) in its own process.

    python benchmarks/run.py                  # both: BPIC2012 (vs pm4py) and a generated 100k-deal export
    python benchmarks/run.py --only bpic      # or: --only gen --deals 100000
    python benchmarks/run.py --json out.json  # also write the figures as JSON

Each measured job runs in its own child process; peak memory is that process's maximum resident set
(ru_maxrss from wait4), so native memory (DuckDB, Polars, Arrow) counts too. On BPIC2012 the
reference is pm4py doing the comparable things (XES import, performance DFG, temporal profile) in a
child process of the same script, so the printed ratios compare like with like on this machine.
pm4py (AGPL-3.0) is only run here, never imported by dealpulse: `pip install pm4py` to include it.
Targets (issue 2): generated 100k deals under 60 s and 2 GB on 2 cores; BPIC2012 faster than pm4py
with under a quarter of its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BPIC = ROOT.parent / "shared" / "data" / "bpic2012" / "BPI_Challenge_2012.xes.gz"


PEAKS: dict[str, float] = {}


def _phase(phases: dict, name: str, fn):
    import resource

    t0 = time.perf_counter()
    result = fn()
    phases[name] = round(time.perf_counter() - t0, 3)
    PEAKS[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # peak so far, MB
    return result


def job_pipeline(source: str, db: str, mapping: str | None, playbook: str | None) -> None:
    """Child: import `source` into a fresh store, then metrics (several groupings), funnel, norms."""
    from dealpulse.ingest import import_path
    from dealpulse.metrics.asof import snapshot
    from dealpulse.metrics.funnel import compute_funnel
    from dealpulse.metrics.kpis import compute_metrics
    from dealpulse.playbook import playbook_for_store
    from dealpulse.playbook.norms import learn_norms
    from dealpulse.store import connect

    phases: dict[str, float] = {}
    store = connect(db)
    report = _phase(phases, "import", lambda: import_path(store, source, mapping_path=mapping, playbook_path=playbook))
    pb = playbook_for_store(store)
    snap = snapshot(store, None, pb)

    def metrics():
        n = 0
        for by in ([], ["manager"], ["segment"], ["channel"], ["stage"], ["step"], ["manager", "step"]):
            n += len(compute_metrics(snap, by=by, window=timedelta(days=28)))
        return n

    rows = _phase(phases, "metrics", metrics)
    _phase(phases, "funnel", lambda: (compute_funnel(snap), compute_funnel(snap, by="segment"), compute_funnel(snap, by="channel")))
    _phase(phases, "norms", lambda: learn_norms(snap))
    phases["total"] = round(sum(phases.values()), 3)
    tables = report.to_dict()["tables"]
    print(json.dumps({"seconds": phases, "peak_mb_after": PEAKS, "metric_rows": rows,
                      "rows_imported": {k: v["imported"] for k, v in tables.items()},
                      "rows_read": sum(v["rows_read"] for v in tables.values())}))


def job_score(db: str) -> None:
    """Child: deal risk on an imported store — train on the deals closed by the end, score every open deal
    (features, calibrated p_win, reasons)."""
    from dealpulse.metrics.asof import snapshot
    from dealpulse.playbook import playbook_for_store
    from dealpulse.risk.score import score
    from dealpulse.store import connect

    phases: dict[str, float] = {}
    store = connect(db)
    snap = snapshot(store, None, playbook_for_store(store))
    tr, rows = _phase(phases, "score", lambda: score(snap))
    print(json.dumps({"seconds": phases, "peak_mb_after": PEAKS, "open_deals": len(rows),
                      "trained_on": {"won": tr.model.n_won, "lost": tr.model.n_lost, "moments": tr.model.n_rows}}))


def job_generate(out_dir: str, deals: int) -> None:
    from dealpulse.demo import generate

    t0 = time.perf_counter()
    summary = generate(out_dir, deals=deals, seed=7)
    print(json.dumps({"seconds": {"generate": round(time.perf_counter() - t0, 3)}, "rows": summary.rows}))


def measure(args: list[str]) -> dict:
    """Run a child; return its JSON line plus wall time and peak RSS in MB."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed ({proc.returncode}):\n{err[-3000:]}")
    lines = [l for l in out.splitlines() if l.startswith("{")]
    result = json.loads(lines[-1])
    result["wall_seconds"] = round(wall, 2)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


def bench_bpic(work: Path) -> dict:
    if not BPIC.exists():
        return {"skipped": f"{BPIC} is absent"}
    mine = measure([__file__, "--job", "pipeline", str(BPIC), str(work / "bpic.duckdb"),
                    str(ROOT / "examples" / "bpic2012" / "mapping.yaml"), str(ROOT / "examples" / "bpic2012" / "playbook.yaml")])
    out = {"dealpulse": mine, "score": measure([__file__, "--job", "score", str(work / "bpic.duckdb")])}
    try:
        import importlib.util
        has_pm4py = importlib.util.find_spec("pm4py") is not None
    except ImportError:
        has_pm4py = False
    if has_pm4py:
        ref = measure([str(ROOT / "benchmarks" / "pm4py_reference.py"), str(BPIC)])
        out["pm4py"] = ref
        out["time_ratio"] = round(mine["seconds"]["total"] / ref["seconds"]["total"], 3)
        out["memory_ratio"] = round(mine["peak_rss_mb"] / ref["peak_rss_mb"], 3)
    else:
        out["pm4py"] = {"skipped": "pm4py is not installed (pip install pm4py)"}
    return out


def bench_generated(work: Path, deals: int) -> dict:
    export = work / f"gen{deals}"
    gen = measure([__file__, "--job", "generate", str(export), str(deals)])
    run = measure([__file__, "--job", "pipeline", str(export), str(work / "gen.duckdb"), "", ""])
    risk = measure([__file__, "--job", "score", str(work / "gen.duckdb")])
    return {"generate": gen, "dealpulse": run, "score": risk, "deals": deals, "rows": sum(gen["rows"].values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["bpic", "gen"])
    ap.add_argument("--deals", type=int, default=100_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.job == "pipeline":
        src, db, mapping, playbook = a.rest
        return job_pipeline(src, db, mapping or None, playbook or None)
    if a.job == "generate":
        return job_generate(a.rest[0], int(a.rest[1]))
    if a.job == "score":
        return job_score(a.rest[0])

    results: dict = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="dealpulse-bench-") as tmp:
        work = Path(tmp)
        if a.only in (None, "bpic"):
            results["bpic2012"] = r = bench_bpic(work)
            if "dealpulse" in r:
                d = r["dealpulse"]
                print(f"BPIC2012  dealpulse: {d['seconds']}  peak {d['peak_rss_mb']} MB")
                sc = r["score"]
                print(f"BPIC2012  deal risk (train + score {sc['open_deals']} open): {sc['seconds']['score']} s  peak {sc['peak_rss_mb']} MB")
                if "time_ratio" in r:
                    p = r["pm4py"]
                    print(f"BPIC2012  pm4py:     {p['seconds']}  peak {p['peak_rss_mb']} MB")
                    print(f"BPIC2012  ratio dealpulse/pm4py: time {r['time_ratio']}, peak memory {r['memory_ratio']}")
            else:
                print(f"BPIC2012  skipped: {r['skipped']}")
        if a.only in (None, "gen"):
            results["generated"] = r = bench_generated(work, a.deals)
            d = r["dealpulse"]
            print(f"generated {r['deals']} deals, {r['rows']:,} rows (generated in {r['generate']['seconds']['generate']} s)")
            print(f"generated dealpulse: {d['seconds']}  peak {d['peak_rss_mb']} MB  "
                  f"(targets: total < 60 s, peak < 2048 MB)")
            sc = r["score"]
            print(f"generated deal risk (train on {sc['trained_on']['moments']:,} moments, score {sc['open_deals']:,} open deals): "
                  f"{sc['seconds']['score']} s  peak {sc['peak_rss_mb']} MB")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
