"""hotspots: binning points into H3 cells, the city grid with zeros, hexagon adjacency, Gi* against the
textbook formula (to 1e-9) with seeded permutations, and the public-safe hexagon table."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard import hotspots, privacy

CENTRE = h3.latlng_to_cell(41.88, -87.63, 8)


def _disk(radius: int = 3) -> list[str]:
    return sorted(h3.grid_disk(CENTRE, radius))


def test_hex_counts_bin_every_point_and_keep_the_total():
    points = pd.DataFrame({"latitude": [41.88, 41.88, 41.95], "longitude": [-87.63, -87.63001, -87.70],
                           "count": [3, 2, 7]})
    counts = hotspots.hex_counts(points, 8)
    assert counts["count"].sum() == 12
    assert counts.set_index("cell").loc[CENTRE, "count"] == 5
    assert hotspots.hex_counts(points.iloc[0:0], 8).empty


def test_grid_covers_the_areas_and_fills_zeros():
    areas = gpd.GeoDataFrame({"area_id": ["1"], "name": ["x"]}, geometry=[box(-87.66, 41.86, -87.60, 41.90)],
                             crs="EPSG:4326")
    cells = hotspots.cover(areas, 8)
    assert len(cells) > 5 and CENTRE in cells
    outside = h3.latlng_to_cell(42.5, -88.5, 8)
    grid = hotspots.grid(pd.DataFrame({"cell": [CENTRE, outside], "count": [4, 1]}), cells)
    assert set(cells) | {outside} == set(grid["cell"])
    assert grid["count"].sum() == 5 and (grid["count"] == 0).sum() == len(grid) - 2


def test_weights_are_symmetric_hexagon_neighbours():
    cells = _disk(2)
    w = hotspots.weights(cells)
    assert len(w.neighbors[CENTRE]) == 6
    assert all(a in w.neighbors[b] for a in w.neighbors for b in w.neighbors[a])
    ring_cell = sorted(h3.grid_ring(CENTRE, 2))[0]
    assert 2 <= len(w.neighbors[ring_cell]) <= 4  # the edge of the disk has fewer neighbours


def test_gi_star_matches_the_textbook_formula_and_is_seeded():
    cells = _disk(3)
    rng = np.random.default_rng(3)
    counts = rng.poisson(4, len(cells))
    hot = [CENTRE, *sorted(h3.grid_ring(CENTRE, 1))]
    counts[[cells.index(c) for c in hot]] += 40
    table = pd.DataFrame({"cell": cells, "count": counts})
    result = hotspots.gi_star(table, permutations=199)
    # Getis & Ord (1992) Gi*: (sum_j w_ij x_j - xbar W_i) / (s sqrt((n S1_i - W_i^2) / (n - 1)))
    x = counts.astype(float)
    n = len(x)
    index = {c: i for i, c in enumerate(cells)}
    w = np.eye(n)
    for c in cells:
        for other in h3.grid_ring(c, 1):
            if other in index:
                w[index[c], index[other]] = 1.0
    s = np.sqrt((x**2).mean() - x.mean() ** 2)
    z = (w @ x - x.mean() * w.sum(1)) / (s * np.sqrt((n * (w**2).sum(1) - w.sum(1) ** 2) / (n - 1)))
    assert result["z"].to_numpy() == pytest.approx(z, abs=1e-9)
    assert result.set_index("cell").loc[CENTRE, "spot"] == "hot"
    again = hotspots.gi_star(table, permutations=199)
    assert again["p_sim"].tolist() == result["p_sim"].tolist()  # fixed seed: same answer every run
    assert (result["q"] >= result["p_sim"] - 1e-12).all()  # BH never makes a p-value smaller


def test_gi_star_on_nothing_flags_nothing():
    result = hotspots.gi_star(pd.DataFrame({"cell": _disk(1), "count": 0}))
    assert (result["spot"] == "not significant").all()


def test_summary_counts_and_words():
    result = hotspots.gi_star(pd.DataFrame({"cell": _disk(3), "count": np.arange(37) % 5}), permutations=99)
    summary = hotspots.summary(result)
    assert summary["hexes"] == 37 and summary["expected_by_chance"] == pytest.approx(1.85)
    assert "by chance alone" in hotspots.summary_text(summary)


def test_public_cells_hide_small_counts_and_the_z_scores():
    result = hotspots.gi_star(pd.DataFrame({"cell": _disk(2), "count": [0, 3] + [20] * 17}), permutations=99)
    public, sup = hotspots.publish_cells(result, public=True, k=5)
    assert public["count_text"].tolist()[:2] == ["fewer than 5", "fewer than 5"]
    assert public["count"].isna().sum() == sup.hidden.sum() == 2
    assert public["z"].isna().all() and (public["z_text"] == "").all()
    assert (public["area_id"] == public["cell"]).all()
    full, _ = hotspots.publish_cells(result, public=False, k=5)
    assert full["count_text"].tolist()[:2] == ["0", "3"] and full["z_text"].str.len().gt(0).all()
    assert list(hotspots.export(public).columns) == ["cell", "count_text", "count", "spot", "z", "p_sim", "q"]
    assert sup.state[0] == privacy.FEWER


def test_polygons_are_hexagons_in_degrees():
    shapes = hotspots.polygons([CENTRE])
    assert shapes.crs == "EPSG:4326" and shapes.loc[0, "area_id"] == CENTRE
    assert len(shapes.geometry.iloc[0].exterior.coords) == 7  # six corners, closed
    assert shapes.geometry.iloc[0].contains(gpd.points_from_xy([-87.63], [41.88])[0])
