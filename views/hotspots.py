"""Hot spots: incidents binned into H3 hexagons (density) and Getis-Ord Gi* hot and cold spots over
hexagon adjacency, with scheduled outreach per beat as an outline layer. Aggregates only (no incident
points reach the browser); public-safe by default."""

import streamlit as st

from dashboard import hotspots, loader, maps, neighborhood, periods, ui

st.title("Hot spots")
f = ui.require_filters("Nothing to map for this selection.")

settings = loader.settings()
view = loader.view_policy(ui.public_view())
public, k, excluded = view.public, view.k, view.excluded
left, right = st.columns(2)
resolution = left.segmented_control(
    "Hexagon size", list(hotspots.OFFERED), default=hotspots.DEFAULT_RESOLUTION, key="hex_resolution",
    format_func=lambda r: hotspots.RESOLUTIONS[r].split(" (")[0].capitalize(),
    help="H3 resolution: " + "; ".join(f"{r}: {hotspots.RESOLUTIONS[r]}" for r in hotspots.OFFERED) + ".",
) or hotspots.DEFAULT_RESOLUTION
layer_name = right.segmented_control("Layer", ["Density", "Hot and cold spots (Gi*)"], default="Density",
                                     key="hex_layer") or "Density"
result = loader.hex_layer(f.start, f.end, f.offense_groups, resolution, excluded)
cells, suppression = hotspots.publish_cells(result, public=public, k=k)
withheld = neighborhood.Withheld(k, "hexagons", suppression.fewer, suppression.withheld, suppression.total_shown,
                                 excluded, public)
summary = hotspots.summary(result)
ui.caption(f"{f.describe()} · incidents with coordinates only")
ui.public_badge(public, withheld.sentence())

hexes = loader.hex_polygons(cells["cell"])
common = {"level_label": "Hexagon", "tolerance": 0.0, "tile_url": settings.tile_url,
          "tile_attribution": settings.tile_attribution, "static_url": settings.static_url}
if layer_name == "Density":
    figure = maps.count_choropleth(
        hexes, cells, value_column="count", text_column="count_text", hidden_column="hidden",
        label="Incidents", legend_title=f"Incidents per hexagon · {f.start:%d %b %Y} – {f.end:%d %b %Y}",
        tooltip_columns={"spot_text": "Gi*"}, notes=neighborhood.legend_notes(f, withheld), **common)
else:
    figure = maps.category_choropleth(
        hexes, cells, category_column="spot", categories=hotspots.SPOT_STYLE,
        label=f"Getis-Ord Gi* · {f.describe()}",
        tooltip_columns={"count_text": "Incidents", **({} if public else {"z_text": "Gi* z"})},
        notes=[f"About {summary['expected_by_chance']:,.0f} of {summary['hexes']:,} would pass by chance."],
        **common)
if "beat" in loader.levels():
    beats = loader.areas("beat")
    events = periods.outreach_by_area(beats, loader.outreach_counts(["beat"], f.start, f.end), "beat")
    maps.add_outline_layer(figure, beats, events, value_column="events", label="Outreach events (scheduled)",
                           level_label="Police beat", show=False)
ui.folium_map(figure, key=f"hex_{resolution}_{layer_name}", static_url=settings.static_url, height=620)

ui.kpi_row([
    ui.Kpi("Hexagons", f"{summary['hexes']:,}"),
    ui.Kpi("Hot spots", f"{summary['hot']:,}", help="Gi* p_sim < 0.05 and z > 0"),
    ui.Kpi("Cold spots", f"{summary['cold']:,}", help="Gi* p_sim < 0.05 and z < 0"),
    ui.Kpi("Expected by chance", f"{summary['expected_by_chance']:,.0f}", help="5% of the hexagons tested"),
])
ui.caption(hotspots.summary_text(summary))
ui.caption("Outreach: tick 'Outreach events (scheduled)' in the map's layer box for purple beat outlines, "
           "thicker where more events were scheduled (events placed on beats; district-wide ones are not drawn).")
ui.csv_download(hotspots.export(cells), "Hexagon numbers (CSV)", f"hexagons_r{resolution}.csv", key="hex_csv")
