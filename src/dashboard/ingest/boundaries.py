"""Boundaries: polygons of one level (beats, districts, community areas) -> canonical areas in
EPSG:4326, one row per area id. The kind's preparation code; it never stores anything."""

from __future__ import annotations

import pandas as pd

from dashboard import schema
from dashboard.errors import IngestError
from dashboard.ingest import rules
from dashboard.ingest.plan import Plan, Source, suggest_mapping
from dashboard.ingest.report import Prepared, Report
from dashboard.ingest.rules import Rejections
from dashboard.ingest.values import canonical_area_id


def prepare_areas(gdf, *, source_name: str, digest: str, level: str, mapping: dict[str, str] | None = None,
                  dissolve: bool = True) -> Prepared:
    """Boundary features -> canonical areas (EPSG:4326, valid polygons, one row per area id)."""
    import geopandas as gpd
    import shapely

    if gdf.crs is None:
        raise IngestError(
            "Boundary file has no coordinate system",
            f"{source_name} does not declare a CRS.",
            hint="Re-export it with its .prj file (Shapefile) or as GeoJSON in EPSG:4326.",
        )
    gdf = gdf.to_crs(schema.CRS)
    mapping = mapping or suggest_mapping([c for c in gdf.columns if c != "geometry"], "areas")
    if "area_id" not in mapping:
        raise IngestError(
            "No area id column", f"{source_name}: none of {list(gdf.columns)[:20]} looks like an area id.",
            hint="Pass --map area_id=COLUMN naming the column that identifies each area.",
        )
    raw = pd.DataFrame(gdf.drop(columns="geometry")).reset_index(drop=True)
    rej = Rejections(len(raw))
    report = Report("areas", source_name, digest, len(raw), 0, pd.DataFrame(), mapping=dict(mapping))
    ids = canonical_area_id(raw[mapping["area_id"]], level)
    names = raw[mapping["name"]].astype("string").str.strip() if "name" in mapping else ids
    geoms = shapely.make_valid(gdf.geometry.reset_index(drop=True).values)
    rej.add(ids.isna(), rules.MISSING_AREA_ID)
    empty_geom = shapely.is_empty(geoms) | pd.isna(geoms)
    rej.add(empty_geom, rules.EMPTY_GEOMETRY)
    frame = gpd.GeoDataFrame({"level": level, "area_id": ids, "name": names}, geometry=list(geoms), crs=schema.CRS)
    frame = frame.loc[~rej.bad.to_numpy()]
    if dissolve:
        # Some portals split one area into several features (Chicago's district 31 comes in 3 parts).
        frame = frame.dissolve(by=["level", "area_id"], aggfunc={"name": "first"}, as_index=False)
    report.take(rej, raw)
    report.rows_kept = len(frame)
    frame = schema.AREAS.validate(frame[["level", "area_id", "name", "geometry"]], lazy=True)
    return Prepared(frame.reset_index(drop=True), report)


def prepare(raw, plan: Plan, source: Source) -> Prepared:
    """The kind's preparer (schema.KINDS["areas"]): shapes of the plan's level, with the coordinate
    system checked and invalid polygons repaired and counted."""
    prepared = _prepare_upload(raw, plan, source.name, source.digest)
    prepared.report.mapping = plan.to_dict()
    return prepared


def _prepare_upload(raw, plan: Plan, source_name: str, digest: str) -> Prepared:
    import geopandas as gpd
    import shapely

    if not isinstance(raw, gpd.GeoDataFrame):
        raise IngestError("Boundaries need shapes", f"{source_name} is a table without geometry.",
                          hint="Upload boundaries as GeoJSON or a zipped Shapefile (.shp, .shx, .dbf, .prj).")
    if not plan.level or plan.level not in schema.LEVELS:
        raise IngestError("Boundary level needed", f"Say which level {source_name} holds.",
                          hint=f"Choose one of: {', '.join(schema.LEVELS)}.")
    gdf = raw
    if plan.crs:
        gdf = gdf.set_crs(plan.crs, allow_override=True)
    elif gdf.crs is not None and gdf.crs.is_geographic:
        west, south, east, north = gdf.total_bounds
        if max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 90:
            raise IngestError(
                "Boundary coordinates look like feet or metres, not degrees",
                f"{source_name} says it is in degrees ({gdf.crs.to_string()}) but spans {west:,.0f} .. {east:,.0f}.",
                hint="Choose the coordinate system (e.g. EPSG:3435) in the mapping, or re-export as EPSG:4326.")
    if gdf.geometry.isna().all() or gdf.geometry.is_empty.all():
        raise IngestError("Boundary shapes could not be read", f"{source_name}: no feature has a usable geometry.",
                          hint="Export the layer again as GeoJSON (EPSG:4326) or a zipped Shapefile.")
    invalid = int((~shapely.is_valid(gdf.geometry.values) & ~gdf.geometry.isna()).sum())
    not_polygon = int((~gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & gdf.geometry.notna()).sum())
    if not_polygon == len(gdf):
        raise IngestError("Boundary file holds no polygons", f"{source_name} holds {gdf.geom_type.iloc[0]} features.",
                          hint="Boundaries are polygons; points or lines (e.g. incident locations) go elsewhere.")
    prepared = prepare_areas(gdf, source_name=source_name, digest=digest, level=plan.level,
                             mapping=plan.columns or None)
    if invalid:
        prepared.report.fixes["invalid (e.g. self-intersecting) polygons repaired"] = invalid
        prepared.report.warnings.append(
            f"{invalid} polygon(s) were invalid (e.g. self-intersecting) and were repaired; check them on the map.")
    return prepared

