"""Data and sources: what is loaded, from where, in which version, and the caveats that come with it."""

import streamlit as st

from dashboard import loader, ui

st.title("Data and sources")
st.markdown(
    "The dashboard ships with **real public Chicago data**: every reported crime incident of 2016 and 2017 "
    "(City of Chicago Data Portal), police beat, district and community-area boundaries, 2020 census "
    "population by community area, and the Chicago Police Department's CAPS community-event calendar for "
    "2016–2017. Provenance and licence: `data/sample/README.md`."
)

ui.table(ui.status_table(loader.status()), key="status")

st.subheader("Caveats")
ui.warning("**Outreach is a schedule, not attendance.** The CAPS calendar lists meetings as planned; "
           "it was captured in late 2017, so events after early November 2017 were still in the future "
           "then. Attendance, officer hours and contacts are unknown and left empty.")
ui.note("Population is the 2020 census; the crime years are 2016–2017. Rates per 1,000 residents use the "
        "latest population loaded for each area and exist only where population is loaded (community "
        "areas in the sample).")
if not loader.has("surveys"):
    ui.note("**No trust or safety survey data is loaded.** The sample ships none (no real survey data is "
            "available for it), so no survey numbers appear anywhere in the dashboard.",
            icon=":material/sentiment_neutral:")
ui.note("Incidents are placed by the beat, district and community area in the police record. "
        "Outreach events are placed on the beat(s) named in their title, otherwise on their district.")

if ui.allowed("view_versions"):
    st.subheader("Versions")
    ui.caption("Every load creates a new version; earlier versions are kept and can be restored.")
    ui.table(loader.versions(), key="versions")
