"""privacy: small cells hidden, complements chosen, and (property test) no published total lets a reader
pin a hidden count, checked by an independent linear-programming audit of what a reader knows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from dashboard import privacy
from dashboard.privacy import COMPLEMENT, FEWER, FORCED, SHOWN


def _reader_ranges(values, fine, k, groups=None, coarse=None, coarse_labels=None):
    """Min and max of every hidden cell, hidden coarse total and withheld grand total over everything a
    reader knows. Independent of the algorithm: one LP per bound over the cells, with the published
    equalities (shown cells, shown coarse totals, the grand total) and the bounds each label implies
    (fewer than k: 0..k-1; a withheld cell: k..the smallest shown cell of its own group; a withheld
    total: >= k, and a coarse one picked as a complement <= the smallest shown coarse total)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    groups = list(groups) if groups is not None else [None] * n
    bounds = []
    for i in range(n):
        state = fine.state[i]
        if state == SHOWN:
            bounds.append((values[i], values[i]))
        elif state == FEWER:
            bounds.append((0, k - 1))
        else:
            assert state == COMPLEMENT
            peers = [values[j] for j in range(n) if groups[j] == groups[i] and fine.state[j] == SHOWN]
            bounds.append((k, min(peers) if peers else None))
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    rows = []
    if coarse is not None:
        totals = [values[[g == label for g in groups]].sum() for label in coarse_labels]
        shown_totals = [t for t, s in zip(totals, coarse.state, strict=True) if s == SHOWN]
        cap = min(shown_totals) if shown_totals else np.inf
        for label, state, value in zip(coarse_labels, coarse.state, totals, strict=True):
            row = np.array([1.0 if g == label else 0.0 for g in groups])
            rows.append((("total", label), state, row, value, cap if state == COMPLEMENT else np.inf))
    rows.append((("grand total", None), SHOWN if fine.total_shown else (FEWER if values.sum() < k else FORCED),
                 np.ones(n), values.sum(), np.inf))
    for _key, state, row, value, cap in rows:
        if state == SHOWN:
            a_eq.append(row)
            b_eq.append(value)
        elif state == FEWER:
            a_ub.append(row)
            b_ub.append(k - 1)
        else:
            a_ub.append(-row)
            b_ub.append(-k)
            if np.isfinite(cap):
                a_ub.append(row)
                b_ub.append(cap)
    targets = [(("cell", i), np.eye(n)[i]) for i in range(n) if fine.state[i] != SHOWN]
    targets += [(key, row) for key, state, row, _v, _c in rows if state != SHOWN]
    ranges = {}
    for key, objective in targets:
        found = []
        for sign in (1, -1):
            res = linprog(sign * objective, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None,
                          A_eq=np.array(a_eq) if a_eq else None, b_eq=b_eq or None, bounds=bounds,
                          method="highs")
            assert res.status in (0, 3), f"the published data are infeasible: {res.message}"
            found.append(sign * res.fun if res.status == 0 else -sign * np.inf)  # 3: unbounded
        ranges[key] = (found[0], found[1])
    return ranges


def _assert_nothing_pinned(ranges):
    pinned = {key: r for key, r in ranges.items() if r[1] - r[0] < 0.5}
    assert not pinned, f"a reader can work out these hidden values exactly: {pinned}"


def test_cells_below_k_read_fewer_than_k():
    result = privacy.suppress([12, 3, 40, 7], k=5, total_published=False)
    assert result.state.tolist() == [SHOWN, FEWER, SHOWN, SHOWN]
    assert result.texts([12, 3, 40, 7]) == ["12", "fewer than 5", "40", "7"]
    assert np.isnan(result.masked([12, 3, 40, 7])[1])


def test_one_hidden_cell_under_a_shown_total_gets_a_complement():
    result = privacy.suppress([12, 3, 40, 7], k=5)
    assert result.total_shown
    # the smallest other shown cell (7) is withheld too, so 62 - 12 - 40 = 10 is split between two
    assert result.state.tolist() == [SHOWN, FEWER, SHOWN, COMPLEMENT]
    assert result.texts([12, 3, 40, 7])[3] == "withheld"
    assert (result.fewer, result.withheld) == (1, 1)


def test_the_complement_bound_is_modelled_so_equal_smallest_cells_are_not_enough():
    # withholding one 5 would pin it (it is >= k and <= the other 5), and with it the 2
    result = privacy.suppress([2, 5, 5, 9], k=5)
    assert result.state.tolist() == [FEWER, COMPLEMENT, COMPLEMENT, SHOWN]


def test_all_small_cells_withhold_the_total_when_it_would_pin_them():
    result = privacy.suppress([0, 0, 0], k=5, total_published=True)
    assert not result.total_shown and result.hidden.all()


def test_zero_counts_are_hidden_and_k_of_one_hides_nothing():
    assert privacy.suppress([0, 9, 9], k=5).state[0] == FEWER
    assert not privacy.suppress([0, 1, 2], k=1).hidden.any()


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="whole numbers"):
        privacy.suppress([1.5, 3], k=5)
    with pytest.raises(ValueError, match="whole numbers"):
        privacy.suppress([np.nan, 3], k=5)


def test_nested_group_whose_cells_are_all_small_is_withheld_on_the_coarse_level():
    # district "b" = 4 + 4 = 8 >= k pins both of its beats: its total is withheld (and another
    # district with it, so the grand total cannot give it back)
    fine, coarse, labels = privacy.suppress_nested([20, 30, 4, 4, 25, 6], ["a", "a", "b", "b", "c", "c"], k=5)
    assert labels == ["a", "b", "c"]
    assert coarse.state[1] == FORCED
    assert (coarse.state != SHOWN).sum() >= 2
    _assert_nothing_pinned(_reader_ranges([20, 30, 4, 4, 25, 6], fine, 5, ["a", "a", "b", "b", "c", "c"],
                                          coarse, labels))


def test_k_of_two_is_refused():
    with pytest.raises(ValueError, match="at least 3"):
        privacy.suppress([1, 1], k=2)


def test_a_group_its_own_total_would_pin_is_withheld_on_the_coarse_level():
    # [0, 5] under a shown total of 5 reads "fewer than 5" + "withheld" = 5: both pinned
    fine, coarse, labels = privacy.suppress_nested([0, 5, 30, 40], ["a", "a", "b", "b"], k=5)
    assert coarse.state[0] == FORCED and coarse.state[1] != SHOWN
    _assert_nothing_pinned(_reader_ranges([0, 5, 30, 40], fine, 5, ["a", "a", "b", "b"], coarse, labels))


def test_summary_text_says_what_was_withheld():
    text = privacy.summary_text(5, "areas", 3, 1, ("STALKING",))
    assert "3 areas with fewer than 5 incidents" in text and "1 more is withheld" in text
    assert "stalking" in text
    assert "at least 5" in privacy.summary_text(5, "areas", 0, 0)


_counts = st.integers(min_value=0, max_value=14) | st.integers(min_value=0, max_value=3)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_counts, min_size=1, max_size=9), k=st.integers(min_value=3, max_value=6))
def test_no_shown_total_pins_a_hidden_cell(values, k):
    result = privacy.suppress(values, k)
    values_arr = np.array(values)
    assert (values_arr[result.state == SHOWN] >= k).all()
    assert (result.state[values_arr < k] != SHOWN).all()
    assert not result.total_shown or values_arr.sum() >= k
    _assert_nothing_pinned(_reader_ranges(values, result, k))


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=5),
    data=st.data(),
    k=st.integers(min_value=3, max_value=6),
)
def test_nested_levels_never_leak_through_any_published_total(sizes, data, k):
    groups = [f"g{i}" for i, size in enumerate(sizes) for _ in range(size)]
    groups += [None] * data.draw(st.integers(min_value=0, max_value=2))  # cells in no coarse area
    values = data.draw(st.lists(_counts, min_size=len(groups), max_size=len(groups)))
    fine, coarse, labels = privacy.suppress_nested(values, groups, k)
    values_arr = np.array(values)
    sums = np.array([values_arr[[g == label for g in groups]].sum() for label in labels])
    assert (values_arr[fine.state == SHOWN] >= k).all() and (sums[coarse.state == SHOWN] >= k).all()
    assert fine.total_shown == coarse.total_shown
    _assert_nothing_pinned(_reader_ranges(values, fine, k, groups, coarse, labels))


# ------------------------------------------------------- the overview's tables and quoted rows


def _groups() -> pd.DataFrame:
    return pd.DataFrame({"offense_group": ["a", "b", "c"], "count": [10, 3, 7], "prior": [8, 6, 9],
                         "change": [2, -3, -2], "pct_change": [25.0, -50.0, -22.2]})


def test_mask_counts_withholds_small_cells_their_complement_and_what_derives_from_them():
    masked, hidden = privacy.mask_counts(_groups(), ["count", "prior"], k=5)
    # b (3) is below 5; the shown total (20) would pin it, so the smallest shown cell (c, 7) goes too
    assert masked["count"].tolist()[0] == 10 and masked["count"].isna().tolist() == [False, True, True]
    assert masked["prior"].tolist() == [8, 6, 9] and hidden == 2
    assert masked["change"].isna().tolist() == [False, True, True]
    assert masked["pct_change"].isna().tolist() == [False, True, True]


def test_mask_counts_with_k_1_returns_the_frame_untouched():
    frame = _groups()
    masked, hidden = privacy.mask_counts(frame, ["count", "prior"], k=1)
    assert masked is frame and hidden == 0


def test_a_quoted_row_is_hidden_exactly_as_in_its_table():
    raw = _groups()
    shown, _ = privacy.mask_counts(raw, ["count", "prior"], k=5)
    assert privacy.published(raw, shown, "offense_group", "a", 5) == ("10", 25.0)
    assert privacy.published(raw, shown, "offense_group", "b", 5) == ("fewer than 5", None)
    assert privacy.published(raw, shown, "offense_group", "c", 5) == ("withheld", None)  # the complement
    assert privacy.published(raw, shown, "offense_group", "zzz", 5) == ("0", None)
    assert privacy.published(raw, raw, "offense_group", "c", 1) == ("7", pytest.approx(-22.22, abs=0.01))


def test_single_counts_and_changes_below_k_are_not_published():
    assert privacy.count_text(4, 5) == "fewer than 5" and privacy.count_text(5, 5) == "5"
    assert privacy.count_text(4, 1) == "4"
    assert privacy.shown_pct(12, 4, 5) is None and privacy.shown_pct(12, 8, 5) == 50.0
    assert privacy.shown_pct(3, 0, 1) is None


def test_view_policy_applies_k_only_in_the_public_view():
    assert privacy.ViewPolicy(True, 5, ("STALKING",)).applied_k == 5
    assert privacy.ViewPolicy(False, 5, ()).applied_k == 1
