"""Incidents: an export and its plan -> canonical incidents, every rejected row named by its rule.

``prepare`` is the kind's preparer (schema.KINDS["incidents"]): derive the canonical columns
(derive.py), apply the incident rules, then the schema as last guard. It never stores anything.
"""

from __future__ import annotations

import pandas as pd

from dashboard import schema
from dashboard.ingest import rules
from dashboard.ingest.derive import Derived, derive_incidents
from dashboard.ingest.plan import Plan, Source, check_required
from dashboard.ingest.report import Prepared, Report, finalise
from dashboard.ingest.values import placeholder_coordinates, to_number

DUPLICATE_ID = rules.DUPLICATE_INCIDENT_ID.message


def prepare(raw: pd.DataFrame, plan: Plan, source: Source) -> Prepared:
    """An incident export and its confirmed plan -> canonical incidents and the report."""
    # A plan maps a field by naming it (a date may come from year and month instead).
    if schema.KINDS["incidents"].unmapped_required({name: name for name in plan.columns}):
        check_required(raw, "incidents", plan.columns, source.name)
    derived = derive_incidents(raw, plan, source.areas)
    prepared = validate(derived, source, offense_groups=plan.offense_groups, unknown_offense=plan.unknown_offense)
    report = prepared.report
    report.fixes = {**derived.notes["fixes"], **report.fixes}
    hostile = derived.notes["hostile"]
    if hostile:
        report.warnings.insert(0, (
            "Some text looks like spreadsheet formulas or HTML/script ("
            + "; ".join(f"{k}: {v:,} values" for k, v in hostile.items())
            + "). It is stored as plain text, shown escaped, and defused (prefixed with ') in CSV downloads."))
    repeats = report.rejected_by_code.get(rules.DUPLICATE_INCIDENT_ID.code, 0)
    if repeats:
        report.warnings.append(
            f"{repeats:,} rows repeat the incident id of a later row: the file may hold one row per "
            "offense (or per victim); each incident is stored once (its last row).")
    report.mapping = {**plan.to_dict(), "date_format": plan.date_format or derived.notes.get("date_format")}
    if len(report.rejected):
        # The reviewer sees the file's own columns, whatever was derived from them.
        rows = report.rejected["row"].to_numpy()
        original = raw.reset_index(drop=True).iloc[rows - 1].reset_index(drop=True)
        report.rejected = pd.concat([report.rejected[["row", "reason"]], original], axis=1)
    return prepared


def validate(derived: Derived, source: Source, *, offense_groups: dict[str, str] | None = None,
             unknown_offense: str = "other") -> Prepared:
    """The incident rules over derived columns: ids, dates, offenses, coordinates, repeated ids.

    ``offense_groups`` (offense -> group) adds to the editable offense table for this source;
    ``unknown_offense="reject"`` rejects offenses in neither instead of grouping them as 'other'."""
    raw, rej, done = derived.frame, derived.rejections, derived.text
    report = Report("incidents", source.name, source.digest, len(raw), 0, pd.DataFrame())
    out = pd.DataFrame(index=raw.index)

    ids, repeats = done["ids"]
    out["incident_id"] = ids
    rej.add(ids.isna() | (ids == ""), rules.MISSING_INCIDENT_ID)

    occurred = raw["occurred_at"]
    rej.add(occurred.isna(), rules.UNPARSEABLE_DATE)
    now = source.now or pd.Timestamp.now()
    rej.add((occurred < pd.Timestamp("1900-01-01")) | (occurred > now + pd.Timedelta(days=1)), rules.IMPOSSIBLE_DATE)
    out["occurred_at"] = occurred

    missing_offense, out["offense"], out["offense_group"], report.unmapped_offenses = done["offense"]
    rej.add(missing_offense, rules.MISSING_OFFENSE)
    if report.unmapped_offenses and unknown_offense == "reject":
        rej.add(out["offense"].isin(list(report.unmapped_offenses)).fillna(False), rules.UNKNOWN_OFFENSE)
    elif report.unmapped_offenses:
        unmapped = report.unmapped_offenses
        report.warnings.append(f"{sum(unmapped.values())} rows have offenses not in the offense table "
                               f"({len(unmapped)} distinct); they were grouped as 'other'.")
    for name in ("case_number", "offense_detail", "offense_code", "location_type", "block"):
        out[name] = done[name]

    lat, lon = to_number(raw["latitude"]), to_number(raw["longitude"])
    # Exports mark a missing location with 0 or -1 (LAPD, Boston); never plot those.
    placeholder = placeholder_coordinates(lat) | placeholder_coordinates(lon)
    out_of_range = ~placeholder & lat.notna() & lon.notna() & ((lat.abs() > 90) | (lon.abs() > 180))
    one_sided = lat.isna() != lon.isna()
    drop_xy = placeholder | out_of_range | one_sided
    report.fixes.update({
        "coordinates 0 or -1 treated as missing": int((placeholder & lat.notna()).sum()),
        "coordinates out of range removed": int(out_of_range.sum()),
        "coordinates with only one of lat/lon removed": int(one_sided.sum()),
    })
    out["latitude"] = lat.mask(drop_xy)
    out["longitude"] = lon.mask(drop_xy)

    for level in schema.LEVELS.values():
        out[level.column] = raw[level.column]
    out["arrest"] = done["arrest"]
    out["domestic"] = done["domestic"]

    rej.add(repeats, rules.DUPLICATE_INCIDENT_ID)
    report.fixes = {k: v for k, v in report.fixes.items() if v}
    return finalise("incidents", out, raw, rej, report)
