"""schema: canonical datasets accept good rows, name bad ones, and declare EPSG:4326 for areas."""

import geopandas as gpd
import pandas as pd
import pandera.pandas as pa
import pytest
from shapely.geometry import box

from dashboard import schema
from tests.conftest import REPO


def outreach_row(**kw):
    base = dict.fromkeys(schema.OUTREACH.columns)
    base.update(outreach_id="1", event_id="1", program="p", event_type="t", format="one_off", channel="in_person",
                starts_at="2017-01-01 10:00", place_level="citywide", source="s")
    base.update(kw)
    return base


def test_outreach_holds_every_kind_of_program():
    rows = [
        outreach_row(outreach_id="truck", format="one_off", place_level="point", latitude=41.8, longitude=-87.6,
                     program="Ice-cream truck"),
        outreach_row(outreach_id="beat", format="recurring", place_level="beat", beat_id="0111"),
        outreach_row(outreach_id="barber", format="standing_venue", place_level="community_area",
                     community_area_id="25", ends_at=None),
        outreach_row(outreach_id="hot", format="contact", place_level="district", district_id="8", contacts=14,
                     referrals=3),
        outreach_row(outreach_id="9pm", format="campaign", channel="digital", place_level="citywide", reach=120000),
    ]
    frame = schema.OUTREACH.validate(pd.DataFrame(rows), lazy=True)
    assert len(frame) == 5


def test_outreach_place_must_be_complete_and_counts_non_negative():
    rows = [outreach_row(outreach_id="a", place_level="beat"), outreach_row(outreach_id="b", contacts=-1)]
    with pytest.raises(pa.errors.SchemaErrors) as info:
        schema.OUTREACH.validate(pd.DataFrame(rows), lazy=True)
    checks = set(info.value.failure_cases["check"].astype(str))
    assert any("place_level names a place" in c for c in checks)
    assert any("greater_than_or_equal_to" in c for c in checks)


def test_areas_geometry_must_be_epsg_4326():
    good = gpd.GeoDataFrame({"level": ["beat"], "area_id": ["0111"], "name": ["Beat 0111"]},
                            geometry=[box(-87.7, 41.8, -87.6, 41.9)], crs="EPSG:4326")
    assert len(schema.AREAS.validate(good)) == 1
    with pytest.raises((pa.errors.SchemaError, pa.errors.SchemaErrors, TypeError), match="CRS"):
        schema.AREAS.validate(good.to_crs("EPSG:3435"))


def test_offense_table_covers_every_chicago_primary_type_in_the_sample():
    offenses = set(pd.read_parquet(REPO / "data" / "sample" / "incidents.parquet", columns=["offense"])["offense"])
    table = set(schema.offense_group_table()["offense"])
    assert offenses <= table


def test_empty_frames_have_canonical_columns():
    assert list(schema.empty("surveys").columns) == list(schema.SURVEYS.columns)


# ------------------------------------------------------------------------------ program register (issue 5)


def test_program_register_covers_every_classified_event_type():
    from dashboard import ingest

    register = schema.program_register()
    classified = set(ingest.event_type_table()["event_type"]) | {"other_community_event"}
    assert classified <= set(register["event_type"])
    sample = pd.read_csv(REPO / "data" / "sample" / "outreach.csv", usecols=["event_type", "program", "format"])
    assert set(sample["event_type"]) <= set(register["event_type"])
    # the register and the sample agree on each CAPS type's program and format
    reg = register.set_index("event_type")
    for row in sample.drop_duplicates("event_type").itertuples():
        assert reg.at[row.event_type, "program"] == row.program, row.event_type
        assert reg.at[row.event_type, "format"] == row.format, row.event_type


def test_program_register_holds_programs_run_elsewhere():
    reg = schema.program_register().set_index("event_type")
    assert (reg.at["ice_cream_truck", "format"], reg.at["ice_cream_truck", "place_level"]) == ("one_off", "point")
    assert reg.at["homeless_outreach_contact", "format"] == "contact"
    assert {"contacts", "referrals"} <= set(reg.at["homeless_outreach_contact", "dose_measures"])
    nine = reg.loc["nine_pm_routine"]
    assert nine["program"] == "#9PMRoutine"  # a leading '#' is data, not a comment
    assert (nine["format"], nine["channel"], nine["place_level"], nine["dose_measures"]) == (
        "campaign", "digital", "citywide", ("reach",))
    assert reg.at["multicultural_advisory", "format"] == "recurring"
    assert reg.at["living_room_conversation", "format"] == "one_off"
    assert reg.at["cops_and_barbers", "format"] == "standing_venue"
    assert reg["description"].str.len().min() > 20


def test_program_register_rejects_unknown_vocabulary(monkeypatch, tmp_path):
    from importlib import resources

    bad = (REPO / "src" / "dashboard" / "data" / "programs.csv").read_text().replace(
        "ice_cream_truck,Ice-cream-truck visit,one_off", "ice_cream_truck,Ice-cream-truck visit,sometimes")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "programs.csv").write_text(bad)
    monkeypatch.setattr(resources, "files", lambda _pkg: tmp_path)
    schema.program_register.cache_clear()
    try:
        with pytest.raises(AssertionError, match="sometimes"):
            schema.program_register()
    finally:
        monkeypatch.undo()
        schema.program_register.cache_clear()
    assert len(schema.program_register()) >= 19
