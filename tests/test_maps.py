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


# ------------------------------------------------------------------ measures, public view, layers


def test_diverging_breaks_are_symmetric_around_zero_with_blue_for_decreases():
    breaks = maps.diverging_breaks([-35.2, -12, -3, 0.5, 4, 9, 22, 61])
    assert 0.0 in breaks and breaks == sorted(breaks)
    assert breaks[0] == -breaks[-1] and breaks[-1] >= 61
    colours = maps._diverging_colours(breaks)
    assert len(colours) == len(breaks) - 1
    assert colours[0] == maps.RD_BU_BLUES[0] and colours[-1] == maps.RD_BU_REDS[-1]
    assert maps.diverging_breaks([np.nan]) == []
    assert maps.diverging_breaks([0, 0]) == [-1.0, 0.0, 1.0]


def test_change_map_colours_decreases_blue_and_increases_red(areas):
    change = pd.DataFrame({"area_id": ["1", "2", "3"], "pct": [-40.0, 25.0, 2.0]})
    m = _choropleth(areas, change, value_column="pct", palette="diverging", tooltip_columns={})
    assert _fill_of(m, "1") in maps.RD_BU_BLUES and _fill_of(m, "2") in maps.RD_BU_REDS


def test_withheld_areas_are_hatched_say_so_and_stay_out_of_the_classes(areas):
    public = pd.DataFrame({"area_id": ["1", "2", "3"], "count": [1234.0, np.nan, 56.0],
                           "count_text": ["1,234", "fewer than 5", "56"], "hidden": [False, True, False],
                           "changed": [True, False, False]})
    m = _choropleth(areas, public, text_column="count_text", hidden_column="hidden", tooltip_columns={},
                    emphasis_column="changed", emphasis_label="thick outline: significant",
                    notes=[f"Public view {HOSTILE_NAME}"])
    features = _features_by_id(m)
    assert features["2"]["properties"]["value_text"] == "fewer than 5"
    assert _fill_of(m, "2") == maps.HATCH_FILL
    (layer,) = _children_of(m, folium.GeoJson)
    assert layer.style_function(features["1"])["weight"] == 3.5
    assert layer.style_function(features["3"])["weight"] == 1
    (legend,) = _children_of(m, branca.colormap.StepColormap)
    assert legend.index[0] <= 56 and legend.index[-1] >= 1234  # the hidden area is in no class
    assert len(_children_of(m, maps._Hatch)) == 1
    (notes,) = _children_of(m, maps._Notes)
    assert "hatched: withheld" in notes.html and "thick outline: significant" in notes.html
    rendered = maps.map_html(m)
    assert "Public view &lt;script&gt;" in rendered and "<script>alert" not in rendered
    assert offline.external_urls(rendered) == [] and not re.findall(r"https?://", rendered)


def test_category_map_colours_by_class_and_escapes(areas):
    spots = pd.DataFrame({"area_id": ["1", "2", "3"], "spot": ["hot", "cold", "odd"],
                          "count_text": ["<b>9</b>", "1", "2"]})
    categories = {"hot": ("#b2182b", "hot spot"), "cold": ("#2166ac", "cold spot")}
    m = maps.category_choropleth(areas, spots, category_column="spot", categories=categories, label="Gi*",
                                 level_label="Hexagon", tooltip_columns={"count_text": "Incidents"})
    features = _features_by_id(m)
    assert _fill_of(m, "1") == "#b2182b" and _fill_of(m, "3") == maps.MISSING_FILL
    assert features["1"]["properties"]["value_text"] == "hot spot"
    assert features["1"]["properties"]["count_text"] == "&lt;b&gt;9&lt;/b&gt;"


def test_outline_layer_is_aggregate_switchable_and_skips_empty_areas(areas, values):
    m = _choropleth(areas, values)
    events = pd.DataFrame({"area_id": ["1", "2", "3"], "events": [12, 0, 3]})
    maps.add_outline_layer(m, areas, events, value_column="events", label="Outreach <events>",
                           level_label="Beat", show=False)
    (group,) = _children_of(m, folium.FeatureGroup)
    assert group.show is False and group.layer_name == "Outreach &lt;events&gt;"
    (layer,) = [c for c in group._children.values() if isinstance(c, folium.GeoJson)]
    assert sorted(f["id"] for f in layer.data["features"]) == ["1", "3"]
    assert len(_children_of(m, folium.LayerControl)) == 1
    report = maps.payload(m)
    assert report["features"] == 5 and report["point_features"] == 0 and report["bytes"] > 1000
    folium.Marker([41.9, -87.6]).add_to(m)
    assert maps.payload(m)["point_features"] == 1


def test_public_beat_map_of_the_sample_stays_under_the_payload_limit():
    areas = gpd.read_parquet(Path(__file__).resolve().parents[1] / "data" / "sample" / "areas.parquet")
    beats = areas[areas["level"] == "beat"][["area_id", "name", "geometry"]].reset_index(drop=True)
    counts = np.arange(len(beats)) % 40
    table = pd.DataFrame({"area_id": beats["area_id"], "count": np.where(counts < 5, np.nan, counts),
                          "count_text": [f"{c}" if c >= 5 else "fewer than 5" for c in counts],
                          "hidden": counts < 5, "changed": counts % 7 == 0})
    m = maps.count_choropleth(beats, table, value_column="count", text_column="count_text", hidden_column="hidden",
                              emphasis_column="changed", label="Incidents", legend_title="Incidents",
                              level_label="Police beat", tooltip_columns={"count_text": "Incidents"})
    report = maps.payload(m)
    print(f"\npublic beat map: {report['bytes'] / 1e6:.3f} MB, {report['features']} features")
    assert report["features"] == 275 and report["point_features"] == 0
    assert report["bytes"] <= maps.MAX_PAYLOAD_BYTES


def test_layers_give_the_bounds_folium_would_walk_every_coordinate_for(areas, values):
    from folium.utilities import get_bounds

    m = _choropleth(areas, values, tolerance=0.01)
    maps.add_outline_layer(m, areas, values.assign(events=[3, 0]), value_column="events", label="Events",
                           level_label="Area")  # area 2 has none: left out of the outline layer
    layers = [layer for layer in [*m._children.values(), *(c for child in m._children.values()
                                                             for c in getattr(child, "_children", {}).values())]
              if isinstance(layer, folium.GeoJson)]
    assert len(layers) == 2
    for layer in layers:
        assert layer._get_self_bounds() == get_bounds(layer.data, lonlat=True)
    assert layers[1]._get_self_bounds() == [[41.9, -87.7], [42.0, -87.6]]  # area 1 only
    assert m.get_bounds() == [[41.8, -87.7], [42.0, -87.5]]


def _hexagon_map(monkeypatch, names: list[str] | None = None) -> folium.Map:
    """A choropleth with a hatch, tooltips, a legend and an outline layer, with the same element ids on
    every build so that two builds can be compared."""
    import itertools

    import branca.element

    ids = itertools.count()
    monkeypatch.setattr(branca.element.Element, "_generate_id", classmethod(lambda cls: f"{next(ids):032x}"))
    cells = [box(-87.7 + 0.01 * i, 41.9, -87.69 + 0.01 * i, 41.91) for i in range(40)]
    areas = gpd.GeoDataFrame({"area_id": [str(i) for i in range(40)],
                              "name": names or [f"cell {i}" for i in range(40)]}, geometry=cells, crs="EPSG:4326")
    values = pd.DataFrame({"area_id": [str(i) for i in range(40)], "count": [i % 7 for i in range(40)],
                           "hidden": [i % 9 == 0 for i in range(40)], "events": [i % 3 for i in range(40)]})
    m = maps.count_choropleth(areas, values, value_column="count", hidden_column="hidden", label="Incidents",
                              legend_title="Incidents per hexagon", level_label="Hexagon")
    return maps.add_outline_layer(m, areas, values, value_column="events", label="Outreach events",
                                  level_label="Police beat", show=False)


def test_geojson_layers_render_what_folium_renders(monkeypatch):
    fast = maps.map_html(_hexagon_map(monkeypatch))
    # the same map through folium's own GeoJson.render (style mapper per feature, scripts as templates)
    monkeypatch.setattr(maps._GeoJson, "render", folium.GeoJson.render)
    slow = maps.map_html(_hexagon_map(monkeypatch))
    assert fast == slow
    assert fast.count("_styler(") >= 2 and '"cell 39"' in fast


def test_data_in_a_map_is_never_run_as_a_template(monkeypatch):
    names = ["{{ 7*7 }}", "{{ cycler.__init__.__globals__.os.getpid() }}"] + [f"cell {i}" for i in range(2, 40)]
    rendered = maps.map_html(_hexagon_map(monkeypatch, names))
    assert '"{{ 7*7 }}"' in rendered and "cycler.__init__" in rendered
    assert '"49"' not in rendered
    # what folium does with the same data: it evaluates it on the server
    monkeypatch.setattr(maps._GeoJson, "render", folium.GeoJson.render)
    assert '"49"' in maps.map_html(_hexagon_map(monkeypatch, names))


# Jinja that would show itself as "PWN..." if branca evaluated it on the server.
TEMPLATE_PAYLOAD = "{{ 'pwn'|upper }}{% for i in [1] %}{{ 'pwntwo'|upper }}{% endfor %}{# c #}{{{ 'pwn3'|upper }}}"


def test_no_text_on_any_map_is_run_as_a_template(areas, values):
    """Every text a map shows (area names and values, labels, legend title and notes, category labels,
    tooltip column names and values, layer names, tile URL and attribution) stays literal text."""
    p = TEMPLATE_PAYLOAD
    hostile_areas = areas.assign(name=[p, p + " 2", p + " 3"])
    hostile_values = values.assign(note=[p, p], hidden=[False, True], hot=[True, False], shown=[p, None])
    choropleth = maps.count_choropleth(
        hostile_areas, hostile_values, value_column="count", label=p, legend_title=p, level_label=p,
        tooltip_columns={"note": p}, text_column="shown", hidden_column="hidden", emphasis_column="hot",
        emphasis_label=p, notes=[p], missing_text=p, tile_url="https://tiles.example/{z}/{x}/{y}.png?" + p,
        tile_attribution=p)
    maps.add_outline_layer(choropleth, hostile_areas, hostile_values, value_column="count", label=p, level_label=p)
    category = maps.category_choropleth(
        hostile_areas, hostile_values.assign(kind=["hot", "cold"]), category_column="kind",
        categories={"hot": ("#d7301f", p), "cold": ("#2b8cbe", p)}, label=p, level_label=p,
        tooltip_columns={"note": p}, notes=[p], missing_text=p)
    for m in (choropleth, category):
        rendered = maps.map_html(m)
        assert "PWN" not in rendered
        assert rendered.count("pwn") >= 10  # the text is there, as text
    assert "https://tiles.example/{z}/{x}/{y}.png" in maps.map_html(choropleth)  # Leaflet's own braces kept


def test_inert_breaks_only_template_openers():
    assert maps._inert("{z}/{x} {{a}} {%b%} {#c#} {{{d}}}") == (
        "{z}/{x} {\u200b{a}} {\u200b%b%} {\u200b#c#} {\u200b{\u200b{d}}}")
    assert maps._html_text("<b>{{x}}</b>") == "&lt;b&gt;{\u200b{x}}&lt;/b&gt;"
