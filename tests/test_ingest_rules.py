"""ingest.rules: one named list of rejection rules, each with a code, a message and a fix, all in use."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard.ingest import rules
from tests.conftest import REPO


def test_every_rule_has_its_own_code_message_and_fix():
    codes = [r.code for r in rules.RULES]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"[a-z_]+", c) for c in codes)
    assert len({r.message for r in rules.RULES}) == len(codes)
    assert all(r.fix.endswith(".") for r in rules.RULES)
    assert rules.BY_CODE["missing_incident_id"] is rules.MISSING_INCIDENT_ID


def test_every_rule_is_used_and_every_used_rule_is_listed():
    code = "".join(p.read_text() for p in (REPO / "src" / "dashboard" / "ingest").glob("*.py") if p.name != "rules.py")
    used = set(re.findall(r"rules\.([A-Z_]+)\b", code)) - {"RULES", "BY_CODE"} | set(re.findall(r"\b(SCHEMA_CHECK)\b", code))
    listed = {name for name, value in vars(rules).items() if isinstance(value, rules.Rule)}
    assert used == listed


def test_the_first_rule_that_finds_a_row_is_its_reason_and_counts_go_by_code():
    rej = rules.Rejections(4)
    rej.add(np.array([True, False, False, False]), rules.MISSING_INCIDENT_ID)
    rej.add(np.array([True, True, False, False]), rules.UNPARSEABLE_DATE)
    rej.add(np.array([False, False, True, False]), rules.TEXT_TOO_LONG, field="block", limit=2000)
    rej.add(np.array([False, False, False, True]), rules.TEXT_TOO_LONG, field="offense", limit=2000)
    table = rej.table(pd.DataFrame(index=range(4)))
    assert table["reason"].tolist() == ["missing incident id", "unparseable date",
                                        "block longer than 2,000 characters (a broken export?)",
                                        "offense longer than 2,000 characters (a broken export?)"]
    assert rej.by_code() == {"missing_incident_id": 1, "unparseable_date": 1, "text_too_long": 2}
