"""Who may see and do what: the one table of roles, pages and actions, enforced from one place.

app.py asks this module which pages to put in the navigation and refuses a page the role may not run
(reached by URL, query string or session state); ui.py asks it before drawing an action (a download of
point data, a rollback, the full view). The role table of docs/privacy.md is generated from ``PAGES``
and ``ACTIONS`` and a test keeps it in sync. Pure: no Streamlit, no store, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

# Ordered from least to most trusted: every role may do what the roles before it may.
ROLES: tuple[str, ...] = ("public", "council", "command", "analyst", "admin")
ROLE_LABELS = {
    "public": "Anonymous public",
    "council": "Council member",
    "command": "Command staff",
    "analyst": "Crime analyst",
    "admin": "Administrator",
}
ANONYMOUS = "public"


@dataclass(frozen=True)
class Page:
    name: str  # file stem under views/, also the URL path
    title: str
    icon: str
    least_role: str
    why: str


PAGES: tuple[Page, ...] = (
    Page("overview", "Overview", ":material/monitoring:", "public",
         "Citywide totals; public-safe for public and council (small counts withheld, sensitive offenses out)."),
    Page("map", "Neighborhood map", ":material/map:", "public",
         "Area aggregates; forced public-safe for public and council."),
    Page("compare", "Compare areas", ":material/compare:", "public",
         "Two areas' aggregates; forced public-safe for public and council."),
    Page("hotspots", "Hot spots", ":material/hexagon:", "public",
         "Hexagon aggregates; forced public-safe for public and council."),
    Page("trends", "Crime trends", ":material/trending_up:", "command",
         "CompStat tables down to beats with exact small counts: internal."),
    Page("outreach", "Outreach", ":material/groups:", "command",
         "Unsuppressed weekly incidents per area beside outreach: internal."),
    Page("impact", "Impact", ":material/science:", "command",
         "Designs on unsuppressed area series: internal."),
    Page("data", "Data and sources", ":material/database:", "public",
         "Provenance and caveats; the version list (file names, authors) only for staff."),
    Page("upload", "Upload data", ":material/upload:", "analyst",
         "Uploads, mappings, commits and rollbacks."),
    Page("admin", "Users and audit", ":material/admin_panel_settings:", "admin",
         "Users, roles, settings and the audit log."),
)
PAGE_BY_NAME = {p.name: p for p in PAGES}
DEFAULT_PAGE = "overview"

# action -> (least role, what it covers)
ACTIONS: dict[str, tuple[str, str]] = {
    "view_public_safe": ("public", "Aggregated counts with small counts withheld and sensitive offenses left out"),
    "view_full": ("command", "Switch the public-safe view off: exact small counts, sensitive offenses"),
    "view_versions": ("command", "Version list with file names, hashes and authors"),
    "upload": ("analyst", "Upload files, preview and commit new versions"),
    "edit_mapping": ("analyst", "Edit column, offense and area mappings and save mapping profiles"),
    "rollback": ("analyst", "Make an earlier version active again"),
    "download_rejected": ("analyst", "Download an upload's rejected rows"),
    "manage_users": ("admin", "Add and remove users, change roles, unlock accounts"),
    "manage_settings": ("admin", "Change the public-safe threshold and sensitive offenses at run time"),
    "view_audit": ("admin", "Read the audit log"),
}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    return role


def rank(role: str) -> int:
    return ROLES.index(check_role(role))


def at_least(role: str, least: str) -> bool:
    return rank(role) >= rank(least)


def can(role: str, action: str) -> bool:
    """Whether ``role`` may perform ``action`` (an unknown action is refused, never allowed)."""
    if action not in ACTIONS:
        return False
    return at_least(role, ACTIONS[action][0])


def page_allowed(role: str, page: str) -> bool:
    """Whether ``role`` may run the page ``page`` (file stem / URL path); unknown pages are refused."""
    found = PAGE_BY_NAME.get(page)
    return found is not None and at_least(role, found.least_role)


def pages_for(role: str) -> list[Page]:
    return [p for p in PAGES if at_least(role, p.least_role)]


def public_safe(role: str, wants_full: bool) -> bool:
    """The public-safe view is forced for roles that may not see the full one, whatever they ask for."""
    return not (wants_full and can(role, "view_full"))


def least_role_text(least: str) -> str:
    return ROLE_LABELS[least] + (" and up" if least != ROLES[-1] else " only")


def markdown_table() -> str:
    """The role table of docs/privacy.md: pages, then actions, one column per role."""
    head = "| | " + " | ".join(ROLE_LABELS[r] for r in ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    lines = [head, rule]
    for p in PAGES:
        marks = " | ".join("yes" if at_least(r, p.least_role) else "–" for r in ROLES)
        lines.append(f"| Page: {p.title} | {marks} |")
    for action, (least, what) in ACTIONS.items():
        marks = " | ".join("yes" if at_least(r, least) else "–" for r in ROLES)
        lines.append(f"| {what} (`{action}`) | {marks} |")
    return "\n".join(lines)
