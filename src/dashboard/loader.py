"""The one shared loader every page uses, and the only place ``st.cache_*`` lives.

Every cached function takes the store's version token as its first argument, so a new commit (from
the upload page, the CLI or another process) is seen on the next rerun. What is cached is small
aggregated frames keyed on the query, never figures, widgets or per-user state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard import config, geo, sample
from dashboard.store import Store

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def settings() -> config.Config:
    cfg = config.load()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return cfg


@st.cache_resource(show_spinner="First start: loading the bundled Chicago sample into the store…")
def store() -> Store:
    """The process-wide store; seeded from data/sample/ when it holds nothing yet."""
    cfg = settings()
    st_ = Store(cfg.store_path, lock_timeout=cfg.lock_timeout)
    if st_.is_empty():
        seeded = sample.seed_store(st_, cfg.sample_dir)
        log.info("seeded empty store at %s with %s", cfg.store_path, seeded)
    return st_


def version() -> str:
    return store().version_token()


# ------------------------------------------------------------------------------ catalog


@st.cache_data(show_spinner=False, max_entries=16)
def _status(token: str) -> list[dict]:
    return store().status()


def status() -> list[dict]:
    """Per dataset: version, rows, date range, loaded_at, source."""
    return _status(version())


@st.cache_data(show_spinner=False, max_entries=16)
def _versions(token: str) -> pd.DataFrame:
    return store().versions()


def versions() -> pd.DataFrame:
    return _versions(version())


@st.cache_data(show_spinner=False, max_entries=16)
def _bounds(token: str, dataset: str) -> tuple[date, date] | None:
    return store().date_bounds(dataset)


def date_bounds(dataset: str = "incidents") -> tuple[date, date] | None:
    return _bounds(version(), dataset)


@st.cache_data(show_spinner=False, max_entries=16)
def _groups(token: str) -> list[str]:
    return store().offense_groups_present()


def offense_groups() -> list[str]:
    return _groups(version())


@st.cache_data(show_spinner=False, max_entries=16)
def _levels(token: str) -> list[str]:
    return store().levels()


def levels() -> list[str]:
    return _levels(version())


# ------------------------------------------------------------------------------ aggregates


@st.cache_data(show_spinner=False, max_entries=512)
def _incident_counts(token, by, start, end, groups, area) -> pd.DataFrame:
    return store().count_incidents(list(by), start, end, offense_groups=groups, area=area)


def incident_counts(by: Sequence[str], start: date, end: date, offense_groups: Sequence[str] | None = None,
                    area: tuple[str, str] | None = None) -> pd.DataFrame:
    """See Store.count_incidents: the ``by`` columns plus ``count``."""
    groups = None if offense_groups is None else tuple(sorted(offense_groups))
    return _incident_counts(version(), tuple(by), start, end, groups, area)


@st.cache_data(show_spinner=False, max_entries=256)
def _outreach_counts(token, by, start, end, area, event_types) -> pd.DataFrame:
    return store().count_outreach(list(by), start, end, area=area, event_types=event_types)


def outreach_counts(by: Sequence[str], start: date, end: date, area: tuple[str, str] | None = None,
                    event_types: Sequence[str] | None = None) -> pd.DataFrame:
    """See Store.count_outreach: the ``by`` columns plus events, rows and summed dose measures."""
    types = None if event_types is None else tuple(sorted(event_types))
    return _outreach_counts(version(), tuple(by), start, end, area, types)


def has(dataset: str) -> bool:
    return any(s["dataset"] == dataset and s["version"] for s in status())


# ------------------------------------------------------------------------------ geography


@st.cache_resource(show_spinner=False, max_entries=8)
def _areas(token: str, level: str) -> gpd.GeoDataFrame:
    # cache_resource: one shared GeoDataFrame per version, not a pickled copy per rerun. Read-only.
    return geo.from_store(store().areas(level))


def areas(level: str) -> gpd.GeoDataFrame:
    """Areas of ``level``: area_id, name, geometry (EPSG:4326). Treat as read-only."""
    return _areas(version(), level)


@st.cache_data(show_spinner=False, max_entries=16)
def _population(token: str, level: str) -> pd.DataFrame:
    return store().population(level)


def population(level: str) -> pd.DataFrame:
    """Latest population per area of ``level``: area_id, year, population (empty where none loaded)."""
    return _population(version(), level)
