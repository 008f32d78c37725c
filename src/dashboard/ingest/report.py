"""What an upload did: the report (counts, every rejected row with its reason, fixes, warnings), the
prepared frame, the canonical schema as last guard, and the previews and CSV a reviewer sees before a
commit. It reports; it never writes to the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from dashboard import schema
from dashboard.errors import IngestError, ValidationError
from dashboard.ingest.rules import SCHEMA_CHECK, Rejections


@dataclass
class Report:
    """What an ingest did: counts, every rejected row with its reason, warnings. Serialisable to JSON."""

    kind: str
    source_name: str
    file_hash: str
    rows_in: int
    rows_kept: int
    rejected: pd.DataFrame  # columns: row (1-based data row), reason, then the raw fields
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    unmapped_offenses: dict[str, int] = field(default_factory=dict)
    fixes: dict[str, int] = field(default_factory=dict)
    rejected_by_code: dict[str, int] = field(default_factory=dict)  # rule code -> rows (see rules.RULES)

    def take(self, rejections: Rejections, raw: pd.DataFrame) -> None:
        """Record the rejected rows of ``raw`` with their reasons, and their counts by rule code."""
        self.rejected = rejections.table(raw)
        self.rejected_by_code = rejections.by_code()

    @property
    def rows_rejected(self) -> int:
        return len(self.rejected)

    def reason_counts(self) -> dict[str, int]:
        if self.rejected.empty:
            return {}
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}

    def to_dict(self, sample: int = 5) -> dict[str, Any]:
        samples = {
            reason: self.rejected[self.rejected["reason"] == reason].head(sample).astype(str).to_dict("records")
            for reason in self.reason_counts()
        }
        return {
            "kind": self.kind,
            "source": self.source_name,
            "file_hash": self.file_hash,
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": self.reason_counts(),
            "rejected_samples": samples,
            "fixed_and_kept": self.fixes,
            "unmapped_offenses": self.unmapped_offenses,
            "warnings": self.warnings,
            "mapping": self.mapping,
        }


@dataclass
class Prepared:
    frame: pd.DataFrame
    report: Report


@cache
def _schema_for(kind: str) -> pa.DataFrameSchema:
    """The pandera schema of ``kind`` as the last guard of every preparer. For incidents without its
    incident_id uniqueness check: incidents.validate has already rejected every row whose id a later row
    repeats, so the kept ids are unique by construction, and the check was a second pass over a million
    strings. (Every other check still runs.)"""
    if kind == "incidents":
        return schema.INCIDENTS.update_column("incident_id", unique=False)
    return schema.SCHEMAS[kind]


def finalise(kind: str, frame: pd.DataFrame, raw: pd.DataFrame, rej: Rejections, report: Report) -> Prepared:
    """Apply the pandera schema lazily as the last guard; any failing row joins the rejected table."""
    bad = rej.bad.to_numpy()
    kept = frame.loc[~bad] if bad.any() else frame  # no copy of a million clean rows
    try:
        kept = _schema_for(kind).validate(kept, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        row_cases = cases[cases["index"].notna()]
        if len(row_cases) < len(cases):
            frame_level = cases[cases["index"].isna()]
            raise IngestError(
                f"{kind} do not match the canonical schema",
                "; ".join(f"{c.column}: {c.check}" for c in frame_level.itertuples())[:500],
                hint="Check the column mapping: a required column is missing or has the wrong type.",
            ) from exc
        for (column, check), group in row_cases.groupby(["column", "check"]):
            positions = frame.index.get_indexer(group["index"].astype(frame.index.dtype).unique())
            mask = np.zeros(len(frame), dtype=bool)
            mask[positions[positions >= 0]] = True
            rej.add(mask, SCHEMA_CHECK, column=column, check=check)
        kept = schema.SCHEMAS[kind].validate(frame.loc[~rej.bad.to_numpy()], lazy=False)
    report.take(rej, raw)
    report.rows_kept = len(kept)
    if report.rows_kept == 0:
        raise ValidationError(
            f"No valid {kind} rows in {report.source_name}",
            f"All {report.rows_in} rows were rejected: " + ", ".join(
                f"{n} {r}" for r, n in report.reason_counts().items()),
            hint="Check the column mapping and the date format; the details list each row's reason.",
            details=report.rejected.head(200),
        )
    return Prepared(kept.reset_index(drop=True), report)


def preview_weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """Weekly counts of a prepared incidents frame: week (Monday), count."""
    weeks = frame["occurred_at"].dt.to_period("W-SUN").dt.start_time
    out = weeks.value_counts().sort_index().rename_axis("week").reset_index(name="count")
    return out


def preview_area_counts(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    """Counts per area of ``level`` in a prepared incidents frame: area_id, count."""
    column = schema.LEVELS[level].column
    counts = frame[column].dropna().astype(str).value_counts()
    return counts.rename_axis("area_id").reset_index(name="count")


def safe_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV of ``frame`` with every text cell a spreadsheet would run as a formula (= + - @, tab, CR at the
    start) prefixed with a quote, so rejected rows of a hostile file open inert."""

    def defuse(value: object) -> object:
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value

    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(defuse)
    # Headers come from uploaded files too.
    out.columns = [defuse(str(c)) for c in out.columns]
    return out.to_csv(index=False).encode("utf-8")

