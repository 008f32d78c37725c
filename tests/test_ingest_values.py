"""ingest.values: the public value parsers (dates, area ids)."""

from __future__ import annotations

import pandas as pd

from dashboard import ingest


def test_date_format_detection():
    assert ingest.detect_date_format(pd.Series(["05/31/2019 11:55:00 PM"])) == "%m/%d/%Y %I:%M:%S %p"
    assert ingest.detect_date_format(pd.Series(["2019-05-31T23:55:00"])) == "%Y-%m-%dT%H:%M:%S"
    assert ingest.detect_date_format(pd.Series(["not a date"])) is None



def test_canonical_area_ids():
    values = pd.Series(["006", "0611", "611", " 31 ", "", None, "B2", "0"])
    assert ingest.canonical_area_id(values, "district").tolist()[:4] == ["6", "611", "611", "31"]
    beats = ingest.canonical_area_id(values, "beat")
    assert beats.tolist()[:3] == ["0006", "0611", "0611"]
    assert beats.isna().tolist()[4:6] == [True, True]
    assert beats.iloc[6] == "B2" and beats.iloc[7] == "0000"



def test_date_formats_of_short_and_long_columns_agree():
    """Short columns (a mapping sample) are checked in plain Python, long ones with pandas: same answers."""
    columns = {
        "chicago": ["01/05/2016 11:00:00 PM", "12/31/2017 01:02:03 AM"],
        "iso": ["2019-01-01T08:00:00", "2019-12-31T23:59:59"],
        "padded": [" 2019-01-01 ", "2019-02-03  "],
        "day first": ["31/12/2019", "13/01/2019"],
        "ids": ["1234567", "7654321"],
        "names": ["THEFT", "BATTERY"],
        "blanks": ["", "01/05/2016"],
    }
    for name, values in columns.items():
        short = pd.Series(values * 600 + [None, ""] * 100, dtype="str")[:1_900]
        long = pd.concat([short, short], ignore_index=True)
        assert ingest.detect_date_format(short) == ingest.detect_date_format(long), name
    assert ingest.detect_date_format(pd.Series(columns["chicago"] * 10)) == "%m/%d/%Y %I:%M:%S %p"
    assert ingest.detect_date_format(pd.Series(columns["names"] * 10)) is None
