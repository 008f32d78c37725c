"""Raw file -> canonical frame -> store: the ingest, one pipeline for the upload page, the CLI and the
sample build (pipeline.py). Its public names are gathered here; each module says what it does. It
writes to the store only in ``commit_prepared`` and never imports Streamlit.
"""

from dashboard.ingest.caps import beats_in_title, caps_events_to_outreach, classify_title, event_type_table
from dashboard.ingest.derive import areas_bounds, derive_incidents, hostile_text
from dashboard.ingest.incidents import DUPLICATE_ID
from dashboard.ingest.kernels import PARALLEL_ROWS, duplicated_ids
from dashboard.ingest.pipeline import commit_prepared, prepare_file, prepare_mapped
from dashboard.ingest.plan import UPLOAD_KINDS, Plan, normalise_header, suggest_mapping
from dashboard.ingest.read import Upload, file_hash, read_table, read_upload
from dashboard.ingest.report import Prepared, Report, preview_area_counts, preview_weekly, safe_csv_bytes
from dashboard.ingest.rules import RULES, Rule
from dashboard.ingest.values import (
    DATE_FORMATS,
    area_lookup,
    canonical_area_id,
    detect_date_format,
    group_offenses,
    looks_projected,
    match_area_ids,
    normalise_name,
    parse_bool,
    parse_datetimes,
    parse_location,
    parse_time_of_day,
    project_to_degrees,
    swapped_latlon,
)

__all__ = [
    "DATE_FORMATS", "DUPLICATE_ID", "PARALLEL_ROWS", "RULES", "UPLOAD_KINDS", "Plan", "Prepared", "Report",
    "Rule", "Upload", "area_lookup", "areas_bounds", "beats_in_title", "canonical_area_id",
    "caps_events_to_outreach", "classify_title", "commit_prepared", "derive_incidents", "detect_date_format",
    "duplicated_ids", "event_type_table", "file_hash", "group_offenses", "hostile_text", "looks_projected",
    "match_area_ids", "normalise_header", "normalise_name", "parse_bool", "parse_datetimes", "parse_location",
    "parse_time_of_day", "prepare_file", "prepare_mapped", "preview_area_counts", "preview_weekly",
    "project_to_degrees", "read_table", "read_upload", "safe_csv_bytes", "suggest_mapping", "swapped_latlon",
]
