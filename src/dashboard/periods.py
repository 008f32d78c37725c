"""Period arithmetic and this-period-against-last-year tables (overview, map, outreach pickers) on the
store's small aggregated frames. Pure pandas: no Streamlit, no store, no figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from dashboard import schema


@dataclass(frozen=True)
class Filters:
    """What the shared sidebar selects: an inclusive date range, offense groups and a boundary level."""

    start: date
    end: date
    offense_groups: tuple[str, ...] = field(default_factory=lambda: tuple(schema.OFFENSE_GROUPS))
    level: str = "community_area"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def describe(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}, {describe_groups(self.offense_groups)}"


def describe_groups(groups: Sequence[str]) -> str:
    """'all offense groups' or the groups' labels."""
    if set(groups) >= set(schema.OFFENSE_GROUPS):
        return "all offense groups"
    return ", ".join(schema.OFFENSE_GROUPS.get(g, g) for g in groups)


def year_earlier(day: date) -> date:
    """The same calendar day one year earlier; 29 February maps to 28 February."""
    return (pd.Timestamp(day) - pd.DateOffset(years=1)).date()


def prior_period(start: date, end: date) -> tuple[date, date]:
    """The same window one year earlier (CompStat's 'same period last year')."""
    return year_earlier(start), year_earlier(end)


def default_period(first: date, last: date) -> tuple[date, date]:
    """The last full calendar year in the data, else the last 365 days (or all data if shorter)."""
    if (last.month, last.day) == (12, 31) and date(last.year, 1, 1) >= first:
        return date(last.year, 1, 1), last
    start = max(first, (pd.Timestamp(last) - pd.Timedelta(days=364)).date())
    return start, last


def pct_change(current: float, prior: float) -> float | None:
    """Percent change from prior to current; None when prior is 0 (a percentage would be infinite)."""
    if prior == 0:
        return None
    return (current - prior) / prior * 100.0


def align_prior_weeks(prior_weekly: pd.DataFrame) -> pd.DataFrame:
    """Shift last year's weekly counts onto this year's ISO weeks so the two lines overlay.

    Input and output columns: week (Monday), count. 52 weeks = 364 days keeps weekdays aligned.
    """
    out = prior_weekly.copy()
    out["week"] = pd.to_datetime(out["week"]) + pd.Timedelta(days=364)
    return out


def complete_weeks(weekly: pd.DataFrame, start: date, end: date, value: str = "count") -> pd.DataFrame:
    """Weekly frame with every Monday from start's week to end's week (missing weeks = 0) and a
    ``partial`` flag on the first and last weeks when the period cuts them. Columns: week, value, partial."""
    first = pd.Timestamp(start) - pd.Timedelta(days=pd.Timestamp(start).weekday())
    last = pd.Timestamp(end) - pd.Timedelta(days=pd.Timestamp(end).weekday())
    weeks = pd.date_range(first, last, freq="7D")
    frame = weekly.assign(week=pd.to_datetime(weekly["week"])).set_index("week")[[value]]
    out = frame.reindex(weeks, fill_value=0).rename_axis("week").reset_index()
    out[value] = out[value].astype(float)
    out["partial"] = False
    if len(out):
        out.loc[out.index[0], "partial"] = pd.Timestamp(start).weekday() != 0
        out.loc[out.index[-1], "partial"] = pd.Timestamp(end).weekday() != 6
    return out


def area_table(
    areas: pd.DataFrame, current: pd.DataFrame, prior: pd.DataFrame, population: pd.DataFrame,
    level: str,
) -> pd.DataFrame:
    """One row per area: area_id, name, count, prior, change, pct_change, population, rate_per_1000.

    ``current``/``prior`` have columns [level, count]; ``population`` has area_id, population.
    The rate is NaN where population is missing or zero: never divide by a missing population.
    """
    base = pd.DataFrame({"area_id": areas["area_id"].astype(str), "name": areas["name"].astype(str)})
    cur = current.rename(columns={level: "area_id"}).astype({"area_id": str})
    pri = prior.rename(columns={level: "area_id", "count": "prior"}).astype({"area_id": str})
    out = base.merge(cur, on="area_id", how="left").merge(pri, on="area_id", how="left")
    out[["count", "prior"]] = out[["count", "prior"]].fillna(0).astype(int)
    out["change"] = out["count"] - out["prior"]
    out["pct_change"] = np.where(out["prior"] > 0, out["change"] / out["prior"].where(out["prior"] > 0) * 100,
                                 np.nan)
    pop = population[["area_id", "population"]].astype({"area_id": str})
    out = out.merge(pop, on="area_id", how="left")
    valid = out["population"].fillna(0) > 0
    out["rate_per_1000"] = np.where(valid, out["count"] / out["population"].where(valid) * 1000, np.nan)
    return out


def group_comparison(current: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """Per offense group: offense_group, label, count, prior, change, pct_change (groups in schema order).

    Inputs have columns offense_group, count.
    """
    order = list(schema.OFFENSE_GROUPS)
    cur = current.set_index("offense_group")["count"]
    pri = prior.set_index("offense_group")["count"]
    groups = [g for g in order if g in cur.index or g in pri.index]
    out = pd.DataFrame({"offense_group": groups})
    out["label"] = [schema.OFFENSE_GROUPS[g] for g in groups]
    out["count"] = [int(cur.get(g, 0)) for g in groups]
    out["prior"] = [int(pri.get(g, 0)) for g in groups]
    out["change"] = out["count"] - out["prior"]
    out["pct_change"] = [pct_change(c, p) for c, p in zip(out["count"], out["prior"], strict=True)]
    return out


def total(frame: pd.DataFrame, column: str = "count") -> int:
    return int(frame[column].sum()) if len(frame) else 0


def weekly_view(current: pd.DataFrame, prior: pd.DataFrame, outreach: pd.DataFrame | None,
                start: date, end: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The three frames charts.weekly_counts draws: complete current weeks (week, count, partial),
    last year's weeks shifted onto this year's (week, count), outreach events per week (week, events)."""
    now = complete_weeks(current, start, end)
    p_start, p_end = prior_period(start, end)
    before = align_prior_weeks(complete_weeks(prior, p_start, p_end))
    before = before[(before["week"] >= now["week"].min()) & (before["week"] <= now["week"].max())]
    events = None
    if outreach is not None:
        events = complete_weeks(outreach, start, end, value="events")[["week", "events"]]
    return now, before[["week", "count"]], events


def top_areas(table: pd.DataFrame, n: int = 10, by: str = "count") -> pd.DataFrame:
    """The ``n`` rows of an area_table with the largest ``by`` (ties broken by name)."""
    return table.sort_values([by, "name"], ascending=[False, True]).head(n)


def outreach_by_area(areas: pd.DataFrame, outreach: pd.DataFrame, level: str) -> pd.DataFrame:
    """area_id, events: scheduled outreach events placed in each area of ``level`` (0 where none)."""
    out = pd.DataFrame({"area_id": areas["area_id"].astype(str)})
    ev = outreach.rename(columns={level: "area_id"})[["area_id", "events"]].astype({"area_id": str})
    out = out.merge(ev, on="area_id", how="left")
    out["events"] = out["events"].fillna(0).astype(int)
    return out


def weekly_table(current: pd.DataFrame, prior: pd.DataFrame, outreach: pd.DataFrame | None) -> pd.DataFrame:
    """The numbers behind the weekly chart: week, count, partial, count_last_year, outreach_events."""
    out = current.merge(prior.rename(columns={"count": "count_last_year"}), on="week", how="left")
    if outreach is not None:
        out = out.merge(outreach.rename(columns={"events": "outreach_events"}), on="week", how="left")
    out["week"] = pd.to_datetime(out["week"]).dt.date
    return out


def clicked_area(table: pd.DataFrame, click: dict | None) -> pd.Series | None:
    """The area_table row of the area a map click selected (st_folium's last_active_drawing), if any."""
    feature = (click or {}).get("last_active_drawing") or {}
    area_id = (feature.get("properties") or {}).get("area_id")
    if area_id is None:
        return None
    rows = table[table["area_id"] == str(area_id)]
    return rows.iloc[0] if len(rows) else None


def impact_start_default(first: date, last: date) -> date:
    """A default start for the impact page: the first Monday of the last calendar year in the data
    that leaves a year before it (else the middle Monday of the data)."""
    for year in range(last.year, first.year, -1):
        jan = pd.Timestamp(year, 1, 1)
        monday = jan + pd.Timedelta(days=(7 - jan.weekday()) % 7)
        if (monday - pd.Timedelta(days=364)).date() >= first and monday.date() <= last:
            return monday.date()
    mid = pd.Timestamp(first) + (pd.Timestamp(last) - pd.Timestamp(first)) / 2
    return (mid - pd.Timedelta(days=mid.weekday())).normalize().date()


def area_names(areas: pd.DataFrame) -> dict[str, str]:
    """area_id -> name of every area, sorted by name (for pickers)."""
    pairs = sorted(zip(areas["area_id"].astype(str), areas["name"].astype(str), strict=True), key=lambda p: p[1])
    return dict(pairs)
