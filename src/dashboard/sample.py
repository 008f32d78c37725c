"""Build data/sample/ from the real Chicago files in ../shared/data/real/chicago, reproducibly.

Runs every file through the same ingest code an analyst's upload uses and writes canonical files plus
build_report.json (rows in, kept, dropped and why). Also seeds an empty store from data/sample/.
Must not invent data: a dataset kind without real data (surveys) is written empty.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from dashboard import geo, ingest, schema
from dashboard.store import Provenance, Store

log = logging.getLogger(__name__)

CRIME_FILES = ("chicago_crimes_2016.csv.gz", "chicago_crimes_2017.csv.gz")
CRIME_COLUMNS = {"incident_id": "ID", "case_number": "Case Number", "occurred_at": "Date", "offense": "Primary Type",
                 "offense_detail": "Description", "offense_code": "IUCR", "location_type": "Location Description",
                 "block": "Block", "latitude": "Latitude", "longitude": "Longitude", "beat_id": "Beat",
                 "district_id": "District", "community_area_id": "Community Area", "arrest": "Arrest",
                 "domestic": "Domestic"}
CRIME_DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"
BOUNDARY_FILES = {
    "community_area": "boundaries/chicago_community_areas.geojson",
    "district": "boundaries/chicago_police_districts.geojson",
    "beat": "boundaries/chicago_police_beats.geojson",
}
BOUNDARY_MAPPINGS = {
    "community_area": {"area_id": "area_numbe", "name": "community"},
    "district": {"area_id": "dist_num", "name": "dist_label"},
    "beat": {"area_id": "beat_num", "name": "beat_num"},
}
POPULATION_FILE = "chicago_community_area_population_2020.csv"
POPULATION_COLUMNS = {"area_id": "community_area_id", "population": "population_2020"}
EVENTS_FILE = "cpd_caps_community_events_2016_2017.json"

SAMPLE_FILES = {name: kind.sample_file for name, kind in schema.KINDS.items() if kind.sample_file}


def _area_names(level: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    if level == "community_area":
        frame["name"] = frame["name"].str.title()
    elif level == "district":
        frame["name"] = "District " + frame["area_id"]
    else:
        frame["name"] = "Beat " + frame["area_id"]
    return frame


def build(source: Path, out: Path) -> dict[str, Any]:
    """Write the canonical sample files into ``out`` and return the build report."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"source": str(source.name), "datasets": {}}

    areas = []
    for level, rel in BOUNDARY_FILES.items():
        prepared = ingest.prepare_file(source / rel, "areas", level=level, mapping=BOUNDARY_MAPPINGS[level])
        areas.append(_area_names(level, prepared.frame))
        report["datasets"][f"areas/{level}"] = prepared.report.to_dict()
    area_frame = gpd.GeoDataFrame(pd.concat(areas, ignore_index=True), crs=schema.CRS)
    area_frame.to_parquet(out / SAMPLE_FILES["areas"], index=False, compression="zstd")
    known = {lvl: set(area_frame.loc[area_frame["level"] == lvl, "area_id"]) for lvl in schema.LEVELS}

    frames = []
    for name in CRIME_FILES:
        prepared = ingest.prepare_file(source / name, "incidents", mapping=CRIME_COLUMNS, date_format=CRIME_DATE_FORMAT)
        frames.append(prepared.frame)
        report["datasets"][f"incidents/{name}"] = prepared.report.to_dict()
    incidents = pd.concat(frames, ignore_index=True)
    across = incidents["incident_id"].duplicated(keep="last")
    cleared: dict[str, int] = {}
    for key, level in schema.LEVELS.items():
        # e.g. Community Area '0': not an area; keep the incident, drop the id.
        unknown = incidents[level.column].notna() & ~incidents[level.column].isin(known[key])
        cleared[f"{level.column} not in the {key} boundaries, cleared"] = int(unknown.sum())
        incidents.loc[unknown, level.column] = pd.NA
    incidents = incidents.loc[~across].sort_values("occurred_at", kind="stable").reset_index(drop=True)
    incidents = schema.INCIDENTS.validate(incidents)
    incidents.to_parquet(out / SAMPLE_FILES["incidents"], index=False, compression="zstd")
    report["incidents"] = {"rows": len(incidents), "duplicate_ids_across_years": int(across.sum()), **cleared}

    pop = ingest.prepare_file(source / POPULATION_FILE, "population", level="community_area", year=2020,
                              mapping=POPULATION_COLUMNS)
    pop_frame = pop.frame.assign(source="US Census 2020 via " + POPULATION_FILE)
    pop_frame.to_csv(out / SAMPLE_FILES["population"], index=False)
    report["datasets"]["population"] = pop.report.to_dict()

    events = ingest.prepare_file(source / EVENTS_FILE, "outreach", known_beats=known["beat"])
    lookup = geo.beat_lookup(area_frame).set_index("beat_id")
    on_beat = events.frame["place_level"] == "beat"
    events.frame.loc[on_beat, "community_area_id"] = events.frame.loc[on_beat, "beat_id"].map(
        lookup["community_area_id"])
    report["outreach_beats_outside_their_calendar_district"] = int(
        (on_beat & (events.frame["beat_id"].map(lookup["district_id"]) != events.frame["district_id"])).sum())
    events.frame.to_csv(out / SAMPLE_FILES["outreach"], index=False, date_format="%Y-%m-%dT%H:%M:%S")
    report["datasets"]["outreach"] = events.report.to_dict()
    report["outreach"] = {
        "rows": len(events.frame),
        "events": int(events.frame["event_id"].nunique()),
        "by_event_type": events.frame.groupby("event_type")["event_id"].nunique().to_dict(),
        "by_place_level": events.frame.groupby("place_level")["event_id"].nunique().to_dict(),
    }

    schema.empty("surveys").to_csv(out / SAMPLE_FILES["surveys"], index=False)
    report["surveys"] = {"rows": 0, "note": "No real trust/safety survey data is available; shipped empty."}
    (out / "build_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def read_sample(sample_dir: Path, dataset: str) -> pd.DataFrame:
    """One canonical dataset from data/sample/, typed by its schema (empty for a kind the sample lacks)."""
    if dataset not in SAMPLE_FILES:
        return schema.empty(dataset)
    path = sample_dir / SAMPLE_FILES[dataset]
    if dataset == "areas":
        return schema.AREAS.validate(gpd.read_parquet(path))
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if frame.empty:
        return frame
    return schema.SCHEMAS[dataset].validate(frame)


def seed_store(store: Store, sample_dir: Path) -> list[str]:
    """Commit each sample dataset the store does not have yet; return the datasets seeded."""
    seeded = []
    present = store.active_versions()
    for dataset in schema.DATASETS:
        if dataset in present:
            continue
        frame = read_sample(sample_dir, dataset)
        if frame.empty:
            continue
        store.commit(dataset, frame, Provenance(
            source=f"data/sample/{SAMPLE_FILES[dataset]}", rows_in=len(frame), rows_kept=len(frame),
            rows_rejected=0, author="sample", note="Bundled real Chicago sample (see data/sample/README.md)",
        ))
        seeded.append(dataset)
    return seeded
