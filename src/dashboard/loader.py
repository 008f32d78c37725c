"""The one shared loader every page uses, and the only place ``st.cache_*`` lives.

Every cached function takes the store's version token as its first argument, so a new commit (from
the upload page, the CLI or another process) is seen on the next rerun. What is cached is small
aggregated frames keyed on the query, never figures, widgets or per-user state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard import compstat, config, geo, outreach, periods, sample, schema
from dashboard.designs import analysis, selection
from dashboard.store import Store

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def _env_settings() -> config.Config:
    cfg = config.load()
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return cfg


@st.cache_resource(show_spinner=False, max_entries=4)
def _settings(token: str) -> config.Config:
    return config.with_overrides(_env_settings(), store().setting_overrides())


def base_settings() -> config.Config:
    """The environment's settings alone (no store needed)."""
    return _env_settings()


def settings() -> config.Config:
    """The environment's settings with the admin's run-time changes (which move the version token)."""
    return _settings(version())


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
def _incident_counts(token, by, start, end, groups, area, exclude=None) -> pd.DataFrame:
    return store().count_incidents(list(by), start, end, offense_groups=groups, area=area,
                                   exclude_offenses=exclude)


def incident_counts(by: Sequence[str], start: date, end: date, offense_groups: Sequence[str] | None = None,
                    area: tuple[str, str] | None = None, *,
                    exclude_offenses: Sequence[str] | None = None) -> pd.DataFrame:
    """See Store.count_incidents: the ``by`` columns plus ``count``."""
    groups = None if offense_groups is None else tuple(sorted(offense_groups))
    exclude = tuple(sorted(exclude_offenses)) if exclude_offenses else None
    return _incident_counts(version(), tuple(by), start, end, groups, area, exclude)


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


# ------------------------------------------------------------------------------ outreach tables
# The outreach page's analysis tables, cached per query like the counts they are made from: every tab
# is drawn on every rerun, and recomputing them took about 60 ms of each (issue 8).


def _types(event_types: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(event_types))


@st.cache_data(show_spinner=False, max_entries=32)
def _outreach_dose(token: str, level: str, start: date, end: date, types: tuple) -> pd.DataFrame:
    return outreach.dose_table(areas(level), outreach_counts([level], start, end, event_types=types),
                              population(level), level)


def outreach_dose(level: str, start: date, end: date, event_types: Sequence[str]) -> pd.DataFrame:
    """outreach.dose_table of the period's outreach (these event types) per area of ``level``."""
    return _outreach_dose(version(), level, start, end, _types(event_types))


@st.cache_data(show_spinner=False, max_entries=32)
def _coverage_gap(token: str, level: str, start: date, end: date, groups: tuple, types: tuple):
    return outreach.coverage_gap(areas(level), incident_counts([level], start, end, list(groups)),
                                outreach_counts([level], start, end, event_types=types), level)


def coverage_gap(level: str, start: date, end: date, harm_groups: Sequence[str], event_types: Sequence[str]):
    """outreach.coverage_gap of the period's incidents (these offense groups) against its outreach."""
    return _coverage_gap(version(), level, start, end, tuple(sorted(harm_groups)), _types(event_types))


@st.cache_data(show_spinner=False, max_entries=32)
def _adoption(token: str, start: date, end: date, types: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    breadth = outreach.adoption_breadth({
        measure: outreach_counts(["event_type", "month", key], start, end, event_types=types)
        for measure, key in (("districts", "district"), ("beats", "beat"), ("units", "unit"))})
    labels = dict(zip(*(schema.program_register()[c] for c in ("event_type", "label")), strict=True))
    concentration = outreach.concentration(
        outreach_counts(["event_type", "unit"], start, end, event_types=types),
        units=outreach.units(outreach_counts(["unit"], *date_bounds("outreach"))), labels=labels)
    return breadth, concentration


def outreach_adoption(start: date, end: date, event_types: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(outreach.adoption_breadth, outreach.concentration) of the period's outreach (these event types)."""
    return _adoption(version(), start, end, _types(event_types))


# ------------------------------------------------------------------------------ crime trends (CompStat)


@st.cache_resource(show_spinner=False, max_entries=2)
def _trend_days(token: str) -> tuple[date | None, dict[str, compstat.DayCube]]:
    # Once per version: every later window or week is two array slices, so a new anchor date costs
    # no query (issue 3: a warm rerun after any filter change within 150 ms). Over the last
    # DAY_CUBE_YEARS years only (None: the whole data), which bounds the memory of a long history.
    bounds = date_bounds()
    since = compstat.day_cube_start(*bounds) if bounds is not None else None
    return since, compstat.day_cubes(store().daily_area_counts(since))


@st.cache_resource(show_spinner=False, max_entries=32)
def _trend_windows(token: str, periods: tuple) -> dict[str, compstat.Cube]:
    # cache_resource: read-only arrays shared across reruns, no pickled copy per rerun.
    since, days = _trend_days(token)
    if since is None or min(p[1] for p in periods) >= since:
        return compstat.window_cubes_from_days(days, periods)
    # An anchor older than the daily cubes reach: one query for its periods (the same numbers).
    return compstat.window_cubes(store().trend_window_counts(periods), [p[0] for p in periods])


def trend_windows(periods: Sequence[tuple[str, date, date]]) -> dict[str, compstat.Cube]:
    """Incidents in each (name, start, end) period as compstat.Cube per level (areas x offense groups x
    periods), sliced from the version's daily counts (Store.daily_area_counts, ONE query per version)
    when they reach back far enough, else counted by Store.trend_window_counts: the same numbers.
    Read-only."""
    return _trend_windows(version(), tuple(periods))


@st.cache_resource(show_spinner=False, max_entries=2)
def _trend_weeks(token: str) -> dict[str, compstat.Cube]:
    return compstat.weekly_cubes_from_days(_trend_days(token)[1])


@st.cache_resource(show_spinner=False, max_entries=8)
def _trend_weeks_between(token: str, start: date, end: date) -> dict[str, compstat.Cube]:
    return compstat.weekly_cubes(store().weekly_area_counts(start, end))


def trend_weeks(anchor: date) -> dict[str, compstat.Cube]:
    """Weekly incidents as compstat.Cube per level (areas x offense groups x weeks), holding at least the
    weeks the trends page reads for ``anchor`` (compstat.weeks_needed_from): sliced from the same daily
    counts as trend_windows when they reach back far enough, else one query for those weeks; the same
    numbers as compstat.weekly_cubes of Store.weekly_area_counts. Read-only."""
    token = version()
    since, _ = _trend_days(token)
    start = compstat.weeks_needed_from(anchor)
    if since is None or start >= since:
        return _trend_weeks(token)
    # to the end of the anchor's week, as the daily cubes hold it
    return _trend_weeks_between(token, start, anchor + timedelta(days=7 - anchor.weekday()))


@st.cache_resource(show_spinner=False, max_entries=16)
def _outreach_weeks(token: str, level: str | None) -> pd.DataFrame | None:
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
        frame = _outreach_weeks(version(), None if area is None else area[0])
    if frame is None:
        return outreach_counts(["week"], start, end, area=area)
    weeks = pd.to_datetime(frame["week"])
    keep = (weeks >= pd.Timestamp(start)) & (weeks <= pd.Timestamp(end))
    if area is not None:
        keep &= frame[area[0]].astype(str) == str(area[1])
    return frame.loc[keep, [c for c in frame.columns if c not in schema.LEVELS]].reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=4)
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
# per upload (keyed on Streamlit's file id, never by hashing 200 MB) and every commit or rollback
# changes the version token the other caches are keyed on: pages see it on their next run.


def profiles_dir() -> Path:
    """Where confirmed mappings are saved as JSON profiles (next to the store)."""
    return settings().data_dir / "profiles"


@st.cache_resource(show_spinner=False, max_entries=2)
def _read_upload(file_id: str, name: str, _data: bytes, max_mb: float):
    from dashboard import ingest

    return ingest.read_upload(_data, name, max_mb=max_mb)


def read_upload(name: str, data: bytes, file_id: str):
    """An uploaded file read into an ingest.Upload (cached per upload; treat as read-only)."""
    return _read_upload(file_id, name, data, settings().max_upload_mb)


def boundaries() -> dict[str, gpd.GeoDataFrame]:
    """Level -> areas (area_id, name, geometry) for every level loaded: what uploads are matched to."""
    return {level: areas(level) for level in levels()}


@st.cache_data(show_spinner=False, max_entries=8)
def _suggest(token: str, file_id: str, kind: str | None, _upload, profile_stamp: float):
    from dashboard import mapping

    return mapping.suggest(_upload.frame, is_geo=_upload.is_geo, kind=kind, areas=boundaries(),
                           profiles_dir=profiles_dir())


def suggest(upload, file_id: str, kind: str | None = None):
    """mapping.Suggestion for an upload: kind, plan (a saved profile first), field table, notes."""
    folder = profiles_dir()
    stamp = max((p.stat().st_mtime for p in folder.glob("*.json")), default=0.0) if folder.is_dir() else 0.0
    detected = _suggest(version(), file_id, None, upload, stamp)
    if kind is None or kind == detected.kind:  # the same suggestion: not worked out twice for a large file
        return detected
    return _suggest(version(), file_id, kind, upload, stamp)


@st.cache_resource(show_spinner=False, max_entries=2)
def _prepare(token: str, file_id: str, plan_json: str, _upload):
    import json

    from dashboard import ingest

    plan = ingest.Plan.from_dict(json.loads(plan_json))
    known = None
    if plan.kind == "outreach" and "beat" in levels():
        known = set(areas("beat")["area_id"])
    return ingest.prepare_mapped(_upload, plan, areas=boundaries(), known_beats=known)


def prepare_upload(upload, file_id: str, plan):
    """ingest.Prepared for an upload under a plan: canonical frame + validation report (cached per
    upload, plan and store version; treat as read-only). Nothing is stored."""
    import json

    return _prepare(version(), file_id, json.dumps(plan.to_dict(), sort_keys=True, default=str), upload)


@st.cache_data(show_spinner=False, max_entries=8)
def _match_tables(token: str, file_id: str, plan_json: str, _upload) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    import json

    from dashboard import ingest, mapping

    plan = ingest.Plan.from_dict(json.loads(plan_json))
    tables = {level: mapping.area_match_table(_upload.frame, plan, level, boundary)
              for level, boundary in boundaries().items()}
    return mapping.offense_table(_upload.frame, plan), {level: t for level, t in tables.items() if len(t)}


def match_tables(upload, file_id: str, plan) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(mapping.offense_table, {level: mapping.area_match_table} for the levels with values) of an upload
    under a plan: the editable tables of the upload page, worked out once per upload and plan rather
    than on every widget click (0.1-0.8 s on a million rows)."""
    import json

    return _match_tables(version(), file_id, json.dumps(plan.to_dict(), sort_keys=True, default=str), upload)


def commit_upload(prepared, mode: str, who, level: str | None = None) -> int:
    """Commit a prepared upload as a new version (atomic, audited); the next run of any page sees it."""
    from dashboard import ingest

    return ingest.commit_prepared(store(), prepared, mode=mode, author=who.username, level=level,
                                  note="uploaded on the Upload data page", role=who.role)


def save_profile(plan, author: str) -> Path:
    from dashboard import mapping

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
    from dashboard import privacy

    cfg = settings()
    return privacy.ViewPolicy(public, cfg.min_cell_count, tuple(cfg.sensitive_offenses) if public else ())


@st.cache_resource(show_spinner=False, max_entries=8)
def _nesting(token: str, fine: str, coarse: str) -> pd.DataFrame:
    return geo.nesting(areas(fine), areas(coarse))


def nesting(level: str) -> pd.DataFrame | None:
    """area_id, parent_id linking ``level`` and the level it nests in or holds (beats <-> districts,
    neighborhood.NESTS); None when that pair is not loaded. Read-only."""
    from dashboard import neighborhood

    pairs = [(fine, coarse) for fine, coarse in neighborhood.NESTS.items() if level in (fine, coarse)]
    loaded = set(levels())
    for fine, coarse in pairs:
        if fine in loaded and coarse in loaded:
            return _nesting(version(), fine, coarse)
    return None


@st.cache_data(show_spinner=False, max_entries=64)
def _map_inputs(token, level, start, end, groups, exclude, fine_needed):
    from dashboard import neighborhood

    s, ex = store(), (list(exclude) if exclude else None)
    prior_start, prior_end = periods.prior_period(start, end)
    fine = next((f for f, c in neighborhood.NESTS.items() if c == level), None) if fine_needed else None
    return neighborhood.MapInputs(
        level=level, start=start, end=end, prior_start=prior_start, prior_end=prior_end,
        current=s.count_incidents([level], start, end, groups, exclude_offenses=ex),
        prior=s.count_incidents([level], prior_start, prior_end, groups, exclude_offenses=ex),
        weekly=s.count_incidents(["week", level], start, end, groups, exclude_offenses=ex),
        population=s.population(level),
        outreach=s.count_outreach([level], start, end),
        nesting=nesting(level),
        fine_current=s.count_incidents([fine], start, end, groups, exclude_offenses=ex) if fine else None,
        fine_prior=s.count_incidents([fine], prior_start, prior_end, groups, exclude_offenses=ex) if fine else None,
    )


def map_inputs(level: str, start: date, end: date, offense_groups: Sequence[str],
               exclude_offenses: Sequence[str] = (), public: bool = True):
    """neighborhood.MapInputs for the map page: counts by area for the period and a year earlier,
    weekly counts, population, outreach, and the beat/district nesting (with beat counts on a district
    page, which the public view adds up)."""
    return _map_inputs(version(), level, start, end, tuple(sorted(offense_groups)),
                       tuple(sorted(exclude_offenses)) or None, public and nesting(level) is not None)


@st.cache_data(show_spinner=False, max_entries=64)
def _area_detail(token, level, area_id, start, end, groups, exclude) -> dict[str, pd.DataFrame]:
    s, ex, area = store(), (list(exclude) if exclude else None), (level, area_id)
    return {
        "weekly": s.count_incidents(["week"], start, end, groups, area=area, exclude_offenses=ex),
        "offenses": s.count_incidents(["offense"], start, end, groups, area=area, exclude_offenses=ex),
        "offense_types": s.count_incidents(["offense"], start, end, groups, exclude_offenses=ex),
        "events": s.outreach_events(start, end, area=area),
    }


def area_detail(level: str, area_id: str, start: date, end: date, offense_groups: Sequence[str],
                exclude_offenses: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """One area's drill-down frames: weekly [week, count], offenses [offense, count], offense_types
    (every offense counted citywide in the period), events (Store.outreach_events)."""
    return _area_detail(version(), level, str(area_id), start, end, tuple(sorted(offense_groups)),
                        tuple(sorted(exclude_offenses)) or None)


@st.cache_data(show_spinner="Binning incidents into hexagons and testing for hot spots…", max_entries=16)
def _hex_layer(token, start, end, groups, resolution, exclude) -> pd.DataFrame:
    from dashboard import hotspots

    points = store().incident_points(start, end, list(groups), exclude_offenses=list(exclude) if exclude else None)
    return hotspots.gi_star(hotspots.grid(hotspots.hex_counts(points, resolution), _city_cells(token, resolution)))


@st.cache_resource(show_spinner=False, max_entries=8)
def _city_cells(token: str, resolution: int) -> tuple[str, ...]:
    # The hexagons covering the city depend on the boundaries only, not on the period or groups: worked
    # out once per version (a quarter of a second at resolution 8) instead of on every filter change.
    from dashboard import hotspots

    loaded = levels()
    return tuple(hotspots.cover(areas(loaded[0]), resolution)) if loaded else ()


def hex_layer(start: date, end: date, offense_groups: Sequence[str], resolution: int,
              exclude_offenses: Sequence[str] = ()) -> pd.DataFrame:
    """Incidents per H3 hexagon over the city (cell, count, zeros included) with Getis-Ord Gi* (z,
    p_sim, q, spot); see hotspots.gi_star. Cached per store version, period, groups, resolution."""
    return _hex_layer(version(), start, end, tuple(sorted(offense_groups)), int(resolution),
                      tuple(sorted(exclude_offenses)) or None)


@st.cache_resource(show_spinner=False, max_entries=8)
def _hex_polygons(cells: tuple[str, ...]) -> gpd.GeoDataFrame:
    from dashboard import hotspots

    return hotspots.polygons(list(cells))


def hex_polygons(cells: Sequence[str]) -> gpd.GeoDataFrame:
    """The hexagons of ``cells`` as areas (area_id, name, geometry). Read-only."""
    return _hex_polygons(tuple(cells))



# ------------------------------------------------------------------------------ outreach and impact (issue 5)


@st.cache_resource(show_spinner=False, max_entries=8)
def _neighbours(token: str, level: str) -> dict[str, set[str]]:

    return selection.neighbours(areas(level))


@st.cache_resource(show_spinner=False, max_entries=8)
def _parents(token: str, level: str) -> dict[str, str] | None:

    if level != "beat" or "district" not in levels():
        return None
    return selection.parent_areas(areas("beat"), areas("district"))


@st.cache_data(show_spinner="Running the impact designs…", max_entries=32)
def _impact(token: str, settings):

    st_ = store()
    bounds = st_.date_bounds("incidents")
    weeks = selection.complete_week_range(*bounds) if bounds else None
    if weeks is None:
        return None
    first, last = weeks
    end = (pd.Timestamp(last) + pd.Timedelta(days=6)).date()
    level = settings.level
    groups = settings.offense_groups
    panel = st_.count_incidents([level, "week"], first, end, offense_groups=groups)
    panel = panel.rename(columns={level: "area_id"})
    types = list(settings.event_types)
    before = st_.count_outreach([level], *settings.before, event_types=types)
    after = st_.count_outreach([level], *settings.after, event_types=types)
    out_bounds = st_.date_bounds("outreach") if st_.has("outreach") else None
    weekly = (st_.count_outreach([level, "week"], *out_bounds, event_types=types) if out_bounds
              else pd.DataFrame(columns=[level, "week", "events"]))
    citywide = None
    if settings.citywide:
        citywide = st_.count_incidents(["week"], first, end, offense_groups=groups)
    dose = selection.dose_frame(areas(level), before, after, level)
    return analysis.run_impact(settings, panel, dose, _neighbours(token, level), _parents(token, level),
                              selection.first_events(weekly, level, since=settings.before[0]), citywide)


def impact(settings):
    """Run the impact designs (analysis.run_impact) for an analysis.ImpactSettings on the loaded data:
    treated / comparison / buffer areas, WDD, stacked event study, ITS. None when no complete week of
    incidents is loaded. Cached per store version and settings."""
    return _impact(version(), settings)


@st.cache_data(show_spinner=False, max_entries=16)
def _surveys(token: str, level: str) -> pd.DataFrame:
    return store().survey_scores(level)


def surveys(level: str) -> pd.DataFrame:
    """Survey rows of ``level`` (see Store.survey_scores); empty when none are loaded."""
    return _surveys(version(), level)


# ------------------------------------------------------------------------------ accounts and audit
# Never cached: a role change, a removed user or an expired session applies on the next click.


def policy():
    from dashboard import auth

    return auth.Policy.from_config(settings())


def identity(token: str | None, oidc_user: dict | None):
    """Who is asking on this run: the OpenID Connect user, the built-in session's user, or anonymous."""
    from dashboard import auth

    if oidc_user:
        return auth.oidc_identity(store(), oidc_user, settings().oidc_default_role)
    return auth.resolve(store(), token) if token else auth.ANONYMOUS


def sign_in(username: str, password: str) -> str:
    """A built-in user's sign-in; returns the session token (auth.SignInError when refused)."""
    from dashboard import auth

    return auth.sign_in(store(), username, password, policy())[1]


def sign_out(token: str | None, who) -> None:
    from dashboard import auth

    auth.sign_out(store(), token, who)


def users():
    from dashboard import auth

    return auth.users(store())


def manage_user(change: str, username: str, who, role: str | None = None, password: str | None = None) -> None:
    """add / set_role / unlock / remove a user as ``who`` (audited in the same transaction)."""
    from dashboard import auth

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
    from dashboard import auth

    auth.set_setting(store(), name, value, who.username, who.role)


def audit_log(limit: int = 1000) -> pd.DataFrame:
    return store().audit_log(limit)


@st.cache_resource(show_spinner=False, max_entries=256)
def _audit_upload_once(file_id: str, name: str, size: int, actor: str, role: str) -> bool:
    # cache_resource as a once-per-(file, user) latch: Streamlit reruns the page on every widget
    # change while the same upload sits in the file picker.
    store().audit(actor, role, "upload", name, f"{size:,} bytes", "ok")
    return True


def audit_upload(file_id: str, name: str, size: int, who) -> None:
    _audit_upload_once(file_id, name, size, who.username, who.role)


def clear_settings() -> None:
    """Forget the cached settings so the next run reads the environment again (tests, after a change)."""
    _env_settings.clear()
    _settings.clear()
