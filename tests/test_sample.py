"""sample: data/sample/ is what build-sample makes from the real shared files, and the incident count
equals an independent count of the raw files minus the documented drops."""

from __future__ import annotations

import csv
import gzip
import json

import pandas as pd
import pytest

from dashboard import sample
from tests.conftest import REPO, SHARED_CHICAGO

SAMPLE = REPO / "data" / "sample"


def raw_rows(name: str) -> int:
    with gzip.open(SHARED_CHICAGO / name, "rt", newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def test_incident_count_equals_raw_files_minus_documented_drops():
    raw = sum(raw_rows(n) for n in sample.CRIME_FILES)
    report = json.loads((SAMPLE / "build_report.json").read_text())
    dropped = sum(report["datasets"][f"incidents/{n}"]["rows_rejected"] for n in sample.CRIME_FILES)
    dropped += report["incidents"]["duplicate_ids_across_years"]
    assert raw == 536_605 and dropped == 0
    assert len(pd.read_parquet(SAMPLE / "incidents.parquet", columns=["incident_id"])) == raw - dropped


def test_caps_event_count_equals_raw_minus_documented_drops():
    events = json.loads((SHARED_CHICAGO / sample.EVENTS_FILE).read_text())
    outreach = pd.read_csv(SAMPLE / "outreach.csv", dtype=str)
    report = json.loads((SAMPLE / "build_report.json").read_text())["datasets"]["outreach"]
    assert report["rejected_by_reason"] == {"duplicate calendar entry": 6,
                                            "test entry (title or location says 'test')": 1}
    assert outreach["event_id"].nunique() == len(events) - 7
    assert not outreach["title"].str.contains("Test Christmas").any()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    sample.build(SHARED_CHICAGO, out)
    return out


@pytest.mark.parametrize("dataset", ["incidents", "outreach", "population", "areas", "surveys"])
def test_rebuild_reproduces_the_committed_sample(rebuilt, dataset):
    committed = sample.read_sample(SAMPLE, dataset)
    fresh = sample.read_sample(rebuilt, dataset)
    if dataset == "areas":
        assert committed[["level", "area_id", "name"]].equals(fresh[["level", "area_id", "name"]])
        assert committed.geometry.geom_equals_exact(fresh.geometry, tolerance=1e-12).all()
    else:
        pd.testing.assert_frame_equal(committed, fresh)
    assert json.loads((SAMPLE / "build_report.json").read_text()) == json.loads(
        (rebuilt / "build_report.json").read_text())


def test_sample_has_no_survey_rows_and_every_kind_validates():
    assert sample.read_sample(SAMPLE, "surveys").empty
    areas = sample.read_sample(SAMPLE, "areas")
    assert areas.crs.to_epsg() == 4326
    assert areas.groupby("level").size().to_dict() == {"beat": 275, "community_area": 77, "district": 23}
