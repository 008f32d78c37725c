"""The frame: page config, navigation over pages/, the shared sidebar and the one error boundary.

Run with `make run` (or `streamlit run app.py`). Pages are composition only; see README "How to extend".
"""

import streamlit as st

from dashboard import loader, metrics, ui

st.set_page_config(page_title="Community policing dashboard", page_icon="🤝",
                   layout="wide")

navigation = st.navigation(
    [
        st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("views/map.py", title="Neighborhood map", icon=":material/map:"),
        st.Page("views/data.py", title="Data and sources", icon=":material/database:"),
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
