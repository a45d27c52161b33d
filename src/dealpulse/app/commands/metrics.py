"""`metrics`: step compliance, tasks, client card, pipeline and outcomes for a window and the previous one."""

from __future__ import annotations

from typing import Any

from dealpulse.app.documents import Result
from dealpulse.app.options import OptionError, parse_list, parse_window
from dealpulse.app.session import Moment, moment_doc


def parse_by(values: Any, lang: str = "en", *, option: str = "by") -> list[str]:
    """Group keys (`manager`, `segment`, ...) from a list or `manager,segment`; an unknown one is an OptionError."""
    from dealpulse.metrics.registry import GROUP_KEYS

    groups = parse_list(values)
    for v in groups:
        if v not in GROUP_KEYS:
            raise OptionError("bad_by", option, lang, value=v, allowed=", ".join(GROUP_KEYS))
    return groups


def clean(v: Any) -> Any:
    """pandas NA/NaN to None, numpy scalars to Python numbers."""
    import pandas as pd

    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") else v


def metrics(m: Moment, *, lang: str = "en", by: Any = None, window: Any = "28d") -> Result:
    """The metrics per group for the window ending at the moment and the window before it.
    `data`: {groups, start, prev_start, end, length}; rows carry `manager_name` beside `manager`."""
    from dealpulse.labels import person
    from dealpulse.metrics.asof import window_bounds
    from dealpulse.metrics.kpis import compute_metrics
    from dealpulse.metrics.registry import METRICS
    from dealpulse.playbook.durations import format_duration

    groups = parse_by(by, lang)
    length = parse_window(window, lang)
    df = compute_metrics(m.snapshot, by=groups, window=length)
    prev_start, start, end = window_bounds(m.as_of, length)
    rows = [{k: clean(v) for k, v in r.items()} for r in df.to_dict("records")]
    fields = [c for c in df.columns if c not in groups]
    tz = m.tz
    head = {
        "as_of": moment_doc(end, tz), "zone": str(tz),
        "window": {"length": format_duration(length), "start": moment_doc(start, tz), "end": moment_doc(end, tz)},
        "previous_window": {"start": moment_doc(prev_start, tz), "end": moment_doc(start, tz)},
        "by": groups, "playbook": m.session.playbook_source, "metrics": [x.name for x in METRICS],
    }
    if "manager" in groups:  # the id stays under "manager", the name beside it
        people = m.session.people
        rows = [{k: v for k, v in r.items() if k in groups} | {"manager_name": person(r["manager"], people)} | r for r in rows]
        fields = ["manager_name"] + fields
    return Result("metrics", head, rows, columns=groups + fields,
                  data={"groups": groups, "start": start, "prev_start": prev_start, "end": end, "length": length})


def metric_registry(lang: str = "en") -> Result:
    """The metric registry (`metrics --list`): name, kind, unit, family, description (and all descriptions)."""
    from dealpulse.metrics.registry import METRICS, registry_rows

    rows = registry_rows(lang)
    for r, x in zip(rows, METRICS):
        r["descriptions"] = x.descriptions
    return Result("metrics-list", {"lang": lang}, rows, columns=["name", "kind", "unit", "family", "description"])


__all__ = ["metrics", "metric_registry", "parse_by", "clean"]
