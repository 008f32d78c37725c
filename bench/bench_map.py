"""Neighborhood map numbers on the bundled sample: build time and HTML size of the map per boundary level
and per hexagon resolution, hot-spot counts, and what the public view withheld.

Run: .venv/bin/python bench/bench_map.py [--start 2017-01-01 --end 2017-12-31] [--groups homicide,violent]
     [--repeat 3] [--json]

- per level (community area, district, beat), public view, Count measure: SQL + table + suppression time
  ("table_s"), folium build + render time ("map_s"), standalone HTML size, features, point features, and
  the suppression (cells below k, complements withheld);
- per H3 resolution (7, 8, 9): binning + Gi* time ("hexes_s", 999 permutations), map time and size,
  hexagons, hot and cold spots (p_sim < 0.05) and how many survive Benjamini-Hochberg.
Uses a store seeded from data/sample in a temporary folder (or DASHBOARD_DATA_DIR when set). Prints
numbers; asserts nothing (limits: 1.5 MB per map, no point features; read by people, not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from dashboard import config, geo, hotspots, maps, neighborhood, periods, sample  # noqa: E402
from dashboard.store import Store  # noqa: E402


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def level_row(store: Store, level: str, start: date, end: date, groups, cfg, repeat: int) -> dict:
    excluded = list(cfg.sensitive_offenses)
    prior_start, prior_end = periods.prior_period(start, end)
    areas = geo.from_store(store.areas(level))
    levels = store.levels()
    nesting = None
    fine = next((f for f, c in neighborhood.NESTS.items() if c == level), None)
    pair = (level, neighborhood.NESTS[level]) if level in neighborhood.NESTS else (fine, level)
    if all(p in levels for p in pair if p):
        nesting = geo.nesting(geo.from_store(store.areas(pair[0])), geo.from_store(store.areas(pair[1])))

    def table():
        inputs = neighborhood.MapInputs(
            level, start, end, prior_start, prior_end,
            current=store.count_incidents([level], start, end, groups, exclude_offenses=excluded),
            prior=store.count_incidents([level], prior_start, prior_end, groups, exclude_offenses=excluded),
            weekly=store.count_incidents(["week", level], start, end, groups, exclude_offenses=excluded),
            population=store.population(level), outreach=store.count_outreach([level], start, end),
            nesting=nesting,
            fine_current=store.count_incidents([fine], start, end, groups, exclude_offenses=excluded) if fine else None,
            fine_prior=(store.count_incidents([fine], prior_start, prior_end, groups, exclude_offenses=excluded)
                        if fine else None),
        )
        return neighborhood.map_view(areas, inputs, public=True, k=cfg.min_cell_count, excluded=excluded)

    (published, withheld), table_s = timed(table, repeat)
    label = neighborhood.measure("Count", True, level, {})

    def build():
        m = maps.count_choropleth(areas, published, value_column=label.column, text_column=label.text_column,
                                  label=label.label, legend_title="Incidents", level_label=level,
                                  hidden_column="hidden", emphasis_column="changed", emphasis_label="significant",
                                  tooltip_columns=neighborhood.tooltip_columns(True, label.text_column),
                                  notes=[withheld.sentence()])
        return maps.payload(m)

    report, map_s = timed(build, repeat)
    return {"level": level, "areas": len(areas), "table_s": round(table_s, 3), "map_s": round(map_s, 3),
            "html_mb": round(report["bytes"] / 1e6, 3), "features": report["features"],
            "point_features": report["point_features"], "fewer_than_k": withheld.fewer,
            "withheld_complements": withheld.withheld, "city_total_shown": withheld.total_shown,
            "significant_changes": int(published["changed"].sum())}


def hex_row(store: Store, resolution: int, start: date, end: date, groups, cfg, repeat: int) -> dict:
    excluded = list(cfg.sensitive_offenses)
    city = geo.from_store(store.areas(store.levels()[0]))

    def layer():
        points = store.incident_points(start, end, groups, exclude_offenses=excluded)
        grid = hotspots.grid(hotspots.hex_counts(points, resolution), hotspots.cover(city, resolution))
        return hotspots.gi_star(grid)

    result, hexes_s = timed(layer, 1)
    cells, sup = hotspots.publish_cells(result, public=True, k=cfg.min_cell_count)
    shapes = hotspots.polygons(cells["cell"].tolist())
    beats = geo.from_store(store.areas("beat"))
    events = periods.outreach_by_area(beats, store.count_outreach(["beat"], start, end), "beat")

    def build():
        m = maps.count_choropleth(shapes, cells, value_column="count", text_column="count_text",
                                  hidden_column="hidden", label="Incidents", legend_title="Incidents per hexagon",
                                  level_label="Hexagon", tooltip_columns={"spot_text": "Gi*"}, tolerance=0.0)
        maps.add_outline_layer(m, beats, events, value_column="events", label="Outreach events",
                               level_label="Police beat", show=False)
        return maps.payload(m)

    report, map_s = timed(build, repeat)
    summary = hotspots.summary(result)
    return {"resolution": resolution, "hexes_s": round(hexes_s, 3), "map_s": round(map_s, 3),
            "html_mb": round(report["bytes"] / 1e6, 3), "point_features": report["point_features"],
            **summary, "fewer_than_k": sup.fewer, "withheld_complements": sup.withheld}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", default="2017-01-01")
    parser.add_argument("--end", default="2017-12-31")
    parser.add_argument("--groups", default="", help="comma-separated offense groups (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    groups = [g for g in args.groups.split(",") if g] or None
    cfg = config.load()
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        data_dir = Path(os.environ.get("DASHBOARD_DATA_DIR") or tmp)
        store = Store(data_dir / "dashboard.duckdb")
        if store.is_empty():
            sample.seed_store(store, REPO / "data" / "sample")
        levels = [lv for lv in ("community_area", "district", "beat") if lv in store.levels()]
        rows = [level_row(store, lv, start, end, groups, cfg, args.repeat) for lv in levels]
        hexes = [hex_row(store, r, start, end, groups, cfg, args.repeat) for r in sorted(hotspots.RESOLUTIONS)]
        store.close()
    if args.json:
        print(json.dumps({"levels": rows, "hexagons": hexes}, indent=1))
        return
    print(f"period {start} – {end}, groups {args.groups or 'all'}, public view (k = {cfg.min_cell_count}, "
          f"{len(cfg.sensitive_offenses)} sensitive offense types left out)\n")
    print(f"{'level':<15}{'areas':>6}{'table s':>9}{'map s':>8}{'HTML MB':>9}{'points':>7}{'<k':>6}{'compl.':>7}"
          f"{'signif.':>8}")
    for r in rows:
        print(f"{r['level']:<15}{r['areas']:>6}{r['table_s']:>9.3f}{r['map_s']:>8.3f}{r['html_mb']:>9.3f}"
              f"{r['point_features']:>7}{r['fewer_than_k']:>6}{r['withheld_complements']:>7}{r['significant_changes']:>8}")
    print(f"\n{'H3 res':<8}{'hexes':>7}{'bin+Gi* s':>10}{'map s':>8}{'HTML MB':>9}{'hot':>6}{'cold':>6}"
          f"{'hot BH':>8}{'cold BH':>8}{'chance':>8}{'<k':>6}{'compl.':>7}")
    for h in hexes:
        print(f"{h['resolution']:<8}{h['hexes']:>7}{h['hexes_s']:>10.3f}{h['map_s']:>8.3f}{h['html_mb']:>9.3f}"
              f"{h['hot']:>6}{h['cold']:>6}{h['hot_fdr']:>8}{h['cold_fdr']:>8}{h['expected_by_chance']:>8.0f}"
              f"{h['fewer_than_k']:>6}{h['withheld_complements']:>7}")


if __name__ == "__main__":
    main()
