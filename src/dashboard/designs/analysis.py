"""The whole impact analysis the page shows: its settings, running every design on one selection, and
the result with its caveats. No Streamlit, no plotting, no store of its own: impact_on reads the one handed to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from dashboard.designs import selection
from dashboard.designs.estimates import ALPHA, WEEK, Estimate, Skipped
from dashboard.designs.event_study import EventStudy, complete_panel, event_study
from dashboard.designs.its import Its, interrupted_time_series
from dashboard.designs.selection import CONTROL_RULES, Groups, choose_groups
from dashboard.designs.wdd import Pair, Wdd, dispersion_and_df, wdd


@dataclass(frozen=True)
class ImpactSettings:
    """What the impact page asks: which event types, at which level, how treated areas are chosen, the
    start (a Monday), the window length in weeks and the offense groups counted."""

    event_types: tuple[str, ...]
    level: str
    mode: str
    control_rule: str
    start: date
    weeks: int
    offense_groups: tuple[str, ...] | None = None
    treated: tuple[str, ...] = ()
    control: tuple[str, ...] = ()
    citywide: bool = False

    @property
    def before(self) -> tuple[date, date]:
        return ((pd.Timestamp(self.start) - self.weeks * WEEK).date(),
                (pd.Timestamp(self.start) - pd.Timedelta(days=1)).date())

    @property
    def after(self) -> tuple[date, date]:
        return self.start, (pd.Timestamp(self.start) + self.weeks * WEEK - pd.Timedelta(days=1)).date()

    @property
    def bin_weeks(self) -> int:
        """About eight bins each side of the start."""
        return max(1, self.weeks // 8)


@dataclass(frozen=True)
class ImpactResult:
    """Everything the impact page shows. ``weekly``: week, group, count (treated / comparison / buffer
    totals); a design that could not run is a Skipped with the reason."""

    settings: ImpactSettings
    groups: Groups
    wdd: Wdd | Skipped
    event_study: EventStudy | Skipped
    its: Its | Skipped
    weekly: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    def estimates(self) -> list[Estimate]:
        out = []
        if isinstance(self.wdd, Wdd):
            out.append(self.wdd.total)
        if isinstance(self.event_study, EventStudy):
            out.append(self.event_study.pooled)
        if isinstance(self.its, Its):
            out.append(self.its.level)
        return out

    def summary(self) -> pd.DataFrame:
        """One row per design: design, label, estimate, low, high, p_value, mde, unit, verdict (a skipped
        design has only its reason as verdict)."""
        rows = [e.row() for e in self.estimates()]
        rows += [{"design": s.design, "label": DESIGN_LABELS[s.design], "verdict": f"Not run: {s.reason}"}
                 for s in (self.wdd, self.event_study, self.its) if isinstance(s, Skipped)]
        return pd.DataFrame(rows, columns=["design", "label", "estimate", "low", "high", "p_value", "mde",
                                           "unit", "verdict"])


    def headlines(self) -> list[tuple[str, Estimate | Skipped, str]]:
        """(title, headline estimate or why not, what it means) for each design, in page order."""
        wdd_head = self.wdd.total if isinstance(self.wdd, Wdd) else self.wdd
        es_head = self.event_study.pooled if isinstance(self.event_study, EventStudy) else self.event_study
        its_head = self.its.level if isinstance(self.its, Its) else self.its
        return [
            ("Weighted Displacement Difference", wdd_head, DESIGN_HELP["wdd"]),
            ("Stacked event study", es_head, DESIGN_HELP["event_study"]),
            ("Interrupted time series", its_head, DESIGN_HELP["its"]),
        ]

    def wdd_table(self) -> pd.DataFrame:
        """The WDD's parts (treated areas, buffer, total, total with Poisson variance only) as summary rows."""
        if not isinstance(self.wdd, Wdd):
            return pd.DataFrame(columns=["label", "estimate", "low", "high", "p_value", "mde", "unit", "verdict"])
        parts = [self.wdd.local, *([self.wdd.buffer] if self.wdd.buffer else []), self.wdd.total]
        rows = [e.row() for e in parts]
        poisson = self.wdd.poisson_total.row() | {"label": "Total, Poisson variance only (as Wheeler & Ratcliffe)"}
        return pd.DataFrame([*rows, poisson]).drop(columns=["design"])

    def describe(self, level_label: str, type_label: str) -> str:
        """One sentence on which areas are compared and why."""
        g, cfg = self.groups, self.settings
        level = level_label.lower()
        if cfg.citywide:
            return f"{type_label} is citywide: the whole city's weekly incidents before and after {cfg.start:%d %b %Y}."
        table = g.table
        t = table[table["group"] == "treated"]["events_before"]
        c = table[table["group"] == "comparison"]["events_before"]
        if cfg.treated:
            rule = "chosen by hand"
        elif cfg.mode == "dose":
            rule = (f"the top quarter by {type_label.lower()} events in the {cfg.weeks} weeks before "
                    f"{cfg.start:%d %b %Y}" + (f": {int(t.min())} or more" if len(t) else ""))
        else:
            rule = f"{type_label.lower()} began in the {cfg.weeks} weeks from {cfg.start:%d %b %Y}, none before"
        if cfg.control:
            crule = "chosen by hand"
        elif cfg.control_rule == "few":
            crule = "the bottom quarter" + (f": {int(c.max())} or fewer" if len(c) else "")
        else:
            crule = CONTROL_RULES.get(cfg.control_rule, cfg.control_rule).lower()
        return (f"{len(g.treated)} treated {level}s ({rule}); {len(g.control)} comparison {level}s ({crule}); "
                f"{len(g.buffer)} buffer {level}s touching treated ones. Incidents of the offense groups in the "
                f"sidebar, {cfg.weeks} weeks before and after.")

    def pretrend_text(self) -> str:
        """Were treated and comparison areas moving alike before the start? (the event study's leads)"""
        es = self.event_study
        if not isinstance(es, EventStudy) or es.pretrend_p is None:
            return "No pre-trend test: the event study did not run."
        if es.pretrend_p < ALPHA:
            return (f"Before the start, treated and comparison areas were already moving apart (pre-trend test "
                    f"p = {es.pretrend_p:.3f}): the comparison is not a fair stand-in for what would have "
                    "happened, so read every design's estimate as description, not effect.")
        return (f"Before the start, treated and comparison areas moved alike within chance (pre-trend test "
                f"p = {es.pretrend_p:.2f}); that supports, but cannot prove, the comparison.")

    def caveats(self, recorded: Sequence[str]) -> list[str]:
        """What a reader of these numbers must know (for the page and the brief)."""
        out = []
        if self.settings.mode == "dose":
            out.append("Dose comparison, not on/off: the program ran in the comparison areas too, only less. "
                       "Areas that hold many events may differ from the others in ways that also move crime.")
        if set(recorded) <= {"events"}:
            out.append("Dose is counted in scheduled events only: attendance, officer hours and contacts are not "
                       "recorded in the loaded data.")
        if isinstance(self.event_study, EventStudy) and self.event_study.pretrend_p is not None \
                and self.event_study.pretrend_p < ALPHA:
            out.append(self.pretrend_text())
        if isinstance(self.its, Its):
            out.append("The interrupted time series has no comparison group: anything else that changed at the "
                       "start (policy, weather, reporting) is counted as the program's.")
        if isinstance(self.wdd, Wdd) and self.wdd.dispersion > 1.5:
            out.append(f"Area counts vary {self.wdd.dispersion:.1f} times more than chance alone would make them; "
                       "the WDD interval is widened accordingly (a Poisson-only interval would be too narrow).")
        out += list(self.notes)
        return out


DESIGN_LABELS = {"wdd": "Weighted Displacement Difference", "event_study": "Stacked event study",
                 "its": "Interrupted time series", "survey": "Survey change"}
DESIGN_HELP = {
    "wdd": "Incidents after minus before in the treated areas, against the change the comparison areas imply "
           "(scaled to the treated areas' size), plus the same for the buffer of touching areas, so crime pushed "
           "next door is not counted as prevented (Wheeler & Ratcliffe 2018). Negative = fewer incidents.",
    "event_study": "Weekly incidents of treated and comparison areas in a Poisson model with area and week "
                   "effects, stacked by start date so areas treated earlier never serve as comparisons; errors "
                   "clustered by area. The number is the average % difference after the start.",
    "its": "The treated areas' weekly series with its trend and season before the start, and the jump at the "
           "start (segmented Poisson regression, Newey-West errors). No comparison group.",
}


def type_label(register: pd.DataFrame, event_type: str) -> str:
    """The register's label of an event type (the key itself when the register lacks it)."""
    match = register.loc[register["event_type"] == event_type, "label"]
    return str(match.iloc[0]) if len(match) else event_type


def run_impact(settings: ImpactSettings, panel: pd.DataFrame, dose: pd.DataFrame, near: Mapping[str, set[str]],
               parents: Mapping[str, str] | None, first_events: Mapping[str, pd.Timestamp],
               citywide: pd.DataFrame | None = None) -> ImpactResult:
    """Choose the areas and run the three designs.

    ``panel``: area_id, week, count of incidents over the whole loaded range (complete weeks);
    ``dose``: area_id, name, events_before, events_after; ``first_events``: area -> first event Monday
    (for rollout starts and not-yet-treated comparisons); ``citywide``: week, count for the ITS of a
    citywide program (None: the ITS runs on the treated areas' total).
    """
    groups = choose_groups(dose, near, mode=settings.mode, control_rule=settings.control_rule,
                           start=settings.start, parents=parents, first_events=first_events,
                           treated=settings.treated, control=settings.control)
    notes = list(groups.notes)
    areas = set(dose["area_id"].astype(str))
    lo, hi = panel["week"].min(), panel["week"].max()
    full = complete_panel(panel, areas, lo, hi) if len(panel) else panel
    group_of = {a: "treated" for a in groups.treated} | {a: "comparison" for a in groups.control} | {
        a: "buffer" for a in groups.buffer}
    tagged = full.assign(group=full["area_id"].map(group_of)).dropna(subset=["group"])
    weekly = tagged.groupby(["week", "group"], as_index=False)["count"].sum()

    if settings.citywide:
        why = "A citywide program has no treated places to compare with untreated ones; only the ITS applies."
        its = (interrupted_time_series(citywide, settings.start) if citywide is not None
               else Skipped("its", "No citywide series."))
        return ImpactResult(settings, groups, Skipped("wdd", why), Skipped("event_study", why), its, weekly,
                            tuple(notes))
    if not groups.treated:
        why = "No area qualifies as treated with these settings."
        skip = Skipped("wdd", why)
        return ImpactResult(settings, groups, skip, Skipped("event_study", why), Skipped("its", why), weekly,
                            tuple(notes))
    # WDD: common windows before and after the start.
    s0, s1 = pd.Timestamp(settings.start) - settings.weeks * WEEK, pd.Timestamp(settings.start)
    e1 = s1 + settings.weeks * WEEK
    if settings.mode == "rollout":
        notes.append("Treated areas start at different dates; the WDD counts the same before/after windows for "
                     "all of them, the event study uses each area's own start.")
    per_area = tagged.assign(period=np.select([(tagged["week"] >= s0) & (tagged["week"] < s1),
                                               (tagged["week"] >= s1) & (tagged["week"] < e1)],
                                              ["before", "after"], ""))
    per_area = per_area[per_area["period"] != ""]
    if s0 < lo or e1 - WEEK > hi:
        wdd_result: Wdd | Skipped = Skipped("wdd", f"The {settings.weeks}-week windows before and after the "
                                            "start do not fit inside the loaded incidents.")
    elif not groups.control:
        wdd_result = Skipped("wdd", "No comparison areas.")
    else:
        sums = per_area.groupby(["group", "period"])["count"].sum()

        def pair(g: str) -> Pair:
            return float(sums.get((g, "before"), 0.0)), float(sums.get((g, "after"), 0.0))

        t, c = pair("treated"), pair("comparison")
        d = pair("buffer") if groups.buffer else None
        if c[0] <= 0:
            wdd_result = Skipped("wdd", "The comparison areas had no incidents before the start.")
        else:
            table = (per_area.groupby(["area_id", "group", "period"])["count"].sum().unstack("period")
                     .reindex(columns=["before", "after"], fill_value=0).fillna(0).reset_index())
            phi, phi_df = dispersion_and_df(table)
            wdd_result = wdd(t, c, d, scale_to_before=True, dispersion=phi, dispersion_df=phi_df)
    # In a dose comparison every area holds events, so "first event" is no start: comparison areas stay
    # comparisons throughout. In a rollout they are clean only until their own first event.
    es = event_study(full, groups.starts, groups.control, settings.weeks, settings.bin_weeks,
                     first_events=groups.first_events if settings.mode == "rollout" else None
                     ) if groups.control else Skipped(
        "event_study", "No comparison areas.")
    series = citywide if citywide is not None else (
        weekly[weekly["group"] == "treated"][["week", "count"]])
    its_start = (pd.Timestamp(settings.start) if settings.mode == "dose"
                 else min(groups.starts.values()))
    its = interrupted_time_series(series, its_start)
    return ImpactResult(settings, groups, wdd_result, es, its, weekly, tuple(notes))


def impact_on(source, settings: ImpactSettings, areas: pd.DataFrame, near: Mapping[str, set[str]],
              parents: Mapping[str, str] | None) -> ImpactResult | None:
    """run_impact for ``settings`` on the data of ``source`` (a Store: date_bounds, has, count_incidents,
    count_outreach): the incident panel over every complete week loaded, the dose before and after the start
    in ``areas`` (area_id, name of the settings' level) and each area's first event. None when no complete
    week of incidents is loaded."""
    bounds = source.date_bounds("incidents")
    weeks = selection.complete_week_range(*bounds) if bounds else None
    if weeks is None:
        return None
    first, last = weeks
    end = (pd.Timestamp(last) + pd.Timedelta(days=6)).date()
    level = settings.level
    groups = settings.offense_groups
    panel = source.count_incidents([level, "week"], first, end, offense_groups=groups)
    panel = panel.rename(columns={level: "area_id"})
    types = list(settings.event_types)
    before = source.count_outreach([level], *settings.before, event_types=types)
    after = source.count_outreach([level], *settings.after, event_types=types)
    out_bounds = source.date_bounds("outreach") if source.has("outreach") else None
    weekly = (source.count_outreach([level, "week"], *out_bounds, event_types=types) if out_bounds
              else pd.DataFrame(columns=[level, "week", "events"]))
    citywide = None
    if settings.citywide:
        citywide = source.count_incidents(["week"], first, end, offense_groups=groups)
    dose = selection.dose_frame(areas, before, after, level)
    return run_impact(settings, panel, dose, near, parents, selection.first_events(weekly, level, since=settings.before[0]),
                      citywide)
