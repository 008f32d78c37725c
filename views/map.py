"""Neighborhood map for council members: incidents per area as a count, a rate per 1,000 residents, the
change on the same dates a year earlier (significant changes outlined) or the outreach dose, for the
sidebar's period, offense groups and geography. Public-safe by default (DASHBOARD_PUBLIC_VIEW). Click an
area for its panel (trend, top offenses, verdict, outreach held there, rank) and a printable brief."""

import streamlit as st

from dashboard import brief, charts, loader, maps, neighborhood, periods, schema, ui

st.title("Neighborhood map")
f = ui.require_filters("Nothing to map for this selection.")

settings = loader.settings()
view = loader.view_policy(ui.public_view())
public, k, excluded = view.public, view.k, view.excluded
level = schema.LEVELS[f.level]
areas = loader.areas(f.level)
inputs = loader.map_inputs(f.level, f.start, f.end, f.offense_groups, excluded, public)
table, withheld = neighborhood.map_view(areas, inputs, public=public, k=k, excluded=excluded)
has_population = bool(table["population"].notna().any())
choice = st.segmented_control(
    "Measure", list(neighborhood.MEASURES), default="Count", key="map_measure",
    help="Rates and the outreach dose per 1,000 need population; the sample has it for community areas only.",
)
measure = neighborhood.measure(choice or "Count", has_population, level.label,
                               neighborhood.outreach_recorded(inputs.outreach))
if measure.note and measure.key == "count":
    ui.warning(measure.note)
elif measure.note:
    ui.caption(measure.note)
ui.caption(f"{level.label}s · {f.describe()} · {neighborhood.city_text(table.attrs['city'])}")
ui.public_badge(public, withheld.sentence())

figure = maps.count_choropleth(
    areas, table, value_column=measure.column, text_column=measure.text_column, label=measure.label,
    legend_title=f"{measure.label} · {f.start:%d %b %Y} – {f.end:%d %b %Y}", level_label=level.label,
    fmt=measure.fmt,
    palette=measure.palette, hidden_column=measure.hidden_column,
    tooltip_columns=neighborhood.tooltip_columns(has_population, measure.text_column),
    emphasis_column="changed", emphasis_label="thick outline: change unlikely to be chance (adjusted)",
    notes=neighborhood.legend_notes(f, withheld),
    tile_url=settings.tile_url, tile_attribution=settings.tile_attribution, static_url=settings.static_url,
)
clicked = ui.folium_map(figure, key=f"map_{f.level}", static_url=settings.static_url)
options = neighborhood.area_options(table)
picked = st.selectbox(f"Or find a {level.label.lower()} by name", list(options), index=None, key=f"find_{f.level}",
                      format_func=options.get, placeholder="Type a name…")
clicked_row = periods.clicked_area(table, clicked)
chosen = ui.latest_choice(None if clicked_row is None else clicked_row["area_id"], picked, f"choice_{f.level}")
row = None if chosen is None else neighborhood.row_of(table, chosen)
if row is None:
    ui.caption(f"Click a {level.label.lower()} on the map to see its numbers here.")
else:
    detail = loader.area_detail(f.level, row["area_id"], f.start, f.end, f.offense_groups, excluded)
    profile = neighborhood.area_profile(row, table, detail, f, public=public, k=k, withheld=withheld)
    spark = charts.sparkline(profile.weekly, "Incidents per week") if profile.weekly["count"].notna().any() else None
    ui.area_panel(profile, spark, key="panel")
    ui.html_download(
        lambda: brief.render(profile, brief.outline_svg(areas, profile.area_id), f.describe(),
                             method=neighborhood.VERDICT_NOTE),
        "Council brief (printable, one page)", brief.file_name(profile), key="brief",
    )

st.markdown("#### All areas")
ui.table(neighborhood.area_list(table, measure), key="area_table", columns=ui.MAP_AREA_COLUMNS)
ui.csv_download(neighborhood.area_export(table), "Area numbers (CSV)", f"{f.level}_map.csv", key="map_csv")
ui.caption(neighborhood.VERDICT_NOTE + " Rates use the latest population loaded (2020 census in the sample) "
           "and count incidents in the selected period, not per year; areas without population show no rate.")
