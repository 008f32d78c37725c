"""ingest.report: rejected rows counted by reason for people and by rule code for programs."""

from __future__ import annotations

from tests.ingest_support import GOOD, chicago_csv, prepare


def test_report_counts_rejections_by_reason_and_by_rule_code():
    out = prepare(chicago_csv(GOOD, GOOD.replace("1,HZ1", ",HZ9"), GOOD.replace("1,HZ1", "3,HZ3").replace(
        "01/01/2016", "13/45/2016"), GOOD.replace("1,HZ1", "4,HZ4").replace("01/01/2016", "13/45/2016")))
    assert out.report.reason_counts() == {"unparseable date": 2, "missing incident id": 1}
    assert out.report.rejected_by_code == {"missing_incident_id": 1, "unparseable_date": 2}
    summary = out.report.to_dict()
    assert summary["rejected_by_reason"] == out.report.reason_counts()
    assert list(summary["rejected_samples"]) == ["unparseable date", "missing incident id"]
