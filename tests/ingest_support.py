"""Small incident exports the ingest tests share."""

from __future__ import annotations

from dashboard import ingest

CHICAGO_HEADER = ("ID,Case Number,Date,Block,IUCR,Primary Type,Description,Location Description,Arrest,"
                  "Domestic,Beat,District,Ward,Community Area,FBI Code,Latitude,Longitude")



def chicago_csv(*rows: str) -> bytes:
    return ("\n".join([CHICAGO_HEADER, *rows]) + "\n").encode()


GOOD = "1,HZ1,01/01/2016 12:01:00 AM,014XX S AVERS AVE,1310,CRIMINAL DAMAGE,TO PROPERTY,APARTMENT,false,false,1011,010,24,29,14,41.86,-87.72"



def prepare(data: bytes, name: str = "x.csv"):
    return ingest.prepare_file(name, "incidents", data=data)


def incident_plan(**kw) -> ingest.Plan:
    return ingest.Plan(columns={"incident_id": "id", "occurred_at": "when", "offense": "what", **kw.pop("cols", {})},
                       **kw)
