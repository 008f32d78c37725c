"""Compare two areas side by side: incidents, rate, change and verdict, outreach held there, and their
weekly trends, for the sidebar's period, offense groups and geography. Public-safe by default."""

import streamlit as st

from dashboard import charts, loader, neighborhood, schema, ui

st.title("Compare areas")
f = ui.require_filters("Nothing to compare for this selection.")

settings = loader.settings()
view = loader.view_policy(ui.public_view())
public, k, excluded = view.public, view.k, view.excluded
level = schema.LEVELS[f.level]
inputs = loader.map_inputs(f.level, f.start, f.end, f.offense_groups, excluded, public)
table, withheld = neighborhood.map_view(loader.areas(f.level), inputs, public=public, k=k, excluded=excluded)
options = neighborhood.area_options(table)
ids = list(options)
ui.caption(f"{level.label}s · {f.describe()} · {neighborhood.city_text(table.attrs['city'])}")
ui.public_badge(public, withheld.sentence())

columns = st.columns(2)
for position, column in enumerate(columns):
    with column:
        area_id = st.selectbox(f"{'First' if position == 0 else 'Second'} {level.label.lower()}", ids,
                               index=min(position, len(ids) - 1), format_func=options.get,
                               key=f"compare_{position}")
        row = neighborhood.row_of(table, area_id)
        detail = loader.area_detail(f.level, area_id, f.start, f.end, f.offense_groups, excluded)
        profile = neighborhood.area_profile(row, table, detail, f, public=public, k=k, withheld=withheld)
        has_weeks = profile.weekly["count"].notna().any()
        ui.area_panel(profile, charts.sparkline(profile.weekly, "Incidents per week") if has_weeks else None,
                      key=f"compare_panel_{position}", compact=True)
ui.caption(neighborhood.VERDICT_NOTE)
