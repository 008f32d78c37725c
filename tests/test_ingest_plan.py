"""ingest.plan: header synonyms of other cities' exports map to the canonical fields."""

from __future__ import annotations

import pytest

from dashboard import ingest


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Los Angeles (LAPD), trailing space in 'AREA '
        (["DR_NO", "Date Rptd", "DATE OCC", "TIME OCC", "AREA ", "AREA NAME", "Crm Cd", "Crm Cd Desc", "LAT", "LON"],
         {"incident_id": "DR_NO", "occurred_at": "DATE OCC", "offense": "Crm Cd Desc", "latitude": "LAT",
          "longitude": "LON", "offense_code": "Crm Cd", "district_id": "AREA "}),
        # New York (NYPD complaints)
        (["CMPLNT_NUM", "CMPLNT_FR_DT", "CMPLNT_FR_TM", "OFNS_DESC", "PD_DESC", "Latitude", "Longitude"],
         {"incident_id": "CMPLNT_NUM", "occurred_at": "CMPLNT_FR_DT", "offense": "OFNS_DESC",
          "offense_detail": "PD_DESC"}),
        # Boston
        (["INCIDENT_NUMBER", "OFFENSE_CODE", "OFFENSE_CODE_GROUP", "OCCURRED_ON_DATE", "DISTRICT", "Lat", "Long"],
         {"incident_id": "INCIDENT_NUMBER", "occurred_at": "OCCURRED_ON_DATE", "offense": "OFFENSE_CODE_GROUP",
          "latitude": "Lat", "longitude": "Long", "district_id": "DISTRICT"}),
    ],
)
def test_header_synonyms_from_other_cities(header, expected):
    mapping = ingest.suggest_mapping(header, "incidents")
    assert {k: mapping.get(k) for k in expected} == expected
