"""The neighborhood map's numbers: one row per area (count, rate, change with its verdict, outreach
dose), the public-safe version of that table, and one area's profile for the drill-down panel, the
side-by-side comparison and the council brief.

Pure pandas on small aggregated frames (what the store's SQL returns): no Streamlit, no store of its own
(map_inputs and area_detail read the one handed to them), no figures. Verdicts come from stats.assess_changes (the trends page's test: exact Poisson and
overdispersion-aware, Benjamini-Hochberg across areas); suppression from privacy. Functions say which
columns they return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from dashboard import periods, privacy, schema, stats

# A fine level whose counts add up, area by area, to a coarser level's: the coarse page's totals are
# published totals of the fine page, so both are suppressed together (privacy.suppress_nested).
NESTS: dict[str, str] = {"beat": "district"}
TOP_OFFENSES = 8
ALPHA = stats.TABLE_ALPHA

TEXT_COLUMNS = ("count_text", "prior_text", "rate_text", "pct_text", "verdict_text", "events_text", "dose_text")


def _ids(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype(str)


def area_numbers(
    areas: pd.DataFrame, current: pd.DataFrame, prior: pd.DataFrame, population: pd.DataFrame,
    outreach: pd.DataFrame, level: str,
) -> pd.DataFrame:
    """One row per area of ``level``: area_id, name, count, prior, change, pct_change, population,
    rate_per_1000, events, events_per_1000.

    ``current``/``prior``: [level, count]; ``outreach``: [level, events] (store.count_outreach);
    ``population``: area_id, population. Rates are NaN where population is missing or zero (never a
    division by a missing population); areas without incidents count 0.
    """
    table = periods.area_table(areas, current, prior, population, level)
    table = table.merge(periods.outreach_by_area(areas, outreach, level), on="area_id", how="left")
    valid = table["population"].fillna(0) > 0
    table["events_per_1000"] = np.where(valid, table["events"] / table["population"].where(valid) * 1000, np.nan)
    return table


def full_weeks(start: date, end: date) -> pd.DatetimeIndex:
    """Mondays of the weeks wholly inside start..end (partial weeks would understate the variation)."""
    first = pd.Timestamp(start) + pd.Timedelta(days=(7 - pd.Timestamp(start).weekday()) % 7)
    mondays = pd.date_range(first, pd.Timestamp(end), freq="7D")
    return mondays[mondays + pd.Timedelta(days=6) <= pd.Timestamp(end)]


def dispersion(weekly: pd.DataFrame, level: str, area_ids: Sequence[str], start: date, end: date) -> pd.Series:
    """phi (extra-Poisson variation, >= 1) of each area's weekly counts over the full weeks of the period,
    indexed by area_id. ``weekly``: [week, level, count] (store.count_incidents(["week", level]))."""
    weeks = full_weeks(start, end)
    ids = pd.Index([str(a) for a in area_ids])
    if weekly.empty or len(weeks) == 0:
        return pd.Series(1.0, index=ids)
    frame = weekly.assign(week=pd.to_datetime(weekly["week"]), area_id=_ids(weekly, level))
    grid = (frame.pivot_table(index="area_id", columns="week", values="count", aggfunc="sum")
            .reindex(index=ids, columns=weeks).fillna(0.0))
    return pd.Series(stats.weekly_dispersion(grid.to_numpy()), index=ids)


def with_verdicts(table: pd.DataFrame, phi: pd.Series, days: int, prior_days: int,
                  alpha: float = ALPHA) -> pd.DataFrame:
    """The area table plus the trends page's verdict on each area's change: pct_change (of the rate per
    day, as the verdict), p, q (Benjamini-Hochberg across the areas), changed (q < alpha), verdict (a
    sentence), low/high (95% interval of the ratio), phi.
    Areas with no incidents in either period get no test (q NaN, changed False)."""
    frame = pd.DataFrame({
        "current": table["count"].to_numpy(float), "prior": table["prior"].to_numpy(float),
        "days": float(days), "prior_days": float(prior_days),
        "phi": phi.reindex(table["area_id"].astype(str)).fillna(1.0).to_numpy(),
        "family": "areas", "alpha": alpha,
        "comparable": True,
    })
    assessed = stats.assess_changes(frame)
    out = table.copy()
    # the change in rate per day, as the verdict states it (a window can hold a leap day)
    for column in ("pct_change", "p", "q", "changed", "verdict", "low", "high"):
        out[column] = assessed[column].to_numpy()
    out["phi"] = frame["phi"].to_numpy()
    return out


# --------------------------------------------------------------------------------- public view


@dataclass(frozen=True)
class Withheld:
    """What the public view held back on one table (for legends and captions)."""

    k: int
    cells: str
    fewer: int = 0
    withheld: int = 0
    total_shown: bool = True
    excluded: tuple[str, ...] = ()
    public: bool = True

    def sentence(self) -> str:
        if not self.public:
            return "Full view: every count is shown, sensitive offenses included (DASHBOARD_PUBLIC_VIEW=false)."
        return privacy.summary_text(self.k, self.cells, self.fewer, self.withheld, self.excluded)


def roll_up(fine: pd.DataFrame, nesting: pd.DataFrame, fine_level: str, coarse_level: str) -> pd.DataFrame:
    """Fine-level counts ([fine_level, ..., count]) added up into the coarse areas they nest in:
    [coarse_level, ..., count]. A public district page counts districts this way, so its totals are
    exactly the sums the beat page's suppression accounts for (a few records name a district other
    than their beat's)."""
    parents = nesting.set_index("area_id")["parent_id"]
    out = fine.copy()
    out[coarse_level] = out[fine_level].astype(str).map(parents)
    keys = [coarse_level, *[c for c in fine.columns if c not in (fine_level, "count")]]
    return out.dropna(subset=[coarse_level]).groupby(keys, as_index=False)["count"].sum()


def _suppress_level(counts: pd.Series, k: int, level: str, nesting: pd.DataFrame | None,
                    fine: pd.Series | None, total_published: bool | None = None
                    ) -> tuple[privacy.Suppression, pd.Series]:
    """Suppression of ``counts`` (indexed by area_id) and the counts it applies to. Beats nest in
    districts (suppressed together); a district page in public view counts each district as the sum of
    its beats, so its totals are exactly the ones the beat page's suppression protects."""
    if nesting is not None and level in NESTS:
        parents = nesting.set_index("area_id")["parent_id"].reindex(counts.index)
        result, _, _ = privacy.suppress_nested(counts.to_numpy(), parents.tolist(), k, total_published)
        return result, counts
    if nesting is not None and fine is not None and level in NESTS.values():
        parents = nesting.set_index("area_id")["parent_id"].reindex(fine.index)
        _, coarse, labels = privacy.suppress_nested(fine.to_numpy(), parents.tolist(), k, total_published)
        sums = pd.Series(fine.groupby(parents.to_numpy()).sum())
        summed = sums.reindex(counts.index).fillna(0).astype(int)
        state = pd.Series(coarse.state, index=[str(x) for x in labels]).reindex(counts.index)
        # an area with no beat under it is an empty cell: "fewer than k" (it adds 0 to every total)
        state = state.fillna(privacy.FEWER).astype(np.int8).to_numpy()
        return privacy.Suppression(state, k, coarse.total_shown), summed
    return privacy.suppress(counts.to_numpy(), k, total_published), counts


def publish(
    table: pd.DataFrame, level: str, *, public: bool, k: int, excluded: Sequence[str] = (),
    nesting: pd.DataFrame | None = None, fine_current: pd.Series | None = None,
    fine_prior: pd.Series | None = None,
) -> tuple[pd.DataFrame, Withheld]:
    """The area table as the page may show it, and what was withheld.

    Adds: shown (count published), hidden (count withheld), the display texts count_text, prior_text,
    rate_text, pct_text, verdict_text, events_text, dose_text, and ``city`` totals in ``attrs``. In the
    public view (``public``) counts below k read "fewer than k", complements "withheld"; rates, changes
    and verdicts of a hidden count are withheld too; numeric columns hold NaN where text says so.
    ``nesting`` (area_id, parent_id) links beats to districts; ``fine_*`` are beat counts (by area_id)
    for a district page.
    """
    out = table.copy()
    out["area_id"] = out["area_id"].astype(str)
    counts = out.set_index("area_id")["count"].astype(int)
    priors = out.set_index("area_id")["prior"].astype(int)
    if public:
        now, now_counts = _suppress_level(counts, k, level, nesting, fine_current)
        before, before_counts = _suppress_level(priors, k, level, nesting, fine_prior, now.total_shown)
        out["count"] = now_counts.to_numpy()
        out["prior"] = before_counts.to_numpy()
    else:
        now = before = privacy.Suppression(np.zeros(len(out), dtype=np.int8), 1, True)
    shown, prior_shown = ~now.hidden, ~before.hidden
    both = shown & prior_shown
    out["shown"] = shown
    out["hidden"] = now.hidden
    out["change_hidden"] = ~both
    # anything computed from a withheld count goes too (an interval or q-value would give it back)
    out.loc[~both, ["q", "low", "high", "phi"]] = np.nan
    out["count_text"] = now.texts(out["count"])
    out["prior_text"] = before.texts(out["prior"])
    out["count"] = now.masked(out["count"])
    out["prior"] = before.masked(out["prior"])
    out["change"] = np.where(both, out["count"] - out["prior"], np.nan)
    out["pct_change"] = np.where(both, out["pct_change"], np.nan)
    out["rate_per_1000"] = np.where(shown, out["rate_per_1000"], np.nan)
    out["changed"] = both & out["changed"].fillna(False).astype(bool)
    out["verdict_text"] = [v if ok else "withheld (a count is too small to compare)"
                           for v, ok in zip(out["verdict"], both, strict=True)]
    out["rate_text"] = [_rate_text(r, pop, ok) for r, pop, ok in
                        zip(out["rate_per_1000"], out["population"], shown, strict=True)]
    out["pct_text"] = [_pct_text(p, c, pr, ok) for p, c, pr, ok in
                       zip(out["pct_change"], out["count"], out["prior"], both, strict=True)]
    out["events_text"] = [f"{int(e):,}" for e in out["events"]]
    out["dose_text"] = ["no population" if pd.isna(d) else f"{d:,.2f}" for d in out["events_per_1000"]]
    out = out.drop(columns=["verdict", "p"], errors="ignore")
    withheld = Withheld(k, schema.LEVELS[level].label.lower() + "s" if level in schema.LEVELS else "areas",
                        now.fewer, now.withheld, now.total_shown, tuple(excluded), public)
    # the grand total the suppression protects: on a coarse page, the sum of every fine area
    city_now = fine_current if public and fine_current is not None else counts
    city_before = fine_prior if public and fine_prior is not None else priors
    out.attrs["city"] = city_totals(city_now, city_before, table, now.total_shown, before.total_shown)
    return out, withheld


def _rate_text(rate: float, population: float, shown: bool) -> str:
    if pd.isna(population) or population <= 0:
        return "no population"
    return f"{rate:,.1f}" if shown else "withheld"


def _pct_text(pct: float, count: float, prior: float, both: bool) -> str:
    if not both:
        return "withheld"
    if pd.isna(pct):
        return "none last year" if prior == 0 else "n/a"
    return f"{pct:+.1f}%"


def city_totals(counts: pd.Series, priors: pd.Series, table: pd.DataFrame, shown: bool,
                prior_shown: bool) -> dict:
    """Citywide count, prior, % change and rate (over areas with population), each None when withheld."""
    count, prior = int(counts.sum()), int(priors.sum())
    with_pop = table["population"].fillna(0) > 0
    population = float(table.loc[with_pop, "population"].sum())
    rate = (float(table.loc[with_pop, "count"].sum()) / population * 1000) if population > 0 else None
    return {
        "count": count if shown else None,
        "prior": prior if prior_shown else None,
        "pct_change": periods.pct_change(count, prior) if shown and prior_shown else None,
        "rate_per_1000": rate if shown else None,
        "population": population or None,
    }


def ranks(table: pd.DataFrame, column: str) -> pd.Series:
    """Rank of each area by ``column`` (1 = highest) among the areas where it is shown, as text
    ("3 of 70"); empty where the value is withheld or missing. Ranks among shown values only: a rank
    among all areas would place a withheld count between two shown ones."""
    values = table[column]
    known = values.notna() & table.get("shown", pd.Series(True, index=table.index)).astype(bool)
    rank = values[known].rank(ascending=False, method="min")
    total = int(known.sum())
    return pd.Series([f"{int(rank[i])} of {total}" if i in rank.index else "" for i in table.index],
                     index=table.index)


# ------------------------------------------------------------------------------------ measures


@dataclass(frozen=True)
class Measure:
    """How the map shades: the numeric column, its display text, legend label, format and palette."""

    key: str
    column: str
    text_column: str
    label: str
    fmt: str
    palette: str = "sequential"
    note: str = ""
    hidden_column: str | None = "hidden"


MEASURES = ("Count", "Rate per 1,000 residents", "% change vs a year earlier", "Outreach dose")


def measure(name: str, has_population: bool, level_label: str, outreach_recorded: Mapping[str, bool]) -> Measure:
    """The Measure for a name in MEASURES. Rates and the outreach dose per 1,000 need population;
    without it the page shows counts and says why in ``note``."""
    level = level_label.lower()
    if name == "Rate per 1,000 residents":
        if has_population:
            return Measure("rate", "rate_per_1000", "rate_text", "Incidents per 1,000 residents", "{:,.1f}")
        return Measure("count", "count", "count_text", "Incidents", "{:,.0f}",
                       note=f"No population is loaded for {level}s, so rates cannot be shown; showing counts. "
                            "Switch Geography to Community area for rates.")
    if name == "% change vs a year earlier":
        return Measure("change", "pct_change", "pct_text", "% change vs a year earlier", "{:+,.0f}%",
                       palette="diverging", hidden_column="change_hidden")
    if name == "Outreach dose":
        missing = [m.replace("_", " ") for m, ok in outreach_recorded.items() if not ok]
        note = ("Outreach dose is counted in scheduled events: "
                + (", ".join(missing) + " are empty in the loaded outreach data. " if missing else "")
                + "District-wide events (advisory committees and the like) carry no "
                + ("community area" if level == "community area" else "beat" if level == "police beat" else "")
                + " and are not in this level's dose." * (level != "police district"))
        if has_population:
            return Measure("dose", "events_per_1000", "dose_text", "Outreach events per 1,000 residents",
                           "{:,.2f}", note=note, hidden_column=None)
        return Measure("dose", "events", "events_text", "Outreach events (scheduled)", "{:,.0f}",
                       note=note + f" No population for {level}s: events, not events per 1,000.",
                       hidden_column=None)
    return Measure("count", "count", "count_text", "Incidents", "{:,.0f}")


def tooltip_columns(has_population: bool, shaded: str = "") -> dict[str, str]:
    """Text columns (from publish) -> tooltip labels, leaving out ``shaded`` (the text column the map
    already shows as its value)."""
    cols = {"count_text": "Incidents", "prior_text": "Same dates last year", "pct_text": "Change"}
    if has_population:
        cols["rate_text"] = "Per 1,000 residents"
    cols |= {"verdict_text": "Verdict", "events_text": "Outreach events"}
    return {column: label for column, label in cols.items() if column != shaded}


def legend_notes(filters: periods.Filters, withheld: Withheld) -> list[str]:
    """The map legend's notes: the filters (the colour bar's caption names measure and period) and what
    the public view withheld."""
    return [f"Offense groups: {periods.describe_groups(filters.offense_groups)}.", withheld.sentence()]


def area_list(table: pd.DataFrame, measure_: Measure) -> pd.DataFrame:
    """The table under the map: name, the published texts, change, verdict, outreach, largest first."""
    ordered = table.sort_values([measure_.column, "name"], ascending=[False, True], na_position="last")
    columns = ["area_id", "name", "count_text", "prior_text", "pct_text", "changed", "verdict_text",
               "rate_text", "events"]
    return ordered[columns]


def outreach_recorded(outreach: pd.DataFrame) -> dict[str, bool]:
    """Whether each dose measure (officer_hours, contacts, attendees) has any value in an outreach count
    frame (store.count_outreach output)."""
    return {m: bool(m in outreach and outreach[m].fillna(0).gt(0).any())
            for m in ("officer_hours", "contacts", "attendees")}


# ------------------------------------------------------------------------------------ profiles


@dataclass(frozen=True)
class Profile:
    """One area as the drill-down panel, the comparison and the council brief show it."""

    area_id: str
    name: str
    level_label: str
    period: str
    count_text: str
    prior_text: str
    pct_text: str
    rate_text: str
    verdict: str
    changed: bool
    rank_text: str
    rate_rank_text: str
    events: int
    dose_text: str
    city: dict
    weekly: pd.DataFrame  # week, count (NaN where withheld), partial
    weekly_note: str
    offenses: pd.DataFrame  # offense, count (shown ones only, top first)
    offenses_note: str
    outreach: pd.DataFrame  # date, title, type, venue (newest first)
    outreach_note: str
    public_note: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _breakdown(frame: pd.DataFrame, key: str, cells: Sequence, public: bool, k: int, shown: bool
               ) -> tuple[pd.DataFrame, privacy.Suppression | None]:
    """Counts over every cell of a breakdown (missing = 0, so a missing row cannot reveal a zero),
    suppressed under the area's published total."""
    counts = frame.set_index(key)["count"] if len(frame) else pd.Series(dtype=float)
    full = pd.DataFrame({key: list(cells)})
    full["count"] = counts.reindex(full[key]).fillna(0).astype(int).to_numpy()
    if not public:
        return full, None
    return full, privacy.suppress(full["count"].to_numpy(), k, total_published=shown)


def profile(
    row: pd.Series, table: pd.DataFrame, *, level_label: str, period: str, weekly: pd.DataFrame,
    offenses: pd.DataFrame, offense_types: Sequence[str], events: pd.DataFrame, start: date, end: date,
    public: bool, k: int, withheld: Withheld | None = None,
) -> Profile:
    """The profile of the area in ``row`` (a row of publish's table).

    weekly: [week, count] for the area (store.count_incidents(["week"], area=...)); offenses:
    [offense, count] for the area; offense_types: every offense type counted in the period (so a
    missing one is a hidden 0, not a revealed one); events: store.outreach_events for the area.
    In the public view weekly and offense breakdowns are suppressed under the area's count, and left
    out entirely when that count is itself withheld.
    """
    shown = bool(row.get("shown", True))
    weeks = periods.complete_weeks(weekly, start, end)  # every week of the period, missing ones 0
    weekly_out = weeks.copy()
    weekly_note = ""
    if public:
        weeks_sup = privacy.suppress(weeks["count"].astype(int).to_numpy(), k, total_published=shown)
        if not shown or not weeks_sup.total_shown:
            weekly_out["count"] = np.nan
            weekly_note = "Weekly counts withheld: the area's count is too small to break down (public view)."
        else:
            weekly_out["count"] = weeks_sup.masked(weeks["count"])
            if weeks_sup.hidden.any():
                weekly_note = (f"{int(weeks_sup.hidden.sum())} week(s) with {privacy.fewer_text(k)} incidents, or "
                               "withheld to protect one, are gaps in the line (public view).")
    offense_table, off_sup = _breakdown(offenses, "offense", sorted(set(offense_types) | set(offenses.get(
        "offense", []))), public, k, shown)
    if off_sup is not None and (not shown or not off_sup.total_shown):
        top = offense_table.iloc[0:0]
        offenses_note = "Offense breakdown withheld: the area's count is too small (public view)."
    else:
        keep = offense_table if off_sup is None else offense_table[~off_sup.hidden]
        top = keep[keep["count"] > 0].sort_values(["count", "offense"], ascending=[False, True]).head(TOP_OFFENSES)
        offenses_note = (f"Offense types with {privacy.fewer_text(k)} incidents here are not listed (public view)."
                         if off_sup is not None else "")
    outreach = pd.DataFrame({
        "date": pd.to_datetime(events["starts_at"]).dt.strftime("%Y-%m-%d %H:%M") if len(events) else [],
        "title": events["title"].fillna("").astype(str).to_numpy() if len(events) else [],
        "type": events["event_type"].fillna("").astype(str).str.replace("_", " ").to_numpy() if len(events) else [],
        "venue": events["venue"].fillna("").astype(str).to_numpy() if len(events) else [],
    })
    outreach_note = (f"{len(outreach):,} scheduled outreach event(s) placed here in the period "
                     "(a schedule, not attendance)." if len(outreach) else
                     "No outreach events are placed here in the period.")
    if level_label != schema.LEVELS["district"].label:
        outreach_note += (" District-wide events (advisory committees and the like) are placed on districts "
                          "only: see the Police district view.")
    position = table.index[table["area_id"] == row["area_id"]]
    rank = ranks(table, "count").loc[position].iloc[0] if len(position) else ""
    rate_rank = ranks(table, "rate_per_1000").loc[position].iloc[0] if len(position) else ""
    return Profile(
        area_id=str(row["area_id"]), name=str(row["name"]), level_label=level_label, period=period,
        count_text=str(row["count_text"]), prior_text=str(row["prior_text"]), pct_text=str(row["pct_text"]),
        rate_text=str(row["rate_text"]), verdict=str(row["verdict_text"]), changed=bool(row["changed"]),
        rank_text=rank, rate_rank_text=rate_rank, events=int(row["events"]), dose_text=str(row["dose_text"]),
        city=dict(table.attrs.get("city", {})), weekly=weekly_out[["week", "count", "partial"]],
        weekly_note=weekly_note, offenses=top[["offense", "count"]].reset_index(drop=True),
        offenses_note=offenses_note, outreach=outreach, outreach_note=outreach_note,
        public_note=withheld.sentence() if withheld is not None else "",
    )


def city_text(city: Mapping) -> str:
    """'City: 262,512 incidents (−2.3% vs a year earlier), 97.1 per 1,000 residents' with withheld parts
    left out."""
    if city.get("count") is None:
        return "Citywide total withheld (public view)."
    parts = [f"City: {city['count']:,} incidents"]
    if city.get("pct_change") is not None:
        parts.append(f" ({city['pct_change']:+.1f}% vs a year earlier)")
    if city.get("rate_per_1000") is not None:
        parts.append(f", {city['rate_per_1000']:,.1f} per 1,000 residents (areas with population)")
    return "".join(parts) + "."


def area_options(table: pd.DataFrame) -> dict[str, str]:
    """area_id -> 'Name (id)' for selectboxes, sorted by name."""
    ordered = table.sort_values(["name", "area_id"])
    return {str(a): f"{n} ({a})" if str(n) != str(a) else str(n)
            for a, n in zip(ordered["area_id"], ordered["name"], strict=True)}


# ------------------------------------------------------------------------------------ the page


@dataclass(frozen=True)
class MapInputs:
    """The aggregated frames the map page is built from (what loader.map_inputs fetches).

    current/prior: [level, count] for the period and the same dates a year earlier; weekly: [week,
    level, count] in the period; population: area_id, population; outreach: store.count_outreach by
    level; nesting: area_id, parent_id linking the fine level of NESTS to its coarse level (None when
    not both loaded); fine_current/fine_prior: [fine level, count], only for a coarse level's page.
    """

    level: str
    start: date
    end: date
    prior_start: date
    prior_end: date
    current: pd.DataFrame
    prior: pd.DataFrame
    weekly: pd.DataFrame
    population: pd.DataFrame
    outreach: pd.DataFrame
    nesting: pd.DataFrame | None = None
    fine_current: pd.DataFrame | None = None
    fine_prior: pd.DataFrame | None = None

    @property
    def fine_level(self) -> str | None:
        return next((fine for fine, coarse in NESTS.items() if coarse == self.level), None)


def map_inputs(source, level: str, start: date, end: date, offense_groups: Sequence[str] | None,
               exclude_offenses: Sequence[str] | None, nesting: pd.DataFrame | None,
               fine_needed: bool) -> MapInputs:
    """The map page's MapInputs read from ``source`` (a Store: count_incidents, count_outreach,
    population): counts by area for the period and a year earlier, weekly counts, population, outreach,
    and, when ``fine_needed``, the counts of the level that nests in ``level`` (NESTS)."""
    ex = list(exclude_offenses) if exclude_offenses else None
    prior_start, prior_end = periods.prior_period(start, end)
    fine = next((f for f, c in NESTS.items() if c == level), None) if fine_needed else None

    def counts(by: str, first: date, last: date) -> pd.DataFrame:
        return source.count_incidents([by], first, last, offense_groups, exclude_offenses=ex)

    return MapInputs(
        level=level, start=start, end=end, prior_start=prior_start, prior_end=prior_end,
        current=counts(level, start, end), prior=counts(level, prior_start, prior_end),
        weekly=source.count_incidents(["week", level], start, end, offense_groups, exclude_offenses=ex),
        population=source.population(level), outreach=source.count_outreach([level], start, end),
        nesting=nesting,
        fine_current=counts(fine, start, end) if fine else None,
        fine_prior=counts(fine, prior_start, prior_end) if fine else None,
    )


def area_detail(source, level: str, area_id: str, start: date, end: date, offense_groups: Sequence[str] | None,
                exclude_offenses: Sequence[str] | None) -> dict[str, pd.DataFrame]:
    """One area's drill-down frames read from ``source`` (a Store): weekly [week, count], offenses
    [offense, count], offense_types (every offense counted citywide in the period), events
    (Store.outreach_events)."""
    ex, area = (list(exclude_offenses) if exclude_offenses else None), (level, area_id)
    return {
        "weekly": source.count_incidents(["week"], start, end, offense_groups, area=area, exclude_offenses=ex),
        "offenses": source.count_incidents(["offense"], start, end, offense_groups, area=area, exclude_offenses=ex),
        "offense_types": source.count_incidents(["offense"], start, end, offense_groups, exclude_offenses=ex),
        "events": source.outreach_events(start, end, area=area),
    }


def _series(frame: pd.DataFrame | None, level: str | None, ids: pd.Series) -> pd.Series | None:
    """Counts by area_id over every area in ``ids`` (0 where none): the same cells the fine page has."""
    if frame is None or level is None:
        return None
    counts = frame.assign(area_id=_ids(frame, level)).groupby("area_id")["count"].sum()
    return counts.reindex(ids.astype(str).to_numpy()).fillna(0).astype(int)


def map_view(areas: pd.DataFrame, inputs: MapInputs, *, public: bool, k: int,
             excluded: Sequence[str] = ()) -> tuple[pd.DataFrame, Withheld]:
    """The map page's table (publish's columns plus verdicts) and what was withheld.

    In the public view a coarse level that a finer one nests in (districts) is counted as the sum of
    its fine areas, so the two pages' totals agree exactly with what the suppression protects."""
    current, prior, fine = inputs.current, inputs.prior, inputs.fine_level
    nested_coarse = public and fine is not None and inputs.nesting is not None and inputs.fine_current is not None
    if nested_coarse:
        current = roll_up(inputs.fine_current, inputs.nesting, fine, inputs.level)
        prior = roll_up(inputs.fine_prior, inputs.nesting, fine, inputs.level)
    table = area_numbers(areas, current, prior, inputs.population, inputs.outreach, inputs.level)
    phi = dispersion(inputs.weekly, inputs.level, table["area_id"], inputs.start, inputs.end)
    days = (inputs.end - inputs.start).days + 1
    prior_days = (inputs.prior_end - inputs.prior_start).days + 1
    table = with_verdicts(table, phi, days, prior_days)
    fine_ids = inputs.nesting["area_id"] if nested_coarse else None
    fine_current = _series(inputs.fine_current, fine, fine_ids) if nested_coarse else None
    fine_prior = _series(inputs.fine_prior, fine, fine_ids) if nested_coarse else None
    return publish(table, inputs.level, public=public, k=k, excluded=excluded, nesting=inputs.nesting,
                   fine_current=fine_current, fine_prior=fine_prior)


VERDICT_NOTE = ("Verdicts as on the Crime trends page: an exact Poisson test and an overdispersion-aware test "
                "(the larger p-value), Benjamini-Hochberg adjusted across the areas, alpha 0.05.")


def area_export(table: pd.DataFrame) -> pd.DataFrame:
    """The area table for download: only what the page shows (withheld numbers are NaN, with their text)."""
    columns = ["area_id", "name", "count_text", "count", "prior_text", "prior", "pct_change", "changed", "q",
               "verdict_text", "population", "rate_per_1000", "events", "events_per_1000"]
    return table[columns]


def row_of(table: pd.DataFrame, area_id: str) -> pd.Series | None:
    """The row of ``area_id`` (None when it is not in the table)."""
    rows = table[table["area_id"] == str(area_id)]
    return rows.iloc[0] if len(rows) else None


def area_profile(row: pd.Series, table: pd.DataFrame, detail: Mapping[str, pd.DataFrame], filters: periods.Filters,
                 *, public: bool, k: int, withheld: Withheld | None = None) -> Profile:
    """profile() for the row of an area from loader.area_detail's frames and the sidebar's filters."""
    label = schema.LEVELS[filters.level].label if filters.level in schema.LEVELS else filters.level
    return profile(row, table, level_label=label, period=filters.describe(), weekly=detail["weekly"],
                   offenses=detail["offenses"], offense_types=detail["offense_types"]["offense"].tolist(),
                   events=detail["events"], start=filters.start, end=filters.end, public=public, k=k,
                   withheld=withheld)
