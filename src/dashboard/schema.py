"""Canonical datasets: incidents, outreach, areas, population, surveys, declared once with pandera.

Everything that enters the store passes one of these schemas (lazily, so every failing row is
reported), and every page reads data of these shapes. This module declares; it must not read files,
talk to the store or import Streamlit. Column meanings are documented in data/sample/README.md.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd
import pandera.pandas as pa
from pandera.engines.geopandas_engine import Geometry

CRS = "EPSG:4326"


@dataclass(frozen=True)
class Level:
    """A boundary level: its key in the areas table and its id column on incidents and outreach."""

    key: str
    label: str
    column: str


LEVELS: dict[str, Level] = {
    "community_area": Level("community_area", "Community area", "community_area_id"),
    "district": Level("district", "Police district", "district_id"),
    "beat": Level("beat", "Police beat", "beat_id"),
}

OFFENSE_GROUPS: dict[str, str] = {
    "homicide": "Homicide",
    "violent": "Violent (other than homicide)",
    "weapons": "Weapons",
    "property": "Property",
    "drugs": "Drugs",
    "sex_offenses": "Sex offenses (non-violent)",
    "public_order": "Public order",
    "other": "Other",
}

OUTREACH_FORMATS = ("one_off", "recurring", "standing_venue", "contact", "campaign")
OUTREACH_CHANNELS = ("in_person", "digital", "phone", "mixed")
PLACE_LEVELS = ("point", *LEVELS, "citywide")
DATASETS = ("incidents", "outreach", "areas", "population", "surveys")


def _str(nullable: bool = True, **kw) -> pa.Column:
    return pa.Column(str, nullable=nullable, coerce=True, **kw)


def _count(nullable: bool = True) -> pa.Column:
    return pa.Column(float, pa.Check.ge(0), nullable=nullable, coerce=True)


_lat = pa.Column(float, pa.Check.in_range(-90, 90), nullable=True, coerce=True)
_lon = pa.Column(float, pa.Check.in_range(-180, 180), nullable=True, coerce=True)
_ids = {level.column: _str() for level in LEVELS.values()}


def _both_or_neither_coordinate(df: pd.DataFrame) -> pd.Series:
    return df["latitude"].isna() == df["longitude"].isna()


INCIDENTS = pa.DataFrameSchema(
    {
        "incident_id": _str(nullable=False, unique=True),
        "case_number": _str(),
        "occurred_at": pa.Column("datetime64[us]", nullable=False, coerce=True),
        "offense": _str(nullable=False, checks=pa.Check.str_length(min_value=1)),
        "offense_detail": _str(),
        "offense_code": _str(),
        "offense_group": _str(nullable=False, checks=pa.Check.isin(list(OFFENSE_GROUPS))),
        "location_type": _str(),
        "block": _str(),
        "latitude": _lat,
        "longitude": _lon,
        **_ids,
        "arrest": pa.Column("boolean", nullable=True, coerce=True),
        "domestic": pa.Column("boolean", nullable=True, coerce=True),
    },
    checks=pa.Check(_both_or_neither_coordinate, error="latitude and longitude must both be present or both missing"),
    strict="filter",
    ordered=False,
    name="incidents",
)


def _place_is_complete(df: pd.DataFrame) -> pd.Series:
    """Each place level needs its own key: a beat event its beat_id, a point its coordinates."""
    ok = pd.Series(True, index=df.index)
    for level in LEVELS.values():
        ok &= ~((df["place_level"] == level.key) & df[level.column].isna())
    ok &= ~((df["place_level"] == "point") & (df["latitude"].isna() | df["longitude"].isna()))
    return ok


OUTREACH = pa.DataFrameSchema(
    {
        "outreach_id": _str(nullable=False, unique=True),
        "event_id": _str(nullable=False),
        "program": _str(nullable=False),
        "event_type": _str(nullable=False),
        "format": _str(nullable=False, checks=pa.Check.isin(list(OUTREACH_FORMATS))),
        "channel": _str(nullable=False, checks=pa.Check.isin(list(OUTREACH_CHANNELS))),
        "title": _str(),
        "starts_at": pa.Column("datetime64[us]", nullable=False, coerce=True),
        "ends_at": pa.Column("datetime64[us]", nullable=True, coerce=True),
        "place_level": _str(nullable=False, checks=pa.Check.isin(list(PLACE_LEVELS))),
        **_ids,
        "latitude": _lat,
        "longitude": _lon,
        "venue": _str(),
        "unit": _str(),
        "attendees": _count(),
        "officer_hours": _count(),
        "contacts": _count(),
        "referrals": _count(),
        "reach": _count(),
        "source": _str(nullable=False),
    },
    checks=[
        pa.Check(_place_is_complete, error="place_level names a place whose id or coordinates are missing"),
        pa.Check(
            lambda df: df["ends_at"].isna() | (df["ends_at"] >= df["starts_at"]),
            error="ends_at is before starts_at",
        ),
    ],
    strict="filter",
    name="outreach",
)

AREAS = pa.DataFrameSchema(
    {
        "level": _str(nullable=False),
        "area_id": _str(nullable=False),
        "name": _str(nullable=False),
        "geometry": pa.Column(Geometry(crs=CRS), nullable=False),
    },
    unique=["level", "area_id"],
    strict="filter",
    name="areas",
)

POPULATION = pa.DataFrameSchema(
    {
        "level": _str(nullable=False),
        "area_id": _str(nullable=False),
        "year": pa.Column(int, pa.Check.in_range(1900, 2100), coerce=True),
        "population": pa.Column(int, pa.Check.ge(0), coerce=True),
        "source": _str(),
    },
    unique=["level", "area_id", "year"],
    strict="filter",
    name="population",
)

SURVEYS = pa.DataFrameSchema(
    {
        "level": _str(nullable=False),
        "area_id": _str(nullable=False),
        "period_start": pa.Column("datetime64[us]", coerce=True),
        "period_end": pa.Column("datetime64[us]", coerce=True),
        "trust_score": pa.Column(float, pa.Check.in_range(0, 100), nullable=True, coerce=True),
        "safety_score": pa.Column(float, pa.Check.in_range(0, 100), nullable=True, coerce=True),
        "respondents": pa.Column(int, pa.Check.ge(0), coerce=True),
        "source": _str(),
        "is_demo": pa.Column("boolean", coerce=True),
    },
    strict="filter",
    name="surveys",
)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "incidents": INCIDENTS,
    "outreach": OUTREACH,
    "areas": AREAS,
    "population": POPULATION,
    "surveys": SURVEYS,
}

# The natural key of each dataset: what "append, newer record wins" de-duplicates on.
KEYS: dict[str, tuple[str, ...]] = {
    "incidents": ("incident_id",),
    "outreach": ("outreach_id",),
    "areas": ("level", "area_id"),
    "population": ("level", "area_id", "year"),
    "surveys": ("level", "area_id", "period_start"),
}


def empty(kind: str) -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes of ``kind`` (areas without geometry)."""
    schema = SCHEMAS[kind]
    cols = {name: pd.Series(dtype=str(col.dtype) if name != "geometry" else "object")
            for name, col in schema.columns.items()}
    return pd.DataFrame(cols)


@cache
def offense_group_table() -> pd.DataFrame:
    """The editable offense → group table shipped with the package (columns offense, offense_group)."""
    with resources.files("dashboard").joinpath("data/offense_groups.csv").open() as fh:
        table = pd.read_csv(fh, dtype=str, comment="#")
    unknown = set(table["offense_group"]) - set(OFFENSE_GROUPS)
    assert not unknown, f"offense_groups.csv names unknown groups {unknown}"
    return table


DOSE_MEASURES = ("events", "attendees", "officer_hours", "contacts", "referrals", "reach")


@cache
def program_register() -> pd.DataFrame:
    """The editable program register shipped with the package (data/programs.csv): one row per event type.

    Columns: program, event_type, label, format, channel, place_level (first of the '|' list), place_levels
    (tuple), dose_measures (tuple), description. Checked against the vocabularies above.
    """
    text = resources.files("dashboard").joinpath("data/programs.csv").read_text(encoding="utf-8")
    # Only the leading block is comment: a program may itself start with '#' (#9PMRoutine).
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("program,"))
    table = pd.read_csv(io.StringIO("\n".join(lines[header:])), dtype=str, keep_default_na=False)
    table["place_levels"] = table["place_level"].map(lambda s: tuple(s.split("|")))
    table["place_level"] = table["place_levels"].map(lambda t: t[0])
    table["dose_measures"] = table["dose_measures"].map(lambda s: tuple(s.split("|")))
    problems = {
        "format": set(table["format"]) - set(OUTREACH_FORMATS),
        "channel": set(table["channel"]) - set(OUTREACH_CHANNELS),
        "place_level": {p for t in table["place_levels"] for p in t} - set(PLACE_LEVELS),
        "dose_measures": {m for t in table["dose_measures"] for m in t} - set(DOSE_MEASURES),
        "duplicate event_type": set(table.loc[table["event_type"].duplicated(), "event_type"]),
    }
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, f"programs.csv has unknown values {bad}"
    return table
