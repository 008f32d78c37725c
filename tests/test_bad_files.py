"""The bad-file corpus (tests/fixtures/bad_files, made by tests/fixtures/make_bad_files.py): every file
goes through the upload path (read_upload -> mapping.suggest -> prepare_mapped -> commit) against a
seeded store. Each either fails with a message naming what is wrong and how to fix it, or (valid rows
among bad ones, hostile but valid text) reports exactly what it rejected or flagged and keeps hostile
text verbatim and inert. Either way the store is unchanged: same versions, same content hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import geo, ingest, mapping, sample
from dashboard.errors import DashboardError
from dashboard.store import Store
from tests.conftest import REPO

BAD = REPO / "tests" / "fixtures" / "bad_files"
E, R, F = "error", "rejects", "flagged"

# file -> (outcome, what the message, a rejection reason or a warning must say)
EXPECT: dict[str, tuple[str, str]] = {
    "empty.csv": (E, "File is empty"),
    "whitespace_only.csv": (E, "File is empty"),
    "bom_only.csv": (E, "File is empty"),
    "header_only.csv": (E, "header but no rows"),
    "binary_noise.csv": (E, "Not a text file"),
    "png_renamed.csv": (E, "Not a text file"),
    "truncated.csv.gz": (E, "Compressed file is damaged"),
    "gzip_bomb.csv.gz": (E, "File is too large"),
    "zip_bomb.zip": (E, "zip bomb"),
    "zip_truncated.zip": (E, "Zip file is damaged"),
    "zip_two_tables.zip": (E, "Zip holds no single data file"),
    "zip_no_data.zip": (E, "Zip holds no single data file"),
    "html_error_page.csv": (E, "web page"),
    "xml_export.csv": (E, "web page"),
    "old_excel.xls": (E, "Old Excel format"),
    "corrupt_workbook.xlsx": (E, "Excel file could not be read"),
    "workbook_header_only.xlsx": (E, "header but no rows"),
    "truncated.parquet": (E, "Parquet file could not be read"),
    "json_not_records.json": (E, "JSON holds no table"),
    "json_truncated.json": (E, "not valid JSON"),
    "unrelated_columns.csv": (E, "Required incidents columns not found"),
    "population_as_incidents.csv": (E, "Required incidents columns not found"),
    "boundaries_as_incidents.geojson": (E, "Boundary file uploaded as data"),
    "ragged_rows.csv": (E, "could not be parsed"),
    "unclosed_quote.csv": (E, "could not be parsed"),
    "huge_single_line.csv": (E, "header but no rows"),
    "every_date_unparseable.csv": (E, "Date format not recognised"),
    "impossible_dates.csv": (E, "No valid incidents rows"),
    "every_id_missing.csv": (E, "No valid incidents rows"),
    "mixed_date_formats.csv": (E, "more than one format"),
    "unknown_date_format.csv": (E, "Date format not recognised"),
    "coordinates_in_feet.csv": (E, "not degrees"),
    "xy_unknown_system.csv": (E, "Coordinate system needed"),
    "swapped_lat_lon.csv": (E, "look swapped"),
    "outside_every_boundary.csv": (E, "No valid incidents rows"),
    "too_large.csv": (E, "File is too large"),
    "points_not_polygons.geojson": (E, "no polygons"),
    "empty_feature_collection.geojson": (E, "no features"),
    "boundaries_in_feet.geojson": (E, "look like feet"),
    "broken_geometry.geojson": (E, "could not be read"),
    "shapefile_without_prj.zip": (E, "no coordinate system"),
    "shapefile_400k_features.zip": (E, "Too many boundary features"),
    "some_rows_invalid.csv": (R, "unparseable date"),
    "duplicate_ids.csv": (R, "duplicate incident id"),
    "nibrs_offense_rows.csv": (R, "duplicate incident id"),
    "text_field_too_long.csv": (R, "block longer than 2,000 characters"),
    "formula_strings.csv": (F, "formulas"),
    "html_and_script.csv": (F, "HTML/script"),
    "self_intersecting_polygon.geojson": (F, "invalid"),
}
MESSAGE_HAS = {  # what the message must also name, beyond the title
    "impossible_dates.csv": ("unparseable date", "impossible date"),
    "every_id_missing.csv": ("missing incident id",),
    "outside_every_boundary.csv": ("outside every boundary",),
}
AREAS_KIND = {n for n in EXPECT if n.endswith((".geojson", ".zip")) and "incidents" not in n
              and not n.startswith("zip_")}
MAX_MB = {"too_large.csv": 0.01}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("bad_files") / "dashboard.duckdb", lock_timeout=5, idle_close=0)
    sample.seed_store(store, REPO / "data" / "sample")
    return store


@pytest.fixture(scope="module")
def areas(store) -> dict:
    return {lv: geo.from_store(store.areas(lv)) for lv in store.levels()}


def attempt(name: str, store: Store, areas: dict):
    """The page's path for one file; commits only what validates with nothing rejected or flagged."""
    upload = ingest.read_upload((BAD / name).read_bytes(), name, max_mb=MAX_MB.get(name, 5))
    kind = "areas" if name in AREAS_KIND else "incidents"
    suggestion = mapping.suggest(upload.frame, is_geo=upload.is_geo, kind=kind, areas=areas)
    plan = mapping.with_choices(suggestion.plan, level="beat") if kind == "areas" else suggestion.plan
    prepared = ingest.prepare_mapped(upload, plan, areas=areas)
    if not prepared.report.rows_rejected and not prepared.report.warnings:
        ingest.commit_prepared(store, prepared, mode="append", author="test", level=plan.level)
    return prepared


def test_corpus_is_complete_and_small():
    files = {p.name for p in BAD.iterdir() if p.name != "README.md"}
    assert files == set(EXPECT), "every corpus file needs an expectation (and vice versa)"
    assert len(files) >= 40
    assert max(p.stat().st_size for p in BAD.iterdir()) < 300_000
    readme = (BAD / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in files), "README.md documents every file"


@pytest.mark.filterwarnings("ignore:OGRGeoJSONReadPolygon:RuntimeWarning")  # broken_geometry.geojson
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_bad_file(name, store, areas):
    before = store.versions()
    outcome, expected = EXPECT[name]
    if outcome == E:
        with pytest.raises(DashboardError) as info:
            attempt(name, store, areas)
        err = info.value
        assert expected.lower() in f"{err.title} {err.message}".lower(), (err.title, err.message)
        assert err.message and err.hint, "a message saying what is wrong and a hint saying how to fix it"
        for part in MESSAGE_HAS.get(name, ()):
            assert part in err.message
    else:
        prepared = attempt(name, store, areas)
        report = prepared.report
        if outcome == R:
            assert any(expected in r for r in report.reason_counts()), report.reason_counts()
            assert report.rows_kept > 0 and len(report.rejected) == report.rows_rejected
        else:
            assert any(expected in w for w in report.warnings), report.warnings
    after = store.versions()
    assert after.equals(before), "the store changed"


def test_hostile_text_is_kept_verbatim_and_defused_in_csv(store, areas):
    frame = attempt("html_and_script.csv", store, areas).frame
    assert "<script>alert(1)</script>" in set(frame["block"])  # stored as text; pages escape it
    formulas = attempt("formula_strings.csv", store, areas).frame
    assert any(str(v).startswith("=HYPERLINK") for v in formulas["block"])
    csv = ingest.safe_csv_bytes(formulas).decode()
    assert "'=HYPERLINK" in csv and "'+cmd" in csv and "'@SUM" in csv
    assert "\n=HYPERLINK" not in csv and ",=HYPERLINK" not in csv


def test_regenerating_the_corpus_reproduces_it(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_bad_files", REPO / "tests" / "fixtures" / "make_bad_files.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path)
    made = module.files()
    for name, data in made.items():
        assert (BAD / name).read_bytes() == data, f"{name} differs from what make_bad_files.py writes"
    assert Path(tmp_path).exists()


def _embedded_dates(data: bytes) -> list[tuple]:
    """Every date the file format stores about its own making: zip entry times, a gzip header's mtime,
    dBase header dates (inside zips), and the created/modified stamps of an Office workbook."""
    import io
    import re
    import struct
    import zipfile

    found: list[tuple] = []
    if data[:2] == b"\x1f\x8b":
        found.append(("gzip mtime", struct.unpack("<I", data[4:8])[0]))
        return found
    if data[:2] != b"PK":
        return found
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return found  # the deliberately cut-off zip has no directory to read
    for info in members:
        found.append(("zip entry time", info.date_time))
        try:
            body = archive.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile):
            continue
        if info.filename.lower().endswith(".dbf"):
            found.append(("dBase date", tuple(body[1:4])))
        if info.filename.endswith("core.xml"):
            found += [("workbook stamp", s) for s in re.findall(rb"\d{4}-\d\d-\d\dT[\d:]+Z", body)]
    return found


def test_no_fixture_carries_the_day_it_was_made():
    # A generator that embeds today's date makes the regeneration test pass only on the day the corpus
    # was written (the dBase header of a Shapefile did). Every stamp must be the generator's fixed one.
    fixed = {("gzip mtime", 0), ("zip entry time", (2020, 1, 1, 0, 0, 0)), ("dBase date", (120, 1, 1)),
             ("workbook stamp", b"2020-01-01T00:00:00Z")}
    stamps = {}
    for path in sorted(BAD.iterdir()):
        for stamp in _embedded_dates(path.read_bytes()):
            stamps.setdefault(stamp, []).append(path.name)
    assert stamps, "no archive found in the corpus"
    assert {s: names for s, names in stamps.items() if s not in fixed} == {}
    assert ("dBase date", (120, 1, 1)) in stamps
