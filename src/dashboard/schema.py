"""The dataset kinds (incidents, outreach, areas, population, surveys), each declared once in
``DATASET_KINDS``: pandera schema, key, time column, upload fields with synonyms, placement, preparer.

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

# ---------------------------------------------------------------------------------- dataset kinds


@dataclass(frozen=True)
class Field:
    """One field a file of a kind may map to a column.

    ``check`` names what its values look like, as the upload suggestion scores them (id, date, time,
    text, category, code, area, lat, lon, x, y, location, bool, year, month, day, hour, count, score);
    ``synonyms`` are export headers the suggestion scores, best first; ``headers`` the ones matched
    exactly when a file comes without a mapping; ``required_unless`` names fields that, all mapped,
    stand in for a required one (a date from year and month)."""

    name: str
    label: str
    check: str
    synonyms: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    required: bool = False
    required_unless: tuple[str, ...] = ()


# How a kind's rows are placed on the map; the upload asks for a boundary level for the last two.
PLACED_BY_POINTS = "points"  # coordinates and an area id per level, matched to the boundaries
PLACED_BY_PLACE_LEVEL = "place_level"  # each row names its own place level (a beat, a district, a point)
PLACED_BY_AREA_ROWS = "area_rows"  # each row names its level and area id
PLACED_BY_LEVEL = "level"  # one boundary level per file, chosen by the analyst
PLACED_AS_BOUNDARIES = "boundaries"  # the rows are the areas themselves, replaced one level at a time


@dataclass(frozen=True)
class Kind:
    """A dataset kind, declared once: everything else (the store's tables and key, the upload's fields,
    labels and checks, the CLI's choices, the sample files) is derived from these.

    ``prepare`` names the function ("module:function") that turns an upload of this kind and its
    confirmed plan into canonical rows, or None while the kind cannot be uploaded."""

    name: str
    label: str
    schema: pa.DataFrameSchema
    key: tuple[str, ...]  # what "append, newer record wins" de-duplicates on
    time_column: str | None
    fields: tuple[Field, ...]
    detect: tuple[str, ...]  # the fields whose columns say most that a file holds this kind
    placed: str
    prepare: str | None
    sample_file: str | None = None  # its file in data/sample/, if the sample has one

    @property
    def field_map(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def unmapped_required(self, columns: dict[str, str]) -> list[str]:
        """Required fields ``columns`` maps to nothing and no mapped alternative stands in for."""
        return [f.name for f in self.fields if f.required and not columns.get(f.name)
                and not (f.required_unless and set(f.required_unless) <= set(columns))]

    def preparer(self):
        """The function that prepares an upload of this kind (imported when first asked for)."""
        from importlib import import_module

        module, _, function = (self.prepare or "").partition(":")
        return getattr(import_module(module), function) if module else None


_INCIDENT_ID = ("incident id", "id", "incident number", "dr no", "cmplnt num", "incidntnum", "incident num",
                "row id", "event id", "report number")
_POPULATION_AREA = ("area id", "community area id", "community area", "area number", "area numbe", "id")
_POPULATION = ("population", "population 2020", "pop", "total population", "count")
_AREA_ID = ("area id", "area numbe", "beat num", "dist num", "id", "number", "code")
_AREA_NAME = ("name", "community", "dist label", "label", "area name")

# Synonyms of real exports (Chicago, LAPD, NYPD, Seattle, San Francisco, Boston, NIBRS...), best first.
INCIDENT_FIELDS = (
    Field("incident_id", "Incident id", "id", (*_INCIDENT_ID, "offense id", "case id", "incident key",
          "complaint number", "report id", "rd", "cad number", "go number"), _INCIDENT_ID, required=True),
    Field("occurred_at", "Date (occurred)", "date", (
        "date occ", "cmplnt fr dt", "occurred on date", "offense start datetime", "incident datetime",
        "occurred date", "occurred at", "incident date", "date", "occ date", "from date", "offense date",
        "crime date", "datetime", "date time", "occurred", "start date", "report datetime", "reported date",
        "date rptd", "rpt dt"),
        ("occurred at", "date", "occurred on date", "date occ", "cmplnt fr dt", "incident datetime",
         "incident date", "occurred date", "offense date", "datetime"),
        required=True, required_unless=("year", "month")),
    Field("occurred_time", "Time of day", "time", ("time occ", "cmplnt fr tm", "time", "incident time",
          "occurred time", "occ time", "offense time", "from time")),
    Field("year", "Year", "year", ("year", "incident year", "data year", "occ year")),
    Field("month", "Month", "month", ("month", "incident month", "occ month")),
    Field("day", "Day of month", "day", ("day", "day of month", "incident day")),
    Field("hour", "Hour", "hour", ("hour", "incident hour", "occ hour")),
    Field("offense", "Offense (type)", "category", (
        "primary type", "offense parent group", "ofns desc", "crm cd desc", "offense code group",
        "incident category", "offense category", "offense", "offense type", "crime type", "category",
        "offense name", "crime", "offense description", "nibrs offense", "ucr description", "description"),
        ("offense", "primary type", "offense code group", "crm cd desc", "ofns desc", "incident category",
         "category", "offense description", "offense type", "crime type"), required=True),
    Field("offense_detail", "Offense detail", "text", (
        "description", "pd desc", "incident description", "incident subcategory", "descript",
        "offense description", "offense detail", "crime description", "subcategory"),
        ("offense detail", "description", "pd desc", "incident description", "descript", "offense description",
         "incident subcategory")),
    Field("offense_code", "Offense code", "code", ("iucr", "crm cd", "ky cd", "offense code", "incident code",
          "ucr code", "nibrs code", "pd cd", "crime code", "fbi code"),
          ("offense code", "iucr", "crm cd", "ky cd", "incident code", "ucr code")),
    Field("case_number", "Case number", "id", ("case number", "case no", "report number", "rd no", "report no",
          "incident number", "dr no", "report num"), ("case number", "case no", "rd no", "report no")),
    Field("location_type", "Location type", "category", ("location description", "premis desc", "prem typ desc",
          "location type", "premise", "premise type", "place type"),
          ("location type", "location description", "premis desc", "prem typ desc")),
    Field("block", "Block / address", "text", ("block", "100 block address", "address", "street", "location",
          "intersection", "incident address", "block address", "street address"),
          ("block", "address", "street", "location", "intersection")),
    Field("latitude", "Latitude", "lat", ("latitude", "lat", "y", "point y", "lat y"), ("latitude", "lat", "y")),
    Field("longitude", "Longitude", "lon", ("longitude", "long", "lon", "lng", "x", "point x", "lon x"),
          ("longitude", "long", "lon", "lng", "x")),
    Field("location", "Location '(lat, lon)'", "location", ("location", "lat lon", "point", "geolocation",
          "location 1", "mapped location", "geocoded column", "latlon", "coordinates")),
    Field("x", "X coordinate (projected)", "x", ("x coordinate", "x coord cd", "xcoord", "x coord", "x", "easting",
          "point x")),
    Field("y", "Y coordinate (projected)", "y", ("y coordinate", "y coord cd", "ycoord", "y coord", "y",
          "northing", "point y")),
    Field("beat_id", "Beat", "area", ("beat", "beat id", "beat num", "rpt dist no", "reporting area", "sector",
          "patrol beat", "post", "reporting district"), ("beat id", "beat", "reporting area", "rpt dist no")),
    Field("district_id", "District / precinct", "area", ("district", "police district", "district id",
          "addr pct cd", "precinct", "pddistrict", "area", "area name", "division", "patrol boro", "dist"),
          ("district id", "district", "police district", "pddistrict", "area", "addr pct cd")),
    Field("community_area_id", "Community area / neighbourhood", "area", ("community area", "community area id",
          "analysis neighborhood", "neighborhood", "neighbourhood", "mcpp", "boro nm", "ward", "community"),
          ("community area id", "community area", "neighborhood", "analysis neighborhood")),
    Field("arrest", "Arrest", "bool", ("arrest", "arrested", "arrest made"), ("arrest", "arrested")),
    Field("domestic", "Domestic", "bool", ("domestic", "domestic violence", "dv"), ("domestic", "domestic violence")),
)

# Every dataset kind, in the order the store, the CLI and the pages list them.
DATASET_KINDS: tuple[Kind, ...] = (
    Kind("incidents", "Incidents (crime reports)", INCIDENTS, ("incident_id",), "occurred_at", INCIDENT_FIELDS,
         detect=("incident_id", "occurred_at", "offense", "latitude", "offense_code"), placed=PLACED_BY_POINTS,
         prepare="dashboard.ingest.incidents:prepare", sample_file="incidents.parquet"),
    Kind("outreach", "Outreach events", OUTREACH, ("outreach_id",), "starts_at", (
        Field("event_id", "Event id", "id", ("event id", "id", "calendarid", "meeting id")),
        Field("title", "Title", "text", ("title", "event name", "event title", "meeting", "name", "activity")),
        Field("starts_at", "Start", "date", ("start", "start date", "starts at", "event date", "start time",
              "meeting date", "date")),
        Field("event_type", "Event type", "category", ("event type", "type", "activity type", "program")),
        Field("venue", "Venue", "text", ("location", "venue", "address")),
        Field("attendees", "Attendees", "count", ("attendees", "attendance", "participants", "people attended")),
        Field("officer_hours", "Officer hours", "count", ("officer hours", "hours")),
    ), detect=("title", "starts_at", "event_type", "attendees", "venue"), placed=PLACED_BY_PLACE_LEVEL,
        prepare="dashboard.ingest.caps:prepare", sample_file="outreach.csv"),
    Kind("areas", "Boundaries (areas)", AREAS, ("level", "area_id"), None, (
        Field("area_id", "Area id", "id", (*_AREA_ID, "beat", "district", "precinct", "area num 1", "objectid"),
              _AREA_ID, required=True),
        Field("name", "Area name", "text", (*_AREA_NAME, "neighborhood", "nhood", "district name", "beat name"),
              _AREA_NAME),
    ), detect=("area_id", "name"), placed=PLACED_AS_BOUNDARIES, prepare="dashboard.ingest.boundaries:prepare",
        sample_file="areas.parquet"),
    Kind("population", "Population by area", POPULATION, ("level", "area_id", "year"), None, (
        Field("area_id", "Area", "area", (*_POPULATION_AREA, "neighborhood", "area name", "community area name",
              "name"), _POPULATION_AREA, required=True),
        Field("population", "Population", "count", (*_POPULATION, "residents", "total pop", "population total"),
              _POPULATION, required=True),
        Field("year", "Year", "year", ("year", "census year", "vintage"), ("year", "census year")),
        Field("source", "Source", "text", ("source",), ("source",)),
    ), detect=("area_id", "population"), placed=PLACED_BY_LEVEL, prepare="dashboard.ingest.population:prepare",
        sample_file="population.csv"),
    Kind("surveys", "Trust / safety surveys", SURVEYS, ("level", "area_id", "period_start"), "period_start", (
        Field("area_id", "Area", "area", ("area id", "area", "neighborhood", "beat", "district", "community area")),
        Field("period_start", "Period start", "date", ("period start", "wave start", "survey date", "date",
              "start date", "month")),
        Field("trust_score", "Trust score", "score", ("trust score", "trust", "police trust", "trust index",
              "trust in police")),
        Field("safety_score", "Safety score", "score", ("safety score", "safety", "feel safe", "safety index")),
        Field("respondents", "Respondents", "count", ("respondents", "responses", "n", "sample size")),
    ), detect=("trust_score", "safety_score", "respondents", "period_start"), placed=PLACED_BY_AREA_ROWS,
        prepare=None, sample_file="surveys.csv"),
)

KINDS: dict[str, Kind] = {kind.name: kind for kind in DATASET_KINDS}

# Derived views of the registry, for the store, the sample and the CLI.
DATASETS = tuple(KINDS)
SCHEMAS: dict[str, pa.DataFrameSchema] = {name: kind.schema for name, kind in KINDS.items()}
KEYS: dict[str, tuple[str, ...]] = {name: kind.key for name, kind in KINDS.items()}
TIME_COLUMNS: dict[str, str] = {name: kind.time_column for name, kind in KINDS.items() if kind.time_column}


def empty(kind: str) -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes of ``kind`` (areas without geometry)."""
    schema = KINDS[kind].schema
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
