"""Snapshot of every number the dashboard shows on the bundled sample: the safety net for refactors that
must leave behaviour unchanged (issue 19: "every number on every page identical").

What it records (one pretty-printed JSON file per case under tests/fixtures/snapshot/, keys sorted):
each page of access.PAGES run in AppTest on a store seeded from data/sample, as an administrator (who may
open every page), with the default widgets and then with each measure, level, window and layer the page
offers; plus the council view of the map and data pages, `python -m dashboard status --json` and a dry-run
ingest report of tests/fixtures/bad_files/some_rows_invalid.csv. Per page, in document order, every element
of the main area: titles and headings, markdown, captions, alerts, metrics (label, value, delta, help),
dataframes (column config and every value, as records), plotly charts (trace type, name, x/y/z and the
other data arrays, title, shapes, annotations), the folium map's data (each GeoJSON layer's feature
properties and fill colour, the legend's range, ticks and caption, the notes box), widgets (label, value,
options), tab, expander and download-button labels.

Coverage: each option at least once, not the full cross product (that would take several minutes here):
every option is varied from the page's defaults one widget at a time (sidebar geography, map measure,
trends window, hexagon size x layer, outreach harm and adoption count, impact level, mode and weeks), and
the full view (public-safe view off) once for overview, map, compare and hot spots. The default case of
each page checks that the number of options of each page widget it iterates still matches the cases here
(the sidebar's geography cannot be read back, see below; the sample has three levels).

Run: `.venv/bin/python -m pytest -q tests/test_snapshot.py` (35-65 s here, about 8 s of it seeding the
store) compares against the recorded files and, on a difference, fails naming the case (page, role,
settings) and the first differing path.
Regenerate (only for an intended change, and say why in the commit):
`SNAPSHOT_UPDATE=1 .venv/bin/python -m pytest -q tests/test_snapshot.py`, then read `git diff`.

What it must not do: depend on the date, the wall clock, the machine (paths, BLAS last bits: floats are
rounded to 10 significant digits, whole floats written as integers, and compared to a relative 1e-8, since
an iterative fit's last recorded digit can move with the order its sums run in), dict or set order, DASHBOARD_*
variables of the shell it runs in (all are unset), or on other tests (it seeds its own store and clears
Streamlit's caches before and after). It must not reach into the package's internals beyond what the other
page tests use: a refactor moves modules, and this file has to keep working unchanged across it.

What it cannot see: the sidebar (AppTest 1.67 drops an st.navigation entrypoint's sidebar widgets from its
tree after the first run), CSV and HTML downloads (their bytes are served as media, not in the tree; the
tables they export are mostly the ones recorded), map geometry (only properties and styles are kept), plotly
hover templates and styling, and anything only a browser draws (test_browser*.py).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import access, cli, loader, sample
from dashboard.store import Store
from tests.conftest import REPO, staff_token

SNAPSHOT_DIR = REPO / "tests" / "fixtures" / "snapshot"
UPDATE = os.environ.get("SNAPSHOT_UPDATE") == "1"
APP = REPO / "app.py"
TIMEOUT = 180  # the first run seeds every cache from the store
DIGITS = 10  # significant digits kept of a float: far above any shown precision
REL_TOL = 1e-8  # floats this close are the same number: rounding to DIGITS alone can flip the last digit
DRY_RUN_FILE = REPO / "tests" / "fixtures" / "bad_files" / "some_rows_invalid.csv"
# The sample's dates are 2016-2017 (population: the 2020 census). A timestamp from 2024 on can only be
# the wall clock of this run (a version's load time, an audit entry, a sign-in), so it is masked.
WALL_CLOCK_FROM_YEAR = 2024
WALL_CLOCK = "<wall clock>"
DATA_DIR = "<data dir>"
CHECKOUT = "<checkout>"
_ISO_TIME = re.compile(r"\b(\d{4})-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:?\d\d|Z)?)?\b")


@dataclass(frozen=True)
class Case:
    """One page in one setting: sidebar state set before the first run (AppTest cannot reach the sidebar's
    widgets), then the page's own widgets set through AppTest like a click."""

    name: str
    page: str
    role: str = "admin"
    sidebar: dict[str, Any] = field(default_factory=dict)
    widgets: tuple[tuple[str, str, Any], ...] = ()  # (AppTest accessor, key, value)
    # widget key -> how many options the page offers; checked on default cases so a new option is noticed
    options: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.sidebar.items()] + [f"{k}={v!r}" for _, k, v in self.widgets]
        return f"page {self.page} as {self.role}, " + (", ".join(parts) or "default widgets")


LEVELS = ("district", "beat")  # besides the default community_area
FULL = {"public_safe": False}  # staff switch the public-safe view off


def level_cases(page: str, **kw) -> list[Case]:
    return [Case(f"{page}__level_{lv}", f"views/{page}.py", sidebar={"filter_level": lv}, **kw) for lv in LEVELS]


def widget_cases(page: str, kind: str, key: str, values: dict[str, Any]) -> list[Case]:
    return [Case(f"{page}__{key}_{slug}", f"views/{page}.py", widgets=((kind, key, v),)) for slug, v in values.items()]


CASES: list[Case] = [
    Case("overview__default", "views/overview.py"),
    *level_cases("overview"),
    Case("overview__full_view", "views/overview.py", sidebar=FULL),

    Case("map__default", "views/map.py", options={"map_measure": 4}),
    *widget_cases("map", "segmented_control", "map_measure", {
        "rate": "Rate per 1,000 residents", "change": "% change vs a year earlier", "dose": "Outreach dose"}),
    *level_cases("map"),
    Case("map__full_view", "views/map.py", sidebar=FULL),
    Case("map__council", "views/map.py", role="council"),
    Case("map__find_austin", "views/map.py", widgets=(("selectbox", "find_community_area", "25"),)),

    Case("compare__default", "views/compare.py"),
    *level_cases("compare"),
    Case("compare__full_view", "views/compare.py", sidebar=FULL),

    Case("hotspots__default", "views/hotspots.py", options={"hex_resolution": 2, "hex_layer": 2}),
    *widget_cases("hotspots", "segmented_control", "hex_resolution", {"7": 7}),
    Case("hotspots__gi_star_8", "views/hotspots.py",
         widgets=(("segmented_control", "hex_layer", "Hot and cold spots (Gi*)"),)),
    Case("hotspots__gi_star_7", "views/hotspots.py", widgets=(("segmented_control", "hex_resolution", 7),
                                                             ("segmented_control", "hex_layer",
                                                              "Hot and cold spots (Gi*)"))),
    Case("hotspots__full_view", "views/hotspots.py", sidebar=FULL),

    Case("trends__default", "views/trends.py", options={"trends_window": 3}),
    *widget_cases("trends", "segmented_control", "trends_window", {"wtd": "wtd", "ytd": "ytd"}),
    *level_cases("trends"),
    *widget_cases("trends", "toggle", "trends_harm", {"on": True}),

    Case("outreach__default", "views/outreach.py", options={"outreach_harm": 2, "outreach_adoption": 3}),
    *widget_cases("outreach", "segmented_control", "outreach_harm", {"violent": "Violent crime and homicide"}),
    *widget_cases("outreach", "segmented_control", "outreach_adoption", {"beats": "beats", "units": "units"}),
    *level_cases("outreach"),

    Case("impact__default", "views/impact.py",
         options={"impact_level": 3, "impact_mode": 2, "impact_weeks": 4}),
    *widget_cases("impact", "selectbox", "impact_level", {"district": "district",
                                                          "community_area": "community_area"}),
    *widget_cases("impact", "segmented_control", "impact_mode", {"rollout": "rollout"}),
    *widget_cases("impact", "select_slider", "impact_weeks", {"8": 8, "13": 13, "26": 26}),

    Case("data__default", "views/data.py"),
    Case("data__council", "views/data.py", role="council"),
    Case("upload__default", "views/upload.py"),
    Case("admin__default", "views/admin.py"),
]


# ------------------------------------------------------------------ the store and the sessions


@pytest.fixture(scope="module")
def snapshot_env(tmp_path_factory) -> dict[str, Any]:
    """A store of its own seeded from data/sample (the session's shared one collects other tests' users,
    sign-ins and settings), signed-in tokens per role, and a clean environment."""
    data_dir = tmp_path_factory.mktemp("snapshot_store")
    store = Store(data_dir / "dashboard.duckdb")
    sample.seed_store(store, REPO / "data" / "sample")
    store.close()
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("DASHBOARD_")]:
            mp.delenv(name)
        mp.setenv("DASHBOARD_DATA_DIR", str(data_dir))
        mp.chdir(REPO)
        # Signed in once per role, up front, so the audit log the admin page shows is the same whichever
        # cases run.
        tokens = {role: staff_token(data_dir, role) for role in ("admin", "council")}
        # The loader's store and settings are process-wide caches: point them at this store, and let the
        # tests after this module open theirs again.
        st.cache_resource.clear()
        st.cache_data.clear()
        yield {"data_dir": data_dir, "tokens": tokens}
        # Closed, not just dropped: its idle-connection reaper is a daemon thread, and one still inside
        # DuckDB's close() when the interpreter exits aborted pytest (exit code 134) in 2 of 8 runs here.
        loader.store().close()
        st.cache_resource.clear()
        st.cache_data.clear()


def render(case: Case, tokens: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["_session_token"] = tokens[case.role]
    for key, value in case.sidebar.items():
        at.session_state[key] = value
    at.switch_page(case.page)
    at.run()
    for kind, key, value in case.widgets:
        getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# ------------------------------------------------------------------ normalising values


def clean(value: Any, data_dir: str = "") -> Any:
    """A JSON-ready value that is the same on every machine and every day (see the module docstring)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if number.is_integer() and abs(number) < 2**53:
            return int(number)  # 5.0 and 5 are the same number: a dtype change is not a change shown
        return float(f"{number:.{DIGITS}g}")
    if isinstance(value, datetime):  # pd.Timestamp too
        return WALL_CLOCK if value.year >= WALL_CLOCK_FROM_YEAR else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta | pd.Timedelta):
        return str(pd.Timedelta(value))
    if isinstance(value, str):
        if data_dir:
            value = value.replace(data_dir, DATA_DIR)
        value = value.replace(str(REPO), CHECKOUT)  # each worktree is a different folder
        return _ISO_TIME.sub(lambda m: WALL_CLOCK if int(m.group(1)) >= WALL_CLOCK_FROM_YEAR else m.group(0), value)
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:  # plotly's typed array: decode to numbers
            return clean(_typed_array(value), data_dir)
        return {str(k): clean(v, data_dir) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Series | pd.Index):
        return [clean(v, data_dir) for v in list(value)]
    if isinstance(value, set | frozenset):
        return sorted((clean(v, data_dir) for v in value), key=repr)
    return clean(str(value), data_dir)


def _typed_array(spec: dict) -> list:
    array = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]))
    if "shape" in spec:
        shape = [int(n) for n in str(spec["shape"]).split(",")]
        array = array.reshape(shape)
    return array.tolist()


def records(frame: pd.DataFrame) -> list[dict]:
    columns = [str(c) for c in frame.columns]
    return [dict(zip(columns, row, strict=True)) for row in frame.itertuples(index=False, name=None)]


# ------------------------------------------------------------------ what a page shows

TEXTS = {"title", "header", "subheader", "markdown", "caption", "text", "error", "warning", "info", "success",
         "code", "latex", "json", "exception"}
WIDGETS = {"selectbox", "radio", "multiselect", "button_group", "select_slider", "slider", "date_input",
           "toggle", "checkbox", "text_input", "number_input", "text_area", "time_input"}
TRACE_DATA = ("x", "y", "z", "text", "customdata", "base", "values", "labels", "lat", "lon", "error_x", "error_y")


def capture(at: AppTest) -> list[dict]:
    """The main area's elements in document order (layout blocks are walked, not recorded, so moving an
    element into a column is not a change; tab and expander labels are kept as markers)."""
    out: list[dict] = []
    _walk(at.main, out)
    return out


def _walk(node, out: list[dict]) -> None:
    children = getattr(node, "children", None)
    if children is not None:
        if node.type in ("tab", "expander"):
            out.append({"type": node.type, "label": node.label})
        for index in sorted(children):
            _walk(children[index], out)
        return
    out.append(_element(node))


def _element(node) -> dict:
    kind = node.type
    key = getattr(node, "key", None)
    if kind in TEXTS:
        text = node.message if kind == "exception" else node.value
        return {"type": kind, "text": text}
    if kind == "metric":
        return {"type": kind, "label": node.label, "value": node.value, "delta": node.delta, "help": node.help}
    if kind == "dataframe":
        frame = node.value
        config = json.loads(node.proto.columns) if node.proto.columns else {}
        return {"type": kind, "key": key, "columns": [str(c) for c in frame.columns], "column_config": config,
                "records": records(frame)}
    if kind in WIDGETS:
        return {"type": kind, "key": key, "label": node.label, "value": node.value,
                "options": list(getattr(node, "options", []) or [])}
    if kind in ("download_button", "button", "page_link"):
        return {"type": kind, "key": key, "label": node.label}
    if kind == "plotly_chart":
        return {"type": kind, "key": key, **_plotly(json.loads(node.proto.spec))}
    if type(node).__name__ == "UnknownElement" and node.proto.DESCRIPTOR.name == "ComponentInstance":
        args = json.loads(node.proto.json_args)
        # No key: streamlit-folium's is a hash of every argument (asset links, HTML, geometry), so it would
        # change with anything and name nothing; the map's numbers are recorded below instead.
        if "script" in args:
            return {"type": "folium_map", **_folium(args["script"])}
        return {"type": "component"}
    return {"type": kind, "key": key}  # an element kind not read here: its presence is still recorded


def _plotly(spec: dict) -> dict:
    layout = spec.get("layout", {})
    title = layout.get("title")
    return {
        "title": title.get("text") if isinstance(title, dict) else title,
        "traces": [{"type": t.get("type"), "name": t.get("name"), **{k: t[k] for k in TRACE_DATA if k in t}}
                   for t in spec.get("data", [])],
        "shapes": [{k: s.get(k) for k in ("type", "x0", "x1", "y0", "y1")} for s in layout.get("shapes", [])],
        "annotations": [{k: a.get(k) for k in ("text", "x", "y")} for a in layout.get("annotations", [])],
    }


_LAYER = re.compile(r"(geo_json_\w+)_add\(")
_STYLER = re.compile(r"function (geo_json_\w+)_styler\(feature\) \{\s*switch\(feature\.id\) \{(.*?)\n\s*\}\n\s*\}",
                     re.S)
_CASE = re.compile(r"((?:case \"(?:[^\"\\]|\\.)*\": )+)\s*return (\{.*?\});")
_DEFAULT = re.compile(r"default:\s*return (\{.*?\});")
_CASE_ID = re.compile(r"case (\"(?:[^\"\\]|\\.)*\"):")
_LEGEND = re.compile(r"\.x = d3\.scale\.linear\(\)\s*\.domain\((\[.*?\])\).*?\.tickValues\((\[.*?\])\).*?"
                     r"\.attr\(\"class\", \"caption\"\).*?\.text\((\".*?\")\);", re.S)
_NOTES = re.compile(r"div\.innerHTML = (\".*?(?<!\\)\");")


def _folium(script: str) -> dict:
    """What the map's script carries apart from geometry: per GeoJSON layer each feature's properties and
    its style (the choropleth's colour bin and outline), the legend and the notes box."""
    styles: dict[str, tuple[dict, dict]] = {}
    for name, body in _STYLER.findall(script):
        by_id = {}
        for ids, style in _CASE.findall(body):
            for feature_id in _CASE_ID.findall(ids):
                by_id[json.loads(feature_id)] = json.loads(style)
        default = _DEFAULT.search(body)
        styles[name] = (by_id, json.loads(default.group(1)) if default else {})
    decoder = json.JSONDecoder()
    layers = []
    for match in _LAYER.finditer(script):
        if script[match.end():match.end() + 1] != "{":
            continue  # the function definition, not a call with data
        data, _ = decoder.raw_decode(script, match.end())
        by_id, default = styles.get(match.group(1), ({}, {}))
        layers.append([{"id": f.get("id"), "properties": f.get("properties", {}),
                        "style": by_id.get(f.get("id"), default)} for f in data.get("features", [])])
    legends = [{"range": json.loads(lo), "ticks": json.loads(ticks), "caption": json.loads(caption)}
               for lo, ticks, caption in _LEGEND.findall(script)]
    notes = [json.loads(text) for text in _NOTES.findall(script)]
    return {"layers": layers, "legends": legends, "notes": notes}


# ------------------------------------------------------------------ comparing and writing


def dump(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def first_difference(expected: Any, actual: Any, path: str = "$") -> tuple[str, Any, Any] | None:
    """The first place two snapshots differ (floats within REL_TOL are equal), or None."""
    if _number(expected) and _number(actual):
        return None if math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=0.0) else (path, expected, actual)
    if type(expected) is not type(actual):
        return path, expected, actual
    if isinstance(expected, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in expected or key not in actual:
                return f"{path}.{key}", expected.get(key, "<missing>"), actual.get(key, "<missing>")
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found = first_difference(e, a, f"{path}[{index}]")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{path} (length)", len(expected), len(actual)
        return None
    return None if expected == actual else (path, expected, actual)


def check(name: str, what: str, data: Any) -> None:
    """Compare ``data`` with the recorded snapshot ``name`` (or record it under SNAPSHOT_UPDATE=1)."""
    text = dump(data)
    path = SNAPSHOT_DIR / f"{name}.json"
    if UPDATE:
        SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{name}: no snapshot at {path.relative_to(REPO)}; record it with SNAPSHOT_UPDATE=1"
    recorded = path.read_text(encoding="utf-8")
    if recorded == text:
        return
    recorded_values, values = json.loads(recorded), json.loads(text)
    found = first_difference(recorded_values, values)
    if found is None and recorded_values != values:
        return  # the same numbers to REL_TOL
    where = _element_hint(json.loads(recorded), found[0]) if found else ""
    detail = (f"first difference at {found[0]}{where}: recorded {found[1]!r}, now {found[2]!r}" if found
              else "same values, different bytes (formatting)")
    pytest.fail(f"snapshot {name} ({what}) changed: {detail}. If the change is intended, rerun with "
                f"SNAPSHOT_UPDATE=1 and explain it in the commit.", pytrace=False)


def _element_hint(recorded: Any, path: str) -> str:
    """The element a path points into, named by its type and key or label (for the failure message)."""
    match = re.match(r"\$\.elements\[(\d+)\]", path)
    if not match or not isinstance(recorded, dict):
        return ""
    element = recorded["elements"][int(match.group(1))]
    label = element.get("key") or element.get("label") or element.get("title") or ""
    return f" ({element['type']}{' ' + repr(label) if label else ''})"


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_page_snapshot(snapshot_env, case: Case):
    at = render(case, snapshot_env["tokens"])
    for key, count in case.options.items():
        offered = next(w for w in at.main if getattr(w, "key", None) == key)
        assert len(offered.options) == count, (f"{case.page}: {key} now offers {list(offered.options)}; "
                                               "add a case for the new option (CASES) and record it")
    data = {"page": case.page, "role": case.role, "sidebar": case.sidebar,
            "widgets": [list(w) for w in case.widgets], "elements": capture(at)}
    check(case.name, case.describe(), clean(data, str(snapshot_env["data_dir"])))


def run_cli(args: list[str], capsys) -> Any:
    capsys.readouterr()
    code = cli.main(args)
    out = capsys.readouterr().out
    return {"exit_code": code, "output": json.loads(out)}


def test_cli_status_json_snapshot(snapshot_env, capsys):
    check("cli__status_json", "python -m dashboard status --json",
          clean(run_cli(["status", "--json"], capsys), str(snapshot_env["data_dir"])))


def test_cli_dry_run_ingest_snapshot(snapshot_env, capsys):
    args = ["ingest", str(DRY_RUN_FILE), "--kind", "incidents", "--dry-run", "--json"]
    report = run_cli(args, capsys)
    check("cli__ingest_dry_run", f"python -m dashboard {' '.join(args[:1] + args[2:])} "
          f"{DRY_RUN_FILE.relative_to(REPO)}", clean(report, str(snapshot_env["data_dir"])))


def test_no_snapshot_without_a_case():
    """A recorded file no case writes any more would silently stop being checked."""
    names = {c.name for c in CASES} | {"cli__status_json", "cli__ingest_dry_run"}
    assert len(names) == len(CASES) + 2, "case names must be unique"
    stale = sorted(p.stem for p in SNAPSHOT_DIR.glob("*.json") if p.stem not in names)
    assert not stale, f"snapshots without a case (delete them or add the case back): {stale}"


def test_every_page_has_a_case():
    """A page added to the app without a snapshot would pass every refactor unchecked."""
    assert {Path(c.page).stem for c in CASES} == {p.name for p in access.PAGES}


def test_first_difference_forgives_only_the_last_recorded_digit():
    assert first_difference({"y": [0.03428195573]}, {"y": [0.03428195572]}) is None
    assert first_difference({"y": [2]}, {"y": [2.000000000001]}) is None
    assert first_difference({"y": [0.0342820]}, {"y": [0.0342819]}) == ("$.y[0]", 0.034282, 0.0342819)
    assert first_difference({"n": 1}, {"n": 1.0000001}) == ("$.n", 1, 1.0000001)
    assert first_difference({"n": True}, {"n": 1}) == ("$.n", True, 1)
    assert first_difference({"t": "Down 28%"}, {"t": "Down 27%"}) == ("$.t", "Down 28%", "Down 27%")
