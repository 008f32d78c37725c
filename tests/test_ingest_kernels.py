"""ingest.kernels: each fast kernel gives exactly what its plain pandas counterpart gives."""

from __future__ import annotations

import pandas as pd

from dashboard import ingest
from dashboard.ingest import kernels


def test_duplicated_ids_agree_with_pandas_on_digits_padding_and_text():
    base = [str(i) for i in range(12_000)]
    cases = [
        base + ["5", "11999", "0"],  # all plain digits: compared as integers
        base + ["007", "7", "0"],  # leading zeros: '007' is not '7'
        base + ["12a", "12a", " 5"],  # text
        base + [None, None, "5"],  # missing values
        base + ["+5", "5", "-0"],  # signs
        base + ["99999999999999999999", "5"],  # beyond 64-bit integers
    ]
    for values in cases:
        ids = pd.Series(values, dtype="string")
        for keep in ("last", "first", False):
            got = ingest.duplicated_ids(ids, keep=keep)
            assert got.tolist() == ids.duplicated(keep=keep).tolist()
    assert ingest.duplicated_ids(pd.Series(cases[1], dtype="string"), keep=False).sum() == 4  # 7 and 0, not 007



def test_work_on_distinct_values_equals_work_on_every_value():
    """_by_value works on each distinct value once and spreads the results back; for text of either
    pandas kind, and object columns, with missing and blank values, that equals working row by row."""
    import numpy as np

    rng = np.random.default_rng(7)
    pools = {
        "flags": ["true", "False", " yes", "0", "", None, "maybe", "N"],
        "beats": ["006", "6", "0611", None, " 12", "abc", "", "1011"],
        "offenses": ["THEFT", "battery ", "LOUD MUSIC", None, "", "Narcotics"],
    }
    functions = {
        "flags": lambda v: ingest.parse_bool(v) if len(v) < 1000 else None,
        "beats": lambda v: ingest.canonical_area_id(v, "beat") if len(v) < 1000 else None,
        "offenses": lambda v: v.astype("string").str.strip().str.upper() if len(v) < 1000 else None,
    }
    for kind, pool in pools.items():
        for dtype in ("str", "string", "object"):
            values = pd.Series(rng.choice(np.array(pool, dtype=object), 5_000), dtype=dtype)
            spread = kernels.by_value(values, functions[kind])  # the function itself refuses long columns
            whole = pd.concat([functions[kind](values.iloc[i:i + 500]) for i in range(0, len(values), 500)])
            pd.testing.assert_series_equal(spread, whole, check_names=False)



def test_replacing_values_touches_only_their_chunks():
    """Point-in-polygon results replace a few values of a million-row column: untouched chunks are kept
    as they are, a few values are spliced in between zero-copy slices, many go through one mask."""
    import numpy as np
    import pyarrow as pa

    chunks = [pa.array([f"a{i}", None, f"c{i}"], type=pa.large_string()) for i in range(4)]
    values = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks)))
    out = kernels.replace_at(values, np.asarray([10, 1, 3]), np.asarray(["x", None, "y"], dtype=object))
    expected = ["a0", None, "c0", "y", None, "c1", "a2", None, "c2", "a3", "x", "c3"]
    assert [None if pd.isna(v) else v for v in out] == expected
    assert any(piece.equals(chunks[2]) for piece in out.array._pa_array.chunks)  # untouched chunk kept
    assert kernels.replace_at(values, np.asarray([], dtype=int), np.asarray([], dtype=object)) is values

    many = pd.Series([f"v{i}" for i in range(1_000)], dtype="string")
    positions = np.arange(0, 1_000, 7)  # 143 values: the mask path
    got = kernels.replace_at(many, positions[::-1], np.asarray([f"r{p}" for p in positions[::-1]], dtype=object))
    assert got.tolist() == [f"r{i}" if i % 7 == 0 else f"v{i}" for i in range(1_000)]



def test_repeated_ids_found_in_any_order():
    """The sorted pass that rules out repeats must not hide one, whatever the order of the ids."""
    import numpy as np

    rng = np.random.default_rng(3)
    ordered = [str(i) for i in range(20_000)]
    for values in (ordered, ordered[::-1], list(rng.permutation(ordered))):
        ids = pd.Series(values, dtype="str")
        assert not ingest.duplicated_ids(ids).any()
        repeated = pd.Series([*values[:-1], values[5]], dtype="str")
        for keep in ("last", "first", False):
            assert ingest.duplicated_ids(repeated, keep=keep).tolist() == repeated.duplicated(keep=keep).tolist()
