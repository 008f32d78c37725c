"""designs.selection: treated, comparison and buffer areas are chosen as documented."""

from __future__ import annotations

from datetime import date

import pandas as pd

from dashboard.designs import selection
from tests.simulate import area_grid

TOL = 1e-9


def test_neighbours_are_areas_that_touch():
    near = selection.neighbours(area_grid(3))
    assert near["11"] == {"00", "01", "02", "10", "12", "20", "21", "22"}  # corners touch too
    assert near["00"] == {"01", "10", "11"}


def test_dose_groups_take_quartiles_and_a_touching_buffer():
    grid = area_grid(4)
    events = {a: (10 if a in {"00", "01", "02", "03"} else 1 if a in {"30", "31", "32", "33"} else 5)
              for a in grid["area_id"]}
    dose = pd.DataFrame({"area_id": list(events), "name": list(events), "events_before": list(events.values()),
                         "events_after": 0})
    g = selection.choose_groups(dose, selection.neighbours(grid), mode="dose", control_rule="few",
                              start=pd.Timestamp("2017-01-02"))
    assert g.treated == ("00", "01", "02", "03")
    assert g.control == ("30", "31", "32", "33")
    assert g.buffer == ("10", "11", "12", "13")
    assert set(g.starts.values()) == {pd.Timestamp("2017-01-02")}
    assert dict(zip(g.table["area_id"], g.table["group"], strict=True))["21"] == ""


def test_rollout_groups_start_at_each_first_event_and_same_district_rule():
    grid = area_grid(4)
    ids = list(grid["area_id"])
    before = {a: 0 for a in ids}
    after = {a: (3 if a in {"00", "33"} else 0) for a in ids}
    dose = pd.DataFrame({"area_id": ids, "name": ids, "events_before": [before[a] for a in ids],
                         "events_after": [after[a] for a in ids]})
    first = {"00": pd.Timestamp("2017-02-08"), "33": pd.Timestamp("2017-03-01")}
    parents = {a: ("north" if a[0] in "01" else "south") for a in ids}
    g = selection.choose_groups(dose, selection.neighbours(grid), mode="rollout", control_rule="same_district",
                              start=pd.Timestamp("2017-01-02"), parents=parents, first_events=first)
    assert g.treated == ("00", "33")
    assert g.starts == {"00": pd.Timestamp("2017-02-06"), "33": pd.Timestamp("2017-02-27")}
    assert set(g.control) <= set(ids) - {"00", "33"} - set(g.buffer)
    assert "01" in g.buffer and "32" in g.buffer
    chosen = selection.choose_groups(dose, selection.neighbours(grid), mode="rollout", control_rule="none",
                                   start=pd.Timestamp("2017-01-02"), treated=("12",), control=("30", "31"))
    assert chosen.treated == ("12",) and chosen.control == ("30", "31")


def test_quartiles_fall_back_to_the_fewest_when_ties_empty_the_bottom_quarter():
    events = pd.Series([0] * 10 + [3, 5], index=[f"a{i:02d}" for i in range(12)])
    top, bottom = selection.quartile_groups(events)
    assert top == ["a10", "a11"] and bottom == [f"a{i:02d}" for i in range(10)]
    spread = pd.Series(range(8), index=list("abcdefgh"))
    assert selection.quartile_groups(spread) == (["g", "h"], ["a", "b"])


def test_first_events_since_skip_what_ran_before_the_window():
    weekly = pd.DataFrame({"beat": ["1", "1", "2", "3"], "week": pd.to_datetime(["2016-01-04", "2017-03-06",
                                                                                "2017-02-06", "2016-02-01"]),
                           "events": [1, 2, 1, 0]})
    assert selection.first_events(weekly, "beat") == {"1": pd.Timestamp("2016-01-04"), "2": pd.Timestamp("2017-02-06")}
    assert selection.first_events(weekly, "beat", since="2017-01-02") == {"1": pd.Timestamp("2017-03-06"),
                                                                        "2": pd.Timestamp("2017-02-06")}
    assert selection.complete_week_range(date(2016, 1, 1), date(2017, 12, 31)) == (date(2016, 1, 4), date(2017, 12, 25))
