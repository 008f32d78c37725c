"""Impact: did recorded crime change where and after a program ran, against areas it reached less or not at
all, and how sure can we be. Three designs with estimate, 95% interval, verdict and detectable effect, the
reporting warning, survey outcomes when loaded, and a one-page evidence brief per program."""

import streamlit as st

from dashboard import charts, loader, outreach, periods, schema, ui
from dashboard.designs import analysis, estimates, event_study, its, program_brief, survey, wdd

st.title("Impact")
f = ui.current_filters()
bounds = loader.date_bounds()
out_bounds = loader.date_bounds("outreach")
if f is None or not f.offense_groups or out_bounds is None:
    ui.empty_state("Nothing to analyse yet.", "Load incidents and outreach, and pick at least one offense group "
                   "in the sidebar.")
    st.stop()

register = schema.program_register()
by_type = loader.outreach_counts(["event_type"], *out_bounds)
settings = ui.impact_controls(register, list(by_type["event_type"]), loader.levels(), bounds,
                              periods.impact_start_default(*bounds), f.offense_groups,
                              lambda lv: periods.area_names(loader.areas(lv)))
event_type = settings.event_types[0]
label = analysis.type_label(register, event_type)
if event_type not in set(by_type["event_type"]):
    ui.empty_state(f"No data loaded for {label}.", "Load its records (Upload page or `python -m dashboard ingest "
                   "FILE --kind outreach`). The dashboard shows nothing rather than invented numbers.")
    st.stop()

result = loader.impact(settings)
if result is None:
    ui.empty_state("Not a single complete week of incidents is loaded.", "The designs compare whole weeks.")
    st.stop()
level_label = schema.LEVELS[settings.level].label
st.caption(result.describe(level_label, label))
if settings.mode == "dose":
    ui.note(f"**A dose comparison, not an on/off trial.** {label} events are held in the comparison "
            f"{level_label.lower()}s too, only less often. {settings.start:%d %b %Y} is a reference date for "
            "'before' and 'after', not the day anything began.")

columns = st.columns(3)
for column, (title, headline, help_text) in zip(columns, result.headlines(), strict=True):
    with column:
        ui.design_result(title, headline, help_text)
st.markdown(result.pretrend_text())
ui.warning(estimates.REPORTING_WARNING)

tabs = st.tabs(["Weekly incidents", "Event study", "Time series", "WDD detail", "Areas", "Evidence brief"])
with tabs[0]:
    ui.chart(charts.group_weekly(result.weekly, settings.start, f"{label}: treated, comparison and buffer "
                                 f"{level_label.lower()}s"), key="impact_weekly")
    ui.deferred_csv_download(result.weekly, "Weekly numbers (CSV)", "impact_weekly.csv", key="impact_weekly_csv")
with tabs[1]:
    if isinstance(result.event_study, event_study.EventStudy):
        ui.chart(charts.event_study(result.event_study.coefficients, "Treated vs comparison, weeks around the "
                                    "start"), key="impact_es")
        ui.caption(f"{result.event_study.cohorts} start cohort(s), {result.event_study.treated_areas} treated and "
                   f"{result.event_study.control_areas} comparison areas, bins of {settings.bin_weeks} week(s). "
                   "Grey points before the start should sit around 0 if the comparison is fair.")
        ui.deferred_csv_download(result.event_study.coefficients, "Leads and lags (CSV)", "event_study.csv",
                                 key="impact_es_csv")
    else:
        ui.note(f"Not run: {result.event_study.reason}")
with tabs[2]:
    if isinstance(result.its, its.Its):
        ui.chart(charts.its_fit(result.its.series, settings.start, "Weekly incidents with the segmented model"),
                 key="impact_its")
        ui.caption(result.its.slope.verdict() + " " + " ".join(result.its.notes))
    else:
        ui.note(f"Not run: {result.its.reason}")
with tabs[3]:
    if isinstance(result.wdd, wdd.Wdd):
        ui.chart(charts.wdd_bars(result.wdd.counts, "Incidents before and after the start"), key="impact_wdd")
        ui.table(result.wdd_table(), key="impact_wdd_table", columns=ui.DESIGN_COLUMNS)
        ui.caption(result.wdd.wdq_text)
    else:
        ui.note(f"Not run: {result.wdd.reason}")
with tabs[4]:
    ui.table(result.groups.table, key="impact_groups")
    ui.deferred_csv_download(result.groups.table, "Areas and groups (CSV)", "impact_areas.csv", key="impact_areas_csv")

with tabs[5]:
    footprint = outreach.program_footprint(register, by_type, loader.outreach_counts(["event_type", "month"], *out_bounds),
                                          {"districts": loader.outreach_counts(["event_type", "district"], *out_bounds),
                                           "beats": loader.outreach_counts(["event_type", "beat"], *out_bounds),
                                           "units": loader.outreach_counts(["event_type", "unit"], *out_bounds)})
    ui.table(footprint, key="impact_footprint", columns=ui.FOOTPRINT_COLUMNS)
    caveats = result.caveats(outreach.recorded_for(by_type, event_type))
    ui.html_download(lambda: program_brief.program_brief_html(
        outreach.program_row(register, event_type), outreach.footprint_items(footprint, event_type), result, caveats,
        f"Community policing dashboard · data version {loader.version()}"),
        f"One-page brief: {label} (HTML)", f"brief_{event_type}.html", key="impact_brief")
    ui.caption("The brief opens offline in any browser and prints on one page: where and how much the program "
               "ran, what each design found with its interval, and the caveats.")

st.subheader("Trust and safety")
if loader.has("surveys"):
    for score in ("trust_score", "safety_score"):
        table, change = survey.survey_change(loader.surveys(settings.level), result.groups.treated,
                                              result.groups.control, settings.start, score)
        ui.table(table, key=f"impact_{score}")
        ui.design_result(score.replace("_", " ").capitalize(), change or estimates.Skipped(
            "survey", "Needs surveys of at least two treated and two comparison areas before and after."), "")
else:
    ui.note("**No trust or safety survey data is loaded**, so this page cannot say whether residents' trust "
            "or feeling of safety changed.", icon=":material/sentiment_neutral:")
