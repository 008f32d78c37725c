"""Spatial helpers: areas from the store into GeoDataFrames, bounds, display simplification.

Pure code: no Streamlit, no store access (callers pass frames in).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from dashboard.schema import CRS


def from_store(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Store rows (area_id, name, geometry_wkb) -> GeoDataFrame in EPSG:4326 with columns area_id, name, geometry."""
    geometry = shapely.from_wkb(frame["geometry_wkb"].map(bytes).to_numpy()) if len(frame) else []
    return gpd.GeoDataFrame(
        {"area_id": frame["area_id"].astype(str).to_numpy(), "name": frame["name"].astype(str).to_numpy()},
        geometry=list(geometry), crs=CRS,
    )


def bounds(areas: gpd.GeoDataFrame) -> list[list[float]]:
    """[[south, west], [north, east]] of all areas, the order folium's fit_bounds takes."""
    west, south, east, north = areas.total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]


def containing_area(points: gpd.GeoSeries, areas: gpd.GeoDataFrame) -> pd.Series:
    """area_id of the area each point falls within (NaN outside every area), indexed like ``points``."""
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points, crs=points.crs), areas[["area_id", "geometry"]],
                       how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["area_id"].reindex(points.index)


def beat_lookup(areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """For each beat: beat_id, district_id and community_area_id of the areas containing its
    representative point (a beat can straddle community areas; this picks the one holding its interior
    point). ``areas`` has level, area_id, geometry for all levels."""
    beats = areas[areas["level"] == "beat"]
    points = gpd.GeoSeries(beats.representative_point().values, index=beats["area_id"].values, crs=areas.crs)
    out = pd.DataFrame({"beat_id": beats["area_id"].values})
    for level in ("district", "community_area"):
        out[f"{level}_id"] = containing_area(points, areas[areas["level"] == level]).to_numpy()
    return out


def nesting(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> pd.DataFrame:
    """area_id, parent_id: the parent area holding each child's interior point (NaN where none does),
    e.g. the district of each beat. Children are matched by a point inside them, not their centroid
    (a centroid can fall outside a concave area)."""
    points = gpd.GeoSeries(children.representative_point().values, index=children.index, crs=children.crs)
    parent = containing_area(points, parents.to_crs(children.crs) if parents.crs != children.crs else parents)
    return pd.DataFrame({"area_id": children["area_id"].astype(str).to_numpy(),
                         "parent_id": pd.Series([None if pd.isna(v) else str(v) for v in parent], dtype=object)})
