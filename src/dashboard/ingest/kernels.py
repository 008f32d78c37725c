"""The fast column kernels of the ingest: arrow and numpy passes over raw bytes, distinct-value work, a
process-wide scratch DuckDB for date parsing, and the two-thread pool the column work runs on.

Each kernel gives exactly what its plain pandas counterpart gives; none knows about dataset kinds.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Distinct:
    """A text column as its distinct values and, per row, a code into them: ids, codes and category
    text repeat a lot, so a million rows often hold only a few hundred values to work on."""

    base: pd.Series  # the distinct values in the column's dtype, then one missing value
    codes: np.ndarray  # per row; a missing row points at the last entry of base
    index: pd.Index

    def spread(self, done: pd.Series) -> pd.Series:
        """Per-row values from ``done`` (one per entry of base), as arrow or numpy gathers."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(done.dtype, pd.BooleanDtype):
            flags = done.to_numpy(dtype=bool, na_value=False)[self.codes]
            return pd.Series(pd.arrays.BooleanArray(flags, done.isna().to_numpy()[self.codes]), index=self.index)
        arrow = getattr(done.array, "_pa_array", None)
        if isinstance(done.dtype, pd.StringDtype) and arrow is not None:
            taken = pc.take(arrow, pa.array(self.codes))
            return pd.Series(type(done.array)(taken), index=self.index)
        return pd.Series(done.take(self.codes).array, index=self.index, dtype=done.dtype)

    def counts(self) -> np.ndarray:
        """Rows per entry of base."""
        return np.bincount(self.codes, minlength=len(self.base))


def distinct_values(values: pd.Series) -> Distinct | None:
    """The column's distinct values (arrow dictionary encoding), or None where that does not pay: a
    short column, one that is not text, or one whose values hardly repeat (ids, case numbers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) < 1000 or not pd.api.types.is_string_dtype(values.dtype):
        return None
    head = values.head(2000)
    if head.nunique() > 0.5 * len(head):  # nothing repeats, so skip the hashing
        return None
    arr = arrow_text(values)
    encoded = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    if len(encoded.dictionary) * 4 > len(values):
        return None
    base = pd.Series([*encoded.dictionary.to_pylist(), None], dtype=values.dtype)
    codes = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return Distinct(base, codes, values.index)


def by_value(values: pd.Series, func) -> pd.Series:
    """``func`` (element-wise) applied to each distinct value once and spread back (see distinct_values)."""
    distinct = distinct_values(values)
    return func(values) if distinct is None else distinct.spread(func(distinct.base))


_FAST_FORMAT = re.compile(r"^(%[YmdHIMSp]|[-/:T ])+$")


_SCRATCH: list = []


_SCRATCH_LOCK = threading.Lock()


def _scratch_duckdb():
    """A cursor on one in-memory DuckDB kept for the process (opening a database is slow; a cursor is
    its own connection to it, safe to use on any thread). Close the cursor after use."""
    import duckdb

    with _SCRATCH_LOCK:
        if not _SCRATCH:
            _SCRATCH.append(duckdb.connect(":memory:"))
        return _SCRATCH[0].cursor()


def strptime_fast(text: pd.Series, fmt: str) -> pd.Series | None:
    """DuckDB's strptime (strict like pandas, and much faster) for plain numeric formats, else None."""
    if not _FAST_FORMAT.match(fmt) or len(text) < 10_000:
        return None
    import duckdb
    import pyarrow as pa

    con = _scratch_duckdb()
    try:
        con.register("dates_in", pa.table({"v": arrow_text(text)}))
        out = con.sql("SELECT try_strptime(v, ?) AS t FROM dates_in", params=[fmt]).to_arrow_table()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return pd.Series(out.column(0).to_numpy(), index=text.index, name=text.name).astype("datetime64[us]")


def arrow_text(values: pd.Series):
    """The column as an arrow string array: zero-copy for pandas' arrow-backed text, converted otherwise."""
    import pyarrow as pa

    if pd.api.types.is_string_dtype(values.dtype) and hasattr(values.array, "__arrow_array__"):
        try:
            arr = values.array.__arrow_array__()
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                return arr
        except (TypeError, ValueError, pa.ArrowException):
            pass
    return pa.array(values.astype("string").array, type=pa.string(), from_pandas=True)


def edge_bytes(arr) -> tuple[np.ndarray, np.ndarray, list]:
    """First and last byte of every non-empty value of an arrow string array, and its data buffers,
    read from the offsets without decoding a single value."""
    import pyarrow as pa

    firsts, lasts, buffers = [], [], []
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        _, offsets_buf, data_buf = chunk.buffers()[:3]
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        starts, ends = offsets[:-1], offsets[1:]
        full = ends > starts  # nulls and '' have no bytes
        if not full.all():
            starts, ends = starts[full], ends[full]
        firsts.append(data[starts])
        lasts.append(data[ends - 1])
        buffers.append(data[offsets[0]:offsets[-1]])
    empty = np.zeros(0, np.uint8)
    return (np.concatenate(firsts) if firsts else empty, np.concatenate(lasts) if lasts else empty, buffers)


# ASCII blanks, and any byte of a multi-byte character (which may be a Unicode space such as U+00A0).
BLANK = np.zeros(256, dtype=bool)


BLANK[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


BLANK[128:] = True


def has_byte(data: np.ndarray, table: np.ndarray) -> bool:
    """Whether any byte of ``data`` is marked in the 256-entry ``table`` (a histogram of the bytes, not
    a lookup per byte)."""
    return bool(len(data)) and bool(np.bincount(data, minlength=256)[table].any())


def _plain_decimals(arr) -> bool:
    """Every value non-empty, all digits, and without a leading zero (bar '0' itself): then the same
    text is the same number and the other way round. Checked on the raw bytes, not value by value."""
    import pyarrow.compute as pc

    first, _, buffers = edge_bytes(arr)
    if arr.null_count or len(first) < len(arr):
        return False
    digits = all(bool(((data - 48) < 10).all()) for data in buffers)  # uint8 wraps: bytes below '0' fail too
    if not digits or not (first == 48).any():
        return digits
    lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    return not bool(((first == 48) & (lengths > 1)).any())


def duplicated_ids(ids: pd.Series, keep: str | bool = "last") -> pd.Series:
    """``ids.duplicated(keep)``, faster for the usual all-digit ids of a large file:
    compared as integers when every value is a plain decimal without leading zeros (then the same
    text is the same number and the other way round); as text otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) >= 10_000 and pd.api.types.is_string_dtype(ids.dtype) and not ids.hasnans:
        arr = arrow_text(ids)
        if _plain_decimals(arr):
            try:
                numbers = pc.cast(arr, pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                numbers = None  # more than 18 digits
            if numbers is not None:
                values = numbers.to_numpy()
                # Exports come sorted by date, so ids are nearly in order: sorting them (cheaper than
                # hashing) shows most files repeat none, and the hash pass is skipped.
                ordered = np.sort(values)
                if not (ordered[1:] == ordered[:-1]).any():
                    return pd.Series(False, index=ids.index)
                return pd.Series(values, index=ids.index).duplicated(keep=keep)
    return ids.duplicated(keep=keep)


def replace_at(values: pd.Series, positions: np.ndarray, replacements: np.ndarray) -> pd.Series:
    """A text column with the values at ``positions`` replaced (None: missing), as one arrow kernel
    rather than a masked assignment over a million rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(positions):
        return values
    arr = arrow_text(values)
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    order = np.argsort(positions, kind="stable")
    positions, replacements = np.asarray(positions)[order], np.asarray(replacements, dtype=object)[order]
    out, start = [], 0
    for chunk in chunks:  # chunks without a replacement are kept as they are, not copied
        lo, hi = np.searchsorted(positions, [start, start + len(chunk)])
        new = pa.array(replacements[lo:hi], type=chunk.type, from_pandas=True)
        if hi - lo > 64:
            mask = np.zeros(len(chunk), dtype=bool)
            mask[positions[lo:hi] - start] = True
            out.append(pc.replace_with_mask(chunk, pa.array(mask), new))
        else:  # a few values: zero-copy slices around them, not a copy of a million
            at = 0
            for i, position in enumerate(positions[lo:hi] - start):
                out += [chunk.slice(at, position - at), new.slice(i, 1)]
                at = position + 1
            out.append(chunk.slice(at))
        start += len(chunk)
    out = [piece for piece in out if len(piece)]
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(out, type=arr.type)), index=values.index)


# Column work on files of at least this many rows runs on two threads: most of it is arrow, numpy,
# shapely and DuckDB kernels, which release the GIL.
PARALLEL_ROWS = 100_000


def run_all(tasks: dict[str, Any], parallel: bool) -> dict[str, Any]:
    """Call every task; results by name. With ``parallel`` on two threads. Errors are raised in the
    tasks' order, so the first failing task is the one reported, as when they run one after another."""
    if not parallel or len(tasks) < 2:
        return {name: task() for name, task in tasks.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2, thread_name_prefix="ingest") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        return {name: future.result() for name, future in futures.items()}


_BACKGROUND: list = []


def background():
    """One worker thread for the process, for work that overlaps what the caller does next."""
    from concurrent.futures import ThreadPoolExecutor

    with _SCRATCH_LOCK:
        if not _BACKGROUND:
            _BACKGROUND.append(ThreadPoolExecutor(1, thread_name_prefix="ingest-background"))
        return _BACKGROUND[0]

