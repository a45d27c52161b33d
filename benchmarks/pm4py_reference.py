"""The reference side of the BPIC2012 benchmark: pm4py computing the things dealpulse's import +
funnel + norms compare with (XES import, performance DFG, temporal profile).

pm4py is AGPL-3.0: it is only ever run here, in a separate process, never imported by dealpulse.
Prints one JSON line: seconds per phase. Peak memory is measured by the parent (benchmarks/run.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time


def main(path: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # pm4py prints a banner
        import pm4py
    phases = {}
    t0 = time.perf_counter()
    log = pm4py.read_xes(path)
    phases["read_xes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dfg, start, end = pm4py.discover_performance_dfg(log)
    phases["performance_dfg"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    profile = pm4py.discover_temporal_profile(log)
    phases["temporal_profile"] = time.perf_counter() - t0
    phases["total"] = sum(phases.values())
    print(json.dumps({"tool": "pm4py", "version": pm4py.__version__, "events": len(log),
                      "dfg_edges": len(dfg), "profile_pairs": len(profile), "seconds": phases}))


if __name__ == "__main__":
    main(sys.argv[1])
