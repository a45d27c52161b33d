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
from dealpulse.metrics import change_tests as stats
from dealpulse.report import charts, fmt
from dealpulse.report.build import ReportData, gather
from dealpulse.report.dynamics_view import dynamics_context
from dealpulse.report.sections.kpis import KPIS
from dealpulse.risk.state import DEAD_TOUCH_FACTOR
from dealpulse.labels import label, metric_label
from dealpulse.timefmt import show_moment

RISK_GAP = 0.10  # a p_win this far below the stage-and-segment rate is marked
# the sections in the order of the page
ORDER = ("week", "alerts", "dynamics", "changes", "risk", "funnel", "dwell", "heatmap", "stale", "review", "managers", "optimism", "leading")

TEMPLATE = "report.html"


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dealpulse.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.globals["label"] = label  # {{ label(stage, lang) }}: a stage's or step's label (dealpulse.labels)
    return env


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


def _texts(texts: dict[str, Any], lang: str) -> Any:
    return texts[lang]


def _q(q: float | None, lang: str) -> str:
    if q is None:
        return "—"
    return "<\u00a0" + fmt.number(0.001, lang, 3) if q < 0.001 else "=\u00a0" + fmt.number(q, lang, 3)


def _alerts_context(data: ReportData, lang: str) -> list[dict]:
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header
    out = []
    for a in data.alerts or []:
        value = {"share": lambda v: fmt.pct(v, lang), "days": lambda v: fmt.days(v, lang)}.get(
            a.unit or "", lambda v: fmt.number(v, lang, 1))
        evidence = []
        if a.recent_value is not None or a.baseline_value is not None:
            unit = a.unit if a.unit in ("share", "days", "per_week") else "share"
            recent = value(a.recent_value)
            if a.recent_value is None and a.unit == "days" and a.recent_followup_days is not None:
                recent = ">\u00a0" + value(a.recent_followup_days)  # the median is not reached yet
            evidence.append(tr(f"report.alerts.evidence.{unit}", recent=recent, baseline=value(a.baseline_value)))
        if a.recent_n is not None and a.baseline_n is not None:
            evidence.append(tr("report.alerts.evidence.n", recent=fmt.integer(a.recent_n, lang), baseline=fmt.integer(a.baseline_n, lang)))
        if a.q_value is not None:
            evidence.append(tr("report.alerts.evidence.q", q=_q(a.q_value, lang)))
        kind = tr(f"report.alerts.kind.{a.kind}")
        out.append({
            "severity": a.severity if a.severity in ("high", "medium", "low") else "low",
            "severity_text": tr(f"report.alerts.severity.{a.severity}"),
            "kind": a.kind.replace("_", " ") if kind.startswith("report.") else kind,
            "subject": " · ".join(h.who(v) if k in ("manager", "owner") else str(v) for k, v in a.subject.items()),
            "since": fmt.calendar_day(a.since, lang) if a.since else tr("report.alerts.since_unknown"),
            "opened": tr("report.alerts.opened", date=fmt.calendar_day(a.opened, lang)) if a.opened else "",
            "evidence": evidence, "message": _texts(a.message, lang),
        })
    return out


def _risk_context(data: ReportData, lang: str) -> dict | None:
    r = data.risk
    if r is None:
        return None
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header
    cur = f"\u00a0{h.currency}" if h.currency else ""
    rows = [{
        "deal_id": d.deal_id, "title": d.title, "owner": h.who(d.owner), "stage": label(d.stage, lang), "segment": d.segment,
        "amount": fmt.money(d.amount, lang), "p_win": fmt.pct(d.p_win, lang), "baseline": fmt.pct(d.baseline_p_win, lang),
        "low": d.p_win is not None and d.baseline_p_win is not None and d.p_win <= d.baseline_p_win - RISK_GAP,
        "close": fmt.calendar_day(d.expected_close, lang), "crm_close": fmt.calendar_day(d.crm_expected_close, lang) if d.crm_expected_close else "",
        "at_risk": fmt.money(d.value_at_risk, lang), "reasons": _texts(d.reasons, lang)[:3],
        "touch": f"{fmt.days(d.days_since_touch, lang)}\u00a0{tr('report.unit.days')}" if d.days_since_touch is not None else "—", "state": tr(f"changes.state.{d.state}"),
    } for d in [*r.deals_at_risk, *r.dead]]
    dead_rows = rows[len(r.deals_at_risk):]
    rows = rows[:len(r.deals_at_risk)]
    baseline = sum(s.baseline_expected for s in r.by_stage)
    return {
        "summary": tr("report.risk.summary", open=fmt.integer(r.open_deals, lang), amount=fmt.money(r.open_amount, lang) + cur,
                      expected=fmt.money(r.expected_amount, lang) + cur, baseline=fmt.money(baseline, lang) + cur),
        "model": tr("report.risk.model", note=_texts(r.note, lang), deals=fmt.integer(r.deals, lang),
                    moments=fmt.integer(r.moments, lang), first=fmt.day(r.first_at, lang, h.tz), as_of=fmt.day(h.as_of, lang, h.tz)),
        "weak": r.kind != "boosting",
        "lead": tr("report.risk.alive.lead", n=fmt.integer(len(rows), lang)),
        "rows": rows, "currency": h.currency,
        "dead": dead_rows, "dead_lead": tr("report.risk.dead.lead", n=fmt.integer(r.dead_total, lang), amount=fmt.money(r.dead_amount, lang) + cur),
        "dead_note": tr("report.risk.dead.note", factor=fmt.number(DEAD_TOUCH_FACTOR, lang, 0)),
        "notices": [{"text": text, "suggestion": hint} for text, hint in r.notices.get(lang, [])],
        "unsupported": r.unsupported,
        "note": tr("report.risk.note", as_of=show_moment(h.as_of, h.tz, lang), gap=fmt.integer(100 * RISK_GAP, lang)),
    }


def _week_context(data: ReportData, lang: str) -> dict | None:
    """What changed this week: the waterfall rows, the movers, the slipped deals, the alerts (sections/week.py)."""
    w = data.week
    if w is None:
        return None
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header
    cur = f"\u00a0{w.currency}" if w.currency else ""
    rows = []
    for b in w.buckets:
        total = b.bucket.startswith("open_")
        rows.append({
            "bucket": b.bucket, "label": tr(f"changes.bucket.{b.bucket}"), "deals": fmt.integer(b.deals, lang), "total": total,
            "count": fmt.integer(b.count, lang) if total else (fmt.signed(b.count, lang, "int") if b.count else "·"),
            "amount": fmt.money(b.amount, lang) if total else (fmt.signed(b.amount, lang, "money") if b.amount else "·"),
        })

    def movers(items: Any) -> list[dict] | None:
        if items is None:
            return None
        return [{
            "deal_id": m.deal_id, "title": m.title, "owner": h.who(m.owner), "stage": label(m.stage, lang),
            "amount": fmt.money(m.amount, lang), "p_before": fmt.pct(m.p_before, lang), "p_after": fmt.pct(m.p_after, lang),
            "delta": fmt.signed(m.delta, lang, "rate"), "up": m.delta > 0,
            "state": f"{tr('changes.state.' + m.state_before)} → {tr('changes.state.' + m.state_after)}",
            "added": _texts(m.added, lang)[:3], "removed": _texts(m.removed, lang)[:2],
        } for m in items]

    def alerts(items: Any) -> list[dict] | None:
        if items is None:
            return None
        return [{
            "severity": a.severity if a.severity in ("high", "medium", "low") else "low",
            "severity_text": tr(f"report.alerts.severity.{a.severity}"),
            "kind": a.kind.replace("_", " ") if tr(f"report.alerts.kind.{a.kind}").startswith("report.") else tr(f"report.alerts.kind.{a.kind}"),
            "subject": " · ".join(h.who(v) if k in ("manager", "owner") else str(v) for k, v in a.subject.items()),
            "since": fmt.calendar_day(a.since, lang) if a.since else "—", "message": _texts(a.message, lang),
        } for a in items]

    start, end = w.bucket("open_start"), w.bucket("open_end")
    won, lost, new = w.bucket("won"), w.bucket("lost"), w.bucket("new")
    return {
        "lead": tr("report.week.lead", start=fmt.moment(w.start, lang, h.tz), end=fmt.moment(w.end, lang, h.tz),
                   open_start=fmt.integer(start.count, lang), amount_start=fmt.money(start.amount, lang) + cur,
                   open_end=fmt.integer(end.count, lang), amount_end=fmt.money(end.amount, lang) + cur,
                   new=fmt.integer(new.deals, lang), won=fmt.integer(won.deals, lang), won_amount=fmt.money(-won.amount, lang) + cur,
                   lost=fmt.integer(lost.deals, lang), lost_amount=fmt.money(-lost.amount, lang) + cur),
        "rows": rows, "currency": w.currency,
        "reconciles": tr("changes.reconciles" if w.reconciles else "changes.reconciles.not",
                         start=fmt.integer(start.count, lang), end=fmt.integer(end.count, lang)),
        "rule": tr("changes.bucket_rule"), "method": tr("changes.method"),
        "down": movers(w.down), "up": movers(w.up), "slipped": movers(w.slipped),
        "down_title": tr("changes.down.title", n=len(w.down or []), live=fmt.integer(w.live, lang)),
        "up_title": tr("changes.up.title", n=len(w.up or []), live=fmt.integer(w.live, lang)),
        "slipped_title": tr("report.week.slipped", n=fmt.integer(w.slipped_total, lang)),
        "opened": alerts(w.opened), "resolved": alerts(w.resolved),
        "opened_title": tr("changes.alerts.opened.title", n=len(w.opened or [])),
        "resolved_title": tr("changes.alerts.resolved.title", n=len(w.resolved or [])),
    }


def _optimism_context(data: ReportData, lang: str) -> dict | None:
    if data.optimism is None:
        return None
    from dealpulse.report.sections.optimism import optimism_context

    return optimism_context(data.optimism, lang, data.header.who)


def _review_context(data: ReportData, lang: str) -> dict | None:
    q = data.review
    if q is None:
        return None
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header
    rows = [{
        "rank": d.rank, "deal_id": d.deal_id, "title": d.title, "owner": h.who(d.owner), "stage": label(d.stage, lang),
        "segment": d.segment, "amount": fmt.money(d.amount, lang), "score": fmt.number(d.score, lang, 1),
        "reasons": _texts(d.reasons, lang), "back": d.back, "comment": d.review_comment,
        "mark": tr("report.review.mark", by=d.reviewed_by or "—", at=fmt.moment(d.reviewed_at, lang, h.tz)) if d.reviewed_by or d.reviewed_at else "",
    } for d in q.deals]
    return {
        "summary": tr("report.review.summary", atypical=fmt.integer(q.n_atypical, lang), open=fmt.integer(q.n_open, lang),
                      hidden=fmt.integer(q.n_reviewed_hidden, lang)),
        "rows": rows, "note": tr("report.review.note", shown=fmt.integer(len(rows), lang)),
    }


def _leading_context(data: ReportData, lang: str) -> dict | None:
    m = data.leading
    if m is None:
        return None
    tr = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    h = data.header
    counts = {v: sum(1 for r in m.rows if r.verdict == v) for v in ("matters", "weak", "vanity", "not_enough_data")}
    rows = []
    for r in m.rows:
        rows.append({
            "rank": r.rank, "metric": metric_label(r.metric, lang), "key": r.metric, "level": tr(f"report.leading.level.{r.level}"),
            "effect": charts.effect_text(r.level, r.effect, lang),
            "ci": f"{charts.effect_text(r.level, r.ci_low, lang)} … {charts.effect_text(r.level, r.ci_high, lang)}" if r.ci_low is not None else "",
            "n": fmt.integer(r.n, lang), "verdict": r.verdict, "verdict_text": tr(f"report.leading.verdict.{r.verdict}"),
            "message": _texts(r.message, lang),
        })
    return {
        "summary": tr("report.leading.summary", closed=fmt.integer(m.closed_deals, lang), won=fmt.integer(m.won_deals, lang),
                      as_of=fmt.day(h.as_of, lang, h.tz)),
        "counts": tr("report.leading.counts", matters=counts["matters"], weak=counts["weak"], vanity=counts["vanity"],
                     few=counts["not_enough_data"]),
        "rows": rows, "method": _texts(m.method, lang),
    }


def render_report(data: ReportData, lang: str = "en", playbook: Any = None) -> str:
    """The HTML page of gathered report data (`lang` must be one of the languages it was gathered for)."""
    if lang not in data.langs:
        raise ValueError(f"the report data were gathered for {', '.join(data.langs)}, not {lang!r}: gather(..., langs=[{lang!r}])")
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
    if data.risk and data.risk.by_stage and not data.risk.unsupported:
        figures["risk"] = charts.to_div(charts.pipeline_figure(data.risk.by_stage, lang, tr, h.currency), "fig-risk")
    if data.week and data.week.buckets:
        figures["week"] = charts.to_div(charts.waterfall_figure(data.week.buckets, lang, tr, data.week.currency), "fig-week")
    if data.leading and any(r.effect is not None for r in data.leading.rows):
        figures["leading"] = charts.to_div(charts.leading_figure(data.leading.rows, lang, tr), "fig-leading")

    def unavailable(section: str) -> str | None:
        why = data.unavailable.get(section)
        if why is None:
            return None
        # the page never shows an exception's text (the command's stderr and the log say what failed)
        return tr("report.unavailable", reason=tr(f"report.unavailable.{'failed_plain' if why == 'failed' else why}"))

    ctx = {
        "lang": lang, "tr": tr, "fmt": fmt, "plotly_js": _plotly_js(), "figures": figures,
        "h": h, "data": data, "bounded": charts.bounded,
        "as_of": show_moment(h.as_of, h.tz, lang),
        "header": {
            "as_of": tr("report.header.as_of", as_of=show_moment(h.as_of, h.tz, lang), tz=str(h.tz)),
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
        "sections": [(key, tr(f"report.{key}.title")) for key in ORDER],
        "num": lambda key: f"{ORDER.index(key) + 1}.",
        "alerts": _alerts_context(data, lang), "risk": _risk_context(data, lang), "optimism": _optimism_context(data, lang),
        "review": _review_context(data, lang), "leading": _leading_context(data, lang), "week": _week_context(data, lang),
        "kpi_count": len(KPIS),
        "dynamics": dynamics_context(data.dynamics, lang, tr, h.currency, charts.to_div),
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
    data = gather(store, as_of=as_of, window=window, playbook=pb, progress=progress, strict=strict, langs=(lang,))
    return render_report(data, lang, pb)


def write_report(store: Any, out_path: str | Path, **kwargs: Any) -> Path:
    """Build the report and write it to `out_path` (UTF-8); returns the path."""
    path = Path(out_path)
    html = build_report(store, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
