"""Folium map builders: tidy data in, ``folium.Map`` out, drawn only with locally served assets.

Every text taken from data is HTML-escaped before it reaches the map (folium puts tooltip fields into
innerHTML). This module must not call Streamlit, read files or aggregate data: callers pass values
already counted (and, in public views, already suppressed).
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import branca.colormap
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template
from shapely.geometry import mapping

from dashboard import offline
from dashboard.errors import DashboardError

log = logging.getLogger(__name__)

DEFAULT_STATIC_URL = "/app/static/vendor"
MAX_ZOOM = 18  # without it marker clustering fails ("Map has no maxZoom specified") and blanks the map
MIN_ZOOM = 8

# ColorBrewer YlOrRd (sequential, colour-blind safe), the scheme's own 3-, 4- and 5-class sets.
YL_OR_RD: dict[int, tuple[str, ...]] = {
    1: ("#fd8d3c",),
    2: ("#feb24c", "#f03b20"),
    3: ("#ffeda0", "#feb24c", "#f03b20"),
    4: ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"),
    5: ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
}
MISSING_FILL = "#d4d4d4"
OUTLINE = "#5f5f5f"
NO_TILES_BACKGROUND = "#f2f2f0"

_RESERVED_PROPERTIES = frozenset({"area_id", "name", "value_text"})


class MapInputError(DashboardError):
    default_title = "Map could not be drawn"


class _Background(folium.MacroElement):
    """Page background behind the areas when no basemap is drawn (Leaflet's default is a mid grey)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>.leaflet-container { background: {{ this.colour }}; }</style>
        {% endmacro %}
        """
    )

    def __init__(self, colour: str) -> None:
        super().__init__()
        self._name = "Background"
        self.colour = colour


def _check_bounds(bounds: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    try:
        (south, west), (north, east) = bounds
        south, west, north, east = (float(v) for v in (south, west, north, east))
    except (TypeError, ValueError) as exc:
        raise MapInputError(
            message=f"Map bounds must be [[south, west], [north, east]]; got {bounds!r}.",
            hint="Pass the area layer's total_bounds reordered as [[miny, minx], [maxy, maxx]].",
        ) from exc
    if not (-90 <= south <= north <= 90 and -180 <= west <= east <= 180):
        raise MapInputError(
            message=f"Map bounds {bounds!r} are not latitude/longitude in degrees "
            "(south <= north, west <= east).",
            hint="Coordinates that look like feet or metres need reprojecting to EPSG:4326 first; "
            "check the order is [[south, west], [north, east]].",
        )
    return south, west, north, east


def base_map(
    bounds: Sequence[Sequence[float]],
    tile_url: str = "",
    tile_attribution: str = "",
    static_url: str = DEFAULT_STATIC_URL,
) -> folium.Map:
    """An empty map fitted to ``bounds`` = [[south, west], [north, east]].

    No basemap unless ``tile_url`` is given (the default works offline); asset links point at
    ``static_url``.
    """
    south, west, north, east = _check_bounds(bounds)
    offline.localize_folium_classes(static_url)
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=10,
        tiles=None,
        max_zoom=MAX_ZOOM,
        min_zoom=MIN_ZOOM,
        zoom_control=True,
        prefer_canvas=False,
    )
    # folium 0.20 hands min_zoom/max_zoom only to a tile layer it creates, so with tiles=None the Leaflet
    # map would have no maxZoom (and marker clustering would fail): set them on the map itself.
    m.options["max_zoom"] = MAX_ZOOM
    m.options["min_zoom"] = MIN_ZOOM
    m.dashboard_static_url = static_url
    if tile_url:
        folium.TileLayer(tile_url, attr=tile_attribution or "Map tiles", max_zoom=MAX_ZOOM).add_to(m)
    else:
        _Background(NO_TILES_BACKGROUND).add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    return m


def _legend_decimals(low: float, high: float) -> int:
    """Decimals the legend's d3 v3 axis prints for the domain [low, high] (d3's linear tickFormat(10)).

    Breaks are rounded to this so each legend label is the exact break, not a rounded neighbour.
    """
    span = high - low
    if span <= 0:
        return 0
    step = 10 ** math.floor(math.log10(span / 10))
    err = 10 / span * step
    if err <= 0.15:
        step *= 10
    elif err <= 0.35:
        step *= 5
    elif err <= 0.75:
        step *= 2
    return max(0, -math.floor(math.log10(step) + 0.01))


def legend_ticks(breaks: Sequence[float], min_gap: float = 0.14) -> list[float]:
    """The breaks the legend labels: the ends always, inner ones only where they do not overlap.

    branca places labels by value on a linear axis, so skewed quantile breaks crowd at one end.
    """
    if len(breaks) < 3:
        return list(breaks)
    low, high = breaks[0], breaks[-1]
    span = (high - low) or 1.0
    ticks = [low]
    for value in breaks[1:-1]:
        if (value - ticks[-1]) / span >= min_gap and (high - value) / span >= min_gap:
            ticks.append(value)
    return [*ticks, high]


def class_breaks(values: Sequence[float] | np.ndarray | pd.Series, classes: int = 5) -> list[float]:
    """Quantile class breaks: an increasing list whose first item <= min and last >= max.

    Gives ``classes`` classes (len = classes + 1), fewer when there are few distinct values; one class
    [v, v + 1] when all values are equal; [] when there is no finite value. Breaks are rounded to the
    decimals the legend shows, outwards at both ends so the classes still cover every value.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return []
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        return [low, low + 1.0]
    count = max(1, min(classes, np.unique(finite).size))
    raw = np.quantile(finite, np.linspace(0.0, 1.0, count + 1))
    decimals = _legend_decimals(low, high)
    # Rounding the ends outwards can widen the domain enough for d3 to print fewer decimals; settle it.
    for _ in range(3):
        scale = 10.0**decimals
        lower = math.floor(low * scale) / scale
        upper = math.ceil(high * scale) / scale
        settled = _legend_decimals(lower, upper)
        if settled == decimals:
            break
        decimals = settled
    interior = [round(float(b), decimals) for b in raw[1:-1]]
    return sorted({lower, upper, *(b for b in interior if lower < b < upper)})


def _format_column(series: pd.Series, missing_text: str) -> list[str]:
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric:
        finite = series[np.isfinite(series.astype(float))]
        whole = bool((finite == np.round(finite)).all())
        pattern = "{:,.0f}" if whole else "{:,.1f}"
        texts = [missing_text if pd.isna(v) else pattern.format(v) for v in series]
    else:
        texts = [missing_text if pd.isna(v) else str(v) for v in series]
    return [html.escape(text) for text in texts]


def _display_geometry(geometry: gpd.GeoSeries, tolerance: float) -> list[dict[str, Any]]:
    # Five decimals of a degree is about 1 m, plenty for a city map; every extra digit is page weight.
    simplified = geometry.simplify(tolerance, preserve_topology=True) if tolerance > 0 else geometry
    rounded = shapely.transform(simplified.values, lambda xy: np.round(xy, 5))
    return [mapping(geom) for geom in rounded]


def _check_inputs(
    areas: gpd.GeoDataFrame, values: pd.DataFrame, value_column: str, extra: Sequence[str]
) -> None:
    missing_areas = [c for c in ("area_id", "name", "geometry") if c not in areas.columns]
    missing_values = [c for c in ("area_id", value_column, *extra) if c not in values.columns]
    if missing_areas or missing_values:
        raise MapInputError(
            message="Missing columns: "
            + "; ".join(
                part
                for part in (
                    f"areas lacks {', '.join(missing_areas)}" if missing_areas else "",
                    f"values lacks {', '.join(missing_values)}" if missing_values else "",
                )
                if part
            )
            + ".",
            hint="areas needs area_id, name, geometry; values needs area_id, the value column and every "
            "tooltip column.",
        )
    clashing = _RESERVED_PROPERTIES.intersection(extra)
    if clashing:
        raise MapInputError(
            message=f"Tooltip columns {sorted(clashing)} clash with the map's own feature properties.",
            hint="Rename those columns before passing them as tooltip_columns.",
        )
    if areas["area_id"].astype(str).duplicated().any():
        raise MapInputError(
            message="The area boundaries repeat an area_id, so a click could not tell those areas apart.",
            hint="Dissolve the boundaries to one shape per area_id (GeoDataFrame.dissolve) first.",
        )
    duplicated = values["area_id"].astype(str).duplicated(keep=False)
    if duplicated.any():
        repeated = sorted(set(values.loc[duplicated, "area_id"].astype(str)))
        raise MapInputError(
            message=f"values has more than one row for area(s) {repeated[:10]}.",
            hint="Aggregate to one row per area (and filter to one period) before drawing the map.",
        )
    if not pd.api.types.is_numeric_dtype(values[value_column]):
        raise MapInputError(
            message=f"Column {value_column!r} is not numeric (dtype {values[value_column].dtype}).",
            hint="Pass counts or rates as numbers; convert with pandas.to_numeric first.",
        )


def _style_for(fill: str, missing: bool) -> dict[str, Any]:
    return {
        "fillColor": fill,
        "fillOpacity": 0.75 if missing else 0.8,
        "color": OUTLINE,
        "weight": 1,
        "opacity": 0.9,
    }


def count_choropleth(
    areas: gpd.GeoDataFrame,
    values: pd.DataFrame,
    *,
    value_column: str,
    label: str,
    legend_title: str,
    level_label: str,
    fmt: str = "{:,.0f}",
    tooltip_columns: Mapping[str, str] | None = None,
    classes: int = 5,
    tolerance: float = 0.0005,
    tile_url: str = "",
    tile_attribution: str = "",
    static_url: str = DEFAULT_STATIC_URL,
    missing_text: str = "no data",
) -> folium.Map:
    """Areas shaded by ``values[value_column]`` in quantile classes, with a legend and a tooltip.

    areas: area_id, name, geometry (EPSG:4326; other CRSs are reprojected).
    values: one row per area_id with ``value_column`` and every column in ``tooltip_columns``
    (column -> label shown in the tooltip). Areas without a value are grey and say ``missing_text``.

    Each feature's properties hold area_id (as text, to identify a click), name, value_text and the
    tooltip columns, all tooltip text HTML-escaped. ``legend_title`` names measure, period and filters.
    """
    tooltip_columns = dict(tooltip_columns or {})
    extra = list(tooltip_columns)
    _check_inputs(areas, values, value_column, extra)

    shown = areas[["area_id", "name", "geometry"]]
    if areas.crs is not None and not areas.crs.equals("EPSG:4326"):
        shown = shown.to_crs("EPSG:4326")
    keep = shown.geometry.notna() & ~shown.geometry.is_empty
    if not keep.all():
        log.warning("count_choropleth: %d area(s) without geometry left off the map", int((~keep).sum()))
        shown = shown[keep]
    if shown.empty:
        raise MapInputError(
            message="There are no area shapes to draw.",
            hint="Load the area boundaries (area_id, name, geometry) before drawing the map.",
        )

    # Compare ids as text: boundary files often hold "35" where the counts hold 35.
    table = pd.DataFrame(
        {"area_id": shown["area_id"].astype(str).to_numpy(), "name": shown["name"].to_numpy()}
    )
    measured = values[["area_id", value_column, *[c for c in extra if c != value_column]]].copy()
    measured["area_id"] = measured["area_id"].astype(str)
    unknown = set(measured["area_id"]) - set(table["area_id"])
    if unknown:
        log.info(
            "count_choropleth: %d value row(s) name no drawn area, e.g. %s", len(unknown), sorted(unknown)[:3]
        )
    table = table.merge(measured, on="area_id", how="left", validate="one_to_one")
    value = pd.to_numeric(table[value_column], errors="coerce").astype(float)

    breaks = class_breaks(value, classes)
    colormap = None
    if breaks:
        colors = list(YL_OR_RD[len(breaks) - 1])
        colormap = branca.colormap.StepColormap(
            colors, index=breaks, vmin=breaks[0], vmax=breaks[-1], caption=legend_title,
            tick_labels=legend_ticks(breaks),
        )

    missing = value.isna().to_numpy()
    escaped_missing = html.escape(missing_text)
    value_text = [
        escaped_missing if gone else html.escape(fmt.format(v))
        for v, gone in zip(value, missing, strict=True)
    ]
    extra_text = {column: _format_column(table[column], missing_text) for column in extra}
    styles: dict[str, dict[str, Any]] = {}
    features = []
    for i, geometry in enumerate(_display_geometry(shown.geometry, tolerance)):
        area_id = table.at[i, "area_id"]
        fill = MISSING_FILL if missing[i] or colormap is None else colormap.rgb_hex_str(value.iat[i])
        styles[area_id] = _style_for(fill, bool(missing[i]))
        properties = {
            "area_id": area_id,
            "name": html.escape(str(table.at[i, "name"])),
            "value_text": value_text[i],
            **{column: texts[i] for column, texts in extra_text.items()},
        }
        features.append({"type": "Feature", "id": area_id, "properties": properties, "geometry": geometry})

    south, west, north, east = (float(v) for v in shown.total_bounds[[1, 0, 3, 2]])
    m = base_map([[south, west], [north, east]], tile_url, tile_attribution, static_url)

    def style_of(feature: dict[str, Any]) -> dict[str, Any]:
        return styles[feature["id"]]

    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=html.escape(label),
        style_function=style_of,
        highlight_function=lambda _feature: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "value_text", *extra],
            aliases=[
                html.escape(level_label),
                html.escape(label),
                *(html.escape(a) for a in tooltip_columns.values()),
            ],
            sticky=True,
        ),
        zoom_on_click=False,
    ).add_to(m)
    if colormap is not None:
        colormap.add_to(m)
    return m


def map_html(m: folium.Map, static_url: str | None = None) -> str:
    """The map as a standalone HTML page whose script and style links are all local files."""
    static_url = static_url or getattr(m, "dashboard_static_url", DEFAULT_STATIC_URL)
    offline.localize_folium_classes(static_url)
    return offline.localize_html(m.get_root().render(), static_url)
