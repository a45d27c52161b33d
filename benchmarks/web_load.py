"""How fast the web app answers: every page and API call under N concurrent users.

    python benchmarks/web_load.py --db dealpulse-demo/dealpulse.duckdb            # 20 users, 60 s
    python benchmarks/web_load.py --db STORE --users 20 --seconds 120 --json out.json
    python benchmarks/web_load.py --deals 100000                                  # builds that store first

The app is served by `dealpulse serve` in a process of its own on a free local port. A
benchmark user of each role is added (to a copy of a DuckDB store, so the store given is not changed),
each route is asked once to warm up (the model trained and cached, the alerts replayed), then N users
(threads, each with its own login session, roles in turn) ask the routes in random order for the given
time. Printed per route: requests, p50, p95, max in ms, and whether p95 < 500 ms (issue 9's aim).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROUTES = ["/", "/deals", "/metrics", "/funnel", "/optimism", "/dynamics", "/leading", "/alerts", "/review",
          "/playbook", "/api/v1/score", "/api/v1/alerts", "/api/v1/review", "/api/v1/metrics", "/api/v1/funnel"]
PASSWORD = "benchmark password"


def _store(args: argparse.Namespace, tmp: Path) -> str:
    """A DuckDB copy of --db (or a generated demo of --deals deals) with one benchmark user per role."""
    from dealpulse.store import connect
    from dealpulse.web.users import add_user

    if args.db and "://" in args.db and not args.db.startswith("duckdb://"):
        url = args.db  # PostgreSQL: used as it is (the users are added, replaced on the next run)
    else:
        url = str(tmp / "bench.duckdb")
        if args.db:
            shutil.copy(args.db, url)
        else:
            from dealpulse.demo.generator import generate
            from dealpulse.ingest.importer import import_path

            t0 = time.perf_counter()
            generate(tmp / "export", deals=args.deals, seed=42)
            s = connect(url)
            try:
                import_path(s, tmp / "export")
            finally:
                s.close()
            print(f"built a {args.deals}-deal demo store in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    s = connect(url)
    try:
        managers = [r[0] for r in s.query("SELECT manager_id, team FROM managers ORDER BY manager_id")]
        team = s.query("SELECT team FROM managers WHERE team IS NOT NULL LIMIT 1")
        add_user(s, "bench_head", "head", PASSWORD, replace=True)
        add_user(s, "bench_qc", "qc", PASSWORD, replace=True)
        if team:
            add_user(s, "bench_lead", "lead", PASSWORD, team=team[0][0], replace=True)
        if managers:
            add_user(s, "bench_manager", "manager", PASSWORD, manager_id=managers[0], replace=True)
    finally:
        s.close()
    return url


def _serve(url: str) -> tuple[str, object]:
    """`dealpulse serve` on the store in a process of its own (the load's client threads do not share its GIL)."""
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from dealpulse.cli import main; main()", "serve", "--db", url, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(base + "/login", timeout=5)
            return base, proc
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)


def _client(base: str, login: str):
    import re

    import httpx

    c = httpx.Client(base_url=base, timeout=600)
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    res = c.post("/login", data={"login": login, "password": PASSWORD, "csrf": token, "next": "/"})
    if res.status_code != 303:
        raise SystemExit(f"cannot log in as {login}: {res.status_code}")
    return c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="the store (a DuckDB file is copied first; default: build a demo of --deals)")
    ap.add_argument("--deals", type=int, default=5000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dealpulse-webload-") as tmp:
        url = _store(args, Path(tmp))
        base, proc = _serve(url)
        logins = ["bench_head", "bench_lead", "bench_manager", "bench_qc"]
        t0 = time.perf_counter()
        warm = {login: _client(base, login) for login in logins}
        for login, c in warm.items():  # every role's every route once: models trained, analyses kept
            for route in ROUTES:
                c.get(route)
        print(f"warm-up: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        times: dict[str, list[float]] = {r: [] for r in ROUTES}
        errors: dict[str, int] = {r: 0 for r in ROUTES}
        lock = threading.Lock()
        stop = time.perf_counter() + args.seconds

        def user(i: int) -> None:
            c = _client(base, logins[i % len(logins)])
            rnd = random.Random(i)
            while time.perf_counter() < stop:
                route = rnd.choice(ROUTES)
                t = time.perf_counter()
                res = c.get(route)
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    times[route].append(dt)
                    if res.status_code != 200:
                        errors[route] += 1

        threads = [threading.Thread(target=user, args=(i,)) for i in range(args.users)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        proc.terminate()
        proc.wait(timeout=30)
    out = []
    print(f"{'route':<20} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  p95<500")
    for route in ROUTES:
        xs = sorted(times[route])
        if not xs:
            continue
        p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
        row = {"route": route, "n": len(xs), "p50": statistics.median(xs), "p95": p95, "max": xs[-1],
               "errors": errors[route], "ok": p95 < 500}
        out.append(row)
        print(f"{route:<20} {len(xs):>6} {row['p50']:>8.0f} {p95:>8.0f} {xs[-1]:>8.0f}  {'yes' if row['ok'] else 'NO'}"
              + (f"  ({errors[route]} errors)" if errors[route] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"users": args.users, "seconds": args.seconds, "routes": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
