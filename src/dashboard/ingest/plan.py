"""The plan of an upload: which column is which field, the date format, time zones, coordinate system
and the analyst's confirmed choices (saved as a mapping profile), plus the header synonyms that map a
file without one. It describes; it never reads files or values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dashboard import schema
from dashboard.errors import IngestError


def normalise_header(text: str) -> str:
    """Trim, case-fold and unify spaces, underscores and hyphens so 'Primary_Type ' == 'primary type'."""
    return re.sub(r"[\s_\-\.]+", " ", str(text)).strip().lower()


# Export headers matched exactly (after normalise_header) when a file comes without a mapping.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    name: {f.name: f.headers for f in kind.fields if f.headers} for name, kind in schema.KINDS.items()}


def suggest_mapping(columns: Iterable[str], kind: str) -> dict[str, str]:
    """Canonical field -> source column, by header synonyms (exact normalised match, best synonym first)."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_header(col), col)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target, synonyms in SYNONYMS.get(kind, {}).items():
        for synonym in (normalise_header(target), *synonyms):
            source = by_norm.get(synonym)
            if source is not None and source not in used:
                mapping[target] = source
                used.add(source)
                break
    return mapping


UPLOAD_KINDS = tuple(name for name, kind in schema.KINDS.items() if kind.fields)


@dataclass
class Plan:
    """How one source's export becomes canonical rows; what the analyst confirmed, saved as a profile.

    columns maps canonical (and derived) fields to the file's columns. Times are stored as naive local
    time: ``source_timezone`` says what the file's times are ("local", "UTC" or a zone name) and
    ``timezone`` the zone to store them in; values with a UTC offset are always converted.
    """

    kind: str = "incidents"
    columns: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    timezone: str = ""
    source_timezone: str = "local"
    crs: str = ""
    swap_latlon: bool = False
    offense_groups: dict[str, str] = field(default_factory=dict)
    unknown_offense: str = "other"
    area_values: dict[str, dict[str, str]] = field(default_factory=dict)
    assign_areas: str = "missing"
    level: str | None = None
    year: int | None = None
    name: str = ""
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        from dataclasses import fields as dc_fields

        known = {f.name for f in dc_fields(cls)}
        if "columns" not in data and all(isinstance(v, str) for v in data.values()):
            data = {"columns": dict(data)}  # an old-style profile: just {field: column}
        unknown = set(data) - known
        if unknown:
            raise IngestError("Mapping profile not understood", f"Unknown keys {sorted(unknown)}.",
                              hint=f"A profile has some of: {', '.join(sorted(known))}.")
        plan = cls(**{k: v for k, v in data.items() if k in known})
        if plan.kind not in UPLOAD_KINDS:
            raise IngestError("Mapping profile not understood", f"Unknown kind {plan.kind!r}.",
                              hint=f"Use one of {', '.join(UPLOAD_KINDS)}.")
        return plan


def mapped_column(raw: pd.DataFrame, columns: dict[str, str], field_name: str) -> pd.Series:
    """The column ``columns`` maps ``field_name`` to, or a missing text column where it maps none."""
    source = columns.get(field_name)
    if source is None or source not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    return raw[source]


def check_required(raw: pd.DataFrame, kind: str, mapping: dict[str, str], name: str) -> None:
    """Refuse a file whose mapping names no column for a required field of ``kind``."""
    missing = [f for f in schema.KINDS[kind].required if f not in mapping]
    if missing:
        raise IngestError(
            f"Required {kind} columns not found",
            f"{name}: no column could be matched to {', '.join(missing)}. "
            f"Columns in the file: {', '.join(map(str, raw.columns[:30]))}.",
            hint=f"Rename the columns or pass a mapping (--map {missing[0]}=YOUR_COLUMN); "
                 f"are you sure this file holds {kind}?",
        )



@dataclass
class Source:
    """What an upload's preparation knows besides the rows and the plan: the file's name and hash, the
    boundaries per level (to match area names and place points), the known beats and the time now."""

    name: str
    digest: str = ""
    areas: dict[str, Any] | None = None
    known_beats: set[str] | None = None
    now: pd.Timestamp | None = None
