"""ingest.population: a population table becomes canonical rows of one level."""

from __future__ import annotations

from dashboard import ingest


def test_population_file():
    data = b"community_area_id,community_area_name,population_2020\n01,Rogers Park,\"55,628\"\n02,West Ridge,x\n"
    out = ingest.prepare_file("pop.csv", "population", data=data, level="community_area")
    assert out.frame[["area_id", "year", "population"]].values.tolist() == [["1", 2020, 55628]]
    assert out.report.reason_counts() == {"population missing or negative": 1}
