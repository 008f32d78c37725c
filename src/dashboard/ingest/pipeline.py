"""The one path every file takes, from the upload page, `python -m dashboard ingest` and the sample
build alike: read (read.py) -> a confirmed Plan -> prepare_mapped (the kind's preparer, named in
schema.KINDS) -> commit_prepared (one store commit with provenance). Nothing is stored before the commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dashboard import schema
from dashboard.errors import IngestError
from dashboard.ingest.plan import Plan, Source, suggest_mapping
from dashboard.ingest.read import Upload, read_upload
from dashboard.ingest.report import Prepared
from dashboard.ingest.values import detect_date_format

# Files named by a script are trusted to be as large as they are; uploads have DASHBOARD_MAX_UPLOAD_MB.
FILE_MAX_MB = 1_000_000
MIXED_DATES_WARNING = "Date format not recognised; parsed value by value (slower, check the result)."


def prepare_mapped(upload: Upload | pd.DataFrame, plan: Plan, *, source_name: str = "", digest: str = "",
                   areas: dict[str, Any] | None = None, known_beats: set[str] | None = None,
                   now: pd.Timestamp | None = None) -> Prepared:
    """An upload and its confirmed plan -> canonical frame and report (nothing is stored).

    ``areas`` maps a level to its boundaries (area_id, name, geometry) for matching area names and
    point-in-polygon; the report's rejected table holds the file's own columns, whatever was derived."""
    raw = upload.frame if isinstance(upload, Upload) else upload
    if isinstance(upload, Upload):
        source_name = source_name or upload.name
    kind = schema.KINDS.get(plan.kind)
    if isinstance(upload, Upload) and upload.is_geo and (kind is None or kind.placed != schema.PLACED_AS_BOUNDARIES):
        raise IngestError("Boundary file uploaded as data", f"{source_name} holds shapes (boundaries).",
                          hint="Choose the kind 'areas' and the boundary level it holds.")
    preparer = kind.preparer() if kind is not None else None
    if preparer is None:
        raise IngestError(
            f"{plan.kind.capitalize()} uploads are not supported yet",
            f"{source_name} looks like {plan.kind}; this version stores incidents, boundaries, population "
            "and the CAPS outreach calendar.",
            hint="Pick another kind if the detection is wrong; survey results need their own importer.")
    prepared = preparer(raw, plan, Source(source_name, digest, areas, known_beats, now))
    # The file's hash is read at the end: a large file may still be hashed on a second core.
    prepared.report.file_hash = digest or (upload.digest if isinstance(upload, Upload) else "")
    return prepared


def prepare_file(
    path: Path | str, kind: str, *, data: bytes | None = None, level: str | None = None, year: int | None = None,
    mapping: dict[str, str] | None = None, date_format: str | None = None,
    known_beats: set[str] | None = None,
) -> Prepared:
    """Read one file of ``kind`` from disk (or ``data``) and prepare it as an upload with this plan:
    ``mapping`` (else the header synonyms), ``date_format`` (else detected; dates in no known format are
    read value by value, with a warning), ``level`` and ``year``. Nothing is stored."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError("File could not be opened", f"{path}: {exc.strerror}.",
                              hint="Check the path and that you may read the file.") from exc
    upload = read_upload(data, path.name, max_mb=FILE_MAX_MB)
    columns = mapping or suggest_mapping([c for c in upload.frame.columns if c != "geometry"], kind)
    dates = upload.frame.get(columns.get("occurred_at", "")) if kind == "incidents" else None
    parsed = dates is not None and pd.api.types.is_datetime64_any_dtype(dates.dtype)
    unknown = dates is not None and not parsed and date_format is None and detect_date_format(dates) is None
    if parsed or unknown:
        date_format = date_format or "mixed"
    plan = Plan(kind=kind, columns=dict(columns), date_format=date_format, level=level, year=year)
    prepared = prepare_mapped(upload, plan, known_beats=known_beats)
    report = prepared.report
    if unknown:
        report.warnings.insert(0, MIXED_DATES_WARNING)
    # The report says which columns and date format the file was read by (there was no plan to save).
    report.mapping = {**columns, **({"date_format": report.mapping["date_format"]} if kind == "incidents" else {})}
    return prepared


def commit_prepared(store, prepared: Prepared, *, mode: str = "append", author: str = "", note: str = "",
                    level: str | None = None, role: str = "") -> int:
    """Store a prepared upload as a new version (one transaction) with its provenance; return the version.

    Boundaries replace per level: mode 'replace' swaps the areas of ``level`` and keeps the others."""
    from dashboard.store import Provenance

    r = prepared.report
    frame = prepared.frame
    if schema.KINDS[r.kind].placed == schema.PLACED_AS_BOUNDARIES and mode == "replace" and store.has(r.kind):
        import geopandas as gpd

        from dashboard import geo

        others = [geo.from_store(store.areas(lv)).assign(level=lv) for lv in store.levels() if lv != level]
        frame = gpd.GeoDataFrame(pd.concat([*others, frame], ignore_index=True), crs=schema.CRS)
        frame = frame[["level", "area_id", "name", "geometry"]]
    return store.commit(r.kind, frame, Provenance(
        source=r.source_name, file_hash=r.file_hash, rows_in=r.rows_in, rows_kept=r.rows_kept,
        rows_rejected=r.rows_rejected, mapping=r.mapping, author=author or "unknown", note=note, role=role,
    ), mode=mode)
