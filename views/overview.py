"""Overview: the selected period against the same dates a year earlier, weekly trend with outreach
marked on it, and the areas with most incidents."""

import functools

import streamlit as st

from dashboard import charts, loader, periods, privacy, schema, stats, ui

st.title("Overview")
f = ui.current_filters()
if f is None:
    ui.empty_state("No incidents are loaded yet.", "Load some on the Data and sources page or with "
                   "`python -m dashboard ingest FILE --kind incidents`.")
    st.stop()
if not f.offense_groups:
    ui.empty_state("No offense group is selected.", "Pick at least one in the sidebar.")
    st.stop()

prior_start, prior_end = periods.prior_period(f.start, f.end)
st.caption(f"{f.describe()} · compared with {prior_start:%d %b %Y} – {prior_end:%d %b %Y}")
# The public view leaves sensitive offenses out of every count here and withholds small cells below
# (the full view has k = 1: nothing withheld).
view = loader.view_policy(ui.public_view())
k = view.applied_k
counts = functools.partial(loader.incident_counts, exclude_offenses=view.excluded)

groups = periods.group_comparison(
    counts(["offense_group"], f.start, f.end, f.offense_groups),
    counts(["offense_group"], prior_start, prior_end, f.offense_groups),
)
change = stats.rate_change(periods.total(groups), periods.total(groups, "prior"))
events_now = loader.outreach_counts([], f.start, f.end)
events_before = loader.outreach_counts([], prior_start, prior_end)
shown_groups = privacy.mask_counts(groups, ["count", "prior"], k)[0]
homicide_text, homicide_pct = privacy.published(groups, shown_groups, "offense_group", "homicide", k)

ui.kpi_row([
    ui.Kpi("Incidents", privacy.count_text(change.current, k),
           ui.pct_text(privacy.shown_pct(change.current, change.prior, k)),
           help="Recorded incidents in the period; the delta compares with the same dates a year earlier."),
    ui.Kpi("Same period last year", privacy.count_text(change.prior, k), None),
    ui.Kpi("Homicides", homicide_text, ui.pct_text(homicide_pct),
           help="Reported whatever residents' trust in police: a check on changes in reporting."),
    ui.Kpi("Outreach events (scheduled)", f"{periods.total(events_now, 'events'):,}",
           ui.pct_text(periods.pct_change(periods.total(events_now, "events"),
                                          periods.total(events_before, "events"))),
           help="Distinct community events on the police calendar. A schedule, not attendance.",
           delta_color="normal"),
])
if min(change.current, change.prior) >= k:
    st.markdown(f"**{stats.describe_change(change)}**")
ui.caption("Interval and p-value from a two-sample Poisson comparison (E-test), which treats incidents as "
           "independent; city-wide counts vary more than that from year to year, so read small changes "
           "with care.")

now, before, events = periods.weekly_view(
    counts(["week"], f.start, f.end, f.offense_groups), counts(["week"], prior_start, prior_end, f.offense_groups),
    loader.outreach_counts(["week"], f.start, f.end), f.start, f.end,
)
now, before = privacy.mask_counts(now, ["count"], k)[0], privacy.mask_counts(before, ["count"], k)[0]
ui.chart(charts.weekly_counts(now, before, events, "Incidents per week, with outreach events"), key="weekly")
ui.csv_download(periods.weekly_table(now, before, events), "Weekly numbers (CSV)", "weekly_counts.csv",
                key="weekly_csv")

left, right = st.columns(2)
with left:
    ui.chart(charts.offense_group_change(shown_groups, "By offense group"), key="groups")
    ui.csv_download(shown_groups, "Offense groups (CSV)", "offense_groups.csv", key="groups_csv")
with right:
    level = schema.LEVELS[f.level]
    areas = periods.area_table(loader.areas(f.level), counts([f.level], f.start, f.end, f.offense_groups),
                               counts([f.level], prior_start, prior_end, f.offense_groups),
                               loader.population(f.level), f.level)
    areas = privacy.mask_counts(areas, ["count", "prior"], k)[0]
    ui.chart(charts.top_areas(periods.top_areas(areas, 10), f"Top 10 {level.label.lower()}s by incidents"),
             key="top_areas")
    ui.csv_download(areas, f"All {level.label.lower()}s (CSV)", f"{f.level}_counts.csv", key="areas_csv")

if view.public:
    ui.caption(privacy.overview_note(k, view.excluded))
ui.warning("More trust can mean more *reported* crime: after outreach, a rise in recorded incidents may "
           "reflect residents reporting more, not more harm. Homicides are reported regardless, so compare "
           "them with the total.")
