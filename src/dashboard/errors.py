"""The DashboardError family: every expected failure carries a title, a message, a hint and details.

Raised by any layer; turned into what the user sees by exactly one presenter (``ui.show_error``) and by
the CLI's JSON/text report. This module must not import Streamlit or do I/O.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


class DashboardError(Exception):
    """An error the user can act on.

    title:   a few words, shown as the heading ("Store is busy").
    message: what is wrong, in plain language.
    hint:    how to fix it.
    details: optional small table (e.g. rejected rows with reasons).
    """

    default_title = "Something went wrong"

    def __init__(
        self,
        title: str | None = None,
        message: str = "",
        *,
        hint: str = "",
        details: pd.DataFrame | None = None,
    ) -> None:
        self.title = title or self.default_title
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(f"{self.title}: {message}" if message else self.title)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "error": type(self).__name__,
            "title": self.title,
            "message": self.message,
            "hint": self.hint,
        }
        if self.details is not None:
            out["details"] = self.details.head(50).astype(str).to_dict(orient="records")
        return out


class ConfigError(DashboardError):
    default_title = "Invalid setting"


class StoreError(DashboardError):
    default_title = "Data store problem"


class StoreBusyError(StoreError):
    default_title = "Data store is busy"


class IngestError(DashboardError):
    default_title = "File could not be loaded"


class ValidationError(IngestError):
    default_title = "No valid rows"


class DataMissingError(DashboardError):
    default_title = "Data not available"
