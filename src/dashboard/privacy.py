"""Public-safe counts: small-cell suppression with complementary suppression, so no count below the
threshold k is published and no published total lets a reader work a withheld count out.

Pure numpy/pandas: no Streamlit, no store, no drawing. Callers suppress *before* anything reaches a map,
table, chart or download; what is withheld is never handed to a builder.

The reader this guards against (tests/test_privacy.py audits exactly this with linear programming)
knows every shown cell, every shown total (the grand total; for nested levels, each coarse total,
shown on the coarse level's page) and the rules: a cell reading "fewer than k" is 0..k-1; a withheld
cell is at least k and, as complements are picked smallest first, at most the smallest cell still shown
in its own group; a withheld total is at least k. The cells and totals form a tree (grand total ->
coarse totals -> cells), so one pass up and one down gives each hidden value's exact feasible range;
suppression goes on until none is a single value. Not covered: differencing two periods or filter
selections, and levels that do not nest (community areas vs beats); see docs/privacy.md.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SHOWN, FEWER, COMPLEMENT, FORCED = 0, 1, 2, 3
WITHHELD_TEXT = "withheld"
_ROOT = "\x00root"


def fewer_text(k: int) -> str:
    return f"fewer than {k}"


@dataclass(frozen=True)
class Suppression:
    """Per cell: ``state`` (SHOWN, FEWER: below k, COMPLEMENT: withheld to protect another, FORCED: a
    total withheld because only it pinned a cell of a finer level) and whether the grand total is shown.

    When ``total_shown`` is False but the caller shows that total elsewhere (an area's count above its
    weekly series), the breakdown must not be shown at all."""

    state: np.ndarray
    k: int
    total_shown: bool

    @property
    def hidden(self) -> np.ndarray:
        return self.state != SHOWN

    @property
    def fewer(self) -> int:
        return int((self.state == FEWER).sum())

    @property
    def withheld(self) -> int:
        return int(((self.state == COMPLEMENT) | (self.state == FORCED)).sum())

    def texts(self, values: Sequence[float], fmt: str = "{:,.0f}") -> list[str]:
        """What a reader sees per cell: the number, "fewer than k" or "withheld"."""
        out = []
        for value, state in zip(values, self.state, strict=True):
            if state == SHOWN:
                out.append(fmt.format(value))
            else:
                out.append(fewer_text(self.k) if state == FEWER else WITHHELD_TEXT)
        return out

    def masked(self, values: Sequence[float]) -> np.ndarray:
        """``values`` as floats with every hidden cell NaN (for maps, charts and tables)."""
        out = np.asarray(values, dtype=float).copy()
        out[self.hidden] = np.nan
        return out


@dataclass(frozen=True)
class ViewPolicy:
    """What one page run may publish: the public-safe view or the full one, the configured threshold
    ``k`` and the offense types left out of every count (none in the full view)."""

    public: bool
    k: int
    excluded: tuple[str, ...]

    @property
    def applied_k(self) -> int:
        """The threshold in force: ``k`` in the public view, 1 (nothing withheld) in the full one."""
        return self.k if self.public else 1


def check_k(k: int) -> None:
    """k = 1 turns suppression off; k = 2 is refused: with "fewer than 2" and a withheld total (>= 2)
    over two cells, both are pinned to 1, which no choice of cells can prevent."""
    if k < 1 or k == 2:
        raise ValueError(f"the minimum cell count must be 1 (no suppression) or at least 3, not {k}")


def _counts(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.size and (not np.isfinite(array).all() or (array < 0).any() or (array != np.round(array)).any()):
        raise ValueError("counts must be whole numbers >= 0 (fill missing areas with 0 first)")
    return array.astype(np.int64)


class _Tree:
    """Root (grand total) -> groups (coarse totals) -> cells, with what a reader knows of each node as an
    integer interval. One pass up and one down gives each node's exact feasible range (sums of integer
    intervals are intervals, and the constraints form a tree)."""

    def __init__(self, values: np.ndarray, group_index: np.ndarray, group_values: np.ndarray, k: int) -> None:
        self.values, self.group_index, self.group_values, self.k = values, group_index, group_values, k
        self.members = [np.flatnonzero(group_index == g) for g in range(len(group_values))]
        self.loose = np.flatnonzero(group_index < 0)

    def _own(self, value: float, state: int, cap: float) -> tuple[float, float]:
        if state == SHOWN:
            return value, value
        if state == FEWER:
            return 0.0, float(self.k - 1)
        return float(self.k), (cap if state == COMPLEMENT else math.inf)

    @staticmethod
    def _cap(values: np.ndarray, states: np.ndarray) -> float:
        shown = values[states == SHOWN]
        return float(shown.min()) if shown.size else math.inf

    @staticmethod
    def _narrow(parts: list[tuple[float, float]], parent: tuple[float, float]) -> list[tuple[float, float]]:
        """Each part's range given that the parts sum to a value within ``parent``."""
        lows = np.array([p[0] for p in parts])
        highs = np.array([p[1] for p in parts])
        low_sum = float(lows.sum())
        infinite = np.isinf(highs)
        finite_high = float(highs[~infinite].sum())
        out = []
        for i, (low, high) in enumerate(parts):
            others_high = math.inf if int(infinite.sum()) - int(infinite[i]) > 0 else finite_high - (
                0.0 if infinite[i] else high)
            out.append((max(low, parent[0] - others_high), min(high, parent[1] - (low_sum - low))))
        return out

    def ranges(self, cell_state: np.ndarray, group_state: np.ndarray, root_state: int):
        """(cell ranges, group ranges, root range) a reader can narrow each value to."""
        k = self.k
        cell_own = []
        for i, value in enumerate(self.values):
            g = self.group_index[i]
            peers = self.members[g] if g >= 0 else self.loose
            cell_own.append(self._own(value, cell_state[i], self._cap(self.values[peers], cell_state[peers])))
        group_cap = self._cap(self.group_values, group_state)
        group_up = []
        for g, members in enumerate(self.members):
            low, high = self._own(self.group_values[g], group_state[g], group_cap)
            below = (sum(cell_own[i][0] for i in members), sum(cell_own[i][1] for i in members))
            group_up.append((max(low, below[0]), min(high, below[1])))
        total = float(self.values.sum())
        root_own = (total, total) if root_state == SHOWN else ((0.0, k - 1.0) if root_state == FEWER
                                                                else (float(k), math.inf))
        parts = group_up + [cell_own[i] for i in self.loose]
        root = (max(root_own[0], sum(p[0] for p in parts)), min(root_own[1], sum(p[1] for p in parts)))
        narrowed = self._narrow(parts, root) if parts else []
        group_final = narrowed[: len(self.members)]
        cell_final = list(cell_own)
        for i, rng in zip(self.loose, narrowed[len(self.members):], strict=True):
            cell_final[i] = rng
        for g, members in enumerate(self.members):
            for i, rng in zip(members, self._narrow([cell_own[i] for i in members], group_final[g]), strict=True):
                cell_final[i] = rng
        return cell_final, group_final, root


def _suppress_tree(values: np.ndarray, group_index: np.ndarray, n_groups: int, k: int,
                   total_published: bool | None) -> tuple[np.ndarray, np.ndarray, bool]:
    group_values = np.array([values[group_index == g].sum() for g in range(n_groups)], dtype=np.int64)
    cell_state = np.where(values < k, FEWER, SHOWN).astype(np.int8)
    group_state = np.where(group_values < k, FEWER, SHOWN).astype(np.int8)
    total = int(values.sum())
    if total_published is None:
        root_state = SHOWN if total >= k else FEWER
    else:
        root_state = SHOWN if total_published else (FEWER if total < k else FORCED)
    tree = _Tree(values.astype(float), group_index, group_values.astype(float), k)

    def smallest(candidates: np.ndarray, pool: np.ndarray) -> int | None:
        shown = candidates[pool[candidates] == SHOWN]
        return None if shown.size == 0 else int(shown[np.argmin(values[shown] if pool is cell_state
                                                                 else group_values[shown])])

    for _ in range(len(values) + n_groups + 2):
        cells, groups, _root = tree.ranges(cell_state, group_state, root_state)
        pinned_cells = [i for i, (lo, hi) in enumerate(cells) if cell_state[i] != SHOWN and lo >= hi]
        pinned_groups = [g for g, (lo, hi) in enumerate(groups) if group_state[g] != SHOWN and lo >= hi]
        if not pinned_cells and not pinned_groups:
            return cell_state, group_state, root_state == SHOWN
        # Fix one pinned value by withholding, in this order of preference: a cell under a withheld total
        # whose cells are all shown (they would add up to it, and pin everything that total touches), the
        # smallest shown cell beside a pinned cell, that cell's group total, the smallest shown total, a
        # loose cell.
        under = next((smallest(tree.members[g], cell_state) for g in pinned_groups
                      if len(tree.members[g]) and (cell_state[tree.members[g]] == SHOWN).all()), None)
        if under is not None:
            cell_state[under] = COMPLEMENT
            continue
        if pinned_cells:
            g = int(group_index[pinned_cells[0]])
            first = smallest(tree.members[g] if g >= 0 else tree.loose, cell_state)
            if first is not None:
                cell_state[first] = COMPLEMENT
                continue
            if g >= 0 and group_state[g] == SHOWN:
                group_state[g] = FORCED
                continue
        sibling = smallest(np.arange(n_groups), group_state)
        if sibling is not None:
            group_state[sibling] = COMPLEMENT
            continue
        loose = smallest(tree.loose, cell_state)
        if loose is not None:
            cell_state[loose] = COMPLEMENT
            continue
        if root_state == SHOWN:
            root_state = FEWER if total < k else FORCED
            continue
        raise AssertionError("suppression could not protect every cell")  # see tests/test_privacy.py
    raise AssertionError("suppression did not settle")


def pinned(values: Sequence[float] | np.ndarray, state: Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    """Which hidden cells of one group a shown total pins to a single value (a reader's view)."""
    values = np.asarray(values, dtype=float)
    tree = _Tree(values, np.full(len(values), -1), np.zeros(0), k)
    cells, _, _ = tree.ranges(np.asarray(state), np.zeros(0, dtype=np.int8), SHOWN)
    return np.array([s != SHOWN and lo >= hi for s, (lo, hi) in zip(state, cells, strict=True)], dtype=bool)


def suppress(
    counts: Sequence[float] | np.ndarray | pd.Series,
    k: int,
    total_published: bool | None = None,
) -> Suppression:
    """Suppress one table of counts whose grand total is shown (``total_published``; default: when it
    is at least k; it is withheld when the cells cannot be protected otherwise).

    counts: whole numbers >= 0, one per cell (a missing area is a 0, and 0 < k is hidden too).
    Cells below k read "fewer than k"; then, while the total pins a hidden cell (one hidden cell, say),
    the smallest shown cell is withheld too.
    """
    check_k(k)
    values = _counts(counts)
    if k <= 1 or len(values) == 0:  # "fewer than 1" would read as an exact 0: k = 1 means no suppression
        return Suppression(np.zeros(len(values), dtype=np.int8), k, total_published is not False)
    cell_state, _, shown = _suppress_tree(values, np.full(len(values), -1), 0, k, total_published)
    return Suppression(cell_state, k, shown)


def suppress_nested(
    counts: Sequence[float] | np.ndarray | pd.Series,
    groups: Sequence[Hashable],
    k: int,
    total_published: bool | None = None,
) -> tuple[Suppression, Suppression, list]:
    """Suppress a fine level (beats) and the coarse level it nests in (districts) together, so neither
    page's numbers, nor the grand total, let a reader work out a hidden one on the other.

    Returns (fine, coarse, coarse_labels): ``coarse`` is indexed like ``coarse_labels`` (sorted group
    labels; their counts are the group sums). Cells without a group count only in the grand total.
    """
    check_k(k)
    values = _counts(counts)
    labels = pd.Series(list(groups), dtype=object)
    if len(labels) != len(values):
        raise ValueError("groups needs one label per count")
    coarse_labels = sorted({g for g in labels if not pd.isna(g)}, key=str)
    position = {label: i for i, label in enumerate(coarse_labels)}
    group_index = np.array([-1 if pd.isna(g) else position[g] for g in labels], dtype=np.int64)
    if k <= 1 or len(values) == 0:
        shown = total_published is not False
        return (Suppression(np.zeros(len(values), dtype=np.int8), k, shown),
                Suppression(np.zeros(len(coarse_labels), dtype=np.int8), k, shown), coarse_labels)
    cell_state, group_state, shown = _suppress_tree(values, group_index, len(coarse_labels), k, total_published)
    return Suppression(cell_state, k, shown), Suppression(group_state, k, shown), coarse_labels


def summary_text(k: int, cells: str, fewer: int, withheld: int, excluded: Sequence[str] = ()) -> str:
    """One sentence for legends and captions saying what the public view withheld."""
    parts = []
    if fewer:
        parts.append(f"{fewer:,} {cells} with {fewer_text(k)} incidents show no number")
    if withheld:
        parts.append(f"{withheld:,} more {'is' if withheld == 1 else 'are'} withheld so totals cannot "
                     "reveal them")
    if excluded:
        parts.append("left out: " + ", ".join(t.lower() for t in excluded))
    if not parts:
        return f"Public view: every {cells[:-1] if cells.endswith('s') else cells} has at least {k} incidents."
    return "Public view: " + "; ".join(parts) + "."


def mask_counts(frame: pd.DataFrame, columns: Sequence[str], k: int,
                derived: Sequence[str] = ("change", "pct_change", "rate_per_1000")) -> tuple[pd.DataFrame, int]:
    """``frame`` with each count column suppressed as one table under its shown total (``suppress``)
    and hidden cells set to NaN, along with every ``derived`` column of that row (a change or a rate
    would give the hidden count back). Returns the masked frame and how many cells were hidden.

    For the overview's tables in the public view; the map pages use the nested, audited path instead.
    """
    if k <= 1:  # nothing is withheld: the frame as it is (whole numbers stay whole)
        return frame, 0
    out = frame.copy()
    hidden_rows = np.zeros(len(out), dtype=bool)
    hidden = 0
    for column in columns:
        result = suppress(out[column].fillna(0), k)
        out[column] = result.masked(out[column].fillna(0))
        hidden_rows |= result.hidden
        hidden += int(result.hidden.sum())
    for column in derived:
        if column in out.columns:
            out[column] = out[column].astype(float).where(~hidden_rows)
    return out, hidden


def count_text(count: int, k: int) -> str:
    """A single published count: the number, or "fewer than k"."""
    return f"{count:,}" if k <= 1 or count >= k else fewer_text(k)


def shown_pct(current: int, prior: int, k: int) -> float | None:
    """% change, or None when either count is below k (a change would give a small count back)."""
    if k > 1 and (current < k or prior < k):
        return None
    return None if prior == 0 else (current - prior) / prior * 100


def overview_note(k: int, excluded: Sequence[str]) -> str:
    text = (f"Public view: bars, weeks and areas with fewer than {k} incidents show no number, and another "
            "is withheld where a total would reveal one.")
    if excluded:
        text += " Left out: " + ", ".join(t.lower() for t in excluded) + "."
    return text


def published(raw: pd.DataFrame, shown: pd.DataFrame, key_column: str, key: Hashable,
              k: int) -> tuple[str, float | None]:
    """One row of a ``mask_counts`` table quoted on its own (a KPI): its text and % change, hidden
    exactly as the row is in the table, so quoting it cannot undo a complement withheld there."""
    raw_row, shown_row = raw[raw[key_column] == key], shown[shown[key_column] == key]
    if raw_row.empty:
        return "0", None
    current, prior = int(raw_row["count"].iloc[0]), int(raw_row["prior"].iloc[0])
    if pd.isna(shown_row["count"].iloc[0]):
        return (fewer_text(k) if current < k else WITHHELD_TEXT), None
    if pd.isna(shown_row["prior"].iloc[0]) or prior == 0:
        return f"{current:,}", None
    return f"{current:,}", (current - prior) / prior * 100
