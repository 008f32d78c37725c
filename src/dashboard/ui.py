"""Streamlit widgets shared by pages: sidebar filters, KPI rows, empty states, map display, and the one
error presenter.

The only Streamlit module besides loader.py. It draws; it does not query the store or compute.
"""

from __future__ import annotations

import html
import logging
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from dashboard import offline, schema
from dashboard.compstat import TREND_WINDOWS, TrendsView
from dashboard.errors import DashboardError
from dashboard.periods import Filters

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- errors


def show_error(exc: DashboardError) -> None:
    """The one presenter for expected errors: title, what is wrong, how to fix it, details table."""
    with st.container(border=True, key="dashboard-error"):
        # Messages quote values from uploaded files: shown as text, never as Markdown or HTML.
        st.error(f"**{escape(exc.title)}**\n\n{escape(exc.message)}", icon=":material/error:")
        if exc.hint:
            st.info(f"How to fix it: {escape(exc.hint)}", icon=":material/lightbulb:")
        if exc.details is not None and len(exc.details):
            with st.expander(f"Details ({len(exc.details):,} rows)"):
                st.dataframe(exc.details, hide_index=True)


def show_unexpected(exc: BaseException, show_details: bool) -> None:
    log.error("unexpected error on page", exc_info=exc)
    with st.container(border=True, key="dashboard-error"):
        st.error("**Something went wrong on this page**\n\nThe error was logged for the administrator.",
                 icon=":material/error:")
        st.info("How to fix it: change the filters or reload the page; if it persists, report it with the "
                "time it happened.", icon=":material/lightbulb:")
        if show_details:
            st.code("".join(traceback.format_exception(exc)), language="text")


@contextmanager
def error_boundary(show_details: bool = False) -> Iterator[None]:
    """Wrap the running page once (in app.py): expected errors are presented, others logged."""
    try:
        yield
    except DashboardError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - the one place every other failure is caught
        show_unexpected(exc, show_details)


def empty_state(message: str, hint: str = "") -> None:
    st.info(f"{message}" + (f"\n\n{hint}" if hint else ""), icon=":material/filter_alt_off:")


# ---------------------------------------------------------------------------------- filters

_DATE_KEY = "filter_dates"
_GROUP_KEY = "filter_groups"
_LEVEL_KEY = "filter_level"


def sidebar_filters(bounds: tuple[date, date], default: tuple[date, date], groups: Sequence[str],
                    levels: Sequence[str]) -> Filters:
    """The shared sidebar: date range, offense groups, geography level. Returns the current Filters."""
    first, last = bounds
    _apply_pending_filters()
    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input("Date range", value=default, min_value=first, max_value=last, key=_DATE_KEY,
                               help="Inclusive. Compared with the same dates one year earlier.")
        if isinstance(picked, date):
            picked = (picked, picked)
        # While the user is mid-way through picking a range the widget returns one date.
        start, end = (picked[0], picked[-1]) if picked else default
        chosen = st.multiselect(
            "Offense groups", options=list(groups), default=list(groups), key=_GROUP_KEY,
            format_func=lambda g: schema.OFFENSE_GROUPS.get(g, g),
            help="Groups are defined in the editable offense table (see README).",
        )
        level = st.selectbox(
            "Geography", options=list(levels) or ["community_area"], key=_LEVEL_KEY,
            format_func=lambda lv: schema.LEVELS[lv].label if lv in schema.LEVELS else lv,
        )
    return Filters(start=start, end=end, offense_groups=tuple(chosen), level=level)


# ---------------------------------------------------------------------------------- display


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    delta: str | None = None
    help: str | None = None
    delta_color: str = "inverse"  # more crime is bad: red up, green down


def kpi_row(kpis: Sequence[Kpi]) -> None:
    for col, kpi in zip(st.columns(len(kpis)), kpis, strict=True):
        col.metric(kpi.label, kpi.value, kpi.delta, help=kpi.help, delta_color=kpi.delta_color, border=True)


def caption(text: str) -> None:
    st.caption(text)


def note(text: str, icon: str = ":material/info:") -> None:
    st.info(text, icon=icon)


def warning(text: str) -> None:
    st.warning(text, icon=":material/warning:")


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def table(frame: pd.DataFrame, key: str, columns: dict | None = None, height: int | None = None) -> None:
    st.dataframe(frame, key=key, hide_index=True, column_config=columns, height=height or "auto")


def csv_download(frame: pd.DataFrame, label: str, file_name: str, key: str) -> None:
    """CSV of what a chart or table shows. Cells that a spreadsheet would run as formulas are defused.
    The CSV is written when the button is clicked, not on every rerun (deferred_csv_download): three
    downloads cost the overview 10 ms a rerun."""
    deferred_csv_download(frame, label, file_name, key)


def safe_file_name(name: str) -> str:
    """A download's file name with only letters, digits, dot, dash and underscore (names can come from
    uploaded files)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "download"
    return cleaned[:120]


def safe_csv(frame: pd.DataFrame) -> bytes:
    from dashboard.ingest import safe_csv_bytes  # one rule for the page and the CLI's --rejected-csv

    return safe_csv_bytes(frame)


def folium_map(m, key: str, static_url: str, height: int = 560) -> dict:
    """Show a folium map offline. Returns only the click (st_folium would otherwise rerun the app on
    every pan and zoom)."""
    from streamlit_folium import st_folium

    offline.patch_streamlit_folium(static_url)
    # render=False: st_folium renders the map itself either way; its default render=True renders the
    # whole figure once more before that, which sends the same frontend arguments (tests check) and
    # was a third of the hot-spot page's rerun (every GeoJSON layer re-serialised and re-parsed by jinja).
    return st_folium(m, key=key, height=height, use_container_width=True,
                     returned_objects=["last_active_drawing"], render=False) or {}


def escape(text: str) -> str:
    """Escape data-derived text before it goes into markdown."""
    return html.escape(str(text)).replace("*", "\\*").replace("_", "\\_").replace("[", "\\[")


def set_filters(filters: Filters | None) -> None:
    st.session_state["_filters"] = filters


def current_filters() -> Filters | None:
    """The Filters app.py's sidebar produced on this run (None when no incidents are loaded)."""
    return st.session_state.get("_filters")


def pct_text(pct: float | None) -> str | None:
    return None if pct is None else f"{pct:+.1f}% vs last year"


def status_table(status: list[dict]) -> pd.DataFrame:
    """The store status as a readable table (dataset, version, rows, from, to, loaded at, source)."""
    frame = pd.DataFrame(status)
    frame["min_date"] = pd.to_datetime(frame["min_date"]).dt.date
    frame["max_date"] = pd.to_datetime(frame["max_date"]).dt.date
    return frame.rename(columns={"dataset": "Dataset", "version": "Active version", "rows": "Rows",
                                 "min_date": "From", "max_date": "To", "loaded_at": "Loaded at",
                                 "source": "Source", "versions": "Versions kept"})


# ---------------------------------------------------------------------------------- uploads


@contextmanager
def step(label: str, done: str) -> Iterator[None]:
    """A progress box for one upload step (reading, validating, committing): running, then done."""
    with st.status(label, expanded=False) as box:
        yield
        box.update(label=done, state="complete")


def field_editor(fields: pd.DataFrame, columns: Sequence[str], key: str) -> pd.DataFrame:
    """The suggested mapping as an editable table: pick the file's column for each field."""
    return st.data_editor(
        fields, key=key, hide_index=True, width="stretch", disabled=["field", "label", "confidence", "why"],
        column_order=["label", "column", "confidence", "why"],
        column_config={
            "label": st.column_config.TextColumn("Field"),
            "column": st.column_config.SelectboxColumn("Column in your file", options=["", *columns]),
            "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0,
                                                          format="percent"),
            "why": st.column_config.TextColumn("Why (header and values)"),
        },
    )


def offense_editor(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Offense values with counts and an editable group; saved with the profile when committed."""
    return st.data_editor(
        table, key=key, hide_index=True, width="stretch", disabled=["offense", "rows", "source"],
        column_config={
            "offense": st.column_config.TextColumn("Offense in the file"),
            "rows": st.column_config.NumberColumn("Rows", format="%d"),
            "offense_group": st.column_config.SelectboxColumn("Offense group", options=list(schema.OFFENSE_GROUPS),
                                                              required=True),
            "source": st.column_config.TextColumn("From"),
        },
    )


def area_editor(table: pd.DataFrame, area_ids: Sequence[str], key: str) -> pd.DataFrame:
    """Area values of the file matched to boundaries; tick a suggestion (or pick an area) to accept it."""
    return st.data_editor(
        table, key=key, hide_index=True, width="stretch", disabled=["value", "rows", "area_name", "how"],
        column_config={
            "value": st.column_config.TextColumn("Value in the file"),
            "rows": st.column_config.NumberColumn("Rows", format="%d"),
            "area_id": st.column_config.SelectboxColumn("Boundary area", options=["", *area_ids]),
            "area_name": st.column_config.TextColumn("Name"),
            "how": st.column_config.TextColumn("Matched by"),
            "use": st.column_config.CheckboxColumn("Use"),
        },
    )


def plan_options(plan, key: str, crs_choices: Sequence[tuple[str, str]], timezones: Sequence[str]):
    """Date format, time zones, coordinate system, swap, area assignment and unknown-offense choices
    for an incidents plan (only the coordinate system for boundaries); returns the plan with the
    analyst's choices."""
    from dataclasses import replace

    codes = ["", *(c for c, _ in crs_choices)]
    labels = dict(crs_choices)
    if plan.kind == "areas":  # boundaries: only their coordinate system can need a choice
        crs = st.selectbox("Coordinate system (when the file's own is missing or wrong)", codes, key=f"{key}_crs",
                           index=codes.index(plan.crs) if plan.crs in codes else 0,
                           format_func=lambda c: f"{c} · {labels[c]}" if c else "as the file declares")
        return replace(plan, crs=crs)
    left, right = st.columns(2)
    with left:
        date_format = st.text_input(
            "Date format (strftime)", value=plan.date_format or "", key=f"{key}_datefmt",
            help="Empty: detected from the values. E.g. %m/%d/%Y %I:%M:%S %p or %Y-%m-%dT%H:%M:%S.")
        zones = ["", *timezones]
        timezone = st.selectbox("Store times in this time zone", zones, key=f"{key}_tz",
                                index=zones.index(plan.timezone) if plan.timezone in zones else 0,
                                help="The store keeps naive local time. Empty keeps the times as they are.")
        sources = ["local", "UTC", *timezones]
        source_tz = st.selectbox("The file's times are", sources, key=f"{key}_srctz",
                                 index=sources.index(plan.source_timezone) if plan.source_timezone in sources else 0,
                                 help="'local': already local time. Values with a UTC offset are always converted.")
    with right:
        crs = st.selectbox("Coordinate system of X/Y columns", codes, key=f"{key}_crs",
                           index=codes.index(plan.crs) if plan.crs in codes else 0,
                           format_func=lambda c: f"{c} · {labels[c]}" if c else "none (latitude/longitude)")
        swap = st.checkbox("Swap latitude and longitude", value=plan.swap_latlon, key=f"{key}_swap")
        assign = st.radio("Areas from the points (point-in-polygon)", ["missing", "all", "off"], horizontal=True,
                          index=["missing", "all", "off"].index(plan.assign_areas), key=f"{key}_assign",
                          format_func={"missing": "where the file has none", "all": "for every row",
                                       "off": "never"}.get)
        unknown = st.radio("Offenses not in the table", ["other", "reject"], horizontal=True,
                           index=["other", "reject"].index(plan.unknown_offense), key=f"{key}_unknown",
                           format_func={"other": "group as 'other'", "reject": "reject the rows"}.get)
    return replace(plan, date_format=date_format.strip() or None, timezone=timezone, source_timezone=source_tz,
                   crs=crs, swap_latlon=swap, assign_areas=assign, unknown_offense=unknown)


def validation_report(report, rejected_name: str) -> None:
    """What a commit would store: rows in/kept/rejected, counts and a sample per reason, the fixes made,
    warnings, and every rejected row as a CSV with formula cells defused."""
    kpi_row([Kpi("Rows in the file", f"{report.rows_in:,}", delta_color="off"),
              Kpi("Would be stored", f"{report.rows_kept:,}", delta_color="off"),
              Kpi("Rejected", f"{report.rows_rejected:,}", delta_color="off")])
    for text in report.warnings:
        warning(escape(text))
    counts = report.reason_counts()
    if counts:
        table(pd.DataFrame({"reason": list(counts), "rows": list(counts.values())}), key="reject_reasons")
        for reason in counts:
            with st.expander(f"{counts[reason]:,} × {reason}"):
                st.dataframe(report.rejected[report.rejected["reason"] == reason].head(20), hide_index=True)
        if allowed("download_rejected"):
            csv_download(report.rejected, f"All {report.rows_rejected:,} rejected rows (CSV)", rejected_name,
                         key="rejected_csv")
    if report.fixes:
        caption("Fixed and kept: " + "; ".join(f"{escape(k)}: {v:,}" for k, v in report.fixes.items()))


def version_list(versions: pd.DataFrame, dataset: str, key: str) -> int | None:
    """The versions of ``dataset`` with who loaded what and when; returns the version whose
    'Make active' button was clicked (one click rolls back, or forward again)."""
    rows = versions[versions["dataset"] == dataset].head(10)
    if rows.empty:
        caption(f"No {dataset} versions yet.")
        return None
    chosen = None
    for row in rows.itertuples():
        left, right = st.columns([5, 1])
        left.markdown(
            f"**v{row.version}**{' · active' if row.active else ''} · {row.row_count:,} rows · "
            f"{escape(row.source)} · {escape(row.author)} · {pd.Timestamp(row.created_at):%Y-%m-%d %H:%M} · "
            f"{row.mode}" + (f" · {row.rows_rejected:,} rejected" if pd.notna(row.rows_rejected) else ""))
        if not row.active and allowed("rollback") and right.button("Make active", key=f"{key}_{dataset}_{row.version}",
                                           icon=":material/history:"):
            chosen = int(row.version)
    return chosen


# ---------------------------------------------------------------------- crime trends page (CompStat)

_PENDING_KEY = "_pending_filters"
_TRENDS_READ_KEY = "_trends_url_read"
_TRENDS_MESSAGES_KEY = "_trends_url_messages"
TRENDS_KEYS = {"anchor": "trends_anchor", "window": "trends_window", "area": "trends_area",
               "harm": "trends_harm"}


def _apply_pending_filters() -> None:
    """Put sidebar values another page asked for (request_sidebar_filters) into the widgets' state, before
    the widgets are drawn: a widget's state cannot change once it is drawn in a run."""
    for key, value in (st.session_state.pop(_PENDING_KEY, None) or {}).items():
        st.session_state[key] = value


def trends_state_from_url(read: Callable[[dict], tuple[TrendsView, list[str]]],
                          current: Filters) -> list[str]:
    """Once per session, on the trends page's first run: read the link's query parameters with ``read``
    (compstat.parse_trends_query), seed the page's widgets with them and, if the link names other sidebar
    filters (geography, offense groups), set those and rerun once. Returns, once, the messages about
    values the link had that were ignored."""
    if not st.session_state.get(_TRENDS_READ_KEY):
        view, messages = read(st.query_params.to_dict())
        st.session_state[_TRENDS_READ_KEY] = True
        st.session_state[_TRENDS_MESSAGES_KEY] = messages
        for field_name, key in TRENDS_KEYS.items():
            st.session_state[key] = getattr(view, field_name)
        if view.level != current.level or tuple(view.offense_groups) != tuple(current.offense_groups):
            st.session_state[_PENDING_KEY] = {_LEVEL_KEY: view.level, _GROUP_KEY: list(view.offense_groups)}
            st.rerun()
    return st.session_state.pop(_TRENDS_MESSAGES_KEY, [])


def trends_controls(default: TrendsView, low: date, high: date, areas: dict[str, str],
                    level_label: str) -> tuple[date, str, str, bool]:
    """The trends page's own filters: anchor date, window, area (citywide or one of ``areas``) and the
    harm toggle. Returns (anchor, window, area, harm)."""
    for field_name, key in TRENDS_KEYS.items():
        if key not in st.session_state:
            st.session_state[key] = getattr(default, field_name)
    if st.session_state[TRENDS_KEYS["area"]] not in areas:  # the geography changed under it
        st.session_state[TRENDS_KEYS["area"]] = "citywide"
    anchor_col, window_col, area_col, harm_col = st.columns([1.1, 2, 1.6, 1.1], vertical_alignment="bottom")
    anchor = anchor_col.date_input("Anchor date", min_value=low, max_value=high, key=TRENDS_KEYS["anchor"],
                                   help="Windows end on this day. Default: the last day in the data.")
    window = window_col.segmented_control(
        "Window", options=list(TREND_WINDOWS), format_func=TREND_WINDOWS.get, required=True,
        key=TRENDS_KEYS["window"], help="Week to date starts on Monday. Each window is compared with the "
        "same window a year earlier (52 weeks earlier for week-to-date and 28 days, so weekdays match).")
    area = area_col.selectbox(level_label if level_label else "Area", options=list(areas),
                              format_func=areas.get, key=TRENDS_KEYS["area"],
                              help="Citywide, or one area of the sidebar's geography.")
    harm = harm_col.toggle("Harm index", key=TRENDS_KEYS["harm"],
                           help="Weight offenses by the editable harm table instead of counting them.")
    return anchor, window or default.window, area, bool(harm)


def sync_query_params(params: dict[str, str]) -> None:
    """Write the view into the URL (only when it changed), so the link reproduces it."""
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def verdict_kpis(rows: pd.DataFrame, label_column: str = "label", help: str | None = None) -> None:
    """One KPI per row (a label column, current, prior, pct_change, verdict, changed) with its verdict
    below it, bold when the change is unlikely to be chance."""
    columns = st.columns(len(rows))
    for col, row in zip(columns, rows.itertuples(), strict=True):
        pct = None if pd.isna(row.pct_change) else f"{row.pct_change:+.1f}% vs last year"
        col.metric(str(getattr(row, label_column)), f"{row.current:,.0f}", pct, delta_color="inverse",
                   border=True, help=f"Same window last year: {row.prior:,.0f}. {help or ''}".strip())
        text = escape(row.verdict)
        col.markdown(f"**{text}**" if row.changed else text)


def _number(label: str, fmt: str = "localized", help: str | None = None):
    return st.column_config.NumberColumn(label, format=fmt, help=help)


TREND_COLUMNS = {
    "label": st.column_config.TextColumn("Offenses"),
    "name": st.column_config.TextColumn("Area"),
    "current": _number("This window"),
    "prior": _number("Same window last year"),
    "difference": _number("Difference", "%+.0f"),
    "pct_change": _number("% change", "%+.1f%%", help="Change in the rate per day (windows can differ by a "
                                                       "leap day)."),
    "avg_earlier": _number("Average of earlier years", help="Needs at least two earlier years of data; "
                                                             "empty when the data hold less."),
    "finding": st.column_config.TextColumn("Verdict", width="large"),
}

MATH_COLUMNS = {
    "label": st.column_config.TextColumn("Offenses"),
    "name": st.column_config.TextColumn("Area"),
    "current": _number("Current"), "prior": _number("Prior"),
    "days": _number("Days"), "prior_days": _number("Prior days"),
    "ratio": _number("Rate ratio", "%.3f"), "low": _number("95% low", "%.3f"),
    "high": _number("95% high", "%.3f"),
    "poisson_test": st.column_config.TextColumn("Poisson test"),
    "p_poisson": _number("p (Poisson)", "%.4f"), "phi": _number("phi", "%.2f"),
    "df": _number("t df", "%.0f", help="Degrees of freedom of phi's estimate (empty: phi taken as 1)."),
    "z": _number("z", "%+.2f"),
    "p_dispersed": _number("p (overdispersed z)", "%.4f"), "p": _number("p (larger)", "%.4f"),
    "q": _number("p adjusted (BH)", "%.4f"), "alpha": _number("alpha", "%.2f"),
    "verdict": st.column_config.TextColumn("Verdict", width="large"),
}


def trend_table(frame: pd.DataFrame, key: str, name_column: str = "label") -> None:
    """A CompStat table: current, prior, difference, % change, the multi-year average where the data
    hold enough earlier years (else a note saying so) and the verdict."""
    average = bool(frame["avg_earlier"].notna().any())
    cols = [name_column, "current", "prior", "difference", "pct_change",
            *(["avg_earlier"] if average else []), "finding"]
    table(frame[cols], key=key, columns=TREND_COLUMNS)
    if not average and len(frame):
        years = int(frame["earlier_years"].max())
        st.caption(f"No multi-year average: not enough history. It needs the same window in at least two "
                   f"earlier years; the data hold {years}.")


def show_math(frames: Sequence[tuple[str, pd.DataFrame, str]], explanation: str) -> None:
    """'Show the math': the formula text and, per table (title, frame, name column), every number a
    verdict rests on."""
    with st.expander("Show the math", icon=":material/function:"):
        st.markdown(explanation)
        for title, frame, name_column in frames:
            st.markdown(f"**{escape(title)}**")
            cols = [name_column, *[c for c in MATH_COLUMNS if c not in ("label", "name")]]
            table(frame[cols], key=f"math_{title}", columns=MATH_COLUMNS)


def harm_weights(weights: pd.DataFrame) -> None:
    """The harm weights in use, with their basis, and where to edit them."""
    with st.expander("Harm weights in use (illustrative defaults: edit them)", icon=":material/balance:"):
        st.caption("From src/dashboard/data/harm_weights.csv, loosely following the Cambridge Crime Harm "
                   "Index idea (days of imprisonment a sentence starts from). They are illustrative defaults "
                   "for broad groups, not a standard: edit the file to your department's weights.")
        frame = weights.assign(label=weights["offense_group"].map(lambda g: schema.OFFENSE_GROUPS.get(g, g)))
        table(frame[["label", "weight", "basis"]], key="harm_weights",
              columns={"label": st.column_config.TextColumn("Offense group"),
                       "weight": st.column_config.NumberColumn("Weight", format="localized"),
                       "basis": st.column_config.TextColumn("Basis", width="large")})


def deferred_csv_download(frame: pd.DataFrame | Callable[[], pd.DataFrame], label: str, file_name: str,
                          key: str) -> None:
    """ui.csv_download whose bytes (and, given a function, whose frame) are made only when the button
    is clicked, so a page with several downloads stays fast on every rerun; the same formula-defused CSV,
    and no rerun on click."""
    st.download_button(label, data=lambda: safe_csv(frame() if callable(frame) else frame),
                       file_name=safe_file_name(file_name),
                       mime="text/csv", key=key, icon=":material/download:", on_click="ignore")


# ---------------------------------------------------------------------------------- neighborhood map

MAP_AREA_COLUMNS = {
    "area_id": st.column_config.TextColumn("Id"),
    "name": st.column_config.TextColumn("Area"),
    "count_text": st.column_config.TextColumn("Incidents"),
    "prior_text": st.column_config.TextColumn("Same dates last year"),
    "pct_text": st.column_config.TextColumn("Change"),
    "changed": st.column_config.CheckboxColumn("Significant", help="Change unlikely to be chance after the "
                                               "Benjamini-Hochberg adjustment across areas (outlined on the map)."),
    "verdict_text": st.column_config.TextColumn("Verdict", width="large"),
    "rate_text": st.column_config.TextColumn("Per 1,000 residents"),
    "events": st.column_config.NumberColumn("Outreach events", format="%d"),
}


def public_badge(public: bool, sentence: str) -> None:
    """Which view this is (public-safe or full) and what it withheld, above the map."""
    if public:
        st.caption(f":material/shield: {sentence}")
    else:
        st.caption(f":material/lock_open: {sentence}")


def area_panel(profile, sparkline, key: str, compact: bool = False) -> None:
    """One area's drill-down (a neighborhood.Profile): name, KPIs, verdict, rank, weekly sparkline, top
    offenses and the outreach held there. Text from data goes through st.dataframe (never rendered as
    HTML) or is escaped."""
    st.subheader(escape(profile.name))
    delta = None if profile.pct_text in ("withheld", "n/a", "none last year") else f"{profile.pct_text} vs last year"
    kpis = [
        Kpi("Incidents", profile.count_text, delta, help=profile.period),
        Kpi("Same period last year", profile.prior_text),
        Kpi("Per 1,000 residents", profile.rate_text),
        Kpi("Outreach events", f"{profile.events:,}", help="Scheduled events placed here (not attendance)."),
    ]
    for row in ([kpis[:2], kpis[2:]] if compact else [kpis]):
        kpi_row(row)
    st.markdown(f"**Change:** {escape(profile.verdict)}")
    ranks = [f"rank {profile.rank_text} by incidents" if profile.rank_text else "",
             f"{profile.rate_rank_text} by rate" if profile.rate_rank_text else ""]
    caption(" · ".join(r for r in ranks if r) or "No rank: the count is withheld.")
    if sparkline is not None:
        chart(sparkline, key=f"{key}_spark")
    if profile.weekly_note:
        caption(profile.weekly_note)
    columns = [st.container()] if compact else st.columns(2)
    with columns[0]:
        st.markdown("**Top offenses**")
        if len(profile.offenses):
            table(profile.offenses, key=f"{key}_offenses", columns={
                "offense": st.column_config.TextColumn("Offense"),
                "count": st.column_config.NumberColumn("Incidents", format="%d")})
        if profile.offenses_note:
            caption(profile.offenses_note)
    if compact:
        caption(profile.outreach_note)
        return
    with columns[1]:
        st.markdown("**Outreach held here**")
        caption(profile.outreach_note)
        if len(profile.outreach):
            table(profile.outreach, key=f"{key}_outreach", height=260, columns={
                "date": st.column_config.TextColumn("Date"), "title": st.column_config.TextColumn("Title"),
                "type": st.column_config.TextColumn("Type"), "venue": st.column_config.TextColumn("Venue")})


def html_download(build: Callable[[], str], label: str, file_name: str, key: str) -> None:
    """A download of an HTML file built only when clicked (no rerun on click)."""
    st.download_button(label, data=lambda: build().encode("utf-8"), file_name=file_name, mime="text/html",
                       key=key, icon=":material/print:", on_click="ignore")


# ---------------------------------------------------------------------------------- outreach and impact

IMPACT_WEEKS = (8, 13, 26, 52)

DOSE_COLUMNS = {
    "area_id": st.column_config.TextColumn("Id"),
    "name": st.column_config.TextColumn("Area"),
    "events": st.column_config.NumberColumn("Events", format="%d"),
    "attendees": st.column_config.NumberColumn("Attendees", format="%d", help="Empty: not recorded."),
    "officer_hours": st.column_config.NumberColumn("Officer hours", format="%.0f", help="Empty: not recorded."),
    "contacts": st.column_config.NumberColumn("Contacts", format="%d", help="Empty: not recorded."),
    "referrals": st.column_config.NumberColumn("Referrals", format="%d", help="Empty: not recorded."),
    "population": st.column_config.NumberColumn("Population", format="%d"),
    "events_per_1000": st.column_config.NumberColumn("Events per 1,000 residents", format="%.2f"),
    "contacts_per_1000": st.column_config.NumberColumn("Contacts per 1,000 residents", format="%.1f"),
}
GAP_COLUMNS = {
    "area_id": st.column_config.TextColumn("Id"),
    "name": st.column_config.TextColumn("Area"),
    "harm": st.column_config.NumberColumn("Harm", format="%d"),
    "harm_rank": st.column_config.NumberColumn("Harm rank", format="%d"),
    "events": st.column_config.NumberColumn("Outreach events", format="%d"),
    "events_rank": st.column_config.NumberColumn("Outreach rank", format="%d"),
    "gap": st.column_config.CheckboxColumn("Much harm, little outreach"),
}
CONCENTRATION_COLUMNS = {
    "label": st.column_config.TextColumn("Event type"),
    "events": st.column_config.NumberColumn("Events", format="%d"),
    "units_running": st.column_config.NumberColumn("Units running it", format="%d"),
    "units_total": st.column_config.NumberColumn("Units in the data", format="%d"),
    "top3_share": st.column_config.ProgressColumn("Share of the top 3 units", format="percent", min_value=0,
                                                  max_value=1),
    "hhi": st.column_config.NumberColumn("HHI", format="%.2f", help="Sum of squared shares: 1/units when "
                                         "spread evenly, 1 when one unit holds every event."),
    "gini": st.column_config.NumberColumn("Gini", format="%.2f", help="0: every unit holds as many; towards 1: "
                                          "held by a few."),
}
FOOTPRINT_COLUMNS = {
    "program": st.column_config.TextColumn("Program"),
    "label": st.column_config.TextColumn("Event type"),
    "format": st.column_config.TextColumn("Format"),
    "place_level": st.column_config.TextColumn("Placed at"),
    "status": st.column_config.TextColumn("Data"),
    "events": st.column_config.NumberColumn("Events", format="%d"),
    "districts": st.column_config.NumberColumn("Districts", format="%d"),
    "beats": st.column_config.NumberColumn("Beats", format="%d"),
    "units": st.column_config.NumberColumn("Units", format="%d"),
    "first_month": st.column_config.DateColumn("First", format="MMM YYYY"),
    "last_month": st.column_config.DateColumn("Last", format="MMM YYYY"),
    "recorded": st.column_config.TextColumn("Dose recorded"),
}
DESIGN_COLUMNS = {
    "label": st.column_config.TextColumn("Design", width="medium"),
    "estimate": st.column_config.NumberColumn("Estimate", format="%+,.1f"),
    "low": st.column_config.NumberColumn("95% low", format="%+,.1f"),
    "high": st.column_config.NumberColumn("95% high", format="%+,.1f"),
    "unit": st.column_config.TextColumn("Unit"),
    "p_value": st.column_config.NumberColumn("p", format="%.3f"),
    "mde": st.column_config.NumberColumn("Detectable (80% power)", format="%,.1f"),
    "verdict": st.column_config.TextColumn("Verdict", width="large"),
}


def impact_controls(register: pd.DataFrame, loaded_types: Sequence[str], levels: Sequence[str],
                    bounds: tuple[date, date], default_start: date, offense_groups: Sequence[str],
                    area_options: Callable[[str], dict[str, str]]):
    """The impact page's choices: program / event type, areas compared, how treated areas are chosen, the
    start, the window and (optionally) the areas themselves. Returns an analysis.ImpactSettings."""
    from dashboard.designs import analysis, selection

    labels = dict(zip(register["event_type"], register["label"], strict=True))
    formats = dict(zip(register["event_type"], register["format"], strict=True))
    places = dict(zip(register["event_type"], register["place_level"], strict=True))
    options = [*loaded_types, *[t for t in register["event_type"] if t not in loaded_types]]
    top = st.columns(3)
    event_type = top[0].selectbox(
        "Program / event type", options, key="impact_type",
        index=options.index("beat_meeting") if "beat_meeting" in loaded_types else 0,
        format_func=lambda t: labels.get(t, t) + ("" if t in loaded_types else " (no data loaded)"))
    natural = places.get(event_type, "district")
    level = top[1].selectbox("Areas compared", list(levels), key="impact_level",
                             index=list(levels).index(natural) if natural in levels else 0,
                             format_func=lambda lv: schema.LEVELS[lv].label if lv in schema.LEVELS else lv)
    default_mode = "dose" if formats.get(event_type) == "recurring" else "rollout"
    mode = top[2].segmented_control("Treated areas", list(selection.MODES), default=default_mode, key="impact_mode",
                                    format_func=selection.MODES.get) or default_mode
    row = st.columns(3)
    start = row[0].date_input("Start (a Monday)", value=default_start, min_value=bounds[0], max_value=bounds[1],
                              key="impact_start", help="Treated areas are compared before and after this week.")
    weeks = row[1].select_slider("Weeks before and after", IMPACT_WEEKS, value=52, key="impact_weeks")
    rules = ["few", "same_district"] if mode == "dose" else ["none", "same_district"]
    rule = row[2].selectbox("Comparison areas", rules, key=f"impact_rule_{mode}",
                            format_func=selection.CONTROL_RULES.get)
    names = area_options(level)
    with st.expander("Choose the treated and comparison areas yourself"):
        chosen_t = st.multiselect("Treated areas (empty: by the rule above)", list(names), key="impact_treated",
                                  format_func=lambda a: names.get(a, a))
        chosen_c = st.multiselect("Comparison areas (empty: by the rule above)", list(names),
                                  key="impact_controls", format_func=lambda a: names.get(a, a))
    return analysis.ImpactSettings(
        event_types=(event_type,), level=level, mode=mode, control_rule=rule, start=selection.monday(start),
        weeks=int(weeks), offense_groups=tuple(sorted(offense_groups)), treated=tuple(chosen_t),
        control=tuple(chosen_c), citywide=natural == "citywide")


def design_result(title: str, result, help: str) -> None:
    """One impact design in a bordered box: the headline number, its 95% interval, the verdict in plain
    language and the smallest change the data could detect; or why it could not run (an estimates.Skipped)."""
    with st.container(border=True):
        st.markdown(f"**{escape(title)}**", help=help)
        if hasattr(result, "reason"):
            st.info(f"Not run: {result.reason}", icon=":material/block:")
            return
        st.markdown(f"### {result.text(result.estimate)}")
        st.caption(f"95% interval {result.text(result.low)} to {result.text(result.high)}")
        st.markdown(result.verdict())
        st.caption(f"Smallest change this data could reliably detect (80% power, 5% test): {result.mde_text()}.")


def latest_choice(clicked: str | None, picked: str | None, key: str) -> str | None:
    """The area the reader chose last: a map click or a pick from a list, whichever changed most
    recently (the map keeps returning its last click on every rerun, so only a change counts)."""
    state = st.session_state.setdefault(key, {"clicked": None, "picked": None, "choice": None})
    if clicked != state["clicked"]:
        state["choice"] = clicked
    if picked != state["picked"]:
        state["choice"] = picked
    state["clicked"], state["picked"] = clicked, picked
    return state["choice"]


def require_filters(nothing: str) -> Filters:
    """The sidebar's Filters, or (no incidents loaded, no offense group picked) a friendly empty state
    saying ``nothing`` and the end of this page's run."""
    f = current_filters()
    if f is None or not f.offense_groups:
        empty_state(nothing, "Pick at least one offense group in the sidebar.")
        st.stop()
    return f


# ------------------------------------------------------------------------- sign-in and access
# app.py resolves who is signed in once per run (from the session token kept here, or st.user for
# OpenID Connect) and hands the Identity to set_identity; pages read identity() / allowed() /
# public_view(). The role is never read from a widget or from session state a client could set:
# the token is looked up in the store on every run (auth.resolve).

_TOKEN_KEY = "_session_token"
_IDENTITY_KEY = "_identity"
_PUBLIC_KEY = "_public_view"
_SIGNIN_MESSAGE_KEY = "_signin_message"


def session_token() -> str | None:
    return st.session_state.get(_TOKEN_KEY)


def oidc_configured() -> bool:
    """Whether `.streamlit/secrets.toml` has an [auth] section, which st.login needs."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all is the normal case
        return False


def oidc_user() -> dict | None:
    """The OpenID Connect user's claims when signed in through st.login, else None."""
    if not oidc_configured() or not st.user.get("is_logged_in"):
        return None
    return dict(st.user.to_dict())


def set_identity(identity, public: bool) -> None:
    st.session_state[_IDENTITY_KEY] = identity
    st.session_state[_PUBLIC_KEY] = public


def identity():
    """Who app.py found signed in on this run."""
    from dashboard.auth import ANONYMOUS

    return st.session_state.get(_IDENTITY_KEY, ANONYMOUS)


def allowed(action: str) -> bool:
    from dashboard import access

    return access.can(identity().role, action)


def public_view() -> bool:
    """Whether this run shows the public-safe view (forced for the public and council)."""
    return bool(st.session_state.get(_PUBLIC_KEY, True))


def navigation_menu(pages: Sequence) -> None:
    """The sidebar's page links: only the pages this role may open (st.navigation itself is hidden so
    that a shared link to a staff page can ask for sign-in instead of silently landing elsewhere)."""
    with st.sidebar:
        for page in pages:
            st.page_link(page, label=page.title, icon=page.icon)


def view_toggle(role: str, default_public: bool) -> bool:
    """Staff may leave the public-safe view; everyone else gets it, and no widget to ask otherwise."""
    from dashboard import access

    if not access.can(role, "view_full"):
        return True
    with st.sidebar:
        return st.toggle("Public-safe view", value=default_public, key="public_safe",
                         help="Aggregates only, small counts withheld, sensitive offenses left out: safe to "
                              "project at a public meeting. Switch off for exact internal numbers.")


def account_panel(who, sign_in: Callable[[str, str], str], sign_out: Callable[[], None], oidc: bool) -> None:
    """Sidebar sign-in form (built-in users), 'Sign in with your organisation' (OpenID Connect) and
    sign-out. ``sign_in`` returns a session token or raises DashboardError, shown here, not as a page error."""

    def submit() -> None:
        username = st.session_state.get("signin_user", "")
        password = st.session_state.get("signin_password", "")
        st.session_state["signin_password"] = ""  # never kept in the session after the attempt
        try:
            st.session_state[_TOKEN_KEY] = sign_in(username, password)
            st.session_state.pop(_SIGNIN_MESSAGE_KEY, None)
        except DashboardError as exc:
            st.session_state[_SIGNIN_MESSAGE_KEY] = (exc.title, exc.message, exc.hint)

    def leave() -> None:
        sign_out()
        st.session_state.pop(_TOKEN_KEY, None)

    with st.sidebar:
        st.divider()
        if who.signed_in:
            st.caption(f"Signed in as **{escape(who.username)}** · {escape(who.role)}")
            if who.method == "oidc":
                st.button("Sign out", key="signout", on_click=st.logout, icon=":material/logout:")
            else:
                st.button("Sign out", key="signout", on_click=leave, icon=":material/logout:")
            return
        with st.expander("Staff sign-in", expanded=_SIGNIN_MESSAGE_KEY in st.session_state):
            if oidc:
                st.button("Sign in with your organisation", key="signin_oidc", on_click=st.login,
                          icon=":material/badge:")
            with st.form("signin", clear_on_submit=False, border=False):
                st.text_input("User name", key="signin_user", autocomplete="username")
                st.text_input("Password", type="password", key="signin_password",
                              autocomplete="current-password")
                st.form_submit_button("Sign in", on_click=submit, icon=":material/login:")
            message = st.session_state.get(_SIGNIN_MESSAGE_KEY)
            if message:
                title, text, hint = message
                st.error(f"**{escape(title)}**: {escape(text)}", icon=":material/lock:")
                if hint:
                    st.caption(escape(hint))


def refused(title: str, least_role_text: str, signed_in: bool) -> None:
    """What a page the role may not open shows instead (reached by URL, bookmark or shared link)."""
    st.title(title)
    with st.container(border=True, key="access-refused"):
        st.warning(f"**This page is for {least_role_text}.**", icon=":material/lock:")
        st.caption("Your role does not include it; ask an administrator if it should."
                   if signed_in else "Sign in with a staff account in the sidebar to open it.")


def run_action(action: Callable[[], object], done: str) -> bool:
    """Run an admin action; show its DashboardError here (the page stays), or ``done``."""
    try:
        action()
    except DashboardError as exc:
        show_error(exc)
        return False
    st.session_state["_admin_done"] = done
    return True


def admin_done() -> None:
    done = st.session_state.pop("_admin_done", None)
    if done:
        st.success(escape(done), icon=":material/task_alt:")


def user_form(roles: Sequence[str], labels: dict[str, str]) -> tuple[str, str, str | None] | None:
    """Add-a-user form: returns (user name, role, password or None for OpenID Connect) when submitted."""
    with st.form("add_user", clear_on_submit=True):
        left, mid, right = st.columns(3)
        name = left.text_input("User name (or e-mail for OpenID Connect)", key="new_user")
        role = mid.selectbox("Role", list(roles), format_func=labels.get, key="new_role")
        password = right.text_input("Password (empty: signs in through OpenID Connect)", type="password",
                                    key="new_password")
        if st.form_submit_button("Add user", icon=":material/person_add:"):
            return name, role, password or None
    return None


def user_changes(users: pd.DataFrame, roles: Sequence[str], labels: dict[str, str], me: str):
    """Per user: role picker, unlock and remove. Returns ("set_role"|"unlock"|"remove", user, role)."""
    for row in users.itertuples():
        cols = st.columns([3, 2, 1, 1])
        cols[0].markdown(f"**{escape(row.username)}** · {row.sign_in}"
                         + (" · locked" if row.locked else "")
                         + (f" · {row.failed_sign_ins} failed sign-in(s)" if row.failed_sign_ins else ""))
        role = cols[1].selectbox("Role", list(roles), index=list(roles).index(row.role), format_func=labels.get,
                                 key=f"role_{row.username}", label_visibility="collapsed")
        if role != row.role:
            return "set_role", row.username, role
        if cols[2].button("Unlock", key=f"unlock_{row.username}", disabled=not row.failed_sign_ins):
            return "unlock", row.username, None
        if cols[3].button("Remove", key=f"remove_{row.username}", disabled=row.username == me,
                          help="You cannot remove yourself." if row.username == me else None):
            return "remove", row.username, None
    return None


def settings_form(current: dict[str, str], helps: dict[str, str]) -> tuple[str, str] | None:
    """Run-time settings, one text box each; returns (name, value) of the one saved."""
    for name, value in current.items():
        with st.form(f"setting_{name}"):
            new = st.text_input(name, value=value, help=helps[name], key=f"set_{name}")
            if st.form_submit_button("Save", icon=":material/save:") and new != value:
                return name, new
    return None
