"""The one shared loader every page uses, and the only place ``st.cache_*`` lives.

Every cache is keyed on the store's version token (``cached``), so a new commit from the upload page, the CLI
or another process is seen on the next rerun. It caches small aggregated frames, never figures, widgets or
per-user state, and holds no analysis: that is in the domain modules it calls.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard import (
    auth,
    compstat,
    config,
    geo,
    ingest,
    mapping,
    neighborhood,
    outreach,
    privacy,
    sample,
    schema,
)
from dashboard.designs import analysis, selection
from dashboard.store import Store

log = logging.getLogger(__name__)


def _hashable(value: Any, as_set: bool) -> Any:
    if as_set:
        return None if value is None else tuple(sorted(value))
    return tuple(value) if isinstance(value, list | pd.Series | pd.Index) else value


def cached(*, resource: bool = False, versioned: bool = True, sets: Collection[str] = (),
           spinner: bool | str = False, max_entries: int | None = None) -> Callable:
    """Cache a loader function with st.cache_data (``resource``: st.cache_resource, one shared read-only
    object instead of a copy per caller), keyed on the store's version token (unless ``versioned`` is
    False, for caches keyed on a file instead) and on its arguments made hashable: lists become tuples and
    the arguments named in ``sets`` sorted tuples, so the order a page lists offense groups in does not
    make another entry. The function is called with those normalised arguments; arguments whose names
    start with "_" are not hashed (Streamlit's rule). The wrapper's ``clear()`` empties the cache."""

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        def run(store_version: str | None, **kwargs):
            return fn(**kwargs)

        # Streamlit keys a cache on the function's module, qualified name and source: without the wrapped
        # function's own name every decorated function would share one cache.
        run.__module__, run.__qualname__ = fn.__module__, f"{fn.__qualname__}.cached"
        store_in = (st.cache_resource if resource else st.cache_data)(show_spinner=spinner, max_entries=max_entries)
        run = store_in(run)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            normal = {name: _hashable(value, name in sets) for name, value in bound.arguments.items()}
            return run(version() if versioned else None, **normal)

        call.clear = run.clear
        return call

    return decorate


@st.cache_resource(show_spinner=False)
def _env_settings() -> config.Config:
    cfg = config.load()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return cfg


def base_settings() -> config.Config:
    """The environment's settings alone (no store needed)."""
    return _env_settings()


@st.cache_resource(show_spinner="First start: loading the bundled Chicago sample into the store…")
def store() -> Store:
    """The process-wide store; seeded from data/sample/ when it holds nothing yet."""
    cfg = _env_settings()
    st_ = Store(cfg.store_target, lock_timeout=cfg.lock_timeout)
    if st_.is_empty():
        seeded = sample.seed_store(st_, cfg.sample_dir)
        log.info("seeded empty store at %s with %s", st_.describe(), seeded)
    return st_


def version() -> str:
    return store().version_token()


@cached(resource=True, max_entries=4)
def settings() -> config.Config:
    """The environment's settings with the admin's run-time changes (which move the version token)."""
    return config.with_overrides(_env_settings(), store().setting_overrides())


# ------------------------------------------------------------------------------ catalog


@cached(max_entries=16)
def status() -> list[dict]:
    """Per dataset: version, rows, date range, loaded_at, source."""
    return store().status()


@cached(max_entries=16)
def versions() -> pd.DataFrame:
    return store().versions()


@cached(max_entries=16)
def date_bounds(dataset: str = "incidents") -> tuple[date, date] | None:
    return store().date_bounds(dataset)


@cached(max_entries=16)
def offense_groups() -> list[str]:
    return store().offense_groups_present()


@cached(max_entries=16)
def levels() -> list[str]:
    return store().levels()


def has(dataset: str) -> bool:
    return any(s["dataset"] == dataset and s["version"] for s in status())


# ------------------------------------------------------------------------------ aggregates


@cached(max_entries=512, sets=("offense_groups", "exclude_offenses"))
def incident_counts(by: Sequence[str], start: date, end: date, offense_groups: Sequence[str] | None = None,
                    area: tuple[str, str] | None = None, *,
                    exclude_offenses: Sequence[str] | None = None) -> pd.DataFrame:
    """See Store.count_incidents: the ``by`` columns plus ``count``."""
    return store().count_incidents(list(by), start, end, offense_groups=offense_groups, area=area,
                                   exclude_offenses=exclude_offenses or None)


@cached(max_entries=256, sets=("event_types",))
def outreach_counts(by: Sequence[str], start: date, end: date, area: tuple[str, str] | None = None,
                    event_types: Sequence[str] | None = None) -> pd.DataFrame:
    """See Store.count_outreach: the ``by`` columns plus events, rows and summed dose measures."""
    return store().count_outreach(list(by), start, end, area=area, event_types=event_types)


# ------------------------------------------------------------------------------ geography


@cached(resource=True, max_entries=8)  # one shared GeoDataFrame per version, not a pickled copy per rerun
def areas(level: str) -> gpd.GeoDataFrame:
    """Areas of ``level``: area_id, name, geometry (EPSG:4326). Treat as read-only."""
    return geo.from_store(store().areas(level))


@cached(max_entries=16)
def population(level: str) -> pd.DataFrame:
    """Latest population per area of ``level``: area_id, year, population (empty where none loaded)."""
    return store().population(level)


# ------------------------------------------------------------------------------ outreach tables
# The outreach page's analysis tables, cached per query like the counts they are made from: every tab
# is drawn on every rerun.


@cached(max_entries=32, sets=("event_types",))
def outreach_dose(level: str, start: date, end: date, event_types: Sequence[str]) -> pd.DataFrame:
    """outreach.dose_table of the period's outreach (these event types) per area of ``level``."""
    return outreach.dose_table(areas(level), outreach_counts([level], start, end, event_types=event_types),
                               population(level), level)


@cached(max_entries=32, sets=("harm_groups", "event_types"))
def coverage_gap(level: str, start: date, end: date, harm_groups: Sequence[str], event_types: Sequence[str]):
    """outreach.coverage_gap of the period's incidents (these offense groups) against its outreach."""
    return outreach.coverage_gap(areas(level), incident_counts([level], start, end, list(harm_groups)),
                                 outreach_counts([level], start, end, event_types=event_types), level)


@cached(max_entries=32, sets=("event_types",))
def outreach_adoption(start: date, end: date, event_types: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(outreach.adoption_breadth, outreach.concentration) of the period's outreach (these event types)."""
    breadth = outreach.adoption_breadth({
        measure: outreach_counts(["event_type", "month", key], start, end, event_types=event_types)
        for measure, key in (("districts", "district"), ("beats", "beat"), ("units", "unit"))})
    labels = dict(zip(*(schema.program_register()[c] for c in ("event_type", "label")), strict=True))
    concentration = outreach.concentration(
        outreach_counts(["event_type", "unit"], start, end, event_types=event_types),
        units=outreach.units(outreach_counts(["unit"], *date_bounds("outreach"))), labels=labels)
    return breadth, concentration


# ------------------------------------------------------------------------------ crime trends (CompStat)


@cached(resource=True, max_entries=2)
def trend_days() -> tuple[date | None, dict[str, compstat.DayCube]]:
    """(since, compstat.day_cubes) of the version's daily counts since ``since`` (compstat.day_cube_start;
    None: the whole data). Once per version, so a new anchor date costs no query. Read-only."""
    bounds = date_bounds()
    since = compstat.day_cube_start(*bounds) if bounds is not None else None
    return since, compstat.day_cubes(store().daily_area_counts(since))


@cached(resource=True, max_entries=32)  # read-only arrays shared across reruns, no pickled copy per rerun
def trend_windows(periods: Sequence[tuple[str, date, date]]) -> dict[str, compstat.Cube]:
    """Incidents in each (name, start, end) period as compstat.Cube per level (areas x offense groups x
    periods), sliced from the version's daily counts (Store.daily_area_counts, ONE query per version)
    when they reach back far enough, else counted by Store.trend_window_counts: the same numbers.
    Read-only."""
    since, days = trend_days()
    if since is None or min(p[1] for p in periods) >= since:
        return compstat.window_cubes_from_days(days, periods)
    # An anchor older than the daily cubes reach: one query for its periods (the same numbers).
    return compstat.window_cubes(store().trend_window_counts(periods), [p[0] for p in periods])


@cached(resource=True, max_entries=2)
def _weeks_of_days() -> dict[str, compstat.Cube]:
    return compstat.weekly_cubes_from_days(trend_days()[1])


@cached(resource=True, max_entries=8)
def _weeks_between(start: date, end: date) -> dict[str, compstat.Cube]:
    return compstat.weekly_cubes(store().weekly_area_counts(start, end))


def trend_weeks(anchor: date) -> dict[str, compstat.Cube]:
    """Weekly incidents as compstat.Cube per level (areas x offense groups x weeks), holding at least the
    weeks the trends page reads for ``anchor`` (compstat.weeks_needed_from): sliced from the same daily
    counts as trend_windows when they reach back far enough, else one query for those weeks; the same
    numbers as compstat.weekly_cubes of Store.weekly_area_counts. Read-only."""
    since, _ = trend_days()
    start = compstat.weeks_needed_from(anchor)
    if since is None or start >= since:
        return _weeks_of_days()
    # to the end of the anchor's week, as the daily cubes hold it
    return _weeks_between(start, anchor + timedelta(days=7 - anchor.weekday()))


@cached(resource=True, max_entries=16)
def _outreach_weeks(level: str | None) -> pd.DataFrame | None:
    s = store()
    bounds = s.date_bounds("outreach") if s.has("outreach") else None
    if bounds is None:
        return None
    return s.count_outreach(["week"] if level is None else ["week", level], *bounds)


def outreach_weeks(start: date, end: date, area: tuple[str, str] | None = None) -> pd.DataFrame:
    """outreach_counts(["week"], start, end, area): week, events, rows and dose sums. For whole weeks
    (``start`` a Monday, ``end`` a Sunday, as the trends chart asks) it filters one per-version frame
    instead of querying, so moving the chart costs no query. Treat as read-only."""
    frame = None
    if start.weekday() == 0 and end.weekday() == 6:
        frame = _outreach_weeks(None if area is None else area[0])
    if frame is None:
        return outreach_counts(["week"], start, end, area=area)
    weeks = pd.to_datetime(frame["week"])
    keep = (weeks >= pd.Timestamp(start)) & (weeks <= pd.Timestamp(end))
    if area is not None:
        keep &= frame[area[0]].astype(str) == str(area[1])
    return frame.loc[keep, [c for c in frame.columns if c not in schema.LEVELS]].reset_index(drop=True)


@cached(versioned=False, max_entries=4)  # keyed on the file's modification time: an edit is seen at once
def _harm_table(path: str, mtime: float) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", dtype={"offense_group": str})


def harm_weights_table() -> pd.DataFrame:
    """src/dashboard/data/harm_weights.csv (offense_group, weight, basis), re-read when the file changes."""
    path = Path(str(resources.files("dashboard").joinpath("data/harm_weights.csv")))
    return _harm_table(str(path), path.stat().st_mtime)


def harm_weights() -> dict[str, float]:
    """offense_group -> weight from the harm weights file (a DashboardError naming the fix if malformed)."""
    return compstat.parse_harm_weights(harm_weights_table())


# ------------------------------------------------------------------------------ uploads (analyst files)
# The upload page's reads and writes go through here so that the one parsed copy of a file is cached
# per upload (keyed on Streamlit's file id, never by hashing the bytes) and every commit or rollback
# changes the version token the other caches are keyed on: pages see it on their next run.


def profiles_dir() -> Path:
    """Where confirmed mappings are saved as JSON profiles (next to the store)."""
    return settings().data_dir / "profiles"


@cached(resource=True, versioned=False, max_entries=2)  # one upload is one file, whatever the version
def _read_upload(file_id: str, name: str, _data: bytes, max_mb: float):
    return ingest.read_upload(_data, name, max_mb=max_mb)


def read_upload(name: str, data: bytes, file_id: str):
    """An uploaded file read into an ingest.Upload (cached per upload; treat as read-only)."""
    return _read_upload(file_id, name, data, settings().max_upload_mb)


def boundaries() -> dict[str, gpd.GeoDataFrame]:
    """Level -> areas (area_id, name, geometry) for every level loaded: what uploads are matched to."""
    return {level: areas(level) for level in levels()}


@cached(max_entries=8)
def _suggest(file_id: str, kind: str | None, _upload, profile_stamp: float):
    return mapping.suggest(_upload.frame, is_geo=_upload.is_geo, kind=kind, areas=boundaries(),
                           profiles_dir=profiles_dir())


def suggest(upload, file_id: str, kind: str | None = None):
    """mapping.Suggestion for an upload: kind, plan (a saved profile first), field table, notes."""
    folder = profiles_dir()
    stamp = max((p.stat().st_mtime for p in folder.glob("*.json")), default=0.0) if folder.is_dir() else 0.0
    detected = _suggest(file_id, None, upload, stamp)
    if kind is None or kind == detected.kind:  # the same suggestion: not worked out twice for a large file
        return detected
    return _suggest(file_id, kind, upload, stamp)


def _plan_key(plan) -> str:
    return json.dumps(plan.to_dict(), sort_keys=True, default=str)


@cached(resource=True, max_entries=2)
def _prepare(file_id: str, plan_json: str, _upload):
    plan = ingest.Plan.from_dict(json.loads(plan_json))
    known = None
    if plan.kind == "outreach" and "beat" in levels():
        known = set(areas("beat")["area_id"])
    return ingest.prepare_mapped(_upload, plan, areas=boundaries(), known_beats=known)


def prepare_upload(upload, file_id: str, plan):
    """ingest.Prepared for an upload under a plan: canonical frame + validation report (cached per
    upload, plan and store version; treat as read-only). Nothing is stored."""
    return _prepare(file_id, _plan_key(plan), upload)


@cached(max_entries=8)
def _match_tables(file_id: str, plan_json: str, _upload) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    plan = ingest.Plan.from_dict(json.loads(plan_json))
    tables = {level: mapping.area_match_table(_upload.frame, plan, level, boundary)
              for level, boundary in boundaries().items()}
    return mapping.offense_table(_upload.frame, plan), {level: t for level, t in tables.items() if len(t)}


def match_tables(upload, file_id: str, plan) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(mapping.offense_table, {level: mapping.area_match_table} for the levels with values) of an upload
    under a plan: the editable tables of the upload page, worked out once per upload and plan rather
    than on every widget click."""
    return _match_tables(file_id, _plan_key(plan), upload)


def commit_upload(prepared, mode: str, who, level: str | None = None) -> int:
    """Commit a prepared upload as a new version (atomic, audited); the next run of any page sees it."""
    return ingest.commit_prepared(store(), prepared, mode=mode, author=who.username, level=level,
                                  note="uploaded on the Upload data page", role=who.role)


def save_profile(plan, author: str) -> Path:
    return mapping.save_profile(profiles_dir(), plan, author)


def rollback(dataset: str, version_number: int, who) -> None:
    """Make an earlier version of ``dataset`` active again (a pointer move; nothing is deleted; audited)."""
    store().rollback(dataset, version_number, actor=who.username, role=who.role)


# ------------------------------------------------------------------------------ neighborhood map
# The map pages' frames: aggregated in SQL (or binned from points on the server), cached per store
# version and filter; the public view's suppression happens after, in neighborhood / privacy.


def view_policy(public: bool):
    """privacy.ViewPolicy for this run: ``public`` (from ui.public_view, which the role decides), the
    threshold and the sensitive offense types, as the settings (and an admin's changes) say now."""
    cfg = settings()
    return privacy.ViewPolicy(public, cfg.min_cell_count, tuple(cfg.sensitive_offenses) if public else ())


@cached(resource=True, max_entries=8)
def _nesting(fine: str, coarse: str) -> pd.DataFrame:
    return geo.nesting(areas(fine), areas(coarse))


def nesting(level: str) -> pd.DataFrame | None:
    """area_id, parent_id linking ``level`` and the level it nests in or holds (beats <-> districts,
    neighborhood.NESTS); None when that pair is not loaded. Read-only."""
    pairs = [(fine, coarse) for fine, coarse in neighborhood.NESTS.items() if level in (fine, coarse)]
    loaded = set(levels())
    for fine, coarse in pairs:
        if fine in loaded and coarse in loaded:
            return _nesting(fine, coarse)
    return None


@cached(max_entries=64, sets=("offense_groups", "exclude_offenses"))
def map_inputs(level: str, start: date, end: date, offense_groups: Sequence[str],
               exclude_offenses: Sequence[str] = (), public: bool = True):
    """neighborhood.map_inputs for the map page: counts by area for the period and a year earlier,
    weekly counts, population, outreach, and the beat/district nesting (with beat counts on a district
    page, which the public view adds up)."""
    near = nesting(level)
    return neighborhood.map_inputs(store(), level, start, end, offense_groups, exclude_offenses, near,
                                   fine_needed=public and near is not None)


@cached(max_entries=64, sets=("offense_groups", "exclude_offenses"))
def area_detail(level: str, area_id: str, start: date, end: date, offense_groups: Sequence[str],
                exclude_offenses: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """neighborhood.area_detail: one area's weekly counts, offenses, every offense counted citywide in the
    period, and its outreach events."""
    return neighborhood.area_detail(store(), level, str(area_id), start, end, offense_groups, exclude_offenses)


def _hotspots():
    # Imported on first use: hotspots loads esda and libpysal, which only the pages drawing hot spots need.
    from dashboard import hotspots

    return hotspots


@cached(spinner="Binning incidents into hexagons and testing for hot spots…", max_entries=16,
        sets=("offense_groups", "exclude_offenses"))
def hex_layer(start: date, end: date, offense_groups: Sequence[str], resolution: int,
              exclude_offenses: Sequence[str] = ()) -> pd.DataFrame:
    """hotspots.hex_layer: incidents per H3 hexagon over the city (cell, count, zeros included) with
    Getis-Ord Gi* (z, p_sim, q, spot). Cached per store version, period, groups, resolution."""
    points = store().incident_points(start, end, list(offense_groups), exclude_offenses=list(exclude_offenses) or None)
    return _hotspots().hex_layer(points, int(resolution), _city_cells(int(resolution)))


@cached(resource=True, max_entries=8)
def _city_cells(resolution: int) -> tuple[str, ...]:
    # The hexagons covering the city depend on the boundaries only, not on the period or groups: worked
    # out once per version instead of on every filter change.
    loaded = levels()
    return tuple(_hotspots().cover(areas(loaded[0]), resolution)) if loaded else ()


@cached(resource=True, versioned=False, max_entries=8)  # hexagons of H3 cells: the same in every version
def hex_polygons(cells: Sequence[str]) -> gpd.GeoDataFrame:
    """The hexagons of ``cells`` as areas (area_id, name, geometry). Read-only."""
    return _hotspots().polygons(list(cells))


# ------------------------------------------------------------------------------ outreach and impact


@cached(resource=True, max_entries=8)
def neighbours(level: str) -> dict[str, set[str]]:
    """Area id -> the ids of the areas of ``level`` that touch it (selection.neighbours). Read-only."""
    return selection.neighbours(areas(level))


@cached(resource=True, max_entries=8)
def parents(level: str) -> dict[str, str] | None:
    """Beat -> its district when beats and districts are both loaded (selection.parent_areas), else None."""
    if level != "beat" or "district" not in levels():
        return None
    return selection.parent_areas(areas("beat"), areas("district"))


@cached(spinner="Running the impact designs…", max_entries=32)
def impact(settings: analysis.ImpactSettings):
    """analysis.impact_on the loaded data for the page's settings: treated / comparison / buffer areas,
    WDD, stacked event study, ITS. None when no complete week of incidents is loaded."""
    level = settings.level
    return analysis.impact_on(store(), settings, areas(level), neighbours(level), parents(level))


@cached(max_entries=16)
def surveys(level: str) -> pd.DataFrame:
    """Survey rows of ``level`` (see Store.survey_scores); empty when none are loaded."""
    return store().survey_scores(level)


# ------------------------------------------------------------------------------ accounts and audit
# Never cached: a role change, a removed user or an expired session applies on the next click.


def policy():
    return auth.Policy.from_config(settings())


def identity(token: str | None, oidc_user: dict | None):
    """Who is asking on this run: the OpenID Connect user, the built-in session's user, or anonymous."""
    if oidc_user:
        return auth.oidc_identity(store(), oidc_user, settings().oidc_default_role)
    return auth.resolve(store(), token) if token else auth.ANONYMOUS


def sign_in(username: str, password: str) -> str:
    """A built-in user's sign-in; returns the session token (auth.SignInError when refused)."""
    return auth.sign_in(store(), username, password, policy())[1]


def sign_out(token: str | None, who) -> None:
    auth.sign_out(store(), token, who)


def users():
    return auth.users(store())


def manage_user(change: str, username: str, who, role: str | None = None, password: str | None = None) -> None:
    """add / set_role / unlock / remove a user as ``who`` (audited in the same transaction)."""
    s, actor, actor_role = store(), who.username, who.role
    if change == "add":
        auth.add_user(s, username, role or "public", password, actor, actor_role)
    elif change == "set_role":
        auth.set_role(s, username, role or "public", actor, actor_role)
    elif change == "unlock":
        auth.unlock(s, username, actor, actor_role)
    elif change == "remove":
        auth.remove_user(s, username, actor, actor_role)
    else:
        raise ValueError(change)


def runtime_settings() -> dict[str, str]:
    """The run-time-editable settings as text, as they apply now (environment or admin override)."""
    cfg, overrides = _env_settings(), store().setting_overrides()
    return {name: overrides.get(name, config.text_value(cfg, name)) for name in config.RUNTIME_SETTINGS}


def set_setting(name: str, value: str, who) -> None:
    auth.set_setting(store(), name, value, who.username, who.role)


def audit_log(limit: int = 1000) -> pd.DataFrame:
    return store().audit_log(limit)


# A once-per-(file, user) latch, not keyed on the version: Streamlit reruns the page on every widget
# change while the same upload sits in the file picker, and a commit must not audit it again.
@cached(resource=True, versioned=False, max_entries=256)
def _audit_upload_once(file_id: str, name: str, size: int, actor: str, role: str) -> bool:
    store().audit(actor, role, "upload", name, f"{size:,} bytes", "ok")
    return True


def audit_upload(file_id: str, name: str, size: int, who) -> None:
    _audit_upload_once(file_id, name, size, who.username, who.role)


def clear_settings() -> None:
    """Forget the cached settings so the next run reads the environment again (tests, after a change)."""
    _env_settings.clear()
    settings.clear()
