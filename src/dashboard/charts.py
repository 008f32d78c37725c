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


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _layout(fig: go.Figure, title: str, y_title: str, /, **extra) -> go.Figure:
    """The chart with the shared look plus its own ``extra`` layout (nested dicts, merged over it): a
    NEW figure built from ``fig``'s traces and the whole layout at once. Plotly's update_layout,
    update_xaxes/update_yaxes and add_vline cost 5-20 ms each (validation of every update), several
    times a figure and several figures a rerun; a layout given to the constructor costs about 1 ms.
    Tests check the figures are the same as with those calls."""
    current = fig.layout.to_plotly_json()
    current.pop("template", None)
    grid = {"gridcolor": "#e5e8eb", "rangemode": "tozero"}
    # Like update_yaxes: every y axis the chart has set up so far (a second axis for outreach).
    axes = {name: grid for name in current if name.startswith("yaxis")}
    axes["yaxis"] = {**grid, "title": {"text": y_title}}
    shared = {
        "title": {"text": html.escape(title), "x": 0, "xanchor": "left"},
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "height": 380,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.15},
        "plot_bgcolor": "white",
        "xaxis": {"showgrid": False},
        **axes,
    }
    return go.Figure(data=fig.data, layout=_merge(_merge(current, shared), extra))


def _vline(x, line: dict) -> dict:
    """The shape fig.add_vline(x, line=line) adds (without its per-call axis bookkeeping)."""
    return {"type": "line", "x0": x, "x1": x, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", "line": line}


def _hline(y, line: dict) -> dict:
    return {"type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y, "yref": "y", "line": line}


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
    return _layout(fig, title, "Incidents per week",
                   yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                           "title": {"text": "Outreach events"}, "tickformat": ",d", "tickmode": "auto"})


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
    return _layout(fig, title, "", hovermode="closest", xaxis={"title": {"text": label}}, height=max(300, 28 * len(data) + 120))


def offense_group_change(table: pd.DataFrame, title: str) -> go.Figure:
    """Horizontal grouped bars of current vs prior counts per offense group (columns label, count, prior),
    first group on top."""
    data = table.iloc[::-1]
    labels = [html.escape(str(n)) for n in data["label"]]
    fig = go.Figure()
    fig.add_bar(y=labels, x=data["prior"], name="Same period last year", marker_color=PRIOR, orientation="h",
                hovertemplate="%{y}: %{x:,.0f}<extra>last year</extra>")
    fig.add_bar(y=labels, x=data["count"], name="This period", marker_color=CURRENT, orientation="h",
                hovertemplate="%{y}: %{x:,.0f}<extra>this period</extra>")
    return _layout(fig, title, "", barmode="group", hovermode="closest", xaxis={"title": {"text": "Incidents"}})


BAND = "rgba(154, 165, 177, 0.25)"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekly_trend(trend: pd.DataFrame, outreach: pd.DataFrame | None = None, title: str = "Incidents per week",
                 y_title: str = "Incidents per week") -> go.Figure:
    """The trends page's weekly chart (compstat.weekly_trend: week, count, rolling_mean, last_year, low,
    high): the expected range as a band, last year dashed, this year with its 4-week mean, and scheduled
    outreach (week, events) as marks on a second axis."""
    fig, extra = go.Figure(), {}
    band = trend.dropna(subset=["low", "high"])
    if len(band):
        fig.add_scatter(x=band["week"], y=band["high"], mode="lines", line={"width": 0}, showlegend=False,
                        hoverinfo="skip")
        fig.add_scatter(x=band["week"], y=band["low"], mode="lines", line={"width": 0}, fill="tonexty",
                        fillcolor=BAND, name="Expected range (95%)",
                        customdata=band[["low", "high"]].to_numpy(),
                        hovertemplate="expected %{customdata[0]:,.0f}–%{customdata[1]:,.0f}<extra></extra>")
    if trend["last_year"].notna().any():
        fig.add_scatter(x=trend["week"], y=trend["last_year"], name="Same week last year", mode="lines",
                        line={"color": PRIOR, "dash": "dash", "width": 2},
                        hovertemplate="%{y:,.0f} last year<extra></extra>")
    fig.add_scatter(x=trend["week"], y=trend["count"], name="This year", mode="lines+markers",
                    line={"color": CURRENT, "width": 2}, marker={"size": 4},
                    hovertemplate="%{y:,.0f} this week<extra></extra>")
    fig.add_scatter(x=trend["week"], y=trend["rolling_mean"], name="4-week average", mode="lines",
                    line={"color": CURRENT, "width": 4, "dash": "dot"}, opacity=0.6,
                    hovertemplate="%{y:,.1f} 4-week average<extra></extra>")
    if outreach is not None and len(outreach) and (outreach["events"] > 0).any():
        marks = outreach[outreach["events"] > 0]
        fig.add_scatter(x=marks["week"], y=marks["events"], yaxis="y2", mode="markers",
                        name="Outreach events (scheduled)",
                        marker={"symbol": "triangle-up", "size": 9, "color": OUTREACH},
                        hovertemplate="%{y:,.0f} outreach events<extra></extra>")
        # gridcolor: the shared look styles every y axis set up before it, as update_yaxes did
        extra["yaxis2"] = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                           "title": {"text": "Outreach events"}, "tickformat": ",d", "gridcolor": "#e5e8eb"}
    return _layout(fig, title, y_title, **extra)


def hour_dow_heatmap(grid: pd.DataFrame, title: str, label: str = "incidents") -> go.Figure:
    """Weekday x hour heatmap of a complete grid (compstat.hour_dow_grid: dow 1-7, hour 0-23, count),
    Monday on top."""
    z = grid.pivot(index="dow", columns="hour", values="count").reindex(index=range(1, 8), columns=range(24))
    fig = go.Figure(go.Heatmap(
        z=z.to_numpy(), x=[f"{h:02d}:00" for h in range(24)], y=list(WEEKDAYS), colorscale="Blues",
        colorbar={"title": html.escape(label)},
        hovertemplate="%{y} %{x}: %{z:,.0f} " + html.escape(label) + "<extra></extra>",
    ))
    return _layout(fig, title, "", hovermode="closest", yaxis={"autorange": "reversed", "gridcolor": None, "rangemode": None})


def sparkline(weekly: pd.DataFrame, title: str, city: pd.DataFrame | None = None) -> go.Figure:
    """A small weekly line (week, count; NaN = withheld in the public view, drawn as a gap), for the
    map's drill-down and comparison panels. ``city`` (week, count) adds the city's weekly counts scaled
    to the area's mean, dotted, so the shapes can be compared. Weeks flagged ``partial`` (the period
    cuts them) are left out: a short week would read as a drop."""
    if "partial" in weekly:
        weekly = weekly[~weekly["partial"].astype(bool)]
    fig = go.Figure()
    if city is not None and len(city) and weekly["count"].notna().any():
        scale = weekly["count"].mean() / city["count"].mean() if city["count"].mean() else 0.0
        fig.add_scatter(x=city["week"], y=city["count"] * scale, mode="lines", name="City (scaled)",
                        line={"color": PRIOR, "dash": "dot", "width": 1.5}, hoverinfo="skip")
    fig.add_scatter(x=weekly["week"], y=weekly["count"], mode="lines+markers", name="Incidents per week",
                    line={"color": CURRENT, "width": 2}, marker={"size": 3}, connectgaps=False,
                    hovertemplate="week of %{x|%d %b %Y}: %{y:,.0f}<extra></extra>")
    return _layout(fig, title, "", height=170, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
                   hovermode="closest", title={"font": {"size": 13}})


# ------------------------------------------------------------------------- outreach and impact (issue 5)

GROUP_COLOURS = {"treated": CURRENT, "comparison": PRIOR, "buffer": OUTREACH}
SERIES_COLOURS = ("#1f4e79", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#0072b2", "#f0e442",
                  "#999999", "#882255", "#44aa99", "#117733", "#332288")


def harm_vs_outreach(table: pd.DataFrame, title: str, harm_label: str) -> go.Figure:
    """Each area as a point: outreach events (x) against harm (y); areas flagged ``gap`` (much harm,
    little outreach) in orange. Columns name, harm, events, gap."""
    fig = go.Figure()
    for flag, colour, label in ((False, CURRENT, "Other areas"), (True, OUTREACH, "Much harm, little outreach")):
        part = table[table["gap"] == flag]
        if not len(part):
            continue
        fig.add_scatter(x=part["events"], y=part["harm"], mode="markers", name=label,
                        text=[html.escape(str(n)) for n in part["name"]],
                        marker={"color": colour, "size": 9, "opacity": 0.8, "line": {"width": 0.5, "color": "white"}},
                        hovertemplate="%{text}<br>%{x:,.0f} events · %{y:,.0f} " + html.escape(harm_label.lower())
                        + "<extra></extra>")
    return _layout(fig, title, harm_label, hovermode="closest", xaxis={"title": {"text": "Outreach events"}})


def monthly_events(frame: pd.DataFrame, by: str, title: str) -> go.Figure:
    """Stacked bars of outreach events per month (columns month, ``by``, events), one colour per ``by``."""
    fig = go.Figure()
    for i, (key, part) in enumerate(frame.groupby(by, sort=True)):
        fig.add_bar(x=part["month"], y=part["events"], name=html.escape(str(key)),
                    marker_color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
                    hovertemplate=html.escape(str(key)) + ": %{y:,.0f}<extra></extra>")
    return _layout(fig, title, "Events", barmode="stack")


def adoption_lines(frame: pd.DataFrame, measure: str, title: str, labels: dict[str, str] | None = None) -> go.Figure:
    """Lines of how many places or units ran each event type per month (columns event_type, month,
    measure, active), for one ``measure``."""
    labels = labels or {}
    fig = go.Figure()
    part = frame[frame["measure"] == measure]
    for i, (key, rows) in enumerate(part.groupby("event_type", sort=True)):
        name = html.escape(labels.get(key, str(key)))
        fig.add_scatter(x=rows["month"], y=rows["active"], mode="lines+markers", name=name,
                        line={"color": SERIES_COLOURS[i % len(SERIES_COLOURS)], "width": 2}, marker={"size": 4},
                        hovertemplate=name + ": %{y:,.0f}<extra></extra>")
    return _layout(fig, title, f"{measure.capitalize()} running it")


def group_weekly(weekly: pd.DataFrame, start, title: str) -> go.Figure:
    """Weekly incidents of the treated, comparison and buffer areas (columns week, group, count), each as
    an index (its mean before ``start`` = 100) so areas of different size can be compared."""
    fig = go.Figure()
    start = pd.Timestamp(start)
    for group, part in weekly.groupby("group", sort=False):
        base = part.loc[pd.to_datetime(part["week"]) < start, "count"].mean()
        if not base or pd.isna(base):
            continue
        fig.add_scatter(x=part["week"], y=part["count"] / base * 100, mode="lines", name=html.escape(str(group)),
                        line={"color": GROUP_COLOURS.get(group, PRIOR), "width": 2},
                        customdata=part["count"],
                        hovertemplate="%{y:.0f} (%{customdata:,.0f} incidents)<extra>" + html.escape(str(group))
                        + "</extra>")
    return _layout(fig, title, "Index (before the start = 100)", yaxis={"rangemode": "normal"},
                   shapes=[_vline(start, {"color": "#555", "dash": "dot"})])


def event_study(coefs: pd.DataFrame, title: str) -> go.Figure:
    """Leads and lags: % difference between treated and comparison areas in each bin of weeks around the
    start (columns bin, first_week, last_week, estimate, low, high; log scale in, % out), with 95%
    intervals; the reference bin is 0 by construction."""
    import math

    def pct(column: str) -> pd.Series:
        return (coefs[column].astype(float).map(math.exp) - 1) * 100

    mid = (coefs["first_week"] + coefs["last_week"]) / 2
    est, low, high = pct("estimate"), pct("low"), pct("high")
    labels = [f"weeks {a:+d} to {b:+d}" for a, b in zip(coefs["first_week"], coefs["last_week"], strict=True)]
    colour = [PRIOR if b < 0 else CURRENT for b in coefs["bin"]]
    fig = go.Figure()
    fig.add_scatter(x=mid, y=est, mode="markers", name="Treated vs comparison",
                    marker={"color": colour, "size": 9},
                    error_y={"type": "data", "symmetric": False, "array": high - est, "arrayminus": est - low,
                             "color": "#777"},
                    text=labels, hovertemplate="%{text}: %{y:+.1f}%<extra></extra>")
    return _layout(fig, title, "% difference (95% interval)", hovermode="closest",
                   xaxis={"title": {"text": "Weeks since the start (grey: before)"}}, yaxis={"rangemode": "normal"},
                   shapes=[_hline(0, {"color": "#555", "width": 1}), _vline(-0.5, {"color": "#555", "dash": "dot"})])


def its_fit(series: pd.DataFrame, start, title: str) -> go.Figure:
    """Interrupted time series: weekly counts (points), the fitted model (line) and what it implies without
    the change at the start (dashed). Columns week, count, fitted, counterfactual."""
    fig = go.Figure()
    fig.add_scatter(x=series["week"], y=series["count"], mode="markers", name="Incidents per week",
                    marker={"color": PRIOR, "size": 5}, hovertemplate="%{y:,.0f} incidents<extra></extra>")
    fig.add_scatter(x=series["week"], y=series["fitted"], mode="lines", name="Model",
                    line={"color": CURRENT, "width": 2}, hovertemplate="model %{y:,.0f}<extra></extra>")
    after = pd.to_datetime(series["week"]) >= pd.Timestamp(start)
    fig.add_scatter(x=series.loc[after, "week"], y=series.loc[after, "counterfactual"], mode="lines",
                    name="Without the change", line={"color": OUTREACH, "width": 2, "dash": "dash"},
                    hovertemplate="without the change %{y:,.0f}<extra></extra>")
    return _layout(fig, title, "Incidents per week", shapes=[_vline(pd.Timestamp(start), {"color": "#555", "dash": "dot"})])


def wdd_bars(counts: dict[str, tuple[float, float]], title: str) -> go.Figure:
    """Incidents before and after the start in the treated, comparison and buffer areas."""
    names = {"treated": "Treated", "control": "Comparison", "buffer": "Buffer"}
    groups = [g for g in ("treated", "control", "buffer") if g in counts]
    fig = go.Figure()
    for i, (period, colour) in enumerate((("Before", PRIOR), ("After", CURRENT))):
        fig.add_bar(x=[names[g] for g in groups], y=[counts[g][i] for g in groups], name=period,
                    marker_color=colour, hovertemplate="%{x} " + period.lower() + ": %{y:,.0f}<extra></extra>")
    return _layout(fig, title, "Incidents", barmode="group", hovermode="closest", height=300)
