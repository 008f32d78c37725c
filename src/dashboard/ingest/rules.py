"""The rejection rules of an upload, one named list: each rule a code, a message template and the fix.

A row an upload cannot store is rejected by exactly one rule (the first that finds it), and reports
count rows by rule. This module names the rules and collects which rows each one rejected; the
checks themselves live with the kind they belong to, and nothing here reads a message back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Rule:
    """One reason to reject a row: ``code`` for programs, ``message`` (a str.format template filled
    from the parameters given where it fires) for people, and ``fix``, what to change in the export
    or the mapping."""

    code: str
    message: str
    fix: str

    def text(self, **params: object) -> str:
        return self.message.format(**params)


UNPARSEABLE_TIME = Rule("unparseable_time", "unparseable time (expected HHMM like 0845 or HH:MM)",
                        "Map the time-of-day column to 'Time of day' only if it holds times such as 0845 or 20:45.")
TEXT_TOO_LONG = Rule("text_too_long", "{field} longer than {limit:,} characters (a broken export?)",
                     "Export the file again: a missing quote usually runs rows together into one field.")
OUTSIDE_BOUNDARIES = Rule("outside_boundaries",
                          "outside every boundary (check the coordinates and their coordinate system)",
                          "Choose the coordinate system of the coordinates, or load the boundaries of this area.")
MISSING_INCIDENT_ID = Rule("missing_incident_id", "missing incident id",
                           "Give every row the id the source system uses, or map another id column.")
UNPARSEABLE_DATE = Rule("unparseable_date", "unparseable date",
                        "Type the date format the rows use in the mapping (--date-format).")
IMPOSSIBLE_DATE = Rule("impossible_date", "impossible date",
                       "Correct dates before 1900 or in the future in the source system.")
MISSING_OFFENSE = Rule("missing_offense", "missing offense", "Map the offense column, or fill the offense in.")
UNKNOWN_OFFENSE = Rule("unknown_offense", "unknown offense category (not in the offense table)",
                       "Give the offense a group in the offense table of the mapping, or let unknown ones "
                       "count as 'other'.")
DUPLICATE_INCIDENT_ID = Rule("duplicate_incident_id",
                             "duplicate incident id (a later row in the file has the same id)",
                             "Nothing to fix if the file holds one row per offense: the last row is kept.")
MISSING_AREA_ID = Rule("missing_area_id", "missing area id", "Map the column that names each area.")
MISSING_YEAR = Rule("missing_year", "missing year (add a year column or pass --year)",
                    "Map a year column, or give the year of the whole file (--year).")
BAD_POPULATION = Rule("bad_population", "population missing or negative",
                      "Give each area a population of zero or more.")
EMPTY_GEOMETRY = Rule("empty_geometry", "empty geometry", "Draw the area's shape again in the source GIS.")
MISSING_TITLE = Rule("missing_title", "missing title", "Give the calendar entry a title.")
TEST_ENTRY = Rule("test_entry", "test entry (title or location says 'test')",
                  "Nothing to fix: calendar entries made to try the calendar are left out.")
UNPARSEABLE_START = Rule("unparseable_start", "unparseable start date",
                         "Give the calendar entry a start such as 2017-03-01T18:30:00.")
MISSING_CALENDAR_ID = Rule("missing_calendar_id", "missing calendarId (district)",
                           "Give the calendar entry the district calendar it belongs to.")
DUPLICATE_CALENDAR_ENTRY = Rule("duplicate_calendar_entry", "duplicate calendar entry",
                                "Nothing to fix: an entry listed twice is kept once.")
SCHEMA_CHECK = Rule("schema_check", "invalid {column} ({check})",
                    "Check the column mapped to {column}: its values fail the canonical schema.")

RULES: tuple[Rule, ...] = (
    UNPARSEABLE_TIME, TEXT_TOO_LONG, OUTSIDE_BOUNDARIES, MISSING_INCIDENT_ID, UNPARSEABLE_DATE, IMPOSSIBLE_DATE,
    MISSING_OFFENSE, UNKNOWN_OFFENSE, DUPLICATE_INCIDENT_ID, MISSING_AREA_ID, MISSING_YEAR, BAD_POPULATION,
    EMPTY_GEOMETRY, MISSING_TITLE, TEST_ENTRY, UNPARSEABLE_START, MISSING_CALENDAR_ID, DUPLICATE_CALENDAR_ENTRY,
    SCHEMA_CHECK,
)
BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}


class Rejections:
    """Which rule rejected which row; the first rule that finds a row is the one reported.

    Per row a small integer (0: not rejected) into the list of (rule, message) seen so far, not a
    text column: a million-row text column is slow to update a few rows at a time."""

    def __init__(self, n: int) -> None:
        self.codes = np.zeros(n, dtype=np.int16)
        self.labels = [""]
        self.rules: list[Rule | None] = [None]

    def add(self, mask: pd.Series | np.ndarray, rule: Rule, **params: object) -> None:
        """Reject the rows of ``mask`` not rejected yet, by ``rule`` (its message filled from ``params``)."""
        free = np.asarray(mask, dtype=bool) & (self.codes == 0)
        if free.any():
            reason = rule.text(**params)
            if reason not in self.labels:
                self.labels.append(reason)
                self.rules.append(rule)
            self.codes[free] = self.labels.index(reason)

    @property
    def bad(self) -> pd.Series:
        return pd.Series(self.codes != 0)

    def by_code(self) -> dict[str, int]:
        """Rows rejected per rule code, in the order the rules first fired."""
        counts = np.bincount(self.codes, minlength=len(self.labels))
        out: dict[str, int] = {}
        for rule, n in zip(self.rules[1:], counts[1:], strict=True):
            if n:
                out[rule.code] = out.get(rule.code, 0) + int(n)
        return out

    def table(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The rejected rows of ``raw``: row (1-based), reason, then ``raw``'s columns."""
        positions = np.flatnonzero(self.codes)
        if not len(positions):  # the usual case; no pass over a million raw rows
            return pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype="object"),
                                 **{c: raw[c].iloc[:0] for c in raw.columns}}).reset_index(drop=True)
        out = raw.reset_index(drop=True).iloc[positions].copy()
        out.insert(0, "reason", np.array(self.labels, dtype=object)[self.codes[positions]])
        out.insert(0, "row", positions + 1)
        return out.reset_index(drop=True)
