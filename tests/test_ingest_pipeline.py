"""ingest.pipeline: one path from bytes to a stored version, with clear errors for bad files."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from dashboard import ingest
from dashboard.errors import IngestError
from tests.conftest import REPO
from tests.ingest_support import CHICAGO_HEADER, GOOD, chicago_csv, prepare


@pytest.mark.parametrize(
    ("data", "title"),
    [
        (b"", "File is empty"),
        (CHICAGO_HEADER.encode() + b"\n", "File has a header but no rows"),
        (b"\x00\x01\x02binary\x00" * 10, "Not a text file"),
        (gzip.compress(chicago_csv(GOOD))[:40], "Compressed file is damaged"),
        (b"a,b\n1,2\n", "Required incidents columns not found"),
    ],
)
def test_bad_files_get_a_clear_error(data, title):
    with pytest.raises(IngestError) as info:
        prepare(data)
    assert info.value.title == title
    assert info.value.hint



def test_commit_prepared_records_provenance_and_replaces_one_area_level(store, sample_store):
    import geopandas as gpd
    from shapely.geometry import box

    from dashboard import sample
    from dashboard.store import Provenance

    store.commit("areas", sample.read_sample(REPO / "data" / "sample", "areas"), Provenance("sample"))
    gdf = gpd.GeoDataFrame({"beat_num": ["9001", "9002"]}, geometry=[box(-87.7, 41.8, -87.6, 41.9),
                                                                     box(-87.6, 41.8, -87.5, 41.9)], crs="EPSG:4326")
    upload = ingest.read_upload(gdf.to_json().encode(), "new_beats.geojson")
    plan = ingest.Plan(kind="areas", columns={"area_id": "beat_num"}, level="beat")
    version = ingest.commit_prepared(store, ingest.prepare_mapped(upload, plan), mode="replace", author="ana",
                                     level="beat")
    assert store.areas("beat")["area_id"].tolist() == ["9001", "9002"]
    assert len(store.areas("community_area")) == 77 and len(store.areas("district")) == 23
    row = store.versions("areas").iloc[0]
    assert (row["version"], row["author"], row["source"], row["rows_kept"]) == (version, "ana", "new_beats.geojson", 2)


def test_a_file_on_disk_takes_the_upload_path(tmp_path):
    """prepare_file (the sample build's entry) is read_upload + a plan + prepare_mapped, nothing else."""
    data = chicago_csv(GOOD, GOOD.replace("1,HZ1", ",HZ9"), GOOD.replace("1,HZ1", "3,HZ3"))
    (tmp_path / "x.csv").write_bytes(data)
    from_disk = ingest.prepare_file(tmp_path / "x.csv", "incidents", date_format="%m/%d/%Y %I:%M:%S %p")
    upload = ingest.read_upload(data, "x.csv")
    plan = ingest.Plan(kind="incidents", columns=ingest.suggest_mapping(upload.frame.columns, "incidents"),
                       date_format="%m/%d/%Y %I:%M:%S %p")
    uploaded = ingest.prepare_mapped(upload, plan)
    pd.testing.assert_frame_equal(from_disk.frame, uploaded.frame)
    pd.testing.assert_frame_equal(from_disk.report.rejected, uploaded.report.rejected)
    assert from_disk.report.file_hash == uploaded.report.file_hash


def test_a_kind_without_a_preparer_is_refused():
    plan = ingest.Plan(kind="surveys", columns={"trust_score": "trust"})
    with pytest.raises(IngestError, match="Surveys uploads are not supported yet"):
        ingest.prepare_mapped(pd.DataFrame({"trust": ["50"]}), plan, source_name="survey.csv")
