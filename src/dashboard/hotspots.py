"""Hot spots on H3 hexagons: incident points binned into hexagons, the hexagon grid that covers the
city, and Getis-Ord Gi* hot and cold spots over hexagon adjacency.

Pure code (h3, libpysal, esda on frames passed in): no Streamlit, no store, no drawing. Points are binned
on the server; only hexagon counts (suppressed in the public view) ever reach a browser.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from esda.getisord import G_Local
from libpysal.weights import W
from shapely.geometry import Polygon
from statsmodels.stats.multitest import multipletests

from dashboard import privacy
from dashboard.schema import CRS

RESOLUTIONS: dict[int, str] = {
    7: "large hexagons (about 5 km², 2.4 km across)",
    8: "medium hexagons (about 0.7 km², 0.9 km across)",
    9: "small hexagons (about 0.1 km², 350 m across)",
}
# What the page offers: at resolution 9 the whole city is about 5,800 hexagons and a 2.6 MB map, over the
# 1.5 MB payload limit (bench/bench_map.py prints the numbers).
OFFERED = (7, 8)
DEFAULT_RESOLUTION = 8
PERMUTATIONS = 999
SEED = 20_170_101  # fixed so the same data give the same hot spots on every run
ALPHA = 0.05
SPOTS = ("hot", "cold", "not significant")


def hex_counts(points: pd.DataFrame, resolution: int) -> pd.DataFrame:
    """Incidents per H3 cell: cell, count. ``points``: latitude, longitude, count (one row per distinct
    coordinate, as store.incident_points returns them)."""
    if points.empty:
        return pd.DataFrame({"cell": pd.Series(dtype=str), "count": pd.Series(dtype="int64")})
    cells = [h3.latlng_to_cell(lat, lng, resolution)
             for lat, lng in zip(points["latitude"].tolist(), points["longitude"].tolist(), strict=True)]
    out = pd.DataFrame({"cell": cells, "count": points["count"].to_numpy()})
    return out.groupby("cell", as_index=False)["count"].sum().astype({"count": "int64"})


def cover(areas: gpd.GeoDataFrame, resolution: int) -> list[str]:
    """Every cell whose centre lies in the union of ``areas`` (the city): the grid a hot-spot test needs,
    empty cells included (without them there could be no cold spots)."""
    if areas.empty:
        return []
    city = shapely.union_all(areas.to_crs(CRS).geometry.values)
    return sorted(h3.h3shape_to_cells(h3.geo_to_h3shape(city.__geo_interface__), resolution))


def grid(counts: pd.DataFrame, cells: Sequence[str]) -> pd.DataFrame:
    """cell, count over ``cells`` plus every counted cell (zeros filled), sorted by cell."""
    every = sorted(set(cells) | set(counts["cell"]))
    out = pd.DataFrame({"cell": every})
    out["count"] = out["cell"].map(counts.set_index("cell")["count"]).fillna(0).astype("int64")
    return out


def weights(cells: Sequence[str]) -> W:
    """Binary contiguity of the cells: each cell's neighbours are the (up to six) cells touching it that
    are in the grid. A cell with none is an island (kept; Gi* then rests on the cell alone)."""
    present = set(cells)
    neighbours = {c: [n for n in sorted(h3.grid_ring(c, 1)) if n in present] for c in cells}
    return W(neighbours, id_order=list(cells), silence_warnings=True)


def gi_star(table: pd.DataFrame, permutations: int = PERMUTATIONS, seed: int = SEED,
            alpha: float = ALPHA) -> pd.DataFrame:
    """Getis-Ord Gi* (the cell itself included) of ``table`` (cell, count) over hexagon adjacency.

    Adds: z (Gi* z-score), p_sim (pseudo p-value from ``permutations`` conditional permutations with a
    fixed seed), q (Benjamini-Hochberg adjusted p_sim across the cells), spot ("hot": p_sim < alpha and
    z > 0; "cold": p_sim < alpha and z < 0; else "not significant"). With many cells about alpha of
    them pass by chance alone: the page says so and shows how many survive the BH adjustment.
    """
    out = table.reset_index(drop=True).copy()
    if len(out) < 3 or out["count"].sum() == 0:
        out["z"], out["p_sim"], out["q"] = np.nan, np.nan, np.nan
        out["spot"] = "not significant"
        return out
    w = weights(out["cell"].tolist())
    with warnings.catch_warnings():
        # esda 2.9 warns that a future major release will change its default alternative; G_Local has
        # no parameter for it yet. p_sim here is esda's folded pseudo p-value (the tail the observed
        # value lies in), which is what "p_sim < 0.05" conventionally means for Gi* maps.
        warnings.simplefilter("ignore", DeprecationWarning)
        # and that the grid is not one connected piece (the airport's cells): harmless for Gi*
        warnings.filterwarnings("ignore", message="The weights matrix is not fully connected")
        result = G_Local(out["count"].to_numpy(float), w, transform="B", permutations=permutations, star=True,
                         seed=seed, keep_simulations=False, n_jobs=1)
    out["z"] = np.asarray(result.Zs, dtype=float)
    out["p_sim"] = np.asarray(result.p_sim, dtype=float)
    out["q"] = multipletests(out["p_sim"].to_numpy(), method="fdr_bh")[1]
    significant = out["p_sim"] < alpha
    out["spot"] = np.where(significant & (out["z"] > 0), "hot",
                           np.where(significant & (out["z"] < 0), "cold", "not significant"))
    return out


def hex_layer(points: pd.DataFrame, resolution: int, cells: Sequence[str]) -> pd.DataFrame:
    """Incidents per H3 hexagon over ``cells`` (cell, count, zeros included) with Getis-Ord Gi* (z, p_sim,
    q, spot) from the distinct coordinates ``points`` (Store.incident_points)."""
    return gi_star(grid(hex_counts(points, resolution), cells))


def polygons(cells: Sequence[str]) -> gpd.GeoDataFrame:
    """The hexagons as a GeoDataFrame: area_id (the cell), name ("hexagon <cell>"), geometry."""
    shapes = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    return gpd.GeoDataFrame({"area_id": list(cells), "name": [f"hexagon {c}" for c in cells]},
                            geometry=shapes, crs=CRS)


def summary(result: pd.DataFrame, alpha: float = ALPHA) -> dict[str, float]:
    """Counts for the page's caption: hexes, hot, cold, expected_by_chance (alpha x hexes), hot_fdr and
    cold_fdr (those with BH-adjusted q < alpha)."""
    tested = result["p_sim"].notna()
    fdr = tested & (result["q"] < alpha)
    return {
        "hexes": int(len(result)),
        "hot": int((result["spot"] == "hot").sum()),
        "cold": int((result["spot"] == "cold").sum()),
        "expected_by_chance": float(alpha * tested.sum()),
        "hot_fdr": int((fdr & (result["z"] > 0)).sum()),
        "cold_fdr": int((fdr & (result["z"] < 0)).sum()),
    }


# Colour-blind safe (ColorBrewer RdBu ends) and told apart by lightness in greyscale print too.
SPOT_STYLE: dict[str, tuple[str, str]] = {
    "hot": ("#b2182b", "hot spot (Gi*, p < 0.05)"),
    "cold": ("#2166ac", "cold spot (Gi*, p < 0.05)"),
    "not significant": ("#f2f2f2", "not significant"),
}


def publish_cells(result: pd.DataFrame, *, public: bool, k: int) -> tuple[pd.DataFrame, privacy.Suppression]:
    """The hexagon table as the page may show it: adds area_id (the cell, for the map), count_text ("fewer than k" / "withheld" in the
    public view), hidden, spot_text, z_text ("" in the public view: only the hot/cold class is shown),
    and masks count where withheld. Suppression runs over every hexagon of the grid (zeros included,
    so an undrawn hexagon cannot reveal a 0) under the shown total."""
    out = result.copy()
    out["area_id"] = out["cell"]
    if public:
        sup = privacy.suppress(out["count"].astype(int).to_numpy(), k)
    else:
        sup = privacy.Suppression(np.zeros(len(out), dtype=np.int8), 1, True)
    out["count_text"] = sup.texts(out["count"])
    out["hidden"] = sup.hidden
    out["count"] = sup.masked(out["count"])
    out["spot_text"] = [SPOT_STYLE[s][1] for s in out["spot"]]
    out["z_text"] = "" if public else [("" if pd.isna(z) else f"{z:+.2f}") for z in out["z"]]
    if public:
        out[["z", "p_sim", "q"]] = np.nan
    return out, sup


def summary_text(stats_: dict[str, float], alpha: float = ALPHA) -> str:
    """The multiple-testing caveat in words, with the numbers."""
    return (f"{stats_['hot']:,} hot and {stats_['cold']:,} cold spots among {stats_['hexes']:,} hexagons "
            f"(Gi* with the hexagon itself, {PERMUTATIONS} permutations, seed {SEED}, p_sim < {alpha}). "
            f"With this many tests about {stats_['expected_by_chance']:,.0f} would pass by chance alone; "
            f"{stats_['hot_fdr']:,} hot and {stats_['cold_fdr']:,} cold spots remain after the "
            "Benjamini-Hochberg adjustment (false discovery rate 5%). Cold spots include parks, the lake "
            "shore and the airport: few people, few incidents.")


def export(table: pd.DataFrame) -> pd.DataFrame:
    """The hexagon table for download: cell, count_text, count, spot, z, p_sim, q (NaN where withheld)."""
    return table[["cell", "count_text", "count", "spot", "z", "p_sim", "q"]]
