"""Streamlit widgets shared by pages: sidebar filters, KPI rows, empty states, map display, and the one
error presenter.

The only Streamlit module besides loader.py. It draws; it does not query the store or compute.
"""

from __future__ import annotations

import html
import logging
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from dashboard import offline, schema
from dashboard.errors import DashboardError
from dashboard.metrics import Filters

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- errors


def show_error(exc: DashboardError) -> None:
    """The one presenter for expected errors: title, what is wrong, how to fix it, details table."""
    with st.container(border=True, key="dashboard-error"):
        st.error(f"**{exc.title}**\n\n{exc.message}", icon=":material/error:")
        if exc.hint:
            st.info(f"How to fix it: {exc.hint}", icon=":material/lightbulb:")
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
    """CSV of what a chart or table shows. Cells that a spreadsheet would run as formulas are defused."""
    st.download_button(label, data=safe_csv(frame), file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:")


def safe_csv(frame: pd.DataFrame) -> bytes:
    def defuse(value: object) -> object:
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(defuse)
    return out.to_csv(index=False).encode("utf-8")


def folium_map(m, key: str, static_url: str, height: int = 560) -> dict:
    """Show a folium map offline. Returns only the click (st_folium would otherwise rerun the app on
    every pan and zoom)."""
    from streamlit_folium import st_folium

    offline.patch_streamlit_folium(static_url)
    return st_folium(m, key=key, height=height, use_container_width=True,
                     returned_objects=["last_active_drawing"]) or {}


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


AREA_COLUMNS = {
    "area_id": st.column_config.TextColumn("Id"),
    "name": st.column_config.TextColumn("Area"),
    "count": st.column_config.NumberColumn("Incidents", format="%d"),
    "prior": st.column_config.NumberColumn("Same period last year", format="%d"),
    "change": st.column_config.NumberColumn("Change", format="%+d"),
    "pct_change": st.column_config.NumberColumn("% change", format="%+.1f%%"),
    "population": st.column_config.NumberColumn("Population", format="%d"),
    "rate_per_1000": st.column_config.NumberColumn("Per 1,000 residents", format="%.1f"),
}


def map_tooltip_columns(has_population: bool) -> dict[str, str]:
    cols = {"count": "Incidents", "prior": "Same period last year"}
    if has_population:
        cols |= {"rate_per_1000": "Per 1,000 residents", "population": "Population"}
    return cols


def area_readout(row: pd.Series | None, level_label: str) -> None:
    """What the map click selected, as a KPI row; a prompt when nothing is selected yet."""
    if row is None:
        caption(f"Click a {level_label.lower()} on the map to see its numbers here.")
        return
    st.subheader(escape(row["name"]))
    rate = "n/a (no population)" if pd.isna(row["rate_per_1000"]) else f"{row['rate_per_1000']:,.1f}"
    kpi_row([
        Kpi("Incidents", f"{int(row['count']):,}", pct_text(None if pd.isna(row["pct_change"])
                                                             else float(row["pct_change"]))),
        Kpi("Same period last year", f"{int(row['prior']):,}"),
        Kpi("Per 1,000 residents", rate),
    ])
