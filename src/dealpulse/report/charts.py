"""Plotly figures of the report: funnel, dwell against norms, manager x step heat map, the open pipeline's
expected won amount by stage, the leading metrics' effects with their intervals.

Figures are returned as `go.Figure`; `to_div` turns one into an HTML fragment WITHOUT Plotly's
JavaScript (the page embeds it once).
"""

from __future__ import annotations

from typing import Any, Callable

import plotly.graph_objects as go

from dealpulse.labels import label, metric_label
from dealpulse.report import fmt
from dealpulse.report.sections.dwell import DwellRow
from dealpulse.report.sections.funnel import FunnelRow
from dealpulse.report.sections.heatmap import Heatmap
from dealpulse.report.sections.leading import LeadingRow
from dealpulse.report.sections.risk import StageOutlook

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2328"
MUTED = "#656d76"
GRID = "#e6e8eb"
ACCENT = "#2f5d9b"
GOOD = "#1a7f37"
BAD = "#cf222e"
GREY_CELL = "#eaecef"
# red (0%) -> amber -> green (100%), readable text on every tone
AMBER = "#bf8700"
VERDICT_COLOURS = {"matters": GOOD, "weak": AMBER, "vanity": MUTED, "not_enough_data": "#afb8c1"}
RATE_SCALE = [[0.0, "#e0705c"], [0.5, "#f9d49b"], [0.8, "#d4ecc0"], [1.0, "#66b36b"]]

Tr = Callable[..., str]


def separators(lang: str) -> str:
    """Plotly's decimal and thousands separators as the reader writes numbers (Babel's symbols)."""
    from babel.numbers import get_decimal_symbol, get_group_symbol

    loc = lang if lang in ("en", "ru") else "en"
    return get_decimal_symbol(loc) + get_group_symbol(loc)


def money_ticks(lo: float, hi: float, lang: str, n: int = 5) -> dict[str, Any]:
    """Axis ticks for amounts written as the report writes them (`200 млн`, `1 млрд` / `200M`, `1B`),
    not Plotly's SI `200M`, `1G`."""
    import math

    lo, hi = float(min(lo, hi)), float(max(lo, hi))
    span = hi - lo if hi > lo else (abs(hi) or 1.0)
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    vals = [first + i * step for i in range(int((hi - first) / step) + 1)]
    return dict(tickmode="array", tickvals=vals, ticktext=[fmt.money(v, lang) for v in vals])


def _layout(fig: go.Figure, height: int, lang: str = "en", **kw: Any) -> go.Figure:
    kw.setdefault("margin", dict(l=10, r=30, t=10, b=40))
    fig.update_layout(
        height=height, paper_bgcolor="white", plot_bgcolor="white", separators=separators(lang),
        font=dict(family=FONT, size=13, color=INK), hoverlabel=dict(font_family=FONT), **kw,
    )
    return fig


def bounded(rate: float | None, is_bound: bool, lang: str) -> str:
    """A conversion, with "≥" when many deals are still undecided (it is a lower bound)."""
    text = fmt.pct(rate, lang)
    return f"≥{text}" if is_bound and rate is not None else text


def funnel_figure(rows: list[FunnelRow], lang: str, tr: Tr) -> go.Figure:
    """Deals that entered each stage (bars) with the estimated conversion to the next stage and to won."""
    stages = [label(r.stage, lang) for r in rows]
    text = [
        tr("report.funnel.bar_text", entered=fmt.integer(r.entered, lang),
           next=bounded(r.conv_next, r.next_is_bound, lang), won=bounded(r.conv_won, r.won_is_bound, lang))
        for r in rows
    ]
    hover = [
        tr("report.funnel.hover", stage=label(r.stage, lang), entered=fmt.integer(r.entered, lang),
           in_stage=fmt.integer(r.in_stage, lang), lost=fmt.integer(r.lost, lang),
           next=bounded(r.conv_next, r.next_is_bound, lang), won=bounded(r.conv_won, r.won_is_bound, lang))
        for r in rows
    ]
    top = max([r.entered for r in rows] or [1]) or 1
    fig = go.Figure(go.Bar(
        y=stages, x=[r.entered for r in rows], orientation="h", marker_color=ACCENT,
        text=text, textposition="outside", cliponaxis=False, hovertext=hover, hoverinfo="text",
        textfont=dict(color=INK),
    ))
    fig.update_yaxes(autorange="reversed", title=None, ticksuffix="  ")
    fig.update_xaxes(range=[0, top * 1.6], showgrid=True, gridcolor=GRID, title=tr("report.funnel.axis"), zeroline=False)
    return _layout(fig, lang=lang, height=60 + 48 * max(len(rows), 1), showlegend=False, bargap=0.35)


def dwell_figure(rows: list[DwellRow], lang: str, tr: Tr) -> go.Figure:
    """Per stage: median..p80 dwell (a bar from median to p80) next to the norm of won deals and the
    playbook's deadline of the stage's last step."""
    stages = [label(r.stage, lang) for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        name=tr("report.dwell.median"), y=stages, x=[r.median_days for r in rows], orientation="h",
        marker_color=ACCENT, hovertemplate="%{y}: %{x:.1f} " + tr("report.unit.days") + "<extra>%{fullData.name}</extra>",
    ))
    fig.add_trace(go.Bar(
        name=tr("report.dwell.p80"), y=stages,
        x=[(r.p80_days - r.median_days) if r.p80_days is not None and r.median_days is not None else None for r in rows],
        base=[r.median_days for r in rows], orientation="h", marker_color="#a9bfdc",
        customdata=[r.p80_days for r in rows],
        hovertemplate="%{y}: %{customdata:.1f} " + tr("report.unit.days") + "<extra>%{fullData.name}</extra>",
    ))
    if any(r.norm_won_days is not None for r in rows):
        fig.add_trace(go.Scatter(
            name=tr("report.dwell.norm"), y=stages, x=[r.norm_won_days for r in rows], mode="markers",
            marker=dict(symbol="diamond", size=13, color=GOOD, line=dict(color="white", width=1)),
            hovertemplate="%{y}: %{x:.1f} " + tr("report.unit.days") + "<extra>%{fullData.name}</extra>",
        ))
    fig.add_trace(go.Scatter(
        name=tr("report.dwell.before"), y=stages, x=[r.before_median_days for r in rows], mode="markers",
        marker=dict(symbol="circle-open", size=12, color=MUTED, line=dict(width=2)),
        hovertemplate="%{y}: %{x:.1f} " + tr("report.unit.days") + "<extra>%{fullData.name}</extra>",
    ))
    fig.add_trace(go.Scatter(
        name=tr("report.dwell.deadline"), y=stages, x=[r.stage_deadline_days for r in rows], mode="markers",
        marker=dict(symbol="line-ns", size=22, color=BAD, line=dict(color=BAD, width=3)),
        hovertemplate="%{y}: %{x:.1f} " + tr("report.unit.days") + "<extra>%{fullData.name}</extra>",
    ))
    fig.update_yaxes(autorange="reversed", ticksuffix="  ")
    fig.update_xaxes(title=tr("report.dwell.axis"), showgrid=True, gridcolor=GRID, zeroline=False, rangemode="tozero")
    return _layout(fig, lang=lang, height=110 + 48 * max(len(rows), 1), barmode="stack", bargap=0.4,
                   legend=dict(orientation="h", traceorder="normal", y=-0.18 - 1.2 / max(len(rows), 1), x=0, yanchor="top"),
                   margin=dict(l=10, r=30, t=10, b=90))


def heatmap_figure(hm: Heatmap, lang: str, tr: Tr, who: Callable[[str], str] = str) -> go.Figure:
    """On-time rate per manager (rows, worst first) and step (columns); cells with fewer than
    `hm.min_n` steps are grey and say so."""
    z_main, z_grey, text_main, text_grey, hover = [], [], [], [], []
    for i, m in enumerate(hm.managers):
        zr, zg, tm, tg, hv = [], [], [], [], []
        for j, s in enumerate(hm.steps):
            rate, n = hm.rate[i][j], hm.n[i][j]
            if n and rate is not None and n >= hm.min_n:
                zr.append(rate); zg.append(None); tg.append("")
                tm.append(f"<b>{fmt.pct(rate, lang)}</b><br><span style='font-size:11px'>n={n}</span>")
            elif n:
                zr.append(None); zg.append(1); tm.append("")
                tg.append(f"{fmt.pct(rate, lang)}<br><span style='font-size:11px'>n={n}</span>")
            else:
                zr.append(None); zg.append(None); tm.append(""); tg.append("")
            hv.append(tr("report.heatmap.hover", manager=who(m), step=label(s, lang), rate=fmt.pct(rate, lang), n=n))
        z_main.append(zr); z_grey.append(zg); text_main.append(tm); text_grey.append(tg); hover.append(hv)
    # y labels: the manager with their overall rate
    ylabels = [f"{who(m)}  ({fmt.pct(hm.manager_rate.get(m), lang)})" for m in hm.managers]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=z_grey, x=[label(s, lang) for s in hm.steps], y=ylabels, colorscale=[[0, GREY_CELL], [1, GREY_CELL]], showscale=False,
        text=text_grey, texttemplate="%{text}", textfont=dict(color=MUTED, size=12), hovertext=hover, hoverinfo="text", xgap=2, ygap=2, zmin=0, zmax=1,
    ))
    fig.add_trace(go.Heatmap(
        z=z_main, x=[label(s, lang) for s in hm.steps], y=ylabels, colorscale=RATE_SCALE, zmin=0, zmax=1,
        text=text_main, texttemplate="%{text}", hovertext=hover, hoverinfo="text", xgap=2, ygap=2,
        textfont=dict(color=INK, size=12),
        colorbar=dict(title=dict(text=tr("report.heatmap.scale"), side="right"), tickformat=".0%", thickness=12, len=min(1.0, 260 / (90 + 46 * max(len(hm.managers), 1))), y=1, yanchor="top"),
    ))
    fig.update_yaxes(autorange="reversed", ticksuffix="  ")
    fig.update_xaxes(side="top", tickangle=0)
    height = 90 + 46 * max(len(hm.managers), 1)
    return _layout(fig, lang=lang, height=height, margin=dict(l=10, r=10, t=50, b=10))


def pipeline_figure(rows: list[StageOutlook], lang: str, tr: Tr, currency: str | None = None) -> go.Figure:
    """Per stage of the open pipeline: its amount, the amount the model expects to be won and what the
    stage-and-segment win rates would expect."""
    stages = [label(r.stage, lang) for r in rows]
    top = max([r.amount for r in rows] or [1]) or 1
    unit = f" {currency}" if currency else ""
    hover = [tr("report.risk.chart.hover", stage=label(r.stage, lang), deals=fmt.integer(r.deals, lang), amount=fmt.money(r.amount, lang) + unit,
                expected=fmt.money(r.expected, lang) + unit, baseline=fmt.money(r.baseline_expected, lang) + unit) for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        name=tr("report.risk.chart.amount"), y=stages, x=[r.amount for r in rows], orientation="h", marker_color="#c9d6ea",
        hovertext=hover, hoverinfo="text", text=[fmt.money(r.amount, lang) for r in rows], textposition="outside",
        cliponaxis=False, textfont=dict(color=MUTED),
    ))
    fig.add_trace(go.Bar(
        name=tr("report.risk.chart.expected"), y=stages, x=[r.expected for r in rows], orientation="h", marker_color=ACCENT,
        hovertext=hover, hoverinfo="text", textposition="inside",
        text=[fmt.money(r.expected, lang) if r.expected >= 0.12 * top else "" for r in rows],
        insidetextanchor="end", textfont=dict(color="white"),
    ))
    fig.add_trace(go.Scatter(
        name=tr("report.risk.chart.baseline"), y=stages, x=[r.baseline_expected for r in rows], mode="markers",
        marker=dict(symbol="line-ns", size=26, color=INK, line=dict(color=INK, width=3)), hovertext=hover, hoverinfo="text",
    ))
    fig.update_yaxes(autorange="reversed", ticksuffix="  ")
    fig.update_xaxes(range=[0, top * 1.18], showgrid=True, gridcolor=GRID, zeroline=False, **money_ticks(0, top * 1.18, lang),
                     title=tr("report.risk.col.amount") + (f", {currency}" if currency else ""))
    return _layout(fig, lang=lang, height=120 + 46 * max(len(rows), 1), barmode="overlay", bargap=0.35,
                   legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
                   margin=dict(l=10, r=30, t=40, b=40))


def effect_text(level: str, v: float | None, lang: str) -> str:
    if v is None:
        return "—"
    return fmt.signed(v, lang, "rate") if level == "deal" else fmt.coef(v, lang)


def leading_figure(rows: list[LeadingRow], lang: str, tr: Tr) -> go.Figure:
    """Dot and whisker: each metric's effect with its 95% interval, coloured by verdict; one panel per
    level (a win-rate difference in points; a correlation)."""
    from plotly.subplots import make_subplots

    levels = [lv for lv in ("deal", "manager_month") if any(r.level == lv and r.effect is not None for r in rows)]
    sizes = [sum(1 for r in rows if r.level == lv and r.effect is not None) for lv in levels] or [1]
    fig = make_subplots(rows=max(len(levels), 1), cols=1, row_heights=[n + 1.5 for n in sizes], vertical_spacing=0.12,
                        subplot_titles=[tr(f"report.leading.chart.{lv}") for lv in levels] or None)
    shown: set[str] = set()
    for i, lv in enumerate(levels, 1):
        scale = 100.0 if lv == "deal" else 1.0
        part = [r for r in rows if r.level == lv and r.effect is not None]
        for verdict in ("matters", "weak", "vanity", "not_enough_data"):
            sub = [r for r in part if r.verdict == verdict]
            if not sub:
                continue
            fig.add_trace(go.Scatter(
                name=tr(f"report.leading.verdict.{verdict}"), legendgroup=verdict, showlegend=verdict not in shown,
                y=[metric_label(r.metric, lang) for r in sub], x=[scale * r.effect for r in sub], mode="markers",
                marker=dict(size=11, color=VERDICT_COLOURS[verdict]),
                error_x=dict(type="data", symmetric=False, color=VERDICT_COLOURS[verdict], thickness=2, width=5,
                             array=[scale * (r.ci_high - r.effect) if r.ci_high is not None else 0 for r in sub],
                             arrayminus=[scale * (r.effect - r.ci_low) if r.ci_low is not None else 0 for r in sub]),
                hovertext=[tr("report.leading.chart.hover", metric=metric_label(r.metric, lang), effect=effect_text(lv, r.effect, lang),
                              low=effect_text(lv, r.ci_low, lang), high=effect_text(lv, r.ci_high, lang),
                              verdict=tr(f"report.leading.verdict.{r.verdict}")) for r in sub],
                hoverinfo="text",
            ), row=i, col=1)
            shown.add(verdict)
        fig.update_yaxes(categoryorder="array", categoryarray=[metric_label(r.metric, lang) for r in reversed(part)], ticksuffix="  ", row=i, col=1)
        fig.update_xaxes(showgrid=True, gridcolor=GRID, zeroline=True, zerolinecolor=MUTED, zerolinewidth=1, row=i, col=1,
                         ticksuffix="" if lv != "deal" else ("\u00a0п.\u00a0п." if lang == "ru" else " pp"))
    fig.update_annotations(font=dict(size=13, color=MUTED), x=0, xanchor="left")
    n = sum(sizes)
    return _layout(fig, lang=lang, height=110 + 30 * n + 50 * len(levels), legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
                   margin=dict(l=10, r=30, t=50, b=30))


WATERFALL_SHOWN = ("open_start", "new", "reopened", "amount_up", "amount_down", "won", "lost", "open_end")


def waterfall_figure(buckets: list[Any], lang: str, tr: Tr, currency: str | None = None) -> go.Figure:
    """The open pipeline's amount from the week's start to its end: what came in, changed and closed (the
    buckets that move an amount; the stage and close-date moves are in the table beside it)."""
    rows = [b for b in buckets if b.bucket in WATERFALL_SHOWN and (b.amount or b.bucket.startswith("open_") or b.deals)]
    unit = f" {currency}" if currency else ""
    labels = [tr(f"changes.bucket.{b.bucket}") for b in rows]
    measure = ["absolute" if b.bucket == "open_start" else "total" if b.bucket == "open_end" else "relative" for b in rows]
    text = [fmt.money(b.amount, lang) if b.bucket.startswith("open_") else fmt.signed(b.amount, lang, "money") for b in rows]
    hover = [tr("report.week.chart.hover", label=lab, deals=fmt.integer(b.deals, lang), amount=t_ + unit)
             for lab, b, t_ in zip(labels, rows, text)]
    fig = go.Figure(go.Waterfall(
        x=labels, y=[b.amount for b in rows], measure=measure, text=text, textposition="outside", cliponaxis=False,
        hovertext=hover, hoverinfo="text", connector=dict(line=dict(color=GRID)),
        increasing=dict(marker=dict(color=GOOD)), decreasing=dict(marker=dict(color=BAD)),
        totals=dict(marker=dict(color=ACCENT)),
    ))
    level, levels = 0.0, []
    for b in rows:  # the running level, to zoom on the changes (a week moves a few % of the pipeline)
        level = b.amount if b.bucket.startswith("open_") else level + b.amount
        levels.append(level)
    lo, hi = min(levels or [0.0]), max(levels or [1.0])
    pad = max(hi - lo, 0.02 * abs(hi) or 1.0) * 0.6
    fig.update_yaxes(showgrid=True, gridcolor=GRID, zeroline=False, range=[max(0.0, lo - pad), hi + pad],
                     **money_ticks(max(0.0, lo - pad), hi + pad, lang),
                     title=tr("report.risk.col.amount") + (f", {currency}" if currency else ""))
    return _layout(fig, lang=lang, height=340, showlegend=False, margin=dict(l=10, r=30, t=20, b=40))


def to_div(fig: go.Figure, div_id: str) -> str:
    """An HTML fragment for the figure; Plotly's JS is NOT included (the page carries it once)."""
    return fig.to_html(
        full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id,
        config={"displayModeBar": False, "responsive": True},
    )
