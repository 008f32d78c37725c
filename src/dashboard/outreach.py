"""Outreach measures: dose per area, coverage of harm, concentration among units, adoption and each
program's footprint, on outreach_counts frames. Pure pandas: no Streamlit, no store, no impact estimates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats as sps

from dashboard.periods import complete_weeks

DOSE_COLUMNS = ("events", "attendees", "officer_hours", "contacts", "referrals", "reach")
HARM_MEASURES: dict[str, tuple[str, ...] | None] = {
    "Incidents (offense groups in the sidebar)": None,
    "Violent crime and homicide": ("homicide", "violent"),
}


def recorded_measures(dose: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(recorded, missing): which dose measures of an outreach_counts frame hold any value at all.

    Events are always recorded; the others are missing when every row is empty (the CAPS calendar is a
    schedule: no attendees, hours or contacts)."""
    recorded, missing = [], []
    for m in DOSE_COLUMNS:
        has = m in dose and bool(pd.to_numeric(dose[m], errors="coerce").notna().any())
        (recorded if has else missing).append(m)
    return tuple(recorded), tuple(missing)


def dose_table(areas: pd.DataFrame, dose: pd.DataFrame, population: pd.DataFrame, level: str) -> pd.DataFrame:
    """Outreach dose per area of ``level``: area_id, name, events, attendees, officer_hours, contacts,
    referrals, population, events_per_1000, contacts_per_1000.

    ``dose`` is outreach_counts([level]); areas without outreach get 0 events and empty (NaN) measures,
    never 0, since "not recorded" is not "none". Rates are NaN where population is missing."""
    base = pd.DataFrame({"area_id": areas["area_id"].astype(str), "name": areas["name"].astype(str)})
    cols = [c for c in DOSE_COLUMNS if c != "reach"]
    d = dose.rename(columns={level: "area_id"}).astype({"area_id": str})
    d = d[["area_id", *[c for c in cols if c in d.columns]]]
    out = base.merge(d, on="area_id", how="left")
    out["events"] = out["events"].fillna(0).astype(int)
    for c in cols:
        if c not in out:
            out[c] = np.nan
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    pop = population[["area_id", "population"]].astype({"area_id": str})
    out = out.merge(pop, on="area_id", how="left")
    valid = out["population"].fillna(0) > 0
    out["events_per_1000"] = np.where(valid, out["events"] / out["population"].where(valid) * 1000, np.nan)
    out["contacts_per_1000"] = np.where(valid, out["contacts"] / out["population"].where(valid) * 1000, np.nan)
    return out.sort_values(["events", "name"], ascending=[False, True]).reset_index(drop=True)


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rank correlation with a 95% interval (Fisher z with Bonett & Wright's variance) and
    the p-value of scipy.stats.spearmanr."""

    rho: float
    low: float
    high: float
    p_value: float
    n: int

    def sentence(self, x: str, y: str) -> str:
        if self.n < 5 or not np.isfinite(self.rho):
            return "Too few areas to say whether the two go together."
        strength = ("no clear" if abs(self.rho) < 0.1 else "a weak" if abs(self.rho) < 0.3
                    else "a moderate" if abs(self.rho) < 0.5 else "a strong")
        sign = "" if strength == "no clear" else (" positive" if self.rho > 0 else " negative")
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3f}"
        return (f"Across {self.n} areas, {strength}{sign} link between {x} and {y}: rank correlation "
                f"{self.rho:+.2f} (95% interval {self.low:+.2f} to {self.high:+.2f}; {p}).")


def rank_correlation(x: Sequence[float], y: Sequence[float], alpha: float = 0.05) -> RankCorrelation:
    """Spearman's rho of x and y with its interval; NaN when fewer than 4 pairs or a constant column."""
    a, b = np.asarray(x, float), np.asarray(y, float)
    n = len(a)
    if n < 4 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return RankCorrelation(float("nan"), float("nan"), float("nan"), float("nan"), n)
    res = sps.spearmanr(a, b)
    rho = float(res.statistic)
    se = np.sqrt((1 + rho ** 2 / 2) / (n - 3))
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    crit = sps.norm.ppf(1 - alpha / 2)
    return RankCorrelation(rho, float(np.tanh(z - crit * se)), float(np.tanh(z + crit * se)),
                           float(res.pvalue), n)


def coverage_gap(areas: pd.DataFrame, harm: pd.DataFrame, dose: pd.DataFrame, level: str,
                 share: float = 0.25) -> tuple[pd.DataFrame, RankCorrelation]:
    """Is outreach going where the harm is? One row per area: area_id, name, harm, events,
    harm_rank (1 = most harm), events_rank (1 = most events), gap (True for areas in the top ``share`` by
    harm and the bottom ``share`` by events), sorted by harm; and the rank correlation of harm and events.

    ``harm`` is incident_counts([level]) (count); ``dose`` is outreach_counts([level]) (events)."""
    base = pd.DataFrame({"area_id": areas["area_id"].astype(str), "name": areas["name"].astype(str)})
    h = harm.rename(columns={level: "area_id", "count": "harm"}).astype({"area_id": str})[["area_id", "harm"]]
    e = dose.rename(columns={level: "area_id"}).astype({"area_id": str})[["area_id", "events"]]
    out = base.merge(h, on="area_id", how="left").merge(e, on="area_id", how="left")
    out[["harm", "events"]] = out[["harm", "events"]].fillna(0).astype(int)
    out["harm_rank"] = out["harm"].rank(ascending=False, method="min").astype(int)
    out["events_rank"] = out["events"].rank(ascending=False, method="min").astype(int)
    harm_pct = out["harm"].rank(pct=True, method="average")
    events_pct = out["events"].rank(pct=True, method="average")
    out["gap"] = (harm_pct > 1 - share) & (events_pct <= share)
    corr = rank_correlation(out["harm"], out["events"])
    return out.sort_values(["harm", "name"], ascending=[False, True]).reset_index(drop=True), corr


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0 = spread evenly, towards 1 = held by one); NaN if all 0."""
    v = np.sort(np.asarray(values, float))
    n, total = len(v), v.sum()
    if n == 0 or total <= 0:
        return float("nan")
    return float((2 * np.arange(1, n + 1) - n - 1) @ v / (n * total))


def concentration(by_unit: pd.DataFrame, units: Collection[str] | None = None,
                  labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """How concentrated each event type is among the units that run outreach.

    ``by_unit``: event_type, unit, events. ``units``: every unit that could run it (default: all units in
    the frame); units with none count as 0 for the Gini. Returns event_type, label (from ``labels``),
    units_running, units_total, events, top3_share (share of events held by the 3 busiest units), hhi (Herfindahl: sum of squared
    shares; 1/units_running when spread evenly), gini."""
    columns = ["event_type", "label", "units_running", "units_total", "events", "top3_share", "hhi", "gini"]
    frame = by_unit.dropna(subset=["unit", "event_type"]).astype({"unit": str})
    every = sorted(set(units) if units is not None else set(frame["unit"]))
    if frame.empty:
        return pd.DataFrame(columns=columns)
    # One event types x units matrix instead of a groupby per type (the page draws it on every rerun).
    matrix = (frame.groupby(["event_type", "unit"], sort=True)["events"].sum().unstack("unit", fill_value=0)
              .reindex(columns=every, fill_value=0).astype(float))
    counts = matrix.to_numpy()
    total = counts.sum(axis=1)
    ran = total > 0
    shares = np.divide(counts, total[:, None], out=np.zeros_like(counts), where=ran[:, None])
    n = len(every)
    ascending = np.sort(counts, axis=1)
    weights = 2 * np.arange(1, n + 1) - n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        gini_ = np.where(ran & (n > 0), (ascending @ weights) / (n * total), np.nan)
    types = matrix.index.tolist()
    return pd.DataFrame({
        "event_type": types, "label": [(labels or {}).get(t, t) for t in types],
        "units_running": (counts > 0).sum(axis=1).astype(int), "units_total": n, "events": total.astype(int),
        "top3_share": np.where(ran, np.sort(shares, axis=1)[:, ::-1][:, :3].sum(axis=1), np.nan),
        "hhi": np.where(ran, (shares ** 2).sum(axis=1), np.nan), "gini": gini_.astype(float),
    }, columns=columns)


def adoption_breadth(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """How many districts, beats and units run each event type, month by month.

    ``frames``: {"districts": outreach_counts(["event_type", "month", "district"]), "beats": ... "beat",
    "units": ... "unit"}. Returns event_type, month, measure (the frames' keys), active (distinct places or
    units with at least one event that month)."""
    out = []
    for measure, frame in frames.items():
        key = [c for c in frame.columns if c not in ("event_type", "month", *DOSE_COLUMNS, "rows")][0]
        f = frame[(frame["events"] > 0) & frame[key].notna()]
        g = f.groupby(["event_type", "month"])[key].nunique().rename("active").reset_index()
        out.append(g.assign(measure=measure))
    if not out:
        return pd.DataFrame(columns=["event_type", "month", "measure", "active"])
    res = pd.concat(out, ignore_index=True)
    res["month"] = pd.to_datetime(res["month"])
    return res[["event_type", "month", "measure", "active"]].sort_values(["measure", "event_type", "month"])


def program_footprint(register: pd.DataFrame, by_type: pd.DataFrame, by_type_month: pd.DataFrame,
                      places: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per event type of the register (and any type in the data that the register lacks): program,
    event_type, label, format, place_level, events, first_month, last_month, one column per ``places`` key
    (distinct places/units with events), recorded (dose measures holding values), status ("loaded",
    "no data loaded" or "not in the register").

    ``by_type``: outreach_counts(["event_type"]); ``by_type_month``: (["event_type", "month"]);
    ``places``: {"districts": (["event_type", "district"]), "beats": ..., "units": ...}."""
    reg = register[["program", "event_type", "label", "format", "place_level"]].copy()
    extra = sorted(set(by_type["event_type"].astype(str)) - set(reg["event_type"]))
    if extra:
        reg = pd.concat([reg, pd.DataFrame({"program": "(not in the register)", "event_type": extra,
                                            "label": extra, "format": "", "place_level": ""})], ignore_index=True)
    t = by_type.astype({"event_type": str}).set_index("event_type")
    out = reg.copy()
    out["events"] = out["event_type"].map(t["events"]).fillna(0).astype(int) if len(t) else 0
    months = by_type_month.assign(month=pd.to_datetime(by_type_month["month"])).groupby("event_type")["month"]
    out["first_month"] = out["event_type"].map(months.min()) if len(by_type_month) else pd.NaT
    out["last_month"] = out["event_type"].map(months.max()) if len(by_type_month) else pd.NaT
    for name, frame in places.items():
        key = [c for c in frame.columns if c not in ("event_type", *DOSE_COLUMNS, "rows")][0]
        active = frame[(frame["events"] > 0) & frame[key].notna()].groupby("event_type")[key].nunique()
        out[name] = out["event_type"].map(active).fillna(0).astype(int)

    def recorded(event_type: str) -> str:
        if event_type not in t.index:
            return ""
        row = t.loc[[event_type]]
        return ", ".join(recorded_measures(row)[0])

    out["recorded"] = out["event_type"].map(recorded)
    out["status"] = np.select([out["program"] == "(not in the register)", out["events"] > 0],
                              ["not in the register", "loaded"], "no data loaded")
    return out


def area_weekly(incidents: pd.DataFrame, outreach: pd.DataFrame, start: date, end: date
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One area's complete weeks: (week, count, partial) of incidents and (week, events) of outreach,
    for charts.weekly_counts."""
    now = complete_weeks(incidents, start, end)
    events = complete_weeks(outreach if len(outreach) else pd.DataFrame({"week": [], "events": []}),
                            start, end, value="events")[["week", "events"]]
    return now, events


def recorded_for(by_type: pd.DataFrame, event_type: str) -> tuple[str, ...]:
    """The dose measures recorded for one event type (``by_type``: outreach_counts(["event_type"]))."""
    return recorded_measures(by_type[by_type["event_type"].astype(str) == event_type])[0]


def program_row(register: pd.DataFrame, event_type: str) -> dict[str, str]:
    """program, label, description, format, place_level of one event type (keys only, when unregistered)."""
    rows = register[register["event_type"] == event_type]
    if not len(rows):
        return {"program": event_type, "label": event_type, "description": "Not in the program register."}
    row = rows.iloc[0]
    return {k: str(row.get(k, "")) for k in ("program", "label", "description", "format", "place_level")}


def footprint_items(footprint: pd.DataFrame, event_type: str) -> dict[str, str]:
    """One program_footprint row as readable label -> text pairs (for the brief)."""
    rows = footprint[footprint["event_type"] == event_type]
    if not len(rows):
        return {"Data": "no data loaded"}
    r = rows.iloc[0]

    def month(v) -> str:
        return "" if pd.isna(v) else f"{pd.Timestamp(v):%b %Y}"

    items = {"Event type": r["label"], "Format": r["format"], "Placed at": r["place_level"],
             "Events": f"{int(r['events']):,}", "From": month(r["first_month"]), "To": month(r["last_month"])}
    for key in ("districts", "beats", "units"):
        if key in r:
            items[key.capitalize() + " running it"] = f"{int(r[key]):,}"
    items["Dose recorded"] = r["recorded"] or "events only"
    return items


def areas_reached(table: pd.DataFrame) -> int:
    """Areas of a dose_table with at least one event."""
    return int((table["events"] > 0).sum())


def gap_areas(gap: pd.DataFrame) -> pd.DataFrame:
    """The coverage_gap rows flagged as much harm, little outreach (most harm first)."""
    return gap[gap["gap"]].reset_index(drop=True)


def top_area(table: pd.DataFrame) -> str:
    """area_id of the first row of a dose_table (the area with most events)."""
    return str(table["area_id"].iloc[0])


def units(frame: pd.DataFrame) -> list[str]:
    """Every unit named in outreach_counts(["unit"])."""
    return sorted(frame["unit"].dropna().astype(str).unique())
