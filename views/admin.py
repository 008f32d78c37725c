"""Users and audit (administrators): add and remove users, change roles, unlock user names, change the
run-time settings, and read the audit log of sign-ins, uploads, commits, rollbacks and changes."""

import streamlit as st

from dashboard import access, config, loader, ui

st.title("Users and audit")
who = ui.identity()
ui.admin_done()
tabs = st.tabs(["Users", "Settings", "Audit log"])

with tabs[0]:
    ui.caption("Built-in users sign in with a password (scrypt-hashed in the store); users added without a "
               "password sign in through your identity provider (OpenID Connect) with this e-mail. The same "
               "is available from the command line: `python -m dashboard users add|remove|set-role|list`.")
    added = ui.user_form(access.ROLES, access.ROLE_LABELS)
    if added and ui.run_action(lambda: loader.manage_user("add", added[0], who, role=added[1], password=added[2]),
                               f"Added {added[0]} as {access.ROLE_LABELS[added[1]]}."):
        st.rerun()
    change = ui.user_changes(loader.users(), access.ROLES, access.ROLE_LABELS, who.username)
    if change and ui.run_action(lambda: loader.manage_user(change[0], change[1], who, role=change[2]),
                                f"{change[0].replace('_', ' ').capitalize()}: {change[1]}."):
        st.rerun()

with tabs[1]:
    ui.caption("These apply to every session on its next click and are recorded in the audit log. Every other "
               "setting comes from the environment (docs/operations.md, Settings).")
    changed = ui.settings_form(loader.runtime_settings(),
                               {n: config.setting(n).help for n in config.RUNTIME_SETTINGS})
    if changed and ui.run_action(lambda: loader.set_setting(changed[0], changed[1], who),
                                 f"{changed[0]} is now {changed[1]!r}."):
        st.rerun()

with tabs[2]:
    log = loader.audit_log()
    ui.caption(f"The newest {len(log):,} entries. Passwords and session tokens are never recorded.")
    ui.table(log, key="audit_log", height=480)
    ui.deferred_csv_download(log, "Audit log (CSV)", "audit_log.csv", key="audit_csv")
