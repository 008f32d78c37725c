"""Outreach: where it goes and how much (per area and month, per 1,000 residents where population exists),
whether it goes where the harm is, outreach and crime on one timeline per area, and how widely each program
is adopted (places and units running it, and how concentrated it is)."""

import streamlit as st

from dashboard import charts, loader, outreach, periods, schema, ui

st.title("Outreach")
f = ui.current_filters()
out_bounds = loader.date_bounds("outreach")
if f is None or out_bounds is None:
    ui.empty_state("No outreach is loaded yet.", "Load outreach records on the Upload page or with "
                   "`python -m dashboard ingest FILE --kind outreach`.")
    st.stop()

register = schema.program_register()
labels = dict(zip(register["event_type"], register["label"], strict=True))
by_type = loader.outreach_counts(["event_type"], *out_bounds)
loaded = list(by_type["event_type"])
types = st.multiselect("Programs / event types", loaded, default=loaded, key="outreach_types",
                       format_func=lambda t: labels.get(t, t))
if not types:
    ui.empty_state("No program is selected.", "Pick at least one program or event type above.")
    st.stop()
level = schema.LEVELS[f.level]
st.caption(f"{level.label}s · {f.describe()}")
missing = [labels.get(t, t) for t in register["event_type"] if t not in loaded]
if missing:
    ui.caption("No data loaded for: " + ui.escape(", ".join(missing)) + ". They are in the program register "
               "(README) and appear here once their records are loaded; nothing is shown for them meanwhile.")

dose = loader.outreach_counts([f.level], f.start, f.end, event_types=types)
table = loader.outreach_dose(f.level, f.start, f.end, types)
all_events = loader.outreach_counts([], f.start, f.end, event_types=types)
recorded, not_recorded = outreach.recorded_measures(dose)
ui.kpi_row([
    ui.Kpi("Events", f"{periods.total(all_events, 'events'):,}", help="Distinct events in the period."),
    ui.Kpi(f"{level.label}s reached", f"{outreach.areas_reached(table):,} of {len(table):,}"),
    ui.Kpi("Events placed at this level", f"{periods.total(dose, 'rows'):,}",
           help="Events on several areas count once per area; events placed only on a larger area (a "
                "district-wide meeting) are not in any beat."),
])
if not_recorded:
    ui.note("Not recorded in the loaded outreach: " + ", ".join(m.replace("_", " ") for m in not_recorded)
            + ". Dose is therefore counted in scheduled events; a schedule is not attendance.")
if not table["population"].notna().any():
    ui.caption(f"No population is loaded for {level.label.lower()}s, so there are no rates per 1,000 residents.")

tabs = st.tabs(["Dose by area", "Is outreach going where the harm is?", "Timeline per area", "Adoption"])
with tabs[0]:
    ui.table(table, key="outreach_dose", columns=ui.DOSE_COLUMNS, height=360)
    ui.deferred_csv_download(table, "Dose by area (CSV)", f"outreach_{f.level}.csv", key="outreach_dose_csv")
    monthly = loader.outreach_counts(["month", "program"], f.start, f.end, event_types=types)
    ui.chart(charts.monthly_events(monthly, "program", "Events per month by program"), key="outreach_monthly")
with tabs[1]:
    harm_label = st.segmented_control("Harm", list(outreach.HARM_MEASURES), key="outreach_harm",
                                      default=list(outreach.HARM_MEASURES)[0]) or list(outreach.HARM_MEASURES)[0]
    harm_groups = outreach.HARM_MEASURES[harm_label] or f.offense_groups
    gap, corr = loader.coverage_gap(f.level, f.start, f.end, harm_groups, types)
    st.markdown(corr.sentence(harm_label.lower(), "outreach events"))
    ui.chart(charts.harm_vs_outreach(gap, f"{harm_label} against outreach, per {level.label.lower()}",
                                     harm_label), key="outreach_gap")
    ui.caption("Orange: the quarter of areas with most harm that are also in the quarter with least outreach.")
    ui.table(outreach.gap_areas(gap), key="outreach_gap_table", columns=ui.GAP_COLUMNS)
    ui.deferred_csv_download(gap, "Harm and outreach per area (CSV)", "coverage_gap.csv", key="outreach_gap_csv")
with tabs[2]:
    names = periods.area_names(loader.areas(f.level))
    area = st.selectbox(level.label, list(names), key="outreach_area", format_func=lambda a: names.get(a, a),
                        index=list(names).index(outreach.top_area(table)) if len(table) else 0)
    incidents, events = outreach.area_weekly(
        loader.incident_counts(["week"], f.start, f.end, f.offense_groups, area=(f.level, area)),
        loader.outreach_counts(["week"], f.start, f.end, area=(f.level, area), event_types=types), f.start, f.end)
    ui.chart(charts.weekly_counts(incidents, None, events, f"{names.get(area, area)}: incidents and outreach per "
                                  "week"), key="outreach_timeline")
    ui.caption("Outreach and crime in the same weeks show when they happened, not that one caused the other; "
               "the Impact page compares against other areas.")
with tabs[3]:
    measure = st.segmented_control("Count", ["districts", "beats", "units"], default="districts",
                                   key="outreach_adoption") or "districts"
    breadth, conc = loader.outreach_adoption(f.start, f.end, types)
    ui.chart(charts.adoption_lines(breadth, measure, f"How many {measure} run each event type, per month", labels),
             key="outreach_breadth")
    ui.table(conc, key="outreach_concentration", columns=ui.CONCENTRATION_COLUMNS)
    ui.caption("Programs that stay with a handful of officers or units rarely move a whole city: a high top-3 "
               "share, HHI or Gini means a few units hold most of the events.")
