"""ingest.caps: CPD CAPS calendar entries become outreach rows on their beats or district."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import ingest


@pytest.mark.parametrize(
    ("title", "beats"),
    [
        ("835 Beat Meeting", ["0835"]),
        ("813/833 Beat Meeting", ["0813", "0833"]),
        ("Beat Meeting: 1112/21", ["1112", "1121"]),
        ("Beat Meeting:1113/14/15", ["1113", "1114", "1115"]),
        ("Beat 1934 & 1935", ["1934", "1935"]),
        ("Bt. 932,934,935 Community Meeting", ["0932", "0934", "0935"]),
        ("BT 131/132  Residential ", ["0131", "0132"]),
        ("1233 Community Meeting", ["1233"]),
        ("100 Blocks / 100 Churches", []),  # not a beat: not in the known list
        ("Movie in the Park 574 Ghostbuster", []),  # a number mid-title without 'beat'
        ("DAC Meeting", []),
    ],
)
def test_beats_parsed_from_caps_titles(title, beats):
    known = {"0835", "0813", "0833", "1112", "1121", "1113", "1114", "1115", "1934", "1935", "0932", "0934",
             "0935", "0131", "0132", "1233", "0574"}
    assert ingest.beats_in_title(title, known) == beats



@pytest.mark.parametrize(
    ("title", "event_type"),
    [("2514 Beat Meeting", "beat_meeting"), ("DAC Meeting", "district_advisory"),
     ("Domestic Violence Subcommittee", "domestic_violence"), ("Peer  Jury", "peer_jury"),
     ("Senior Bingo", "senior"), ("YOUTH LAW EXPLORERS", "youth"), ("100 Blocks / 100 Churches", "faith_based"),
     ("National Night Out -- 8th District", "community_event"), ("Bike Ambassadors", "community_event")],
)
def test_event_titles_are_classified(title, event_type):
    assert ingest.classify_title(title) == event_type



def caps_event(title, cal=8, start="2017-03-01T18:30:00", location="Church, 123 W St"):
    return {"calendarId": cal, "start": start, "end": None, "title": title, "location": location,
            "eventDetails": "", "eventUrl": None, "contactDetails": "", "modifiedDate": ""}



def test_caps_events_become_outreach_rows():
    events = [caps_event("813/833 Beat Meeting"), caps_event("DAC Meeting"),
              caps_event("Test Christmas Celebration", location="Test"), caps_event("DAC Meeting")]
    out = ingest.caps_events_to_outreach(events, known_beats={"0813", "0833"}, source_name="e.json", digest="x")
    frame = out.frame
    assert len(frame) == 3  # two beats for the first event + the district-level DAC meeting
    first = frame[frame["title"] == "813/833 Beat Meeting"]
    assert first["beat_id"].tolist() == ["0813", "0833"] and first["event_id"].nunique() == 1
    dac = frame[frame["event_type"] == "district_advisory"].iloc[0]
    assert dac["place_level"] == "district" and dac["district_id"] == "8" and pd.isna(dac["beat_id"])
    assert out.report.reason_counts() == {"test entry (title or location says 'test')": 1,
                                          "duplicate calendar entry": 1}
    assert frame["attendees"].isna().all()  # a schedule, not attendance
