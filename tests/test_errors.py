"""errors: the DashboardError shape every layer raises and the CLI serialises."""

import pandas as pd

from dashboard.errors import DashboardError, IngestError, StoreBusyError


def test_error_carries_title_message_hint_details():
    details = pd.DataFrame({"row": [2], "reason": ["unparseable date"]})
    exc = IngestError("Bad file", "Row 2 has no date.", hint="Fix the date column.", details=details)
    assert str(exc) == "Bad file: Row 2 has no date."
    data = exc.to_dict()
    assert data == {"error": "IngestError", "title": "Bad file", "message": "Row 2 has no date.",
                    "hint": "Fix the date column.", "details": [{"row": "2", "reason": "unparseable date"}]}


def test_default_titles_per_subclass():
    assert StoreBusyError(message="x").title == "Data store is busy"
    assert DashboardError().title == "Something went wrong"
    assert isinstance(StoreBusyError(), DashboardError)
