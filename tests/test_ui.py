"""ui: the error presenter's shape, CSV downloads that cannot run formulas, small formatters."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboard import ui


def test_safe_csv_defuses_formula_cells():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "Austin"], "n": [1, 2, 3, 4, 5, 6]})
    text = ui.safe_csv(frame).decode()
    lines = text.splitlines()[1:]
    assert [line.split(",")[0].strip('"') for line in lines][:5] == ["'=HYPERLINK(\"\"x\"\")", "'+1", "'-2",
                                                                     "'@SUM(A1)", "'\tx"]
    assert lines[5] == "Austin,6"


def _page_raising_dashboard_error():
    import pandas as pd

    from dashboard import ui
    from dashboard.errors import IngestError

    with ui.error_boundary():
        raise IngestError("Bad file", "Row 2 has no date.", hint="Fix the date column.",
                          details=pd.DataFrame({"row": [2], "reason": ["unparseable date"]}))


def _page_raising_unexpected():
    from dashboard import ui

    with ui.error_boundary(show_details=False):
        raise RuntimeError("secret internals")


def test_error_shape_is_one_error_with_hint_and_details():
    at = AppTest.from_function(_page_raising_dashboard_error).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("**Bad file**")
    assert "Fix the date column." in at.info[0].value
    assert at.expander[0].label == "Details (1 rows)"


def test_unexpected_error_hides_details_but_says_what_to_do():
    at = AppTest.from_function(_page_raising_unexpected).run()
    assert not at.exception
    assert len(at.error) == 1 and "secret internals" not in at.error[0].value
    assert not at.code


def test_formatters():
    assert ui.pct_text(None) is None and ui.pct_text(-3.14) == "-3.1% vs last year"
    assert ui.escape("<b>*x*</b>") == "&lt;b&gt;\\*x\\*&lt;/b&gt;"
    status = ui.status_table([{"dataset": "incidents", "version": 1, "rows": 3, "min_date": "2017-01-01T00:00:00",
                               "max_date": None, "loaded_at": "x", "source": "s", "versions": 1}])
    assert list(status.columns)[:3] == ["Dataset", "Active version", "Rows"]
