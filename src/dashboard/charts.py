"""Plotly figure builders: tidy frames in, ``go.Figure`` out.

No Streamlit calls, no queries, no aggregation beyond reshaping for display. Text that comes from
data is HTML-escaped before it reaches hover labels.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

CURRENT = "#1f4e79"
PRIOR = "#9aa5b1"
OUTREACH = "#e69f00"  # Okabe-Ito orange: distinct from the blues for colour-blind readers


def _layout(fig: go.Figure, title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title={"text": html.escape(title), "x": 0, "xanchor": "left"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=380,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
        yaxis_title=y_title,
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#e5e8eb", rangemode="tozero")
    return fig


def weekly_counts(
    current: pd.DataFrame, prior: pd.DataFrame | None = None, outreach: pd.DataFrame | None = None,
    title: str = "Incidents per week",
) -> go.Figure:
    """Weekly incidents (week, count, partial), last year's weeks overlaid (week, count, already shifted),
    and scheduled outreach events per week (week, events) as bars on a second axis."""
    fig = go.Figure()
    if outreach is not None and len(outreach):
        fig.add_bar(
            x=outreach["week"], y=outreach["events"], name="Outreach events (scheduled)", yaxis="y2",
            marker={"color": OUTREACH, "opacity": 0.35},
            hovertemplate="%{y:,.0f} outreach events<extra></extra>",
        )
    if prior is not None and len(prior):
        fig.add_scatter(
            x=prior["week"], y=prior["count"], name="Same weeks last year", mode="lines",
            line={"color": PRIOR, "dash": "dash", "width": 2},
            hovertemplate="%{y:,.0f} last year<extra></extra>",
        )
    partial = current.get("partial", pd.Series(False, index=current.index)).astype(bool)
    fig.add_scatter(
        x=current["week"], y=current["count"], name="This period", mode="lines+markers",
        line={"color": CURRENT, "width": 3}, marker={"size": 4},
        hovertemplate="%{y:,.0f} incidents<extra></extra>",
    )
    if partial.any():
        fig.add_scatter(
            x=current.loc[partial, "week"], y=current.loc[partial, "count"], mode="markers",
            name="Partial week (period cuts it)", marker={"symbol": "circle-open", "size": 11, "color": CURRENT},
            hoverinfo="skip",
        )
    _layout(fig, title, "Incidents per week")
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                              "title": "Outreach events"})
    return fig


def top_areas(table: pd.DataFrame, title: str, value: str = "count", label: str = "Incidents") -> go.Figure:
    """Horizontal bars of the given rows (name, value, prior), largest on top, with last year's value
    as a marker."""
    data = table.sort_values(value)
    names = [html.escape(str(n)) for n in data["name"]]
    fig = go.Figure()
    fig.add_bar(y=names, x=data[value], orientation="h", name="This period", marker_color=CURRENT,
                hovertemplate="%{y}: %{x:,.0f}<extra></extra>")
    if "prior" in data:
        fig.add_scatter(y=names, x=data["prior"], mode="markers", name="Same period last year",
                        marker={"color": PRIOR, "symbol": "line-ns-open", "size": 16, "line": {"width": 3}},
                        hovertemplate="%{y} last year: %{x:,.0f}<extra></extra>")
    _layout(fig, title, "")
    fig.update_layout(hovermode="closest", xaxis_title=label, height=max(300, 28 * len(data) + 120))
    return fig


def offense_group_change(table: pd.DataFrame, title: str) -> go.Figure:
    """Grouped bars of current vs prior counts per offense group (columns label, count, prior)."""
    labels = [html.escape(str(n)) for n in table["label"]]
    fig = go.Figure()
    fig.add_bar(x=labels, y=table["prior"], name="Same period last year", marker_color=PRIOR,
                hovertemplate="%{x}: %{y:,.0f}<extra>last year</extra>")
    fig.add_bar(x=labels, y=table["count"], name="This period", marker_color=CURRENT,
                hovertemplate="%{x}: %{y:,.0f}<extra>this period</extra>")
    _layout(fig, title, "Incidents")
    fig.update_layout(barmode="group", hovermode="closest")
    return fig
