"""The dynamics section of the report as the page shows it: small multiples of the weekly inflow per
segment and per channel (Plotly), and the significant changes in words."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dealpulse.report import fmt
from dealpulse.report.sections.dynamics import DynamicsSection, InflowSeries

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
BAR = "#9fb6d6"
BAR_RECENT = "#2f5d9b"
LINE = "#bf8700"
GOOD = "#1a7f37"
BAD = "#cf222e"
SHADE = "rgba(47,93,155,0.07)"

Tr = Callable[..., str]


def inflow_figure(section: DynamicsSection, series: list[InflowSeries], lang: str, tr: Tr,
                  currency: str | None = None) -> go.Figure:
    """One row per subject: new deals per week (bars, left scale) and their amount (line, right scale)
    over the last weeks; the recent window shaded, a significant rise or fall framed green or red."""
    n = len(series)
    titles = []
    for s in series:
        mark = {"up": " ▲", "down": " ▼"}.get(s.change or "", "")
        colour = GOOD if s.good else BAD
        text = s.value + (f"<span style='color:{colour}'>{mark}</span>" if mark else "")
        titles.append(text)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=min(0.08, 0.5 / max(n, 1)),
                        subplot_titles=titles, specs=[[{"secondary_y": True}] for _ in range(n)])
    def local(at: datetime) -> datetime:  # the export's zone, as the page shows times
        return at if section.tz is None else at.replace(tzinfo=timezone.utc).astimezone(section.tz).replace(tzinfo=None)

    x = [local(w) for w in section.week_ends]
    recent_from, end = local(section.recent_from), local(section.as_of)
    unit = f"\u00a0{currency}" if currency else ""
    shapes: list[dict] = []
    for i, s in enumerate(series, start=1):
        colours = [BAR_RECENT if w > recent_from else BAR for w in x]
        week_text = [fmt.calendar_day(w, lang) for w in x]  # already local
        fig.add_trace(go.Bar(
            x=x, y=s.counts, marker_color=colours, name=tr("dynamics.report.count"), showlegend=i == 1,
            hovertext=[tr("dynamics.report.hover_count", week=wk, n=fmt.integer(c, lang)) for wk, c in zip(week_text, s.counts)],
            hoverinfo="text"), row=i, col=1, secondary_y=False)
        fig.add_trace(go.Scatter(
            x=x, y=s.amounts, mode="lines", line=dict(color=LINE, width=1.6), name=tr("dynamics.report.amount"),
            showlegend=i == 1,
            hovertext=[tr("dynamics.report.hover_amount", week=wk, amount=fmt.money(a, lang) + unit) for wk, a in zip(week_text, s.amounts)],
            hoverinfo="text"), row=i, col=1, secondary_y=True)
        # the recent window shaded (and framed when it changed) — as add_vrect would, written at once below:
        # add_vrect re-validates the whole layout each time (seconds for a few dozen subjects)
        sub = fig.get_subplot(i, 1)
        refs = dict(type="rect", xref=sub.xaxis.plotly_name.replace("axis", ""),
                    yref=sub.yaxis.plotly_name.replace("axis", "") + " domain", x0=recent_from, x1=end, y0=0, y1=1)
        shapes.append(dict(refs, fillcolor=SHADE, line=dict(width=0)))
        if s.change:
            shapes.append(dict(refs, fillcolor="rgba(0,0,0,0)", line=dict(color=GOOD if s.good else BAD, width=2)))
        fig.update_yaxes(rangemode="tozero", showgrid=True, gridcolor="#e6e8eb", row=i, col=1, secondary_y=False,
                         tickfont=dict(size=10))
        fig.update_yaxes(rangemode="tozero", showgrid=False, row=i, col=1, secondary_y=True, tickfont=dict(size=10, color=LINE))
    fig.update_layout(shapes=shapes)
    fig.update_annotations(font=dict(size=13), xanchor="left", x=0)
    from dealpulse.report.charts import separators

    fig.update_layout(height=90 + 130 * n, paper_bgcolor="white", plot_bgcolor="white", bargap=0.15, separators=separators(lang),
                      font=dict(family=FONT, size=12, color="#1f2328"), hoverlabel=dict(font_family=FONT),
                      legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
                      margin=dict(l=10, r=10, t=60, b=30))
    return fig


def dynamics_context(section: DynamicsSection | None, lang: str, tr: Tr, currency: str | None,
                     to_div: Callable[[go.Figure, str], str]) -> dict[str, Any] | None:
    """What section_dynamics.html needs: the significant rows in words, the two figures, the note."""
    if section is None:
        return None
    weeks = fmt.number(section.window_weeks, lang, 0)
    if not section.enough:
        return {"empty": tr("dynamics.report.empty", weeks=fmt.number(8, lang, 0), window=weeks)}
    rows = [{"good": bool(r.good), "subject": ", ".join(tr(f"dynamics.dim.{k}", value=v) for k, v in r.subject.items()),
             "metric": tr(f"dynamics.metric.{r.metric}"), "since": fmt.calendar_day(r.since, lang) if r.since else "",
             "text": r.message.get(lang, "")} for r in section.rows]
    figures = {}
    for dim in ("segment", "channel"):
        part = [s for s in section.series if s.dimension == dim]
        if part:
            figures[dim] = to_div(inflow_figure(section, part, lang, tr, currency), f"fig-dynamics-{dim}")
    return {
        "empty": "", "rows": rows,
        "none": tr("dynamics.report.none", as_of=fmt.day(section.as_of, lang, section.tz) if section.tz else
                   fmt.calendar_day(section.as_of, lang), tested=fmt.integer(section.tested, lang)),
        "figures": figures,
        "titles": {"segment": tr("dynamics.report.segments"), "channel": tr("dynamics.report.channels")},
        "note": tr("dynamics.report.note", weeks=len(section.week_ends), baseline=fmt.number(section.baseline_weeks, lang, 0)),
    }


__all__ = ["inflow_figure", "dynamics_context"]
