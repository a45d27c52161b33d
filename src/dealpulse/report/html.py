"""Render the report as ONE self-contained HTML file: styles inline, Plotly's JavaScript embedded
once, no fonts, scripts or styles fetched from the network, so it opens offline and can be mailed."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
import plotly.offline

from dealpulse.i18n import t
from dealpulse.report import charts, fmt, stats
from dealpulse.report.build import ReportData, gather
from dealpulse.report.sections.kpis import KPIS

TEMPLATE = "report.html"


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dealpulse.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    return plotly.offline.get_plotlyjs()


def _value(unit: str, v: Any, lang: str, currency: str | None = None) -> str:
    if unit == "rate":
        return fmt.pct(v, lang)
    if unit == "money":
        text = fmt.money(v, lang)
        return f"{text}\u00a0{currency}" if currency and text != "—" else text
    if unit == "days":
        return fmt.days(v, lang)
    return fmt.integer(v, lang)


def _kpi_context(data: ReportData, lang: str) -> tuple[list[dict], list[dict]]:
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    cards, lines = [], []
    cur = data.header.currency
    for k in data.kpis or []:
        unit = k.spec.unit
        help_text = tr(f"report.kpi.{k.key}.help", n=fmt.integer(k.n_cur, lang))
        verdict = tr("report.changes.untested") if k.verdict is None or k.verdict.p is None else ""
        delta_kind = "rate" if unit == "rate" else unit if unit in ("money", "days") else "int"
        card = {
            "key": k.key, "group": k.spec.group, "name": tr(f"report.kpi.{k.key}"), "value": _value(unit, k.cur, lang),
            "unit": cur if unit == "money" and cur and k.cur is not None else "",
            "prev": tr("report.changes.prev", value=_value(unit, k.prev, lang, cur)),
            "delta": fmt.signed(k.delta, lang, delta_kind) if k.delta is not None else "",
            "direction": k.direction, "highlighted": k.highlighted, "help": help_text, "verdict": verdict,
            "ci": tr("report.changes.ci", low=fmt.pct(k.ci[0], lang), high=fmt.pct(k.ci[1], lang)) if k.ci else "",
        }
        cards.append(card)
        if k.highlighted:
            lines.append({"direction": k.direction, "text": tr(
                f"report.change.{k.key}.{k.direction}", prev=_value(unit, k.prev, lang, cur), cur=_value(unit, k.cur, lang, cur),
                n=fmt.integer(k.n_cur, lang))})
    lines.sort(key=lambda line: line["direction"] != "worse")  # problems first
    return cards, lines


def _stale_rules(data: ReportData, playbook: Any, lang: str) -> str:
    parts = [t("report.stale.rule_default", lang, days=fmt.days(playbook.stale_after.total_seconds() / 86400, lang))]
    for seg, td in playbook.stale_by_segment.items():
        parts.append(t("report.stale.rule_segment", lang, days=fmt.days(td.total_seconds() / 86400, lang), segment=seg))
    return "; ".join(parts)


def _dwell_context(data: ReportData, lang: str) -> tuple[str, list[dict], Any]:
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header

    def value(v: Any, n: int, unit: bool = False) -> str:
        if v is None and n:
            return tr("report.dwell.not_reached")
        text = fmt.days(v, lang)
        return f"{text}\u00a0{tr('report.unit.days')}" if unit and v is not None else text

    scope = ""
    if data.dwell_since is not None:
        weeks = (h.as_of - data.dwell_since).total_seconds() / (7 * 86400)
        scope = tr("report.dwell.scope", since=fmt.day(data.dwell_since, lang, h.tz), weeks=fmt.number(weeks, lang, 0))
    lines = []
    for x in data.dwell_shifts:
        lines.append({"direction": "worse" if x.direction == "slower" else "better", "text": tr(
            f"report.dwell.shift.{x.direction}", stage=x.stage,
            segment=tr("report.dwell.segment", segment=x.segment) if x.segment else "",
            median=value(x.median_days, x.n_recent, True), before=value(x.before_median_days, x.n_before, True),
            p80=value(x.p80_days, x.n_recent, True), before_p80=value(x.before_p80_days, x.n_before, True),
            n=fmt.integer(x.n_recent, lang))})
    return scope, lines, value


def render_report(data: ReportData, lang: str = "en", playbook: Any = None) -> str:
    """The HTML page of gathered report data."""
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header
    days = h.window.total_seconds() / 86400
    cards, lines = _kpi_context(data, lang)
    dwell_scope, dwell_lines, dwell_value = _dwell_context(data, lang)
    figures: dict[str, str] = {}
    if data.funnel:
        figures["funnel"] = charts.to_div(charts.funnel_figure(data.funnel, lang, tr), "fig-funnel")
    if data.dwell:
        figures["dwell"] = charts.to_div(charts.dwell_figure(data.dwell, lang, tr), "fig-dwell")
    if data.heatmap and data.heatmap.managers and data.heatmap.steps:
        figures["heatmap"] = charts.to_div(charts.heatmap_figure(data.heatmap, lang, tr, h.who), "fig-heatmap")

    def unavailable(section: str) -> str | None:
        why = data.unavailable.get(section)
        if why is None:
            return None
        detail = next((w.split(": ", 1)[1] for w in data.warnings if w.startswith(section + ":")), "")
        return tr("report.unavailable", reason=tr(f"report.unavailable.{why}", detail=detail) if why == "failed" else tr(f"report.unavailable.{why}"))

    ctx = {
        "lang": lang, "tr": tr, "fmt": fmt, "plotly_js": _plotly_js(), "figures": figures,
        "h": h, "data": data, "bounded": charts.bounded,
        "as_of": fmt.moment(h.as_of, lang, h.tz),
        "header": {
            "as_of": tr("report.header.as_of", as_of=fmt.moment(h.as_of, lang, h.tz), tz=str(h.tz)),
            "window": tr("report.header.window", days=fmt.number(days, lang, 0 if days == int(days) else 1),
                         start=fmt.day(h.start, lang, h.tz), end=fmt.day(h.as_of, lang, h.tz),
                         prev_start=fmt.day(h.prev_start, lang, h.tz)),
            "coverage": tr("report.header.coverage", deals=fmt.integer(h.deals, lang), open=fmt.integer(h.open_deals, lang),
                           won=fmt.integer(h.won, lang), lost=fmt.integer(h.lost, lang), managers=fmt.integer(h.managers, lang),
                           first=fmt.day(h.first_at, lang, h.tz), last=fmt.day(h.as_of, lang, h.tz)),
            "playbook": tr("report.header.playbook", stages=len(h.stages), steps=h.steps,
                           source=tr("report.header.builtin") if h.playbook_source.startswith("<built-in") else h.playbook_source),
        },
        "cards": cards, "lines": lines,
        "dwell_scope": dwell_scope, "dwell_lines": dwell_lines, "dwell_value": dwell_value,
        "method": tr("report.changes.method", m=sum(1 for k in data.kpis or [] if k.verdict and k.verdict.p is not None),
                     min_rate=stats.MIN_RATE_N, min_count=stats.MIN_COUNT_TOTAL, min_sample=stats.MIN_SAMPLE_N),
        "stale_rules": _stale_rules(data, playbook, lang) if playbook is not None else "",
        "unavailable": unavailable,
        "sections": [("changes", tr("report.changes.title")), ("funnel", tr("report.funnel.title")),
                     ("dwell", tr("report.dwell.title")), ("heatmap", tr("report.heatmap.title")),
                     ("stale", tr("report.stale.title")), ("managers", tr("report.managers.title"))],
        "kpi_count": len(KPIS),
    }
    return _env().get_template(TEMPLATE).render(**ctx)


def build_report(
    store: Any,
    *,
    as_of: Any = None,
    window: timedelta = timedelta(days=28),
    lang: str = "en",
    playbook: Any = None,
    progress: Any = None,
    strict: bool = False,
) -> str:
    """The report as one self-contained HTML page. `playbook`: a Playbook, a path, or None (the
    store's, else the built-in). `progress(section)` is called as each section starts."""
    from dealpulse.playbook import Playbook, playbook_for_store

    pb = playbook if isinstance(playbook, Playbook) else playbook_for_store(store, playbook)
    data = gather(store, as_of=as_of, window=window, playbook=pb, progress=progress, strict=strict)
    return render_report(data, lang, pb)


def write_report(store: Any, out_path: str | Path, **kwargs: Any) -> Path:
    """Build the report and write it to `out_path` (UTF-8); returns the path."""
    path = Path(out_path)
    html = build_report(store, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
