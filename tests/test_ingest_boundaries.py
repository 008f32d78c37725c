"""ingest.boundaries: shapes of one level become canonical areas; an empty shape is rejected by its rule."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard import ingest
from dashboard.errors import IngestError


def test_polygons_become_areas_of_the_plans_level():
    shapes = gpd.GeoDataFrame({"DIST_NUM": ["001", "2", "3"], "NAME": ["One", "Two", "Three"]},
                              geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), None], crs="EPSG:4326")
    plan = ingest.Plan(kind="areas", columns={"area_id": "DIST_NUM", "name": "NAME"}, level="district")
    out = ingest.prepare_mapped(shapes, plan, source_name="districts.geojson")
    assert out.frame[["level", "area_id", "name"]].values.tolist() == [["district", "1", "One"],
                                                                       ["district", "2", "Two"]]
    assert out.report.rejected_by_code == {"empty_geometry": 1}
    assert out.report.mapping == plan.to_dict()
    with pytest.raises(IngestError, match="Boundaries need shapes"):
        ingest.prepare_mapped(pd.DataFrame({"DIST_NUM": ["1"]}), plan, source_name="districts.csv")
