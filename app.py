"""The frame: page config, navigation over views/, who is signed in, the shared sidebar and the one
error boundary.

Access is decided here, once per run, from the one table in dashboard/access.py: the sidebar lists only
the pages the role may open, and a page reached any other way (URL, bookmark, query string, session
state) is refused before it runs. Pages are composition only; see docs/developing.md, "How to extend".
"""

import streamlit as st

from dashboard import access, loader, metrics, ui

st.set_page_config(page_title="Community policing dashboard", page_icon="🤝",
                   layout="wide")

# Every page is registered so that a shared link to a staff page reaches the refusal below (and the
# sign-in form) rather than silently landing on another page; the menu itself is ui.navigation_menu.
pages = {p.name: st.Page(f"views/{p.name}.py", title=p.title, icon=p.icon, default=p.name == access.DEFAULT_PAGE)
         for p in access.PAGES}
navigation = st.navigation(list(pages.values()), position="hidden")

# Read before the store opens, so a store that cannot open still gets the error presenter.
with ui.error_boundary(loader.base_settings().show_error_details):
    settings = loader.settings()
    token = ui.session_token()
    who = loader.identity(token, ui.oidc_user())
    ui.navigation_menu([pages[p.name] for p in access.pages_for(who.role)])
    ui.set_identity(who, ui.view_toggle(who.role, settings.public_view))
    bounds = loader.date_bounds()
    if bounds is not None:
        ui.set_filters(ui.sidebar_filters(bounds, metrics.default_period(*bounds), loader.offense_groups(),
                                          loader.levels()))
    else:
        ui.set_filters(None)
    ui.account_panel(who, loader.sign_in, lambda: loader.sign_out(token, who), ui.oidc_configured())
    current = access.PAGE_BY_NAME.get(navigation.url_path or access.DEFAULT_PAGE)
    if current is not None and access.page_allowed(who.role, current.name):
        navigation.run()
    else:
        ui.refused(current.title if current else "Page", access.least_role_text(
            current.least_role if current else access.ROLES[-1]), who.signed_in)
