"""The frame: page config, navigation over views/, the shared sidebar and the one error boundary.

Run with `make run` (or `streamlit run app.py`). Pages are composition only; see README "How to extend".
"""

import streamlit as st

from dashboard import loader, metrics, ui

st.set_page_config(page_title="Community policing dashboard", page_icon="🤝",
                   layout="wide")

navigation = st.navigation(
    [
        st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("views/trends.py", title="Crime trends", icon=":material/trending_up:"),
        st.Page("views/map.py", title="Neighborhood map", icon=":material/map:"),
        st.Page("views/compare.py", title="Compare areas", icon=":material/compare:"),
        st.Page("views/hotspots.py", title="Hot spots", icon=":material/hexagon:"),
        st.Page("views/outreach.py", title="Outreach", icon=":material/groups:"),
        st.Page("views/impact.py", title="Impact", icon=":material/science:"),
        st.Page("views/data.py", title="Data and sources", icon=":material/database:"),
        st.Page("views/upload.py", title="Upload data", icon=":material/upload:"),
    ]
)

settings = loader.settings()
with ui.error_boundary(settings.show_error_details):
    bounds = loader.date_bounds()
    if bounds is not None:
        ui.set_filters(ui.sidebar_filters(bounds, metrics.default_period(*bounds), loader.offense_groups(),
                                          loader.levels()))
    else:
        ui.set_filters(None)
    navigation.run()
