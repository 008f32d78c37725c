"""Outreach from the CPD CAPS community event calendar (JSON): each event classified by its title,
placed on the beats its title names or else on its district. The outreach kind's preparation code; it
never stores anything and never invents attendance."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.errors import IngestError
from dashboard.ingest import rules
from dashboard.ingest.plan import Plan, Source
from dashboard.ingest.report import Prepared, Report
from dashboard.ingest.rules import Rejections
from dashboard.ingest.values import canonical_area_id, parse_datetimes


@cache
def event_type_table() -> pd.DataFrame:
    """Editable register of event types: keyword rules that classify an event title (first match wins)."""
    with resources.files("dashboard").joinpath("data/event_types.csv").open() as fh:
        table = pd.read_csv(fh, dtype=str, comment="#").fillna("")
    bad = set(table["format"]) - set(schema.OUTREACH_FORMATS)
    assert not bad, f"event_types.csv has unknown formats {bad}"
    return table


def classify_title(title: str) -> str:
    lowered = " " + " ".join(title.lower().split()) + " "
    for row in event_type_table().itertuples():
        if any(k and k in lowered for k in row.keywords.split("|")):
            return row.event_type
    return "other_community_event"


_BEAT_RUN = re.compile(r"(?<!\d)(\d{3,4})((?:\s*(?:/|&|,|-|\band\b)\s*\d{2,4}(?!\d))*)")


_BEAT_WORD = re.compile(r"\b(beats?|bt)\b\.?", re.IGNORECASE)


def beats_in_title(title: str, known_beats: set[str] | None = None) -> list[str]:
    """Beat numbers a CAPS title names, zero-padded to 4 digits.

    '813/833 Beat Meeting' -> 0813, 0833; 'Beat Meeting: 1112/21' -> 1112, 1121 (a short number
    replaces the last digits of the one before it); 'Bt. 932,934,935' -> 0932, 0934, 0935. Numbers are
    read only when the title says beat/bt or starts with the number ('1233 Community Meeting'), and
    only kept if they are real beats when ``known_beats`` is given ('100 Blocks / 100 Churches' is not).
    """
    beats: list[str] = []
    says_beat = bool(_BEAT_WORD.search(title))
    for match in _BEAT_RUN.finditer(title):
        if not says_beat and match.start() != len(title) - len(title.lstrip()):
            continue
        first = match.group(1)
        numbers = [first]
        for part in re.findall(r"\d{2,4}", match.group(2)):
            prev = numbers[-1]
            numbers.append(part if len(part) >= len(prev) else prev[: len(prev) - len(part)] + part)
        for number in numbers:
            beat = number.zfill(4)
            if (known_beats is None or beat in known_beats) and beat not in beats:
                beats.append(beat)
    return beats


def _is_test_entry(title: str, location: str) -> bool:
    return bool(re.search(r"\btest\b", f"{title} {location}", re.IGNORECASE))


def caps_events_to_outreach(
    events: list[dict[str, Any]], *, known_beats: set[str], source_name: str, digest: str,
) -> Prepared:
    """CPD CAPS calendar feed (JSON list) -> canonical outreach rows.

    An event naming beats becomes one row per beat (same event_id); otherwise it is placed on its
    district (calendarId). Rows are a schedule, not attendance: attendees and hours stay empty.
    """
    raw = pd.DataFrame(events).reset_index(drop=True)
    for col in ("calendarId", "start", "end", "title", "location", "eventDetails"):
        if col not in raw.columns:
            raise IngestError(
                "Not a CAPS calendar file", f"{source_name} has no '{col}' field.",
                hint="Expected the CPD community event calendar JSON (calendarId, start, end, title, location).",
            )
    rej = Rejections(len(raw))
    report = Report("outreach", source_name, digest, len(raw), 0, pd.DataFrame())
    titles = raw["title"].fillna("").astype(str).str.strip()
    locations = raw["location"].fillna("").astype(str).str.strip()
    rej.add(titles == "", rules.MISSING_TITLE)
    rej.add([_is_test_entry(t, loc) for t, loc in zip(titles, locations, strict=True)], rules.TEST_ENTRY)
    starts = parse_datetimes(raw["start"], "%Y-%m-%dT%H:%M:%S")
    rej.add(starts.isna(), rules.UNPARSEABLE_START)
    ends = parse_datetimes(raw["end"], "%Y-%m-%dT%H:%M:%S")
    district = canonical_area_id(raw["calendarId"], "district")
    rej.add(district.isna(), rules.MISSING_CALENDAR_ID)
    source_digest = raw.apply(lambda r: hashlib.sha1(
        json.dumps([r["calendarId"], r["start"], r["title"], r["location"]], default=str).encode()
    ).hexdigest()[:12], axis=1)
    keep = ~rej.bad.to_numpy()
    # The same calendar entry is sometimes listed twice; keep one.
    dup = source_digest.duplicated() & keep
    rej.add(dup, rules.DUPLICATE_CALENDAR_ENTRY)
    types = event_type_table().set_index("event_type")

    rows: list[dict[str, Any]] = []
    beat_events = 0
    for i in np.flatnonzero(~rej.bad.to_numpy()):
        title = titles[i]
        event_type = classify_title(title)
        says_beat = event_type == "beat_meeting" or _BEAT_WORD.search(title) or title[:1].isdigit()
        beats = beats_in_title(title, known_beats) if says_beat else []
        if beats and event_type == "other_community_event":
            event_type = "beat_meeting"
        beat_events += bool(beats)
        info = types.loc[event_type] if event_type in types.index else None
        base = {
            "event_id": f"caps-{source_digest[i]}",
            "program": info["program"] if info is not None else "CAPS community events",
            "event_type": event_type,
            "format": info["format"] if info is not None else "one_off",
            "channel": "in_person",
            "title": title,
            "starts_at": starts[i],
            "ends_at": ends[i] if pd.notna(ends[i]) and ends[i] >= starts[i] else pd.NaT,
            "district_id": district[i],
            "community_area_id": np.nan,
            "latitude": np.nan,
            "longitude": np.nan,
            "venue": locations[i] or np.nan,
            "unit": f"District {district[i]}",
            "attendees": np.nan, "officer_hours": np.nan, "contacts": np.nan, "referrals": np.nan, "reach": np.nan,
            "source": source_name,
        }
        if beats:
            for beat in beats:
                rows.append({**base, "outreach_id": f"{base['event_id']}-{beat}", "place_level": "beat",
                             "beat_id": beat})
        else:
            rows.append({**base, "outreach_id": base["event_id"], "place_level": "district", "beat_id": np.nan})
    frame = pd.DataFrame(rows)
    report.fixes["events placed on one or more beats"] = beat_events
    report.fixes["events placed on their district only"] = int((~rej.bad).sum()) - beat_events
    report.take(rej, raw[["calendarId", "start", "title", "location"]])
    frame = schema.OUTREACH.validate(frame, lazy=True)
    report.rows_kept = len(frame)
    return Prepared(frame.reset_index(drop=True), report)


def prepare(raw: pd.DataFrame, plan: Plan, source: Source) -> Prepared:
    """The outreach kind's preparer (schema.KINDS["outreach"]): the CPD CAPS calendar JSON as read.

    Outreach logs in other layouts would be read here too, mapped by the plan's columns."""
    records = raw.attrs.get("records")
    if records is None or not {"calendarId", "start", "title"} <= set(raw.columns):
        raise IngestError(
            "Outreach tables are not read yet",
            f"{source.name} looks like outreach events, but only the CPD CAPS calendar JSON is read so far.",
            hint="Load the calendar JSON, or convert the log to the CAPS fields (calendarId, start, end, "
                 "title, location).")
    prepared = caps_events_to_outreach(records, known_beats=source.known_beats or set(), source_name=source.name,
                                       digest=source.digest)
    report = prepared.report
    report.mapping = {**plan.to_dict(), "date_format": plan.date_format or report.mapping.get("date_format")}
    return prepared
