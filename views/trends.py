"""Crime trends (CompStat): week-to-date, 28-day and year-to-date windows against the same windows a year
earlier, with verdicts that tell real change from normal variation, a weekly trend with an expected
range, and a link (the URL) that reopens the same view."""

import streamlit as st

from dashboard import charts, compstat, loader, schema, stats, ui

st.title("Crime trends")
f = ui.current_filters()
bounds = loader.date_bounds()
if f is None or bounds is None:
    ui.empty_state("No incidents are loaded yet.", "Load some on the Data and sources page.")
    st.stop()
first, last = bounds
low = compstat.earliest_anchor(first, last)
if low is None:
    ui.empty_state("Comparing with a year earlier needs at least a year and four weeks of incidents.",
                   f"The data run from {first:%d %b %Y} to {last:%d %b %Y}.")
    st.stop()
all_groups = loader.offense_groups()
default = compstat.TrendsView(anchor=last, level=f.level, offense_groups=f.offense_groups)
for message in ui.trends_state_from_url(lambda params: compstat.parse_trends_query(
        params, default, first, last, all_groups, loader.levels(),
        lambda lvl: set(compstat.area_choices(loader.areas(lvl)))), f):
    ui.warning(message)
if not f.offense_groups:
    ui.empty_state("No offense group is selected.", "Pick at least one in the sidebar.")
    st.stop()

level = schema.LEVELS[f.level]
choices = compstat.area_choices(loader.areas(f.level))
anchor, window_key, area, harm = ui.trends_controls(default, low, last, choices, level.label)
view = compstat.TrendsView(anchor, window_key, f.level, f.offense_groups, area, harm)
ui.sync_query_params(compstat.trends_query(view, all_groups))
weights = loader.harm_weights() if harm else None
unit = "harm index" if harm else "incidents"
window = compstat.trend_window(window_key, anchor)
place = None if area == "citywide" else (f.level, area)
ui.caption(compstat.window_caption(choices[area], window, f.offense_groups, unit))

counts = loader.trend_windows(compstat.trend_periods(anchor, first, last))
weekly = loader.trend_weeks(anchor)
rows = stats.assess_changes(compstat.trend_rows(counts, weekly, anchor, first, last, f.level, area,
                                               f.offense_groups, weights), weighted=harm)

st.subheader(f"Headline: {unit}, every window")
ui.verdict_kpis(compstat.select_rows(rows, ["total"]), "window_label",
                help=f"Headline bar: alpha = {stats.HEADLINE_ALPHA}.")
ui.verdict_kpis(compstat.select_rows(rows, ["outcome"], window_key), "label",
                help="Reporting-insensitive outcome.")
ui.caption(compstat.OUTCOMES_NOTE)

st.subheader(f"By offense group · {window.label}")
group_rows = compstat.select_rows(rows, ["total", "group"], window_key)
ui.trend_table(group_rows, key="trend_groups")
ui.deferred_csv_download(lambda: compstat.trend_export(rows), "Every window and row (CSV)",
                         "crime_trends_groups.csv", key="trend_groups_csv")

st.subheader(f"Which {level.label.lower()}s changed · {window.label}")
area_rows = compstat.sort_changes(stats.assess_changes(compstat.area_trend_rows(
    counts, weekly, anchor, window_key, first, last, f.level, f.offense_groups, loader.areas(f.level),
    weights), weighted=harm))
st.markdown(ui.escape(compstat.changed_summary(area_rows, level.label, window.label)))
ui.trend_table(area_rows, key="trend_areas", name_column="name")
ui.deferred_csv_download(lambda: compstat.trend_export(area_rows), f"All {level.label.lower()}s (CSV)",
                         f"crime_trends_{f.level}_{window_key}.csv", key="trend_areas_csv")
ui.show_math([("Offense groups", group_rows, "label"), (f"{level.label}s", area_rows, "name")],
             stats.verdict_method(harm))

st.subheader("Weekly trend")
trend = compstat.weekly_trend(weekly, anchor, first, last, f.level, area, f.offense_groups, weights)
events = compstat.trend_events(loader.outreach_weeks(*compstat.chart_span(anchor, first, last), area=place),
                              trend)
ui.chart(charts.weekly_trend(trend, events, f"{choices[area]}: {unit} per week, last 52 full weeks",
                             f"{unit.capitalize()} per week"), key="trend_weekly")
ui.deferred_csv_download(lambda: compstat.weekly_trend_table(trend, events), "Weekly numbers (CSV)",
                         "crime_trends_weekly.csv", key="trend_weekly_csv")
ui.caption(compstat.band_note(trend))

st.subheader(f"When it happens · {window.label}")
grid = compstat.hour_dow_grid(loader.incident_counts(["dow", "hour"], window.start, window.end,
                                                    f.offense_groups, area=place))
ui.chart(charts.hour_dow_heatmap(grid, f"{choices[area]}: incidents by weekday and hour"),
         key="trend_heatmap")
ui.deferred_csv_download(grid, "Weekday x hour (CSV)", "crime_trends_hours.csv", key="trend_heatmap_csv")
if harm:
    ui.harm_weights(loader.harm_weights_table())
ui.warning("More trust can mean more *reported* crime: after outreach, a rise in recorded incidents may "
           "reflect residents reporting more, not more harm. Compare with homicides and gun and weapons "
           "offenses above.")
