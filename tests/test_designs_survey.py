"""designs.survey: survey change is a difference in differences of area means."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard.designs import survey

TOL = 1e-9


def test_survey_change_is_a_difference_in_differences_of_area_means():
    rows = []
    for area, group_shift in [("t1", 5), ("t2", 7), ("c1", 1), ("c2", -1)]:
        rows.append({"area_id": area, "period_start": "2016-06-01", "trust_score": 50.0, "respondents": 100})
        rows.append({"area_id": area, "period_start": "2017-06-01", "trust_score": 50.0 + group_shift,
                     "respondents": 100})
    table, est = survey.survey_change(pd.DataFrame(rows), ["t1", "t2"], ["c1", "c2"], "2017-01-01")
    assert est.estimate == pytest.approx(6.0 - 0.0, abs=TOL)
    se = math.sqrt(np.var([5, 7], ddof=1) / 2 + np.var([1, -1], ddof=1) / 2)
    assert est.se == pytest.approx(se, abs=TOL)
    assert set(table["group"]) == {"treated", "comparison"} and "points" in est.verdict()
