"""Tests for dashboard.maps: the builders' folium objects and rendered HTML, without a browser."""

from __future__ import annotations

import html
import re
from pathlib import Path

import branca.colormap
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard import maps, offline

HOSTILE_NAME = "<script>alert(1)</script>"
CHICAGO_AREAS = Path("/work/shared/data/real/chicago/boundaries/chicago_community_areas.geojson")


@pytest.fixture
def areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_id": ["1", "2", "3"], "name": ["North", HOSTILE_NAME, "South"]},
        geometry=[
            box(-87.7, 41.9, -87.6, 42.0),
            box(-87.6, 41.9, -87.5, 42.0),
            box(-87.7, 41.8, -87.6, 41.9),
        ],
        crs="EPSG:4326",
    )


@pytest.fixture
def values() -> pd.DataFrame:
    # Area 3 has no row: it must be drawn as missing. Ids are ints here, text in the areas, on purpose.
    return pd.DataFrame(
        {"area_id": [1, 2], "count": [1234, 56], "rate_per_1000": [2.5, 0.75], "population": [493600, 74667]}
    )


def _choropleth(areas: gpd.GeoDataFrame, values: pd.DataFrame, **kwargs) -> folium.Map:
    options = {
        "value_column": "count",
        "label": "Incidents",
        "legend_title": "Incidents, Jan–Mar 2024, all types",
        "level_label": "Community area",
        "tooltip_columns": {"rate_per_1000": "Rate per 1,000", "population": "Population"},
    }
    return maps.count_choropleth(areas, values, **{**options, **kwargs})


def _children_of(m: folium.Map, kind: type) -> list:
    return [child for child in m._children.values() if isinstance(child, kind)]


def _features_by_id(m: folium.Map) -> dict[str, dict]:
    (layer,) = _children_of(m, folium.GeoJson)
    return {feature["properties"]["area_id"]: feature for feature in layer.data["features"]}


def _fill_of(m: folium.Map, area_id: str) -> str:
    (layer,) = _children_of(m, folium.GeoJson)
    return layer.style_function(_features_by_id(m)[area_id])["fillColor"]


def test_builder_returns_a_map_with_one_geojson_layer_and_a_legend(areas, values):
    m = _choropleth(areas, values)
    assert isinstance(m, folium.Map)
    assert len(_children_of(m, folium.GeoJson)) == 1
    (legend,) = _children_of(m, branca.colormap.StepColormap)
    assert legend.caption == "Incidents, Jan–Mar 2024, all types"


def test_every_feature_carries_its_area_id_for_clicks(areas, values):
    features = _features_by_id(_choropleth(areas, values))
    assert set(features) == {"1", "2", "3"}
    assert all(feature["id"] == area_id for area_id, feature in features.items())


def test_tooltip_escapes_names_from_data(areas, values):
    m = _choropleth(areas, values)
    assert _features_by_id(m)["2"]["properties"]["name"] == html.escape(HOSTILE_NAME)
    rendered = maps.map_html(m)
    # folium's tojson also escapes "&", so the entity arrives as \u0026lt; and the browser shows "<script>".
    assert r"\u0026lt;script\u0026gt;alert(1)\u0026lt;/script\u0026gt;" in rendered
    assert "<script>alert" not in rendered


def test_text_tooltip_columns_are_escaped(areas, values):
    values["beat"] = ["<i>0111</i>", None]
    m = _choropleth(areas, values, tooltip_columns={"beat": "Beat"})
    assert _features_by_id(m)["1"]["properties"]["beat"] == "&lt;i&gt;0111&lt;/i&gt;"
    assert _features_by_id(m)["2"]["properties"]["beat"] == "no data"


def test_tooltip_aliases_are_escaped(areas, values):
    m = _choropleth(areas, values, label="<b>Incidents</b>")
    (layer,) = _children_of(m, folium.GeoJson)
    (tooltip,) = [child for child in layer._children.values() if isinstance(child, folium.GeoJsonTooltip)]
    assert tooltip.fields == ["name", "value_text", "rate_per_1000", "population"]
    assert tooltip.aliases[1] == "&lt;b&gt;Incidents&lt;/b&gt;"


def test_tooltip_value_equals_the_input_value(areas, values):
    properties = _features_by_id(_choropleth(areas, values))["1"]["properties"]
    assert properties["value_text"] == "1,234"
    assert properties["rate_per_1000"] == "2.5"
    assert properties["population"] == "493,600"
    rate_map = _choropleth(areas, values, value_column="rate_per_1000", fmt="{:.2f}", tooltip_columns={})
    assert _features_by_id(rate_map)["2"]["properties"]["value_text"] == "0.75"


def test_area_without_a_value_is_grey_and_says_so(areas, values):
    m = _choropleth(areas, values, missing_text="no <data>")
    properties = _features_by_id(m)["3"]["properties"]
    assert properties["value_text"] == "no &lt;data&gt;"
    assert properties["rate_per_1000"] == "no &lt;data&gt;"
    assert _fill_of(m, "3") == maps.MISSING_FILL


def test_a_nan_value_counts_as_missing(areas, values):
    values.loc[1, "count"] = np.nan
    m = _choropleth(areas, values)
    assert _fill_of(m, "2") == maps.MISSING_FILL
    assert _features_by_id(m)["2"]["properties"]["value_text"] == "no data"


def test_colours_follow_the_legend_classes(areas, values):
    m = _choropleth(areas, values)
    (legend,) = _children_of(m, branca.colormap.StepColormap)
    assert legend.index[0] <= 56 and legend.index[-1] >= 1234
    assert _fill_of(m, "1") == legend.rgb_hex_str(1234)
    assert _fill_of(m, "2") == legend.rgb_hex_str(56)
    assert _fill_of(m, "1") != _fill_of(m, "2")


@pytest.mark.parametrize(
    "data",
    [
        [0, 0, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 1500],
        [0.13, 0.27, 3.4, 3.41, 3.42, 7.9],
        list(np.random.default_rng(7).lognormal(2, 1, 500)),
        [0.001, 0.002, 0.0031, 0.04],
        [5, 5, 5, 9],
        [-3.2, -1, 0, 4.7],
    ],
)
def test_class_breaks_are_increasing_and_cover_min_and_max(data):
    breaks = maps.class_breaks(data)
    assert 2 <= len(breaks) <= 6
    assert all(a < b for a, b in zip(breaks, breaks[1:], strict=False))
    assert breaks[0] <= min(data) and breaks[-1] >= max(data)


def test_class_breaks_edge_cases():
    assert maps.class_breaks([]) == []
    assert maps.class_breaks([np.nan, np.inf]) == []
    assert maps.class_breaks([7, 7, 7]) == [7.0, 8.0]
    assert len(maps.class_breaks([1, 2, 1, 2, np.nan])) == 3  # two distinct values -> at most two classes
    assert maps.class_breaks([0, 10, 20, 30, 40, 50], classes=2) == [0.0, 25.0, 50.0]


@pytest.mark.parametrize(
    ("low", "high", "decimals"),
    # Measured with d3 3.5.5's linear scale tickFormat(10), which draws the legend's labels.
    [(0, 1500, 0), (0, 12, 0), (0.1, 3.4, 1), (2, 9, 0), (0, 0.05, 3), (120, 130, 0), (0, 1, 1), (0, 2.5, 1)],
)
def test_breaks_are_rounded_to_what_the_legend_prints(low, high, decimals):
    assert maps._legend_decimals(low, high) == decimals


def test_no_tiles_by_default_and_tiles_when_a_url_is_set(areas, values):
    assert _children_of(_choropleth(areas, values), folium.TileLayer) == []
    m = _choropleth(
        areas, values, tile_url="https://tiles.example/{z}/{x}/{y}.png", tile_attribution="© Example"
    )
    (tiles,) = _children_of(m, folium.TileLayer)
    assert tiles.tiles == "https://tiles.example/{z}/{x}/{y}.png"
    assert tiles.options["attribution"] == "© Example"
    assert tiles.options["max_zoom"] == maps.MAX_ZOOM


def test_map_is_fitted_to_the_areas_and_has_a_max_zoom(areas, values):
    m = _choropleth(areas, values)
    rendered = maps.map_html(m)
    assert f'"maxZoom": {maps.MAX_ZOOM}' in rendered and f'"minZoom": {maps.MIN_ZOOM}' in rendered
    (fit,) = _children_of(m, folium.FitBounds)
    assert fit.bounds == [[41.8, -87.7], [42.0, -87.5]]


def test_map_html_links_only_local_files(areas, values):
    rendered = maps.map_html(_choropleth(areas, values, static_url="/proxy/app/static/vendor"))
    assert offline.external_urls(rendered) == []
    assert re.findall(r"https?://", rendered) == []
    assert '<script src="/proxy/app/static/vendor/leaflet.js"></script>' in rendered
    assert '<script src="/proxy/app/static/vendor/d3-3.5.5.min.js"></script>' in rendered


def test_base_map_rejects_bounds_that_are_not_degrees():
    with pytest.raises(maps.MapInputError) as error:
        maps.base_map([[1_850_000, 1_100_000], [1_950_000, 1_200_000]])
    assert "EPSG:4326" in error.value.hint


def test_duplicate_rows_per_area_are_refused(areas, values):
    doubled = pd.concat([values, values.iloc[[0]]])
    with pytest.raises(maps.MapInputError) as error:
        _choropleth(areas, doubled)
    assert "one row per area" in error.value.hint


def test_repeated_area_ids_in_the_boundaries_are_refused(areas, values):
    areas.loc[2, "area_id"] = "1"
    with pytest.raises(maps.MapInputError) as error:
        _choropleth(areas, values)
    assert "dissolve" in error.value.hint


def test_projected_boundaries_are_drawn_in_degrees(areas, values):
    m = _choropleth(areas.to_crs("EPSG:3435"), values)
    longitude, latitude = _features_by_id(m)["1"]["geometry"]["coordinates"][0][0]
    assert -87.71 < longitude < -87.59 and 41.89 < latitude < 42.01


def test_missing_columns_are_named(areas, values):
    with pytest.raises(maps.MapInputError) as error:
        _choropleth(areas, values.drop(columns="population"))
    assert "population" in error.value.message


def test_real_chicago_community_areas_stay_small():
    raw = gpd.read_file(CHICAGO_AREAS)
    areas = raw.rename(columns={"area_numbe": "area_id", "community": "name"})[
        ["area_id", "name", "geometry"]
    ]
    counts = pd.DataFrame({"area_id": areas["area_id"], "count": np.arange(len(areas)) * 37 % 1000})
    m = maps.count_choropleth(
        areas,
        counts,
        value_column="count",
        label="Incidents",
        legend_title="Incidents",
        level_label="Community area",
    )
    rendered = maps.map_html(m)
    size_mb = len(rendered.encode("utf-8")) / 1e6
    print(f"\nHTML of {len(areas)} Chicago community areas: {size_mb:.3f} MB")
    assert len(_features_by_id(m)) == 77
    assert size_mb < 0.5
    assert offline.external_urls(rendered) == []


def test_legend_ticks_keep_the_ends_and_drop_crowded_inner_breaks():
    assert maps.legend_ticks([27, 1891, 3253, 4068, 9000]) == [27, 1891, 3253, 9000]
    assert maps.legend_ticks([0, 1, 2, 3, 100]) == [0, 100]
    assert maps.legend_ticks([0, 50, 100]) == [0, 50, 100]
    assert maps.legend_ticks([5, 9]) == [5, 9]
