"""designs.program_brief: the brief is escaped and self-contained."""

from __future__ import annotations

from dashboard.designs import program_brief

TOL = 1e-9


def test_program_brief_is_escaped_and_self_contained():
    brief = program_brief.program_brief_html(
        {"program": "<script>alert(1)</script>", "description": "A & B"},
        {"Events": "1,234", "Areas": "<b>9</b>"}, None, ["Schedule, not attendance"], "Generated today")
    assert "<script>" not in brief and "&lt;script&gt;" in brief and "&lt;b&gt;9" in brief
    assert "http" not in brief and "<link" not in brief
    assert "more *reported*" not in brief and "reported crime" in brief
