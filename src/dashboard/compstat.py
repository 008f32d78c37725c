"""CompStat for the crime trends page: windows ending on an anchor, their dense count cubes, the rows
and weekly expected range built from them, harm weights and the page's URL state. No Streamlit, no store.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from dashboard import schema, stats
from dashboard.errors import DashboardError
from dashboard.periods import describe_groups

# ------------------------------------------------------------ CompStat windows (crime trends page)
#
# Windows end on an anchor date. Week to date and 28 days compare with the window 52 weeks (364 days)
# earlier, so weekdays line up (crime has strong weekday patterns); year to date compares 1 January to
# the anchor with 1 January to the same calendar day a year earlier (29 February -> 28 February), so
# the two can differ by a day: tests compare rates per day.

TREND_WINDOWS: dict[str, str] = {"wtd": "Week to date", "28d": "28 days", "ytd": "Year to date"}
AVERAGE_YEARS = 3  # the multi-year average uses up to this many earlier years ...
MIN_AVERAGE_YEARS = 2  # ... and needs at least this many (with one it would just repeat last year)
TREND_CHART_WEEKS = 52
# The trends page keeps daily running totals (day_cubes) for the last DAY_CUBE_YEARS years of the data
# only: an anchor there needs up to AVERAGE_YEARS + 1 years before it, so anchors in the last two years
# are array slices, older ones one query each. A long history held as daily cubes would not fit in
# memory (beats x offense groups x days, twice).
DAY_CUBE_YEARS = AVERAGE_YEARS + 3


def day_cube_start(first: date, last: date, years: int | None = None) -> date | None:
    """The Monday from which the trends page keeps daily running totals (DAY_CUBE_YEARS before the
    data's last day; a Monday, so no week is cut), or None when the data are no longer than that."""
    cut = pd.Timestamp(last) - pd.DateOffset(years=DAY_CUBE_YEARS if years is None else years)
    cut += pd.Timedelta(days=(7 - cut.weekday()) % 7)
    return cut.date() if cut.date() > first else None


def weeks_needed_from(anchor: date) -> date:
    """The Monday of the earliest week the trends page reads for ``anchor``: the weekly chart's 52
    weeks and the 52 weeks of history before the 28-day window (history_weeks), with room to spare."""
    start = pd.Timestamp(anchor) - pd.Timedelta(days=2 * 364 + 35)
    return (start - pd.Timedelta(days=start.weekday())).date()
OUTCOMES: dict[str, str] = {"outcome_homicide": "Homicides", "outcome_guns": "Gun and weapons offenses"}


# Gun offenses, one of the trends page's reporting-insensitive outcomes (OUTCOMES), as the store's SQL counts
# them: the weapons group (unlawful possession, use or sale of firearms, reckless discharge, concealed-carry
# violations) plus any offense whose detail names a handgun, firearm or gun (armed robbery, aggravated
# assault and battery with a gun). Chicago's "GUN OFFENDER: ..." records are registry duties, not gun use,
# and are left out (checked against the sample's offense_detail values; see docs/methods.md, "Crime trends").
_DETAIL = "UPPER(COALESCE(offense_detail, ''))"
GUN_OFFENSE_SQL = (f"(offense_group = 'weapons' OR {_DETAIL} LIKE '%HANDGUN%' OR {_DETAIL} LIKE '%FIREARM%' "
                   f"OR ({_DETAIL} LIKE '%GUN%' AND {_DETAIL} NOT LIKE 'GUN OFFENDER%'))")


@dataclass(frozen=True)
class Window:
    """A CompStat window: ``key`` in TREND_WINDOWS, inclusive start and end dates."""

    key: str
    start: date
    end: date

    @property
    def label(self) -> str:
        return TREND_WINDOWS[self.key]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def earlier(self, years: int) -> Window:
        """The same window ``years`` years earlier (364-day years for week-aligned windows)."""
        if self.key == "ytd":
            end = (pd.Timestamp(self.end) - pd.DateOffset(years=years)).date()
            return Window(self.key, date(self.end.year - years, 1, 1), end)
        shift = pd.Timedelta(days=364 * years)
        return Window(self.key, (pd.Timestamp(self.start) - shift).date(), (pd.Timestamp(self.end) - shift).date())

    @property
    def prior(self) -> Window:
        return self.earlier(1)

    def within(self, first: date, last: date) -> bool:
        """Whether the data (first..last) covers the whole window."""
        return first <= self.start and self.end <= last


def trend_window(key: str, anchor: date) -> Window:
    """Week to date (Monday to the anchor), 28 days (anchor and the 27 days before) or year to date."""
    if key == "wtd":
        return Window(key, anchor - timedelta(days=anchor.weekday()), anchor)
    if key == "28d":
        return Window(key, anchor - timedelta(days=27), anchor)
    if key == "ytd":
        return Window(key, date(anchor.year, 1, 1), anchor)
    raise ValueError(f"unknown window {key!r}")


def trend_windows(anchor: date) -> dict[str, Window]:
    return {key: trend_window(key, anchor) for key in TREND_WINDOWS}


def period_name(key: str, years: int) -> str:
    """Column name of a window's count ``years`` years back in trend_window_counts (an SQL identifier)."""
    return f"p_{key}_{years}"


def trend_periods(anchor: date, first: date | None = None, last: date | None = None,
                  years: int = AVERAGE_YEARS) -> tuple[tuple[str, date, date], ...]:
    """(name, start, end) of every window and of its earlier years that the data (first..last) covers:
    what Store.trend_window_counts counts. Uncovered earlier windows are left out (never compared)."""
    out = []
    for w in trend_windows(anchor).values():
        for k in range(years + 1):
            past = w.earlier(k)
            if k == 0 or first is None or last is None or past.within(first, last):
                out.append((period_name(w.key, k), past.start, past.end))
    return tuple(out)


def earliest_anchor(first: date, last: date) -> date | None:
    """The first anchor whose week-to-date and 28-day windows have last year's window inside the data
    (None: the data span less than a year and four weeks). Year to date may still lack last year's
    start (data beginning mid-year): its rows then say there is no comparison."""
    anchor = first + pd.Timedelta(days=364 + 27)
    return anchor if anchor <= last else None


def history_weeks(anchor: date, first: date, last: date) -> pd.DatetimeIndex:
    """Mondays of the full weeks the dispersion is estimated from: the 52 weeks before the 28-day window
    (so a change inside the windows does not count as noise), inside the data."""
    end = pd.Timestamp(trend_window("28d", anchor).start) - pd.Timedelta(days=1)
    start = max(end - pd.Timedelta(days=363), pd.Timestamp(first))
    end = min(end, pd.Timestamp(last))
    monday = start + pd.Timedelta(days=(7 - start.weekday()) % 7)
    mondays = pd.date_range(monday, end, freq="7D")
    return mondays[mondays + pd.Timedelta(days=6) <= end]


def chart_weeks(anchor: date, first: date, last: date, weeks: int = TREND_CHART_WEEKS) -> pd.DatetimeIndex:
    """Mondays of the ``weeks`` full weeks ending on the last Sunday on or before the anchor (the
    anchor's unfinished week is in the week-to-date row instead), inside the data."""
    end = pd.Timestamp(min(anchor, last))
    sunday = end - pd.Timedelta(days=(end.weekday() + 1) % 7)
    mondays = pd.date_range(sunday - pd.Timedelta(days=7 * weeks - 1), periods=weeks, freq="7D")
    return mondays[mondays >= pd.Timestamp(first)]


# ------------------------------------------------------------------------- the page's URL state


@dataclass(frozen=True)
class TrendsView:
    """What the crime trends page shows; round-trips through the URL query string."""

    anchor: date
    window: str = "28d"
    level: str = "community_area"
    offense_groups: tuple[str, ...] = ()
    area: str = "citywide"
    harm: bool = False


def trends_query(view: TrendsView, all_groups: Sequence[str]) -> dict[str, str]:
    """The URL query parameters of a view (every one written, so a link keeps meaning the same view after
    new data arrives)."""
    groups = "all" if set(view.offense_groups) >= set(all_groups) else ",".join(view.offense_groups)
    return {"anchor": view.anchor.isoformat(), "window": view.window, "level": view.level, "groups": groups,
            "area": view.area, "harm": "1" if view.harm else "0"}


def _one(value) -> str:
    if isinstance(value, list | tuple):
        return str(value[-1]) if value else ""
    return str(value)


def parse_trends_query(params: Mapping[str, object], default: TrendsView, first: date, last: date,
                       groups: Sequence[str], levels: Sequence[str],
                       area_ids: Callable[[str], Collection[str]]) -> tuple[TrendsView, list[str]]:
    """Read a view from URL query parameters; each missing value takes its default and each invalid one
    its default plus a message saying what was ignored. Never raises."""
    messages: list[str] = []
    values: dict[str, object] = {}

    def bad(name: str, raw: str, why: str) -> None:
        messages.append(f"Ignored {name}={raw[:40]!r} from the link: {why}.")

    low = earliest_anchor(first, last) or last
    if "anchor" in params:
        raw = _one(params["anchor"])
        try:
            anchor = date.fromisoformat(raw)
        except ValueError:
            bad("anchor", raw, "not a date like 2017-12-31")
        else:
            if low <= anchor <= last:
                values["anchor"] = anchor
            else:
                bad("anchor", raw, f"anchor dates run from {low:%d %b %Y} to {last:%d %b %Y}")
    if "window" in params:
        raw = _one(params["window"])
        if raw in TREND_WINDOWS:
            values["window"] = raw
        else:
            bad("window", raw, f"use one of {', '.join(TREND_WINDOWS)}")
    level = default.level
    if "level" in params:
        raw = _one(params["level"])
        if raw in levels:
            values["level"] = level = raw
        else:
            bad("level", raw, f"use one of {', '.join(levels)}")
    if "groups" in params:
        raw = _one(params["groups"])
        names = list(groups) if raw == "all" else [g for g in raw.split(",") if g]
        known = tuple(g for g in groups if g in names)
        unknown = [g for g in names if g not in groups]
        if unknown:
            bad("groups", ",".join(unknown), f"offense groups are {', '.join(groups)}")
        if known:
            values["offense_groups"] = known
        elif not unknown:
            bad("groups", raw, "no offense group named")
    if "area" in params:
        raw = _one(params["area"])
        if raw == "citywide" or raw in area_ids(level):
            values["area"] = raw
        else:
            kind = schema.LEVELS[level].label.lower() if level in schema.LEVELS else "area"
            bad("area", raw, f"no such {kind}")
    if "harm" in params:
        raw = _one(params["harm"])
        if raw in ("0", "1"):
            values["harm"] = raw == "1"
        else:
            bad("harm", raw, "use 0 (counts) or 1 (harm index)")
    view = TrendsView(**{**default.__dict__, **values})
    return view, messages


def area_choices(areas: pd.DataFrame) -> dict[str, str]:
    """'citywide' then every area (id -> name), in the order areas come."""
    return {"citywide": "Citywide", **dict(zip(areas["area_id"].astype(str), areas["name"].astype(str),
                                               strict=True))}


# --------------------------------------------------------------------------- harm weights


def parse_harm_weights(table: pd.DataFrame) -> dict[str, float]:
    """offense_group -> weight from the editable harm table (columns offense_group, weight, basis).

    Raises DashboardError naming the fix when a group is missing or unknown or a weight is not a
    non-negative number.
    """
    hint = "Edit src/dashboard/data/harm_weights.csv: one row per offense group, a weight of 0 or more."
    missing_cols = {"offense_group", "weight"} - set(table.columns)
    if missing_cols:
        raise DashboardError("Harm weights table is malformed", f"It lacks column(s) {sorted(missing_cols)}.",
                             hint=hint)
    weights = pd.to_numeric(table["weight"], errors="coerce")
    problems = []
    unknown = sorted(set(table["offense_group"]) - set(schema.OFFENSE_GROUPS))
    missing = [g for g in schema.OFFENSE_GROUPS if g not in set(table["offense_group"])]
    if unknown:
        problems.append(f"unknown group(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"no weight for {', '.join(missing)}")
    if weights.isna().any() or (weights < 0).any():
        problems.append("weights must be numbers of 0 or more")
    if problems:
        raise DashboardError("Harm weights table is malformed", "; ".join(problems) + ".", hint=hint)
    return dict(zip(table["offense_group"], weights.astype(float), strict=True))


# --------------------------------------------------------------------------- CompStat tables
#
# The store's two aggregates (window counts, weekly counts) are laid out once per data version as dense
# arrays, areas x offense groups x (periods or weeks), so a filter change is a few array products rather
# than pandas group-bys over every row.

CITYWIDE = "citywide"


@dataclass(frozen=True)
class Cube:
    """Counts of one geography level as areas x offense groups (schema order) x slots (periods or weeks);
    ``guns`` counts the gun offenses among them. Read-only arrays."""

    areas: pd.Index
    slots: pd.Index
    counts: np.ndarray
    guns: np.ndarray

    def select(self, slots: Sequence, area_id: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(counts, guns) on ``slots`` (zeros for slots it does not hold): areas x groups x slots, or
        groups x slots of one area (zeros when the area has no incidents)."""
        idx = self.slots.get_indexer(pd.Index(slots))
        keep = idx >= 0
        counts, guns = self.counts, self.guns
        if area_id is not None:
            i = self.areas.get_indexer([area_id])[0]
            if i < 0:
                zeros = np.zeros((counts.shape[1], len(idx)))
                return zeros, zeros.copy()
            counts, guns = counts[i], guns[i]
        out_counts = np.zeros(counts.shape[:-1] + (len(idx),))
        out_guns = np.zeros_like(out_counts)
        out_counts[..., keep], out_guns[..., keep] = counts[..., idx[keep]], guns[..., idx[keep]]
        return out_counts, out_guns


def _cube(area_ids: pd.Series, groups: pd.Series, slot_codes: np.ndarray, slots: pd.Index,
          counts: np.ndarray, guns: np.ndarray) -> Cube:
    areas = pd.Index(sorted(pd.unique(area_ids.astype(str))))
    a = areas.get_indexer(area_ids.astype(str))
    g = pd.Index(list(schema.OFFENSE_GROUPS)).get_indexer(groups.astype(str))
    ok = g >= 0
    shape = (len(areas), len(schema.OFFENSE_GROUPS), len(slots))
    out_counts, out_guns = np.zeros(shape), np.zeros(shape)
    np.add.at(out_counts, (a[ok], g[ok], slot_codes[ok]), counts[ok])
    np.add.at(out_guns, (a[ok], g[ok], slot_codes[ok]), guns[ok])
    out_counts.flags.writeable = out_guns.flags.writeable = False
    return Cube(areas, slots, out_counts, out_guns)


def weekly_cubes(frame: pd.DataFrame) -> dict[str, Cube]:
    """Store.weekly_area_counts as one Cube per level (areas x groups x weeks) plus CITYWIDE (one area)."""
    weeks = pd.DatetimeIndex(sorted(pd.to_datetime(frame["week"]).unique()))
    out = {}
    for level in [*schema.LEVELS, CITYWIDE]:
        part = frame[(frame["level"] == level) & (frame["area_id"].notna() | (level == CITYWIDE))]
        ids = pd.Series(CITYWIDE, index=part.index) if level == CITYWIDE else part["area_id"]
        out[level] = _cube(ids, part["offense_group"], weeks.get_indexer(pd.to_datetime(part["week"])), weeks,
                           part["count"].to_numpy(float), part["gun"].to_numpy(float))
    return out


def window_cubes(frame: pd.DataFrame, periods: Sequence[str]) -> dict[str, Cube]:
    """Store.trend_window_counts (a row per area x group x gun flag) as one Cube per level (areas x
    groups x periods) plus CITYWIDE."""
    slots = pd.Index(list(periods))
    counts = frame[list(periods)].to_numpy(float)
    guns = counts * frame["gun"].to_numpy(float)[:, None]
    n = len(slots)
    out = {}
    for level in [*schema.LEVELS, CITYWIDE]:
        keep = np.ones(len(frame), bool) if level == CITYWIDE else frame[level].notna().to_numpy()
        ids = pd.Series(CITYWIDE, index=frame.index) if level == CITYWIDE else frame[level]
        codes = np.tile(np.arange(n), int(keep.sum()))
        out[level] = _cube(ids[keep].repeat(n), frame["offense_group"][keep].repeat(n), codes, slots,
                           counts[keep].ravel(), guns[keep].ravel())
    return out


@dataclass(frozen=True)
class DayCube:
    """Running totals of one geography level's daily counts, so that any span of days is two slices:
    areas x offense groups (schema order) x (days + 1), where ``counts[..., i]`` holds the incidents of
    the days before ``first + i`` (``[..., 0]`` is 0); ``guns`` the same for gun offenses. Read-only."""

    areas: pd.Index
    first: date
    counts: np.ndarray
    guns: np.ndarray

    def spans(self, spans: Sequence[tuple[date, date]]) -> tuple[np.ndarray, np.ndarray]:
        """(counts, guns) of each inclusive (start, end) span: areas x groups x spans, float. Days
        outside the data count 0."""
        days = self.counts.shape[-1] - 1
        first = np.datetime64(self.first, "D")
        starts = np.array([np.datetime64(s, "D") for s, _ in spans], dtype="datetime64[D]") - first
        ends = np.array([np.datetime64(e, "D") for _, e in spans], dtype="datetime64[D]") - first + 1
        lo = np.clip(starts.astype(np.int64), 0, days)
        hi = np.maximum(np.clip(ends.astype(np.int64), 0, days), lo)
        return ((self.counts[..., hi] - self.counts[..., lo]).astype(float),
                (self.guns[..., hi] - self.guns[..., lo]).astype(float))


def day_cubes(frame: pd.DataFrame) -> dict[str, DayCube]:
    """Store.daily_area_counts as one DayCube per level plus CITYWIDE (one area), every day from the
    first to the last in ``frame``: what window_cubes_from_days and weekly_cubes_from_days slice."""
    days = pd.to_datetime(frame["day"]).to_numpy(dtype="datetime64[D]")
    first = days.min() if len(days) else np.datetime64("1970-01-01", "D")
    n = int((days.max() - first).astype(np.int64)) + 1 if len(days) else 0
    day = (days - first).astype(np.int64)
    del days

    def codes(column: str) -> tuple[np.ndarray, np.ndarray]:
        # factorize, not per-value string work over every row (int32 codes: half the memory of the
        # temporaries)
        found, values = pd.factorize(frame[column].astype("string"), sort=True)
        return found.astype(np.int32), np.asarray(values.astype(str), dtype=object)

    group_codes, group_names = codes("offense_group")
    group = np.append(pd.Index(list(schema.OFFENSE_GROUPS)).get_indexer(group_names), -1)[group_codes]
    level_codes, level_names = codes("level")
    area_codes, area_names = codes("area_id")  # sorted, missing -> -1
    counts, guns = frame["count"].to_numpy(np.int64), frame["gun"].to_numpy(np.int64)
    n_groups = len(schema.OFFENSE_GROUPS)
    out = {}
    for level in [*schema.LEVELS, CITYWIDE]:
        match = np.flatnonzero(level_names == level)
        keep = (level_codes == (match[0] if len(match) else -2)) & (group >= 0)
        if level != CITYWIDE:
            keep &= area_codes >= 0
            present, a = np.unique(area_codes[keep], return_inverse=True)
            areas = pd.Index(area_names[present].tolist(), dtype=object)
        else:
            areas, a = pd.Index([CITYWIDE]), np.zeros(int(keep.sum()), dtype=np.int64)
        flat = (a * n_groups + group[keep]) * (n + 1) + day[keep] + 1  # into running totals, day 0 left 0
        shape = (len(areas), n_groups, n)
        cubes = []
        for values in (counts[keep], guns[keep]):
            # int32 when every running total fits (half the memory; totals stay exact). Filled in place,
            # not by bincount (float64) and copies: on a long history the float and int64 copies of the
            # beat cube would not fit in memory.
            dtype = np.int32 if int(values.sum()) < np.iinfo(np.int32).max else np.int64
            running = np.zeros(shape[:-1] + (n + 1,), dtype=dtype)
            # (area, group, day) is unique within a level (Store.daily_area_counts groups by them), so
            # each day's count is put in place, then summed along the days in place.
            running.reshape(-1)[flat] = values
            np.cumsum(running, axis=-1, out=running)
            running.flags.writeable = False
            cubes.append(running)
        out[level] = DayCube(areas, pd.Timestamp(first).date(), *cubes)
    return out


def window_cubes_from_days(days: Mapping[str, DayCube], periods: Sequence[tuple[str, date, date]]
                           ) -> dict[str, Cube]:
    """The Cubes window_cubes makes from Store.trend_window_counts(periods), sliced from day_cubes
    instead (no query): per level, areas x groups x periods (``periods``: (name, start, end)).
    Areas without incidents in these periods hold zeros (Cube.select gives zeros for absent ones)."""
    slots = pd.Index([p[0] for p in periods])
    spans = [(p[1], p[2]) for p in periods]
    out = {}
    for level, cube in days.items():
        counts, guns = cube.spans(spans)
        counts.flags.writeable = guns.flags.writeable = False
        out[level] = Cube(cube.areas, slots, counts, guns)
    return out


def weekly_cubes_from_days(days: Mapping[str, DayCube]) -> dict[str, Cube]:
    """The Cubes weekly_cubes makes from Store.weekly_area_counts, for every week (Monday) the data
    touch, sliced from day_cubes: per level, areas x groups x weeks."""
    out = {}
    for level, cube in days.items():
        last = pd.Timestamp(cube.first) + pd.Timedelta(days=cube.counts.shape[-1] - 2)
        monday = pd.Timestamp(cube.first) - pd.Timedelta(days=pd.Timestamp(cube.first).weekday())
        weeks = pd.date_range(monday, last, freq="7D") if cube.counts.shape[-1] > 1 else pd.DatetimeIndex([])
        counts, guns = cube.spans([(w.date(), (w + pd.Timedelta(days=6)).date()) for w in weeks])
        counts.flags.writeable = guns.flags.writeable = False
        out[level] = Cube(cube.areas, weeks, counts, guns)
    return out


def _weights_for(groups: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    """Weight of each schema group: its weight (1 when counting) if it is in ``groups``, else 0."""
    chosen = set(groups)
    return np.array([(1.0 if weights is None else float(weights.get(g, 0.0))) if g in chosen else 0.0
                     for g in schema.OFFENSE_GROUPS])


def _geography(cubes: Mapping[str, Cube], level: str, area: str, slots: Sequence
               ) -> tuple[np.ndarray, np.ndarray]:
    """groups x slots (counts, guns) of CITYWIDE or of one area of ``level``."""
    if area == CITYWIDE:
        return cubes[CITYWIDE].select(slots, CITYWIDE)
    return cubes[level].select(slots, area)


def _row_specs(groups: Sequence[str]) -> list[tuple[str, str, str, tuple[str, ...], bool]]:
    """(key, label, kind, offense groups, gun offenses only) of each row of the geography table."""
    specs = [("total", "All selected offenses", "total", tuple(groups), False)]
    specs += [(g, schema.OFFENSE_GROUPS.get(g, g), "group", (g,), False) for g in groups]
    specs += [("outcome_homicide", OUTCOMES["outcome_homicide"], "outcome", ("homicide",), False),
              ("outcome_guns", OUTCOMES["outcome_guns"], "outcome", tuple(schema.OFFENSE_GROUPS), True)]
    return specs


def _slots(anchor: date) -> list[str]:
    return [period_name(w, k) for w in trend_windows(anchor) for k in range(AVERAGE_YEARS + 1)]


def trend_rows(windows: Mapping[str, Cube], weekly: Mapping[str, Cube], anchor: date, first: date, last: date,
               level: str, area: str, groups: Sequence[str],
               weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The CompStat table of one geography (CITYWIDE or one area of ``level``): for each window, the
    total of the selected groups, each group, and the reporting-insensitive outcomes (homicides; gun
    offenses of any group), current window against last year's, ready for stats.assess_changes.

    ``windows`` is window_cubes of Store.trend_window_counts(trend_periods(anchor, first, last));
    ``weekly`` is weekly_cubes of Store.weekly_area_counts. ``weights`` (offense_group -> weight) turns
    counts into harm; None counts incidents.

    Columns: window, window_label, start, end, prior_start, prior_end, key, label, kind (total, group,
    outcome), current, prior, difference, days, prior_days, var_current, var_prior, avg_earlier,
    earlier_years, phi, history_weeks, comparable, family, alpha.
    """
    counts, guns = _geography(windows, level, area, _slots(anchor))  # uncovered years: 0, never used
    weeks = history_weeks(anchor, first, last)
    week_counts, week_guns = _geography(weekly, level, area, weeks)
    rows = []
    per_window = AVERAGE_YEARS + 1
    for key, label, kind, row_groups, gun_only in _row_specs(groups):
        w = _weights_for(row_groups, weights)
        series, periods = (week_guns, guns) if gun_only else (week_counts, counts)
        phi = float(stats.weekly_dispersion((w @ series)[None, :], ((w * w) @ series)[None, :])[0])
        values, variances = w @ periods, (w * w) @ periods
        for i, window in enumerate(trend_windows(anchor).values()):
            part = slice(i * per_window, (i + 1) * per_window)
            rows.append(_window_row(window, first, last, values[part], variances[part]) | {
                "key": key, "label": label, "kind": kind, "phi": phi, "history_weeks": len(weeks),
                "family": f"{window.key}:groups" if kind == "group" else f"{window.key}:{key}",
                "alpha": stats.TABLE_ALPHA if kind == "group" else stats.HEADLINE_ALPHA,
            })
    return pd.DataFrame(rows)


def _window_row(window: Window, first: date, last: date, values: np.ndarray, variances: np.ndarray) -> dict:
    prior = window.prior
    earlier = [k for k in range(1, AVERAGE_YEARS + 1) if window.earlier(k).within(first, last)]
    avg = float(np.mean(values[earlier])) if len(earlier) >= MIN_AVERAGE_YEARS else float("nan")
    return {"window": window.key, "window_label": window.label, "start": window.start, "end": window.end,
            "prior_start": prior.start, "prior_end": prior.end, "current": float(values[0]),
            "prior": float(values[1]), "difference": float(values[0] - values[1]), "days": window.days,
            "prior_days": prior.days, "var_current": float(variances[0]), "var_prior": float(variances[1]),
            "avg_earlier": avg, "earlier_years": len(earlier), "comparable": prior.within(first, last)}


def area_trend_rows(windows: Mapping[str, Cube], weekly: Mapping[str, Cube], anchor: date, window_key: str,
                    first: date, last: date, level: str, groups: Sequence[str], areas: pd.DataFrame,
                    weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Every area of ``level`` (the rows of ``areas``: area_id, name) in one window, selected groups
    (harm when ``weights``), for stats.assess_changes with Benjamini-Hochberg across the areas.

    Columns: area_id, name, window, current, prior, difference, days, prior_days, var_current,
    var_prior, avg_earlier, earlier_years, phi, history_weeks, comparable, family, alpha.
    """
    window = trend_window(window_key, anchor)
    w = _weights_for(groups, weights)
    ids = areas["area_id"].astype(str)

    def per_area(cube: Cube, slots: Sequence) -> tuple[np.ndarray, np.ndarray]:
        """areas (in ``ids`` order) x slots of the weighted sum and of its Poisson variance."""
        counts, _ = cube.select(slots)
        rows = cube.areas.get_indexer(ids)
        found = rows >= 0
        value, variance = np.zeros((len(ids), len(slots))), np.zeros((len(ids), len(slots)))
        value[found] = np.einsum("ags,g->as", counts[rows[found]], w)
        variance[found] = np.einsum("ags,g->as", counts[rows[found]], w * w)
        return value, variance

    slots = [period_name(window_key, k) for k in range(AVERAGE_YEARS + 1)]
    values, variances = per_area(windows[level], slots)
    phi = stats.weekly_dispersion(*per_area(weekly[level], history_weeks(anchor, first, last)))

    earlier = [k for k in range(1, AVERAGE_YEARS + 1) if window.earlier(k).within(first, last)]
    avg = (values[:, earlier].mean(axis=1) if len(earlier) >= MIN_AVERAGE_YEARS
           else np.full(len(ids), np.nan))
    return pd.DataFrame({
        "area_id": ids.to_numpy(), "name": areas["name"].astype(str).to_numpy(), "window": window_key,
        "current": values[:, 0], "prior": values[:, 1], "difference": values[:, 0] - values[:, 1],
        "days": window.days, "prior_days": window.prior.days, "var_current": variances[:, 0],
        "var_prior": variances[:, 1], "avg_earlier": avg, "earlier_years": len(earlier), "phi": phi,
        "history_weeks": len(history_weeks(anchor, first, last)),
        "comparable": window.prior.within(first, last),
        "family": f"{window_key}:areas", "alpha": stats.TABLE_ALPHA,
    })


def changed_summary(assessed: pd.DataFrame, level_label: str, window_label: str) -> str:
    """One sentence naming the areas whose change is unlikely to be chance (after adjustment)."""
    tested = int(assessed["p"].notna().sum())
    changed = assessed[assessed["changed"]].sort_values("pct_change")
    what = f"{level_label.lower()}s"
    if tested == 0:
        return f"No {what} can be compared with a year earlier in this window."
    if len(changed) == 0:
        return (f"No {level_label.lower()} changed beyond normal variation ({window_label.lower()}; "
                f"{tested} {what} tested, adjusted for testing them all at once).")
    names = "; ".join(f"{r.name} ({'up' if r.pct_change > 0 else 'down'} {abs(r.pct_change):.0f}%)"
                      if np.isfinite(r.pct_change) else f"{r.name} (none a year earlier)"
                      for r in changed.itertuples())
    return (f"{len(changed)} of {tested} {what} changed beyond normal variation "
            f"({window_label.lower()}, adjusted for testing {tested} at once): {names}.")


def weekly_trend(weekly: Mapping[str, Cube], anchor: date, first: date, last: date, level: str, area: str,
                 groups: Sequence[str], weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The trend chart's numbers: 52 full weeks to the anchor, a 4-week rolling mean, last year's same
    weeks (52 weeks back, weekdays aligned) and an expected range from the same weeks of earlier years.

    expected = mean of the same week in the earlier years the data holds (up to AVERAGE_YEARS);
    range = expected +/- 1.96 sqrt(phi x V x (1 + 1/years)), V the Poisson variance of the expected week
    (its count; sum of weight^2 x count for harm): a 95% prediction range for a new week when nothing
    changed, counting the noise in the earlier years' weeks too. With one earlier year (the sample) it is
    last year's count +/- 1.96 sqrt(2 phi V). phi is the geography's dispersion over history_weeks, as in
    trend_rows' total row.

    Columns: week, count, rolling_mean, last_year, expected, low, high, years, phi.
    """
    weeks = chart_weeks(anchor, first, last)
    w = _weights_for(groups, weights)

    def series(mondays: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        counts, _ = _geography(weekly, level, area, mondays)
        return w @ counts, (w * w) @ counts

    past_values, past_units = series(history_weeks(anchor, first, last))
    phi = float(stats.weekly_dispersion(past_values[None, :], past_units[None, :])[0])
    out = pd.DataFrame({"week": weeks})
    out["count"] = series(weeks)[0]
    out["rolling_mean"] = out["count"].rolling(4, min_periods=1).mean()
    sums, units, years = np.zeros(len(weeks)), np.zeros(len(weeks)), np.zeros(len(weeks))
    last_year = np.full(len(weeks), np.nan)
    for k in range(1, AVERAGE_YEARS + 1):
        back = weeks - pd.Timedelta(days=364 * k)
        ok = (back >= pd.Timestamp(first)) & (back + pd.Timedelta(days=6) <= pd.Timestamp(last))
        vals, var = series(back)
        if k == 1:
            last_year = np.where(ok, vals, np.nan)
        sums += np.where(ok, vals, 0.0)
        units += np.where(ok, var, 0.0)
        years += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(years > 0, sums / years, np.nan)
        spread = 1.96 * np.sqrt(phi * (units / years) * (1 + 1 / years))
    out["last_year"] = last_year
    out["expected"] = expected
    out["low"] = np.maximum(expected - spread, 0.0)
    out["high"] = expected + spread
    out["years"] = years.astype(int)
    out["phi"] = phi
    return out


def hour_dow_grid(counts: pd.DataFrame) -> pd.DataFrame:
    """Every weekday (1 = Monday) x hour (0-23) with its count (0 where none): dow, hour, count."""
    grid = np.zeros((7, 24), dtype=np.int64)
    if len(counts):
        np.add.at(grid, (counts["dow"].to_numpy(int) - 1, counts["hour"].to_numpy(int)),
                  counts["count"].to_numpy(np.int64))
    return pd.DataFrame({"dow": np.repeat(np.arange(1, 8), 24), "hour": np.tile(np.arange(24), 7),
                         "count": grid.ravel()})


def select_rows(rows: pd.DataFrame, kinds: Sequence[str], window: str | None = None) -> pd.DataFrame:
    """The rows of trend_rows of these kinds (total, group, outcome), in one window or all."""
    keep = np.isin(rows["kind"].to_numpy(dtype=object), list(kinds))
    if window is not None:
        keep &= rows["window"].to_numpy(dtype=object) == window
    return rows[keep]


def sort_changes(assessed: pd.DataFrame) -> pd.DataFrame:
    """Areas as the change table lists them: changed first, then by adjusted p, then largest count."""
    return assessed.sort_values(["changed", "q", "current"], ascending=[False, True, False],
                                na_position="last")


def trend_export(assessed: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind a CompStat table for CSV: every input and output of its verdicts."""
    keep = ["window", "start", "end", "prior_start", "prior_end", "key", "label", "area_id", "name",
            "current", "prior", "difference", "pct_change", "avg_earlier", "earlier_years", "days",
            "prior_days", "ratio", "low", "high", "poisson_test", "p_poisson", "phi", "df", "z", "p_dispersed",
            "p", "q", "alpha", "changed", "verdict"]
    return assessed[[c for c in keep if c in assessed.columns]]


def chart_span(anchor: date, first: date, last: date) -> tuple[date, date]:
    """First Monday and last Sunday of the trend chart's weeks (chart_weeks)."""
    weeks = chart_weeks(anchor, first, last)
    if len(weeks) == 0:
        return anchor, anchor
    return weeks[0].date(), (weeks[-1] + pd.Timedelta(days=6)).date()


def trend_events(outreach: pd.DataFrame, trend: pd.DataFrame) -> pd.DataFrame:
    """Scheduled outreach events on the trend chart's weeks: week, events (0 where none).
    ``outreach`` has week, events (Store.count_outreach by week)."""
    events = outreach.assign(week=pd.to_datetime(outreach["week"])).set_index("week")["events"]
    events = events.groupby(level=0).sum().reindex(trend["week"], fill_value=0)
    return pd.DataFrame({"week": trend["week"].to_numpy(), "events": events.fillna(0).astype(int).to_numpy()})


def weekly_trend_table(trend: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind the trend chart: week, count, rolling_mean, last_year, expected, low, high,
    years, phi, outreach_events."""
    out = trend.merge(events.rename(columns={"events": "outreach_events"}), on="week", how="left")
    out["week"] = pd.to_datetime(out["week"]).dt.date
    return out


def band_note(trend: pd.DataFrame) -> str:
    """How the chart's expected range was made, in one or two sentences."""
    years = int(trend["years"].max()) if len(trend) else 0
    phi = float(trend["phi"].iloc[0]) if len(trend) else 1.0
    if years == 0:
        return "No earlier year in the data covers these weeks, so there is no expected range."
    basis = ("last year's count for the same week (52 weeks earlier, weekdays aligned)" if years == 1
             else f"the average of the same week in up to {years} earlier years")
    return (f"Expected range: {basis}, ± a 95% range for weekly counts that vary {phi:.1f}× as much as "
            f"pure chance would (phi, from the 52 weeks before the 28-day window). Weeks outside it are "
            f"unusual; one such week alone is not a trend. The 4-week average smooths week-to-week noise.")


OUTCOMES_NOTE = (
    "Homicides and gun and weapons offenses sit beside the total because they get recorded whether or not "
    "residents trust police enough to call: a rise in the total with these flat may be more reporting, not "
    "more crime. Gun and weapons offenses = the weapons group plus any offense whose detail names a handgun, "
    "firearm or gun (not the gun-offender registry); weapons possession is mostly found by police, so it "
    "also follows enforcement."
)


def window_caption(place: str, window: Window, groups: Sequence[str], unit: str) -> str:
    """'Citywide · 28 days 04 Dec 2017 – 31 Dec 2017 against 05 Dec 2016 – 01 Jan 2017 · all offense
    groups · incidents', plus a reminder that the sidebar's date range does not apply."""
    prior = window.prior
    return (f"{place} · {window.label} {window.start:%d %b %Y} – {window.end:%d %b %Y} against "
            f"{prior.start:%d %b %Y} – {prior.end:%d %b %Y} · {describe_groups(groups)} · {unit}. The "
            "sidebar's date range does not apply here: the windows end on the anchor date.")
