"""`dynamics`: which segment or channel changed for the better or the worse against its own baseline."""

from __future__ import annotations

from typing import Any

from dealpulse.app.documents import Result
from dealpulse.app.options import OptionError, parse_window
from dealpulse.app.session import Moment, moment_doc

CSV_COLUMNS = ("segment", "channel", "metric", "before", "after", "change", "unit", "direction", "good", "since", "q",
               "significant", "p_value", "recent_n", "baseline_n", "window_days", "recent_from", "recent_to",
               "baseline_from", "baseline_to", "test", "tested", "message")


def method_text(settings: Any, window_weeks: float, tested: int, lang: str) -> str:
    from dealpulse.i18n import t

    from dealpulse.i18n import number

    g = lambda x: number(x, lang)  # noqa: E731 - 1,5 / 1.5, 12
    scan = "/".join(g(f * window_weeks) for f in sorted(settings.scan))
    return t("dynamics.method", lang, window=g(window_weeks), scan=scan, baseline=g(settings.baseline.days / 7),
             tested=tested, fdr=g(100 * settings.fdr), inflow=g(settings.min_inflow_ratio), share=g(settings.min_share_ratio),
             points=g(100 * settings.min_points), size=g(settings.min_size_ratio),
             cycle=g(settings.min_cycle_ratio), quality_days=settings.quality_days, win_days=settings.win_days)


def groupings_of(by: Any, lang: str = "en", *, option: str = "by") -> tuple[tuple[str, ...], ...]:
    """Groupings: None (segments and channels, each separately), `segment,channel` (the pairs) or a list."""
    from dealpulse.dynamics.compute import DIMENSIONS, normalize_by

    if isinstance(by, str):
        by = [by]
    try:
        return normalize_by(list(by) if by else None, lang)
    except ValueError:
        bad = [x for x in (by or []) if any(p.strip() not in DIMENSIONS for p in str(x).split(","))] or list(by or [])
        raise OptionError("bad_grouping", option, lang, value=",".join(map(str, bad)) or "''",
                          allowed=", ".join(DIMENSIONS)) from None


def dynamics(m: Moment, *, lang: str = "en", by: Any = None, window: Any = "12w", significant: bool = False) -> Result:
    """Every tested change (only the significant ones with `significant`). `data`: {rows (all), significant,
    groupings, length, settings}."""
    from dealpulse.dynamics.compute import Settings, compute_dynamics

    groupings = groupings_of(by, lang)
    length = parse_window(window, lang)
    settings = Settings()
    rows = compute_dynamics(m.snapshot, by=groupings, window=length, settings=settings, lang=lang)
    tested = sum(1 for r in rows if r["q"] is not None)
    signif = [r for r in rows if r["significant"]]
    shown = signif if significant else rows
    method = method_text(settings, length.total_seconds() / (7 * 86400), tested, lang)
    head = {"as_of": moment_doc(m.as_of, m.tz), "zone": str(m.tz), "lang": lang, "by": [list(g) for g in groupings],
            "window_days": length.days, "baseline_days": settings.baseline.days, "fdr": settings.fdr,
            "tested": tested, "significant": len(signif), "method": method}
    flat = []
    for r in shown:
        ev = r["evidence"]
        flat.append({**{k: r[k] for k in ("metric", "before", "after", "change", "unit", "direction", "good",
                                           "since", "q", "significant", "message")},
                     "segment": r["subject"].get("segment"), "channel": r["subject"].get("channel"),
                     **{k: ev.get(k) for k in ("p_value", "recent_n", "baseline_n", "window_days", "recent_from",
                                               "recent_to", "baseline_from", "baseline_to", "test", "tested")}})
    return Result("dynamics", head, shown, columns=list(CSV_COLUMNS), csv_rows=flat,
                  data={"rows": rows, "significant": signif, "groupings": groupings, "length": length,
                        "settings": settings})


__all__ = ["dynamics", "groupings_of", "method_text", "CSV_COLUMNS"]
