"""charts: builders return plotly figures with the expected traces and escaped data text."""

import numpy as np
import pandas as pd

from dashboard import charts


def test_weekly_counts_layers():
    cur = pd.DataFrame({"week": pd.to_datetime(["2017-01-02", "2017-01-09"]), "count": [3, 4], "partial": [True, False]})
    prior = pd.DataFrame({"week": cur["week"], "count": [5, 6]})
    events = pd.DataFrame({"week": cur["week"], "events": [0, 2]})
    fig = charts.weekly_counts(cur, prior, events, "Weekly")
    names = [t.name for t in fig.data]
    assert names == ["Outreach events (scheduled)", "Same weeks last year", "This period",
                     "Partial week (period cuts it)"]
    assert list(fig.data[2].y) == [3, 4] and fig.data[0].yaxis == "y2"
    assert charts.weekly_counts(cur.drop(columns="partial")).data[0].name == "This period"


def test_top_areas_escapes_names_and_orders_largest_on_top():
    table = pd.DataFrame({"name": ["<b>x</b>", "Austin"], "count": [5, 9], "prior": [4, 10]})
    fig = charts.top_areas(table, "Top")
    assert list(fig.data[0].y) == ["&lt;b&gt;x&lt;/b&gt;", "Austin"]  # plotly draws bottom-up
    assert list(fig.data[0].x) == [5, 9] and list(fig.data[1].x) == [4, 10]


def test_offense_group_change():
    table = pd.DataFrame({"label": ["Homicide"], "count": [2], "prior": [3]})
    fig = charts.offense_group_change(table, "Groups")
    assert [t.name for t in fig.data] == ["Same period last year", "This period"]
    assert fig.data[1].orientation == "h" and list(fig.data[1].x) == [2]
    assert fig.layout.barmode == "group"


def test_weekly_trend_draws_band_last_year_this_year_average_and_outreach_marks():
    weeks = pd.to_datetime(["2017-01-02", "2017-01-09", "2017-01-16"])
    trend = pd.DataFrame({"week": weeks, "count": [10.0, 12, 9], "rolling_mean": [10.0, 11, 10.3],
                          "last_year": [11.0, 10, 8], "low": [5.0, 4, 3], "high": [17.0, 16, 13]})
    events = pd.DataFrame({"week": weeks, "events": [0, 3, 1]})
    fig = charts.weekly_trend(trend, events, "<b>Beat</b>")
    names = [t.name for t in fig.data]
    assert names == [None, "Expected range (95%)", "Same week last year", "This year", "4-week average",
                     "Outreach events (scheduled)"]
    assert fig.data[1].fill == "tonexty" and list(fig.data[0].y) == [17, 16, 13]
    assert list(fig.data[-1].y) == [3, 1] and fig.data[-1].yaxis == "y2"  # weeks without events: no mark
    assert fig.layout.title.text == "&lt;b&gt;Beat&lt;/b&gt;"
    bare = charts.weekly_trend(trend.assign(low=np.nan, high=np.nan, last_year=np.nan))
    assert [t.name for t in bare.data] == ["This year", "4-week average"]


def test_hour_dow_heatmap_has_monday_on_top_and_every_hour():
    grid = pd.DataFrame([(d, h, d * 100 + h) for d in range(1, 8) for h in range(24)], columns=["dow", "hour", "count"])
    fig = charts.hour_dow_heatmap(grid, "When", label="harm <x>")
    heat = fig.data[0]
    assert list(heat.y) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] and len(heat.x) == 24
    assert heat.z[0][5] == 105 and heat.z[6][23] == 723
    assert fig.layout.yaxis.autorange == "reversed" and "harm &lt;x&gt;" in heat.hovertemplate


def test_sparkline_draws_withheld_weeks_as_gaps_and_drops_partial_weeks():
    weeks = pd.date_range("2016-12-26", periods=5, freq="7D")
    weekly = pd.DataFrame({"week": weeks, "count": [2.0, 30, np.nan, 28, 25], "partial": [True] + [False] * 4})
    fig = charts.sparkline(weekly, "<i>Loop</i>")
    line = fig.data[-1]
    assert list(line.x) == list(weeks[1:]) and np.isnan(line.y[1]) and line.connectgaps is False
    assert fig.layout.height == 170 and fig.layout.title.text == "&lt;i&gt;Loop&lt;/i&gt;"
    city = pd.DataFrame({"week": weeks[1:], "count": [300.0, 280, 290, 250]})
    assert [t.name for t in charts.sparkline(weekly, "x", city).data] == ["City (scaled)", "Incidents per week"]


# ------------------------------------------------------------------------- outreach and impact (issue 5)


def test_harm_vs_outreach_highlights_gaps_and_escapes_names():
    table = pd.DataFrame({"name": ["<i>A</i>", "B", "C"], "harm": [90, 10, 50], "events": [1, 9, 5],
                          "gap": [True, False, False]})
    fig = charts.harm_vs_outreach(table, "Gap", "Incidents")
    assert [t.name for t in fig.data] == ["Other areas", "Much harm, little outreach"]
    assert list(fig.data[1].text) == ["&lt;i&gt;A&lt;/i&gt;"] and list(fig.data[1].y) == [90]


def test_event_study_chart_shows_percent_with_intervals():
    coefs = pd.DataFrame({"bin": [-2, -1, 0], "first_week": [-4, -2, 0], "last_week": [-3, -1, 1],
                          "estimate": [0.1, 0.0, np.log(0.8)], "low": [0.0, 0.0, np.log(0.7)],
                          "high": [0.2, 0.0, np.log(0.9)]})
    fig = charts.event_study(coefs, "ES")
    trace = fig.data[0]
    assert list(np.round(trace.y, 6)) == [round((np.exp(0.1) - 1) * 100, 6), 0.0, -20.0]
    assert np.round(trace.error_y.arrayminus[2], 6) == 10.0 and trace.text[0] == "weeks -4 to -3"


def test_its_group_weekly_adoption_monthly_and_wdd_bars():
    weeks = pd.date_range("2017-01-02", periods=4, freq="7D")
    its = pd.DataFrame({"week": weeks, "count": [10, 12, 8, 9], "fitted": [11, 11, 9, 9],
                        "counterfactual": [11, 11, 11, 11]})
    fig = charts.its_fit(its, weeks[2], "ITS")
    assert [t.name for t in fig.data] == ["Incidents per week", "Model", "Without the change"]
    assert len(fig.data[2].x) == 2
    weekly = pd.DataFrame({"week": list(weeks) * 2, "group": ["treated"] * 4 + ["comparison"] * 4,
                           "count": [10, 10, 5, 5, 20, 20, 20, 20]})
    g = charts.group_weekly(weekly, weeks[2], "Groups")
    assert list(g.data[0].y) == [100, 100, 50, 50] and list(g.data[1].y) == [100, 100, 100, 100]
    breadth = pd.DataFrame({"event_type": ["a", "a", "b"], "month": pd.to_datetime(["2017-01-01", "2017-02-01",
                                                                                     "2017-01-01"]),
                            "measure": ["districts", "districts", "units"], "active": [3, 4, 1]})
    assert [t.name for t in charts.adoption_lines(breadth, "districts", "A", {"a": "<A>"}).data] == ["&lt;A&gt;"]
    monthly = pd.DataFrame({"month": pd.to_datetime(["2017-01-01", "2017-01-01"]), "program": ["P", "Q"],
                            "events": [3, 4]})
    assert [t.name for t in charts.monthly_events(monthly, "program", "M").data] == ["P", "Q"]
    bars = charts.wdd_bars({"treated": (100, 80), "control": (200, 190)}, "WDD")
    assert list(bars.data[0].y) == [100, 200] and list(bars.data[1].x) == ["Treated", "Comparison"]


def _reference_layout(fig, title: str, y_title: str):
    """What charts._layout replaced: plotly's own per-property calls."""
    import html

    fig.update_layout(title={"text": html.escape(title), "x": 0, "xanchor": "left"},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, height=380, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.15}, yaxis_title=y_title, plot_bgcolor="white")
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#e5e8eb", rangemode="tozero")
    return fig


def test_one_call_layout_equals_plotlys_per_property_calls():
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    def as_json(fig) -> dict:
        return json.loads(pio.to_json(fig, validate=False))

    def base(second_axis: bool = True) -> go.Figure:
        fig = go.Figure()
        fig.add_scatter(x=[1, 2, 3], y=[3, 1, 2], name="a")
        if second_axis:  # set up before the layout, as weekly_trend does: update_yaxes styled it too
            fig.add_scatter(x=[1, 2], y=[5, 6], yaxis="y2", name="b")
            fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "b"})
        return fig

    assert as_json(charts._layout(base(), "T <b>", "Incidents")) == as_json(_reference_layout(base(), "T <b>", "Incidents"))
    # the per-chart extras: nested dicts merged over the shared look, shapes as add_hline/add_vline make them
    ours = charts._layout(base(False), "T", "Y", hovermode="closest", xaxis={"title": {"text": "X"}}, yaxis={"rangemode": "normal"},
                          shapes=[charts._hline(0, {"color": "#555", "width": 1}),
                                  charts._vline(pd.Timestamp("2017-01-02"), {"color": "#555", "dash": "dot"})])
    theirs = base(False)
    theirs.add_hline(y=0, line={"color": "#555", "width": 1})
    theirs.add_vline(x=pd.Timestamp("2017-01-02"), line={"color": "#555", "dash": "dot"})
    _reference_layout(theirs, "T", "Y")
    theirs.update_layout(hovermode="closest", xaxis_title="X")
    theirs.update_yaxes(rangemode="normal")
    assert as_json(ours) == as_json(theirs)
