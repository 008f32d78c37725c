"""Population by area: a table of areas of one boundary level and their residents -> canonical
population rows. The kind's preparation code; it never stores anything."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard.ingest import rules
from dashboard.ingest.plan import Plan, Source, check_required, mapped_column, suggest_mapping
from dashboard.ingest.report import Prepared, Report, finalise
from dashboard.ingest.rules import Rejections
from dashboard.ingest.values import canonical_area_id


def prepare_population(
    raw: pd.DataFrame, *, source_name: str, digest: str, level: str, year: int | None = None,
    mapping: dict[str, str] | None = None,
) -> Prepared:
    """Raw population table -> canonical population rows for one boundary level."""
    mapping = mapping or suggest_mapping(raw.columns, "population")
    check_required(raw, "population", mapping, source_name)
    raw = raw.reset_index(drop=True)
    rej = Rejections(len(raw))
    report = Report("population", source_name, digest, len(raw), 0, pd.DataFrame(), mapping=dict(mapping))
    out = pd.DataFrame(index=raw.index)
    out["level"] = level
    out["area_id"] = canonical_area_id(mapped_column(raw, mapping, "area_id"), level)
    rej.add(out["area_id"].isna(), rules.MISSING_AREA_ID)
    if "year" in mapping:
        years = pd.to_numeric(mapped_column(raw, mapping, "year"), errors="coerce")
    elif year is not None:
        years = pd.Series(year, index=raw.index, dtype=float)
    else:
        match = re.search(r"(19|20)\d{2}", mapping["population"])
        years = pd.Series(float(match.group()) if match else np.nan, index=raw.index)
    rej.add(years.isna(), rules.MISSING_YEAR)
    out["year"] = years.fillna(0).astype(int)
    pop = pd.to_numeric(mapped_column(raw, mapping, "population").astype("string").str.replace(",", ""),
                        errors="coerce")
    rej.add(pop.isna() | (pop < 0), rules.BAD_POPULATION)
    out["population"] = pop.fillna(0).astype(int)
    out["source"] = mapped_column(raw, mapping, "source").astype("string").fillna(source_name)
    return finalise("population", out, raw, rej, report)


def prepare(raw: pd.DataFrame, plan: Plan, source: Source) -> Prepared:
    """The kind's preparer (schema.KINDS["population"]): the plan's level (community areas unless
    said), year and columns."""
    prepared = prepare_population(raw, source_name=source.name, digest=source.digest,
                                  level=plan.level or "community_area", year=plan.year, mapping=plan.columns or None)
    report = prepared.report
    report.mapping = {**plan.to_dict(), "date_format": plan.date_format or report.mapping.get("date_format")}
    return prepared
