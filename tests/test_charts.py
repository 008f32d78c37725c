"""charts: builders return plotly figures with the expected traces and escaped data text."""

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
    assert fig.layout.barmode == "group"
