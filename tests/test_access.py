"""access: the role table itself, its copy in docs/privacy.md, and the role × page × action matrix run through
the real app (AppTest): every cell allowed or refused as the table says, including pages reached by
URL, by query string and with session state a client tried to set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import access
from dashboard.auth import Identity
from tests.conftest import REPO, staff_token

APP = REPO / "app.py"
TIMEOUT = 120
REFUSED = "This page is for"


# ------------------------------------------------------------------------------------ the table


def test_roles_are_ordered_and_every_page_and_action_names_a_role():
    assert access.ROLES[0] == access.ANONYMOUS and access.ROLES[-1] == "admin"
    assert {p.least_role for p in access.PAGES} <= set(access.ROLES)
    assert {least for least, _ in access.ACTIONS.values()} <= set(access.ROLES)
    assert {p.name for p in access.PAGES} == {f.stem for f in (REPO / "views").glob("*.py")}


def test_can_is_monotonic_and_unknown_things_are_refused():
    for action in access.ACTIONS:
        allowed = [access.can(r, action) for r in access.ROLES]
        assert allowed == sorted(allowed), f"{action}: a more trusted role may do less"
    assert not access.can("admin", "no_such_action")
    assert not access.page_allowed("admin", "no_such_page")
    with pytest.raises(ValueError, match="unknown role"):
        access.can("superuser", "upload")


def test_public_safe_is_forced_for_public_and_council():
    assert access.public_safe("public", wants_full=True)
    assert access.public_safe("council", wants_full=True)
    assert not access.public_safe("command", wants_full=True)
    assert access.public_safe("admin", wants_full=False)


def test_docs_role_table_is_the_code_table():
    assert access.markdown_table() in (REPO / "docs" / "privacy.md").read_text(), (
        "docs/privacy.md's role table differs from access.markdown_table(); paste the new one in")


# -------------------------------------------------------------------- the matrix, through the app


def open_page(page: str, role: str | None, **query) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if role and role != access.ANONYMOUS:
        at.session_state["_session_token"] = staff_token(Path(os.environ["DASHBOARD_DATA_DIR"]), role)
    at.query_params.update(query)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def refused(at: AppTest) -> bool:
    return any(REFUSED in w.value for w in at.warning)


def menu(at: AppTest) -> set[str]:
    # the default page links to the root URL ("")
    return {link.proto.page.rsplit("/", 1)[-1].removesuffix(".py") or access.DEFAULT_PAGE
            for link in at.get("page_link")}


@pytest.mark.parametrize("role", access.ROLES)
def test_each_role_sees_only_its_pages_and_is_refused_the_rest(app_env, role):
    at = open_page("overview", role)
    assert menu(at) == {p.name for p in access.pages_for(role)}
    for page in access.PAGES:
        at.switch_page(f"views/{page.name}.py")
        at.run()
        assert not at.exception, (role, page.name, [e.message for e in at.exception])
        if access.page_allowed(role, page.name):
            assert not refused(at), f"{role} was refused {page.name}"
            assert not at.error, (role, page.name, [e.value for e in at.error])
        else:
            assert refused(at), f"{role} reached {page.name}"
            # nothing of the page ran: only the refusal's title, warning and caption are in the main area
            assert len(at.main.children) <= 2 and not at.dataframe and not at.metric


@pytest.mark.parametrize("page", ["upload", "admin", "trends"])
def test_query_string_and_forged_session_state_do_not_open_a_page(app_env, page):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update({"role": "admin", "public": "0", "user": "admin"})
    at.session_state["_identity"] = Identity("admin", "admin", "password")  # what app.py would set
    at.session_state["_public_view"] = False
    at.session_state["_session_token"] = "forged-token"
    at.session_state["public_safe"] = False
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert refused(at) and not at.exception
    assert at.session_state["_identity"].role == "public"  # app.py replaced the forged identity


def test_full_view_only_for_staff_even_when_asked_for(app_env):
    for role in ("public", "council"):
        at = open_page("map", role)
        assert not [t for t in at.toggle if t.key == "public_safe"], "public and council get no view switch"
        at.session_state["public_safe"] = False  # a client trying anyway
        at.run()
        assert any("Public view" in c.value for c in at.caption), role
    at = open_page("map", "command")
    assert [t for t in at.toggle if t.key == "public_safe"][0].value is True  # staff start public-safe
    at.session_state["public_safe"] = False
    at.run()
    assert any("Full view" in c.value for c in at.caption)


@pytest.mark.parametrize("role", access.ROLES)
def test_version_list_only_for_roles_that_may_see_it(app_env, role):
    at = open_page("data", role)
    shown = any(s.value == "Versions" for s in at.subheader)
    assert shown == access.can(role, "view_versions")


def test_signed_out_and_removed_users_lose_access_at_once(app_env):
    from dashboard import auth
    from dashboard.store import Store

    at = open_page("upload", "analyst")
    assert not refused(at)
    store = Store(Path(os.environ["DASHBOARD_DATA_DIR"]) / "dashboard.duckdb")
    auth.set_role(store, "test-analyst", "council", actor="tests")
    try:
        at.run()
        assert refused(at), "a demoted user kept the analyst page until sign-out"
    finally:
        auth.set_role(store, "test-analyst", "analyst", actor="tests")
        store.close()
    at.run()
    assert not refused(at)
    at.button(key="signout").click().run()
    assert refused(at) and at.session_state["_identity"].role == "public"


def test_openid_connect_users_get_the_role_stored_for_their_email(app_env):
    from dashboard import auth
    from dashboard.store import Store

    store = Store(Path(os.environ["DASHBOARD_DATA_DIR"]) / "dashboard.duckdb")
    if not store.rows("SELECT 1 FROM users WHERE username = 'chief@city.gov'"):
        auth.add_user(store, "chief@city.gov", "command", None, actor="tests")
    store.close()
    for email, expect_refused in (("chief@city.gov", False), ("someone@city.gov", True)):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                              "client_id": "dashboard", "client_secret": "s",
                              "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}
        at.user = {"is_logged_in": True, "email": email}
        at.run()
        at.switch_page("views/trends.py")
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert refused(at) == expect_refused, email
        who = at.session_state["_identity"]
        assert (who.username, who.method) == (email, "oidc")
        assert who.role == ("command" if not expect_refused else "public")


def test_sign_in_form_shows_the_organisation_button_only_when_oidc_is_configured(app_env):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not [b for b in at.button if b.key == "signin_oidc"]
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "dashboard", "client_secret": "s",
                          "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}
    at.run()
    assert [b for b in at.button if b.key == "signin_oidc"]


# ------------------------------------------------------- actions drawn inside pages, per role


def _versions_script():
    import pandas as pd
    import streamlit as st

    from dashboard import auth, ui

    ui.set_identity(auth.Identity("someone", st.session_state["role"], "password"), public=True)
    versions = pd.DataFrame({"dataset": ["incidents"] * 2, "version": [2, 1], "active": [True, False],
                             "row_count": [10, 9], "source": ["b.csv", "a.csv"], "author": ["x", "y"],
                             "created_at": pd.to_datetime(["2026-01-02", "2026-01-01"]), "mode": ["append"] * 2,
                             "rows_rejected": [0, 1]})
    ui.version_list(versions, "incidents", key="v")


def _report_script():
    import pandas as pd
    import streamlit as st

    from dashboard import auth, ingest, ui

    ui.set_identity(auth.Identity("someone", st.session_state["role"], "password"), public=True)
    rejected = pd.DataFrame({"row": [2], "reason": ["unparseable date"], "Date": ["=1+1"]})
    ui.validation_report(ingest.Report("incidents", "x.csv", "h", 3, 2, rejected), "rejected.csv")


@pytest.mark.parametrize("role", access.ROLES)
def test_actions_inside_pages_follow_the_table(role):
    """ui draws rollback buttons and the rejected-rows download only for roles the table allows, even
    if a page that shows them were reached."""
    at = AppTest.from_function(_versions_script, default_timeout=60)
    at.session_state["role"] = role
    at.run()
    assert bool([b for b in at.button if b.key == "v_incidents_1"]) == access.can(role, "rollback")
    at = AppTest.from_function(_report_script, default_timeout=60)
    at.session_state["role"] = role
    at.run()
    assert not at.exception
    downloads = [e for e in at.get("download_button")]
    assert bool(downloads) == access.can(role, "download_rejected")
