"""designs.analysis: the whole analysis end to end on a grid, and a small seeded run of the designs on
simulated panels (the full coverage and power checks are bench/bench_designs.py, too slow here)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard.designs import analysis, estimates, event_study, its, program_brief, selection, wdd
from tests.simulate import area_grid, simulate_panel, simulated_wdd

TOL = 1e-9


def test_simulated_designs_are_not_badly_off():
    """A small seeded run (the full 200+-panel checks are bench/bench_designs.py): intervals cover the
    planted effect in most panels and every design sees a 15% fall most of the time."""
    rng = np.random.default_rng(11)
    cover = {"wdd": 0, "its": 0}
    for _ in range(20):
        sim = simulate_panel(rng, effect=0.85)
        cover["wdd"] += simulated_wdd(sim).total.covers(sim.true_wdd)
        series = sim.panel[sim.panel["area_id"].isin(sim.treated)].groupby("week", as_index=False)["count"].sum()
        cover["its"] += its.interrupted_time_series(series, sim.start).level.covers(sim.true_log_ratio)
    assert cover["wdd"] >= 17 and cover["its"] >= 17, cover


def test_run_impact_end_to_end_on_a_grid_and_its_brief():
    grid = area_grid(6)
    ids = list(grid["area_id"])
    rng = np.random.default_rng(5)
    weeks = pd.date_range("2016-01-04", periods=104, freq="7D")
    start = weeks[52]
    many = set(ids[:9])
    rows = [(a, w, float(rng.poisson(20 * (0.8 if a in many and w >= start else 1.0)))) for a in ids for w in weeks]
    panel = pd.DataFrame(rows, columns=["area_id", "week", "count"])
    dose = pd.DataFrame({"area_id": ids, "name": [f"Area {a}" for a in ids],
                         "events_before": [12 if a in many else (1 if i > 26 else 5) for i, a in enumerate(ids)],
                         "events_after": 6})
    settings = analysis.ImpactSettings(event_types=("beat_meeting",), level="beat", mode="dose", control_rule="few",
                                      start=start.date(), weeks=52)
    result = analysis.run_impact(settings, panel, dose, selection.neighbours(grid), None, {})
    assert set(result.groups.treated) == many and len(result.groups.control) >= 5
    assert isinstance(result.wdd, wdd.Wdd) and isinstance(result.event_study, event_study.EventStudy)
    assert isinstance(result.its, its.Its)
    assert result.event_study.pooled.covers(math.log(0.8)) and result.event_study.pooled.significant
    summary = result.summary()
    assert list(summary["design"]) == ["wdd", "event_study", "its"] and summary["verdict"].str.contains("95%").all()
    assert set(result.weekly["group"]) == {"treated", "comparison", "buffer"}
    brief = program_brief.program_brief_html({"program": "CAPS beat meetings", "label": "Beat meeting"},
                                       {"Events": "99"}, result, result.caveats(("events",)), "test")
    assert "Stacked event study" in brief and "95% interval" in brief and "Dose comparison, not on/off" in brief
    assert "9 treated police beats" in brief and "@page" in brief


@pytest.mark.parametrize("case", ["one treated and one comparison area", "a comparison area with no incidents",
                                  "a treated area with no incidents", "every area starting the same week"])
def test_run_impact_on_degenerate_selections_gives_a_result_or_a_reason(case):
    # What the Impact page and the brief run: a tiny or degenerate selection must come back as numbers
    # with finite intervals or as a design skipped with its reason, on any machine, never an exception.
    grid = area_grid(3)
    ids = list(grid["area_id"])
    weeks = pd.date_range("2016-01-04", periods=40, freq="7D")
    start = weeks[20]
    rng = np.random.default_rng(11)
    treated, control, mode = ("00",), ("22",), "dose"
    empty = {"a comparison area with no incidents": "22", "a treated area with no incidents": "00"}.get(case)
    if case == "every area starting the same week":
        treated, control, mode = tuple(ids), (), "rollout"
    rows = [(a, w, 0.0 if a == empty else float(rng.poisson(6))) for a in ids for w in weeks]
    panel = pd.DataFrame(rows, columns=["area_id", "week", "count"])
    dose = pd.DataFrame({"area_id": ids, "name": ids, "events_before": 0,
                         "events_after": [3 if a in treated else 0 for a in ids]})
    settings = analysis.ImpactSettings(event_types=("beat_meeting",), level="beat", mode=mode, control_rule="none",
                                       start=start.date(), weeks=8, treated=treated, control=control)
    first = {a: start for a in treated}
    result = analysis.run_impact(settings, panel, dose, {}, None, first)
    for design in (result.wdd, result.event_study, result.its):
        if isinstance(design, estimates.Skipped):
            assert len(design.reason) > 10, design
        else:
            rows = design.estimates() if hasattr(design, "estimates") else [design]
            assert rows
    for row in result.summary().itertuples():
        assert isinstance(row.verdict, str) and row.verdict
        assert pd.isna(row.estimate) or (np.isfinite(row.low) and np.isfinite(row.high)), row
    brief = program_brief.program_brief_html({"program": "Test program", "label": "Beat meeting"}, {"Events": "3"},
                                             result, result.caveats(("events",)), "test")
    assert "@page" in brief


def test_impact_on_a_store_without_incidents_is_none(store):
    settings = analysis.ImpactSettings(event_types=("beat_meeting",), level="beat", mode="dose", control_rule="few",
                                       start=pd.Timestamp("2017-01-02").date(), weeks=8)
    assert analysis.impact_on(store, settings, area_grid(2), {}, None) is None
