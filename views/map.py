"""Neighborhood map: incidents per area, as a count or a rate per 1,000 residents, for the sidebar's
period, offense groups and geography; click an area to read its numbers."""

import streamlit as st

from dashboard import loader, maps, metrics, schema, ui

st.title("Neighborhood map")
f = ui.current_filters()
if f is None or not f.offense_groups:
    ui.empty_state("Nothing to map for this selection.", "Pick at least one offense group in the sidebar.")
    st.stop()

level = schema.LEVELS[f.level]
prior_start, prior_end = metrics.prior_period(f.start, f.end)
table = metrics.area_table(
    loader.areas(f.level),
    loader.incident_counts([f.level], f.start, f.end, f.offense_groups),
    loader.incident_counts([f.level], prior_start, prior_end, f.offense_groups),
    loader.population(f.level), f.level,
)
has_population = bool(table["population"].notna().any())
measure = st.segmented_control(
    "Measure", ["Count", "Rate per 1,000 residents"], default="Count", key="map_measure",
    help="Rates need population; the sample has it for community areas only.",
)
if measure == "Rate per 1,000 residents" and not has_population:
    ui.warning(f"No population is loaded for {level.label.lower()}s, so rates cannot be shown; "
               "showing counts. Switch Geography to Community area for rates.")
    measure = "Count"
column = "rate_per_1000" if measure != "Count" else "count"
st.caption(f"{level.label}s · {f.describe()}")

settings = loader.settings()
figure = maps.count_choropleth(
    loader.areas(f.level), table, value_column=column, label=measure,
    legend_title=f"{measure} · {f.describe()}", level_label=level.label,
    fmt="{:,.1f}" if column == "rate_per_1000" else "{:,.0f}",
    tooltip_columns=ui.map_tooltip_columns(has_population),
    tile_url=settings.tile_url, tile_attribution=settings.tile_attribution, static_url=settings.static_url,
)
clicked = ui.folium_map(figure, key=f"map_{f.level}", static_url=settings.static_url)
ui.area_readout(metrics.clicked_area(table, clicked), level.label)

ui.table(metrics.sorted_area_table(table, column), key="area_table", columns=ui.AREA_COLUMNS)
ui.csv_download(table, "Area numbers (CSV)", f"{f.level}_map.csv", key="map_csv")
if has_population:
    ui.caption("Rates use the latest population loaded (2020 census in the sample) and count incidents in "
               "the selected period, not per year. Areas without population show no rate.")
