"""Folium map builders: tidy data in, ``folium.Map`` out, drawn only with locally served assets.

Every text taken from data is HTML-escaped before it reaches the map (folium puts tooltip fields into
innerHTML). This module must not call Streamlit, read files or aggregate data: callers pass values
already counted (and, in public views, already suppressed).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import branca.colormap
import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.elements import ElementAddToElement
from folium.features import GeoJsonStyleMapper
from folium.template import Template
from folium.utilities import get_obj_in_upper_tree
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
# ColorBrewer RdBu (diverging, colour-blind safe): blue for decreases, red for increases.
RD_BU_BLUES = ("#2166ac", "#67a9cf", "#d1e5f0")
RD_BU_REDS = ("#fddbc7", "#ef8a62", "#b2182b")
MISSING_FILL = "#d4d4d4"
HATCH_FILL = "url(#withheld-hatch)"
EMPHASIS = "#111111"
OUTREACH_LINE = "#542788"  # ColorBrewer PuOr purple: apart from both the YlOrRd and RdBu fills
MAX_PAYLOAD_BYTES = 1_500_000
MAX_POINT_FEATURES = 5_000
OUTLINE = "#5f5f5f"
NO_TILES_BACKGROUND = "#f2f2f0"

_RESERVED_PROPERTIES = frozenset({"area_id", "name", "value_text"})


_TEMPLATE_OPENER = re.compile(r"\{(?=[{%#])")


def _inert(text: str) -> str:
    """``text`` with a zero-width space after each '{' that would open jinja syntax ('{{', '{%', '{#').
    branca adds every element's rendered script to the page as Element(text), which compiles that text
    as a jinja template on the server: a name, label or note holding '{{ ... }}' would be evaluated there
    (and could reach Python's globals). The space is invisible; single braces (tile URLs) stay as they are."""
    return _TEMPLATE_OPENER.sub("{\u200b", text)


def _html_text(value: object) -> str:
    """Any text shown on a map: HTML-escaped for the browser and made inert for branca's templates."""
    return _inert(html.escape(str(value)))


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
        folium.TileLayer(_inert(tile_url), attr=_inert(tile_attribution or "Map tiles"), max_zoom=MAX_ZOOM).add_to(m)
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


_DISPLAY_MEMO: OrderedDict[tuple[str, float], tuple[list[dict[str, Any]], np.ndarray]] = OrderedDict()
_DISPLAY_MEMO_SIZE = 16


def _display(geometry: gpd.GeoSeries, tolerance: float) -> tuple[list[dict[str, Any]], np.ndarray]:
    # The same boundaries are drawn on every rerun, and simplifying them (topology kept) plus turning
    # them into GeoJSON dicts cost more than the rest of the map: memoised on the geometries' content
    # (WKB digest, ~3 ms for 275 beats), so new or changed boundaries are never served stale.
    key = (hashlib.blake2b(b"".join(shapely.to_wkb(geometry.values)), digest_size=16).hexdigest(), tolerance)
    found = _DISPLAY_MEMO.get(key)
    if found is not None:
        _DISPLAY_MEMO.move_to_end(key)
        return found
    # Five decimals of a degree is about 1 m, plenty for a city map; every extra digit is page weight.
    simplified = geometry.simplify(tolerance, preserve_topology=True) if tolerance > 0 else geometry
    rounded = shapely.transform(simplified.values, lambda xy: np.round(xy, 5))
    result = ([mapping(geom) for geom in rounded], shapely.bounds(rounded))
    _DISPLAY_MEMO[key] = result
    while len(_DISPLAY_MEMO) > _DISPLAY_MEMO_SIZE:
        _DISPLAY_MEMO.popitem(last=False)
    return result


def _lat_lon_bounds(bounds: np.ndarray) -> list[list[float | None]]:
    """[[lat_min, lon_min], [lat_max, lon_max]] of shapes' (minx, miny, maxx, maxy) rows: what
    folium.utilities.get_bounds(data, lonlat=True) works out by walking every coordinate."""
    if not len(bounds) or np.isnan(bounds).all():
        return [[None, None], [None, None]]
    low, high = np.nanmin(bounds[:, :2], axis=0), np.nanmax(bounds[:, 2:], axis=0)
    return [[float(low[1]), float(low[0])], [float(high[1]), float(high[0])]]


_PLAIN = (str, int, float, bool, type(None))


class _StyleMapper(GeoJsonStyleMapper):
    """folium's style mapper with each distinct style turned into its JSON key once, not once a feature."""

    def _create_mapping(self, func, switch):
        mapping: dict = {}
        keys: dict[tuple, str] = {}
        for feature in self.data["features"]:
            content = func(feature)
            if not all(isinstance(v, _PLAIN) for v in content.values()):
                return super()._create_mapping(func, switch)  # elements in a style: folium's own way
            frozen = tuple(sorted(content.items()))
            key = keys.get(frozen)
            if key is None:
                key = keys[frozen] = self._to_key(content)
            mapping.setdefault(key, []).append(self.get_feature_id(feature))
        self._set_default_key(mapping)
        return mapping


class _Text(branca.element.Element):
    """Rendered text added to the figure as it is. branca adds each element's rendered script as
    Element(text), which compiles the text as a jinja template on every run. That costs a fifth of the
    hexagon map's rerun (0.3-0.6 MB of GeoJSON parsed by jinja), and it EVALUATES any {{ ... }} in the
    data on the server: an area named "{{ 7*7 }}" in an uploaded boundary file came out as 49, and an
    expression reaching Python's globals ran code. For text without template syntax the output is the
    same (jinja drops one trailing newline, so this does too); text with it stays literal."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text[:-1] if text.endswith("\n") else text

    def render(self, **kwargs: Any) -> str:
        return self._text


class _GeoJson(folium.GeoJson):
    """folium.GeoJson that draws the same map for less work on every rerun (tests compare the output):
    - its bounds are given, not walked: st_folium asks the map for them on every rerun, and folium walks
      every coordinate in Python (20 ms for the hexagon map);
    - render() takes folium's steps (GeoJson -> Layer -> Class -> MacroElement.render) with the style maps
      keyed once per distinct style and the rendered script added as text (_Text)."""

    def __init__(self, data: dict, bounds: list[list[float | None]], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self._bounds = bounds

    def _get_self_bounds(self) -> list[list[float | None]]:
        return self._bounds

    def render(self, **kwargs: Any) -> None:
        if self.includes:  # not used by these layers; folium's path handles it
            return super().render(**kwargs)
        # folium.GeoJson.render
        self.parent_map = get_obj_in_upper_tree(self, folium.Map)
        if (self.style or self.highlight) and self.data["features"]:
            mapper = _StyleMapper(self.data, self.feature_identifier, self)
            if self.style:
                self.style_map = mapper.get_style_map(self.style_function)
            if self.highlight:
                self.highlight_map = mapper.get_highlight_map(self.highlight_function)
        # folium.map.Layer.render (GeoJson calls it without keyword arguments)
        if self.show:
            self.add_child(ElementAddToElement(element_name=self.get_name(),
                                               element_parent_name=self._parent.get_name()),
                           name=self.get_name() + "_add")
        # branca.element.MacroElement.render
        figure = self.get_root()
        for part in ("header", "html", "script"):
            macro = self._template.module.__dict__.get(part, None)
            if macro is not None:
                getattr(figure, part).add_child(_Text(macro(self, {})), name=self.get_name())
        for element in self._children.values():
            element.render()
        return None


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


def _style_for(fill: str, missing: bool, emphasis: bool = False, hidden: bool = False) -> dict[str, Any]:
    style = {
        "fillColor": fill,
        "fillOpacity": 0.75 if missing else 0.8,
        "color": OUTLINE,
        "weight": 1,
        "opacity": 0.9,
    }
    if hidden:
        style |= {"fillOpacity": 1.0, "dashArray": "3 3"}
    if emphasis:
        # thick and dark: readable without colour (colour-blind readers, black-and-white print)
        style |= {"color": EMPHASIS, "weight": 3.5, "opacity": 1.0}
    return style


def diverging_breaks(values: Sequence[float] | np.ndarray | pd.Series, classes: int = 6) -> list[float]:
    """Class breaks symmetric around 0 for a diverging scale (increasing; 0 is always a break).

    [-m, -b, -a, 0, a, b, m] with a, b the 1/3 and 2/3 quantiles of |value| and m >= max |value|, each
    rounded to the decimals the legend prints; fewer when values are few or ties collapse them; []
    when there is no finite value.
    """
    finite = np.asarray(values, dtype=float)
    finite = np.abs(finite[np.isfinite(finite)])
    if finite.size == 0:
        return []
    top = float(finite.max()) or 1.0
    decimals = _legend_decimals(-top, top)
    scale = 10.0**decimals
    top = math.ceil(top * scale) / scale
    half = max(1, classes // 2)
    inner = [round(float(q), decimals) for q in np.quantile(finite, np.linspace(0, 1, half + 1)[1:-1])]
    positive = sorted({b for b in inner if 0 < b < top} | {top})
    return [-b for b in reversed(positive)] + [0.0] + positive


def _diverging_colours(breaks: Sequence[float]) -> list[str]:
    below = sum(1 for b in breaks[1:] if b <= 0)
    above = len(breaks) - 1 - below
    return list(RD_BU_BLUES[len(RD_BU_BLUES) - below:]) + list(RD_BU_REDS[:above])


class _Hatch(folium.MacroElement):
    """An SVG hatch pattern (id ``withheld-hatch``) in the map's vector layer, so withheld areas are
    hatched, not just another colour. Added after the layers (their SVG exists by then)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var svg = {{ this._parent.get_name() }}.getPanes().overlayPane.querySelector("svg");
            if (!svg || svg.querySelector("#withheld-hatch")) { return; }
            var ns = svg.namespaceURI;
            var defs = document.createElementNS(ns, "defs");
            var pattern = document.createElementNS(ns, "pattern");
            pattern.setAttribute("id", "withheld-hatch");
            pattern.setAttribute("patternUnits", "userSpaceOnUse");
            pattern.setAttribute("width", "7");
            pattern.setAttribute("height", "7");
            pattern.setAttribute("patternTransform", "rotate(45)");
            var back = document.createElementNS(ns, "rect");
            back.setAttribute("width", "7");
            back.setAttribute("height", "7");
            back.setAttribute("fill", "{{ this.background }}");
            var line = document.createElementNS(ns, "line");
            line.setAttribute("x1", "0");
            line.setAttribute("y1", "0");
            line.setAttribute("x2", "0");
            line.setAttribute("y2", "7");
            line.setAttribute("stroke", "{{ this.colour }}");
            line.setAttribute("stroke-width", "2");
            pattern.appendChild(back);
            pattern.appendChild(line);
            defs.appendChild(pattern);
            svg.insertBefore(defs, svg.firstChild);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, colour: str = "#6b6b6b", background: str = "#f4f4f4") -> None:
        super().__init__()
        self._name = "Hatch"
        self.colour = colour
        self.background = background


class _Notes(folium.MacroElement):
    """A legend box (bottom left) with key swatches and notes. ``html`` is built from escaped text."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .dashboard-notes { background: rgba(255,255,255,0.92); padding: 6px 9px; border-radius: 4px;
            box-shadow: 0 1px 4px rgba(0,0,0,0.3); font: 12px/1.4 sans-serif; max-width: 330px; color: #222; }
        .dashboard-notes .key { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
        .dashboard-notes .swatch { width: 18px; height: 12px; flex: none; box-sizing: border-box; }
        .dashboard-notes p { margin: 3px 0 0 0; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var notes = L.control({position: "bottomleft"});
            notes.onAdd = function () {
                var div = L.DomUtil.create("div", "dashboard-notes");
                div.innerHTML = {{ this.html_json }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            notes.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, keys: Sequence[tuple[str, str]], notes: Sequence[str]) -> None:
        super().__init__()
        self._name = "Notes"
        parts = [f'<div class="key"><span class="swatch" style="{style}"></span>{_html_text(label)}</div>'
                 for style, label in keys]
        parts += [f"<p>{_html_text(note)}</p>" for note in notes if note]
        self.html = "".join(parts)
        # JSON-encoded for the script; "</" escaped so no text can close the <script> element.
        self.html_json = json.dumps(self.html).replace("</", "<\\/")


HATCH_SWATCH = "background: repeating-linear-gradient(45deg, #f4f4f4 0 3px, #6b6b6b 3px 5px); border: 1px dashed #5f5f5f"
EMPHASIS_SWATCH = f"background: #ffffff; border: 3px solid {EMPHASIS}"


def _shown_areas(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    shown = areas[["area_id", "name", "geometry"]]
    if areas.crs is not None and not areas.crs.equals("EPSG:4326"):
        shown = shown.to_crs("EPSG:4326")
    keep = shown.geometry.notna() & ~shown.geometry.is_empty
    if not keep.all():
        log.warning("map: %d area(s) without geometry left off the map", int((~keep).sum()))
        shown = shown[keep]
    if shown.empty:
        raise MapInputError(
            message="There are no area shapes to draw.",
            hint="Load the area boundaries (area_id, name, geometry) before drawing the map.",
        )
    return shown


def _joined(shown: gpd.GeoDataFrame, values: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    # Compare ids as text: boundary files often hold "35" where the counts hold 35.
    table = pd.DataFrame(
        {"area_id": shown["area_id"].astype(str).to_numpy(), "name": shown["name"].to_numpy()}
    )
    measured = values[["area_id", *dict.fromkeys(c for c in columns if c != "area_id")]].copy()
    measured["area_id"] = measured["area_id"].astype(str)
    unknown = set(measured["area_id"]) - set(table["area_id"])
    if unknown:
        log.info("map: %d value row(s) name no drawn area, e.g. %s", len(unknown), sorted(unknown)[:3])
    return table.merge(measured, on="area_id", how="left", validate="one_to_one")


def _flag(table: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.zeros(len(table), dtype=bool)
    return table[column].fillna(False).astype(bool).to_numpy()


def _draw(
    shown: gpd.GeoDataFrame, table: pd.DataFrame, fills: list[str], flags: dict[str, np.ndarray],
    value_text: list[str], extra: Mapping[str, str], *, label: str, level_label: str, tolerance: float,
    tile_url: str, tile_attribution: str, static_url: str, missing_text: str,
) -> folium.Map:
    extra_text = {column: _format_column(table[column], missing_text) for column in extra}
    styles: dict[str, dict[str, Any]] = {}
    features = []
    ids, names = table["area_id"].tolist(), table["name"].tolist()
    geometries, bounds = _display(shown.geometry, tolerance)
    for i, geometry in enumerate(geometries):
        area_id = ids[i]
        styles[area_id] = _style_for(fills[i], bool(flags["missing"][i]), bool(flags["emphasis"][i]),
                                     bool(flags["hidden"][i]))
        properties = {
            "area_id": area_id,
            # Feature properties go out as data (_GeoJson adds them as literal text): escaped for the browser.
            "name": html.escape(str(names[i])),
            "value_text": value_text[i],
            **{column: texts[i] for column, texts in extra_text.items()},
        }
        features.append({"type": "Feature", "id": area_id, "properties": properties, "geometry": geometry})

    south, west, north, east = (float(v) for v in shown.total_bounds[[1, 0, 3, 2]])
    m = base_map([[south, west], [north, east]], tile_url, tile_attribution, static_url)

    def style_of(feature: dict[str, Any]) -> dict[str, Any]:
        return styles[feature["id"]]

    _GeoJson(
        {"type": "FeatureCollection", "features": features}, _lat_lon_bounds(bounds),
        name=_html_text(label),
        style_function=style_of,
        highlight_function=lambda _feature: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "value_text", *extra],
            aliases=[
                _html_text(level_label),
                _html_text(label),
                *(_html_text(a) for a in extra.values()),
            ],
            sticky=True,
        ),
        zoom_on_click=False,
    ).add_to(m)
    if flags["hidden"].any():
        _Hatch().add_to(m)
    return m


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
    palette: str = "sequential",
    text_column: str | None = None,
    hidden_column: str | None = None,
    emphasis_column: str | None = None,
    emphasis_label: str = "",
    notes: Sequence[str] = (),
) -> folium.Map:
    """Areas shaded by ``values[value_column]`` in classes, with a legend and a tooltip.

    areas: area_id, name, geometry (EPSG:4326; other CRSs are reprojected).
    values: one row per area_id with ``value_column`` and every column in ``tooltip_columns``
    (column -> label shown in the tooltip). Areas without a value are grey and say ``missing_text``.
    palette: "sequential" (quantile classes, YlOrRd) or "diverging" (classes symmetric around 0, RdBu:
    blue down, red up); both ColorBrewer schemes are colour-blind safe.
    text_column: per-area text shown as the value instead of ``fmt`` (e.g. "fewer than 5").
    hidden_column: True where the value is withheld (public view): hatched, not coloured, and left out
    of the classes. emphasis_column: True where the area is outlined thick and dark (e.g. a change that
    is unlikely to be chance), explained in the legend by ``emphasis_label``. notes: lines for the legend
    box (what was withheld, what is missing).

    Each feature's properties hold area_id (as text, to identify a click), name, value_text and the
    tooltip columns, all tooltip text HTML-escaped. ``legend_title`` names measure, period and filters.
    """
    tooltip_columns = dict(tooltip_columns or {})
    extra = list(tooltip_columns)
    flag_columns = [c for c in (text_column, hidden_column, emphasis_column) if c]
    _check_inputs(areas, values, value_column, [*extra, *flag_columns])
    shown = _shown_areas(areas)
    table = _joined(shown, values, [value_column, *extra, *flag_columns])
    value = pd.to_numeric(table[value_column], errors="coerce").astype(float)
    hidden = _flag(table, hidden_column)
    value[hidden] = np.nan

    if palette == "diverging":
        breaks = diverging_breaks(value)
        colors = _diverging_colours(breaks) if breaks else []
    elif palette == "sequential":
        breaks = class_breaks(value, classes)
        colors = list(YL_OR_RD[len(breaks) - 1]) if breaks else []
    else:
        raise MapInputError(message=f"Unknown palette {palette!r}.", hint="Use 'sequential' or 'diverging'.")
    colormap = None
    if breaks:
        colormap = branca.colormap.StepColormap(
            colors, index=breaks, vmin=breaks[0], vmax=breaks[-1], caption=_inert(legend_title),
            tick_labels=legend_ticks(breaks),
        )

    missing = value.isna().to_numpy() & ~hidden
    escaped_missing = html.escape(missing_text)
    if text_column:
        value_text = [html.escape(str(t)) if isinstance(t, str) else escaped_missing for t in table[text_column]]
    else:
        value_text = [escaped_missing if gone else html.escape(fmt.format(v))
                      for v, gone in zip(value, missing, strict=True)]
    fills = [
        HATCH_FILL if hidden[i] else MISSING_FILL if missing[i] or colormap is None
        else colormap.rgb_hex_str(value.iat[i])
        for i in range(len(table))
    ]
    emphasis = _flag(table, emphasis_column)
    m = _draw(shown, table, fills, {"missing": missing, "hidden": hidden, "emphasis": emphasis}, value_text,
              tooltip_columns, label=label, level_label=level_label, tolerance=tolerance, tile_url=tile_url,
              tile_attribution=tile_attribution, static_url=static_url, missing_text=missing_text)
    if colormap is not None:
        colormap.add_to(m)
    keys = []
    if emphasis.any() and emphasis_label:
        keys.append((EMPHASIS_SWATCH, emphasis_label))
    if hidden.any():
        keys.append((HATCH_SWATCH, "hatched: withheld in the public view (see below)"))
    if missing.any():
        keys.append((f"background: {MISSING_FILL}", f"grey: {missing_text}"))
    if keys or notes:
        _Notes(keys, notes).add_to(m)
    return m


def category_choropleth(
    areas: gpd.GeoDataFrame,
    values: pd.DataFrame,
    *,
    category_column: str,
    categories: Mapping[str, tuple[str, str]],
    label: str,
    level_label: str,
    tooltip_columns: Mapping[str, str] | None = None,
    tolerance: float = 0.0,
    tile_url: str = "",
    tile_attribution: str = "",
    static_url: str = DEFAULT_STATIC_URL,
    notes: Sequence[str] = (),
    missing_text: str = "no data",
) -> folium.Map:
    """Areas coloured by a category (e.g. Gi* "hot" / "cold" / "not significant").

    categories: value -> (colour, legend label), in legend order. The tooltip shows the category's
    label; text is escaped as in count_choropleth.
    """
    tooltip_columns = dict(tooltip_columns or {})
    extra = list(tooltip_columns)
    missing_cols = [c for c in ("area_id", category_column, *extra) if c not in values.columns]
    if missing_cols:
        raise MapInputError(message=f"values lacks {', '.join(missing_cols)}.",
                            hint="Pass one row per area with the category and every tooltip column.")
    _check_inputs(areas, values.assign(_v=0.0), "_v", extra)
    shown = _shown_areas(areas)
    table = _joined(shown, values, [category_column, *extra])
    found = table[category_column]
    missing = found.isna().to_numpy() | ~found.isin(list(categories)).to_numpy()
    fills = [MISSING_FILL if gone else categories[c][0] for c, gone in zip(found, missing, strict=True)]
    value_text = [html.escape(missing_text) if gone else html.escape(categories[c][1])
                  for c, gone in zip(found, missing, strict=True)]
    none = np.zeros(len(table), dtype=bool)
    m = _draw(shown, table, fills, {"missing": missing, "hidden": none, "emphasis": none}, value_text,
              tooltip_columns, label=label, level_label=level_label, tolerance=tolerance, tile_url=tile_url,
              tile_attribution=tile_attribution, static_url=static_url, missing_text=missing_text)
    keys = [(f"background: {colour}", text) for colour, text in categories.values()]
    _Notes(keys, [label, *notes]).add_to(m)
    return m


def add_outline_layer(
    m: folium.Map,
    areas: gpd.GeoDataFrame,
    values: pd.DataFrame,
    *,
    value_column: str,
    label: str,
    level_label: str,
    colour: str = OUTREACH_LINE,
    tolerance: float = 0.0005,
    show: bool = True,
) -> folium.Map:
    """Overlay ``areas`` as outlines whose width grows with ``values[value_column]`` (areas with 0 are
    left out), in a layer the reader can switch off. An aggregate layer (e.g. outreach events per beat),
    never points. Tooltip: name and value. ``show``: whether the layer starts switched on."""
    _check_inputs(areas, values, value_column, [])
    shown = _shown_areas(areas)
    table = _joined(shown, values, [value_column])
    value = pd.to_numeric(table[value_column], errors="coerce").fillna(0).astype(float)
    keep = (value > 0).to_numpy()
    breaks = class_breaks(value[keep], 4) if keep.any() else []
    geometry, bounds = _display(shown.geometry, tolerance)
    features = []
    ids, names = table["area_id"].tolist(), table["name"].tolist()
    for i in np.flatnonzero(keep):
        step = int(np.searchsorted(breaks, value.iat[i], side="right")) if breaks else 1
        features.append({
            "type": "Feature", "id": ids[i],
            "properties": {"name": html.escape(str(names[i])),
                           "value_text": html.escape(f"{value.iat[i]:,.0f}"), "weight": 0.5 + 0.6 * min(step, 4)},
            "geometry": geometry[i],
        })
    group = folium.FeatureGroup(name=_html_text(label), show=show)
    if features:
        _GeoJson(
            {"type": "FeatureCollection", "features": features}, _lat_lon_bounds(bounds[keep]),
            style_function=lambda feature: {"fill": False, "color": colour, "opacity": 0.85,
                                            "weight": feature["properties"]["weight"]},
            tooltip=folium.GeoJsonTooltip(fields=["name", "value_text"],
                                          aliases=[_html_text(level_label), _html_text(label)], sticky=True),
            zoom_on_click=False,
        ).add_to(group)
    group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def payload(m: folium.Map) -> dict[str, int]:
    """What the map sends to a browser: bytes (standalone HTML), features, point_features (GeoJSON
    points and markers; a public map has none)."""
    features = points = 0
    for child in m._children.values():
        layers = [child] + [c for c in getattr(child, "_children", {}).values()]
        for layer in layers:
            if isinstance(layer, folium.GeoJson) and isinstance(layer.data, dict):
                found = layer.data.get("features", [])
                features += len(found)
                points += sum(1 for f in found if (f.get("geometry") or {}).get("type") in ("Point", "MultiPoint"))
            elif isinstance(layer, folium.Marker | folium.CircleMarker):
                points += 1
    return {"bytes": len(map_html(m).encode("utf-8")), "features": features, "point_features": points}


def map_html(m: folium.Map, static_url: str | None = None) -> str:
    """The map as a standalone HTML page whose script and style links are all local files."""
    static_url = static_url or getattr(m, "dashboard_static_url", DEFAULT_STATIC_URL)
    offline.localize_folium_classes(static_url)
    return offline.localize_html(m.get_root().render(), static_url)
