"""What changed: the key figures of this window against the previous one. The comparison and its tests are
the domain's (`dealpulse.metrics.kpi_changes`); the report shows them."""

from __future__ import annotations

from datetime import timedelta

from dealpulse.metrics.asof import Snapshot
from dealpulse.metrics.kpi_changes import KPIS, KpiRow, KpiSpec, compare_kpis, window_values  # noqa: F401 - the report's names
from dealpulse.report.sections.values import records


def metric_rows(snap: Snapshot, by: list[str], window: timedelta) -> list[dict]:
    from dealpulse.metrics.kpis import compute_metrics

    return records(compute_metrics(snap, by=by, window=window))


__all__ = ["KPIS", "KpiRow", "KpiSpec", "compare_kpis", "window_values", "metric_rows"]
