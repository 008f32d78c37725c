"""Choosing treated, comparison and buffer areas, and the week and dose frames the designs read.
No estimates here, no Streamlit, no store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd


def neighbours(areas) -> dict[str, set[str]]:
    """area_id -> ids of areas whose geometry touches it (shares a boundary or overlaps)."""
    import geopandas as gpd

    geo = areas[["area_id", "geometry"]].reset_index(drop=True)
    pairs = gpd.sjoin(geo, geo, predicate="intersects")
    pairs = pairs[pairs["area_id_left"] != pairs["area_id_right"]]
    out: dict[str, set[str]] = {str(a): set() for a in geo["area_id"]}
    for a, b in zip(pairs["area_id_left"].astype(str), pairs["area_id_right"].astype(str), strict=True):
        out[a].add(b)
    return out


CONTROL_RULES = {
    "few": "Areas with the least of it (bottom quarter)",
    "same_district": "Other areas in the same districts",
    "none": "Areas where it never ran",
}
MODES = {
    "dose": "Many vs few (dose)",
    "rollout": "Started vs never",
}


@dataclass(frozen=True)
class Groups:
    """Which areas are treated, comparison and buffer, and why.

    ``table``: area_id, name, events_before, events_after, group ("treated", "comparison", "buffer", "");
    ``starts``: treated area -> the Monday its treatment starts (the event study's time zero).
    """

    treated: tuple[str, ...]
    control: tuple[str, ...]
    buffer: tuple[str, ...]
    starts: dict[str, pd.Timestamp]
    first_events: dict[str, pd.Timestamp]
    table: pd.DataFrame
    notes: tuple[str, ...] = ()


def quartile_groups(events: pd.Series) -> tuple[list[str], list[str]]:
    """Top and bottom quarter of areas by events (average rank, so tied areas stay together). When ties
    leave the bottom quarter empty (most areas have none of a rare program), the bottom group is the areas
    tied at the fewest events, if they are not also the top."""
    pct = events.rank(pct=True, method="average")
    top = sorted(events.index[pct > 0.75].astype(str))
    bottom = sorted(events.index[pct <= 0.25].astype(str))
    if not bottom and len(events):
        fewest = sorted(events.index[events == events.min()].astype(str))
        bottom = [a for a in fewest if a not in set(top)]
    return top, bottom


def choose_groups(dose: pd.DataFrame, near: Mapping[str, set[str]], *, mode: str, control_rule: str,
                  start, parents: Mapping[str, str] | None = None, first_events: Mapping | None = None,
                  treated: Sequence[str] = (), control: Sequence[str] = ()) -> Groups:
    """Treated, comparison and buffer areas for a program.

    ``dose``: area_id, name, events_before, events_after (events in the windows before and after
    ``start``). mode "dose": treated = top quarter of areas by events before the start (the start is then
    a reference date, not the beginning of the program); "rollout": treated = areas with events after the
    start and none before it, each starting at its first event. Comparison by ``control_rule``: "few"
    (bottom quarter, dose mode), "none" (no events in either window), "same_district" (other areas in the
    treated areas' districts; needs ``parents``). Explicit ``treated``/``control`` lists override the
    rules. Buffer = areas touching a treated area that are neither treated nor comparison; comparison
    areas that touch a treated area are moved to the buffer unless fewer than 5 comparison areas would
    remain.
    """
    d = dose.assign(area_id=dose["area_id"].astype(str)).set_index("area_id")
    start = pd.Timestamp(start)
    first_events = {str(k): pd.Timestamp(v) for k, v in (first_events or {}).items() if pd.notna(v)}
    notes: list[str] = []
    if treated:
        t = sorted(str(a) for a in treated if str(a) in d.index)
    elif mode == "dose":
        t, _ = quartile_groups(d["events_before"])
    else:
        t = sorted(d.index[(d["events_after"] > 0) & (d["events_before"] == 0)])
    if control:
        c = sorted(str(a) for a in control if str(a) in d.index and str(a) not in t)
    elif control_rule == "few":
        _, c = quartile_groups(d["events_before"] if mode == "dose" else d["events_before"] + d["events_after"])
    elif control_rule == "same_district" and parents:
        districts = {parents.get(a) for a in t}
        c = sorted(a for a in d.index if parents.get(a) in districts)
        if mode != "dose":
            c = [a for a in c if d.at[a, "events_before"] == 0 and d.at[a, "events_after"] == 0]
    else:
        if control_rule == "same_district":
            notes.append("Areas of this level do not nest in districts; comparing with areas where it never ran.")
        c = sorted(d.index[(d["events_before"] == 0) & (d["events_after"] == 0)])
    c = [a for a in c if a not in set(t)]
    touching = {n for a in t for n in near.get(a, set())} - set(t)
    clean = [a for a in c if a not in touching]
    if len(clean) >= 5 or len(clean) == len(c):
        moved = len(c) - len(clean)
        if moved:
            notes.append(f"{moved} comparison area(s) touch a treated area and were moved to the buffer, "
                         "so displaced crime does not flatter the comparison.")
        c = clean
    else:
        notes.append("Most comparison areas touch a treated area; kept them as comparison (the buffer is "
                     "only the other touching areas).")
    b = sorted(touching - set(c))
    if mode == "dose":
        starts = {a: start for a in t}
    else:
        starts = {a: _monday(first_events[a]) if a in first_events else start for a in t}
    table = d.reset_index()[["area_id", "name", "events_before", "events_after"]].copy()
    table["group"] = np.select([table["area_id"].isin(t), table["area_id"].isin(c), table["area_id"].isin(b)],
                               ["treated", "comparison", "buffer"], "")
    return Groups(tuple(t), tuple(c), tuple(b), starts, first_events, table, tuple(notes))


def _monday(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts).normalize()
    return ts - pd.Timedelta(days=ts.weekday())


def monday(day: date | datetime | pd.Timestamp) -> date:
    """The Monday of the week holding ``day``."""
    return _monday(day).date()


def complete_week_range(first: date, last: date) -> tuple[date, date] | None:
    """(first Monday, last Monday) of the complete weeks between two dates (None when there is none)."""
    lo = pd.Timestamp(first).normalize()
    lo = lo + pd.Timedelta(days=(7 - lo.weekday()) % 7)
    hi = pd.Timestamp(last).normalize()
    hi = hi - pd.Timedelta(days=(hi.weekday() + 1) % 7) - pd.Timedelta(days=6)
    return (lo.date(), hi.date()) if hi >= lo else None


def first_events(weekly: pd.DataFrame, level: str, since=None) -> dict[str, pd.Timestamp]:
    """area -> Monday of the first week with an event on or after ``since`` (``weekly``:
    outreach_counts([level, "week"])). A rollout starts at the first event after a quiet window, not at the
    first event in the data, which for a program already running is just where the data begin."""
    f = weekly[(weekly["events"] > 0) & weekly[level].notna()]
    if since is not None:
        f = f[pd.to_datetime(f["week"]) >= pd.Timestamp(since)]
    firsts = f.assign(week=pd.to_datetime(f["week"])).groupby(f[level].astype(str))["week"].min()
    return {str(k): pd.Timestamp(v) for k, v in firsts.items()}


def dose_frame(areas: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, level: str) -> pd.DataFrame:
    """area_id, name, events_before, events_after: events of outreach_counts([level]) in the two windows."""
    out = pd.DataFrame({"area_id": areas["area_id"].astype(str).to_numpy(), "name": areas["name"].astype(str).to_numpy()})
    for name, frame in (("events_before", before), ("events_after", after)):
        counts = frame.assign(area_id=frame[level].astype(str)).set_index("area_id")["events"] if len(frame) else {}
        out[name] = out["area_id"].map(counts).fillna(0).astype(int)
    return out


def parent_areas(children, parents) -> dict[str, str]:
    """child area_id -> area_id of the parent area (e.g. district) holding the child's interior point."""
    import geopandas as gpd

    points = gpd.GeoDataFrame({"child": children["area_id"].astype(str).to_numpy()},
                              geometry=children.representative_point().to_numpy(), crs=children.crs)
    joined = gpd.sjoin(points, parents[["area_id", "geometry"]], how="inner", predicate="within")
    joined = joined[~joined["child"].duplicated()]
    return dict(zip(joined["child"], joined["area_id"].astype(str), strict=True))
