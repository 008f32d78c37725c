"""geo: store rows to GeoDataFrames, bounds, and placing beats in districts and community areas."""

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import box

from dashboard import geo


def test_from_store_round_trip_and_bounds():
    rows = pd.DataFrame({"area_id": ["1"], "name": ["A"], "geometry_wkb": [shapely.to_wkb(box(-87.7, 41.8, -87.6, 41.9))]})
    gdf = geo.from_store(rows)
    assert gdf.crs.to_epsg() == 4326 and gdf.geometry.iloc[0].equals(box(-87.7, 41.8, -87.6, 41.9))
    assert geo.bounds(gdf) == [[41.8, -87.7], [41.9, -87.6]]


def test_beat_lookup_uses_the_area_holding_the_beats_interior():
    areas = gpd.GeoDataFrame({
        "level": ["beat", "beat", "district", "community_area", "community_area"],
        "area_id": ["0111", "0112", "1", "10", "11"],
    }, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 0, 2, 1), box(0, 0, 1.2, 1), box(1.2, 0, 2, 1)], crs=4326)
    out = geo.beat_lookup(areas).set_index("beat_id")
    assert out.loc["0111"].tolist() == ["1", "10"]
    assert out.loc["0112"].tolist() == ["1", "11"]  # straddles 10 and 11; its interior point is in 11


def test_nesting_puts_each_child_in_the_parent_holding_its_interior():
    beats = gpd.GeoDataFrame({"area_id": ["0111", "0112", "9999"], "name": ["a", "b", "c"]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2.2, 1), box(5, 5, 6, 6)], crs=4326)
    districts = gpd.GeoDataFrame({"area_id": ["1", "2"], "name": ["x", "y"]},
                                 geometry=[box(0, 0, 2, 1), box(2, 0, 3, 1)], crs=4326)
    out = geo.nesting(beats, districts)
    assert out["parent_id"].tolist() == ["1", "1", None]  # 0112 mostly in 1; 9999 in no district
