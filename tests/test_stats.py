"""stats: rate-ratio intervals and the E-test, cross-checked against scipy and statsmodels, and their
error rate on simulated Poisson counts with and without a planted change."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.rates import confint_poisson_2indep, power_poisson_ratio_2indep
from statsmodels.stats.rates import test_poisson_2indep as sm_test_poisson_2indep

from dashboard import stats


@pytest.mark.parametrize(("current", "prior"), [(41, 36), (29, 42), (5, 1), (190, 150), (0, 7)])
def test_etest_matches_scipy(current, prior):
    ours = stats.rate_change(current, prior)
    ref = sps.poisson_means_test(current, 1.0, prior, 1.0)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-9)


def test_interval_matches_statsmodels_and_contains_ratio():
    ours = stats.rate_change(29, 42)
    low, high = confint_poisson_2indep(29, 1, 42, 1, method="score", compare="ratio")
    assert (ours.low, ours.high) == pytest.approx((low, high), abs=1e-9)
    assert ours.low < ours.ratio < ours.high
    assert ours.pct_change == pytest.approx((29 / 42 - 1) * 100)


def test_zero_current_has_a_lower_bound_of_zero():
    change = stats.rate_change(0, 7)
    assert change.ratio == 0.0 and change.low == 0.0 and change.high > 0
    assert change.p_value == pytest.approx(sps.poisson_means_test(0, 1.0, 7, 1.0).pvalue, abs=1e-9)


def test_zero_prior_has_no_ratio():
    change = stats.rate_change(5, 0)
    assert change.ratio is None and change.pct_change is None
    assert "none in the same period last year" in stats.describe_change(change)


def test_describe_change_plain_language():
    assert stats.describe_change(stats.rate_change(41, 36)).startswith("Up 13.9% (41 vs 36): within normal variation")
    text = stats.describe_change(stats.rate_change(300, 420))
    assert text.startswith("Down 28.6% (300 vs 420): unlikely to be chance (p < 0.001; 95% interval")


def test_false_positive_rate_with_no_change():
    rng = np.random.default_rng(1)
    runs = 2000
    hits = sum(stats.rate_change(a, b).p_value < 0.05 for a, b in rng.poisson(40, (runs, 2)))
    assert hits / runs < 0.06


def test_detects_a_planted_drop_at_the_rate_the_power_calculation_predicts():
    """A 40% drop (mean 50 -> 30): statsmodels' power for the two-sample Poisson ratio test is ~0.60."""
    predicted = power_poisson_ratio_2indep(30, 50, 1, value=1, alpha=0.05, alternative="two-sided").power
    rng = np.random.default_rng(11)
    runs = 1000
    draws = rng.poisson([30, 50], (runs, 2))
    changes = [stats.rate_change(a, b) for a, b in draws]
    detected = np.mean([c.p_value < 0.05 for c in changes])
    assert abs(detected - predicted) < 0.05
    coverage = np.mean([c.low <= 0.6 <= c.high for c in changes])
    assert coverage > 0.93


def test_large_counts_use_the_score_test_without_exhausting_memory():
    ours = stats.rate_change(263_100, 273_505)
    ref = sm_test_poisson_2indep(263_100, 1, 273_505, 1, method="score", compare="ratio")
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    near = stats.rate_change(210, 180)  # just under the threshold: E-test and score test agree
    score = sm_test_poisson_2indep(210, 1, 180, 1, method="score", compare="ratio").pvalue
    assert near.p_value == pytest.approx(score, rel=0.05)


# ------------------------------------------------------------------ CompStat verdicts (crime trends page)

import pandas as pd  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

CASES = [(41, 36, 28, 28), (29, 42, 28, 28), (5, 1, 7, 7), (0, 7, 7, 7), (7, 0, 3, 3), (190, 150, 28, 28),
         (120, 95, 365, 366), (3, 4, 1, 1), (210, 180, 334, 334), (12, 30, 59, 60)]


def test_vectorised_etest_equals_statsmodels_and_scipy():
    y1, y2, n1, n2 = (np.array(c, dtype=float) for c in zip(*CASES, strict=True))
    ours = stats.etest_pvalues(y1, y2, n1, n2)
    for i, (a, b, e1, e2) in enumerate(CASES):
        ref = sm_test_poisson_2indep(a, e1, b, e2, method="etest", compare="ratio").pvalue
        assert ours[i] == pytest.approx(ref, abs=1e-9), CASES[i]
        if e1 == e2:  # scipy's poisson_means_test is the same E-test for equal exposures
            assert ours[i] == pytest.approx(sps.poisson_means_test(a, e1, b, e2).pvalue, abs=1e-9)


def test_etest_on_many_random_pairs_matches_the_one_at_a_time_reference():
    rng = np.random.default_rng(3)
    means = np.geomspace(0.3, 200, 80)
    a, b = rng.poisson(means), rng.poisson(means * rng.uniform(0.5, 1.5, 80))
    for e1, e2 in [(28, 28), (59, 60), (3, 7), (7, 3)]:  # equal windows, a leap day, unequal exposures
        ours = stats.etest_pvalues(a, b, e1, e2)
        ref = [sm_test_poisson_2indep(x, e1, y, e2, method="etest").pvalue for x, y in zip(a, b, strict=True)]
        np.testing.assert_allclose(ours, ref, atol=1e-9, rtol=0)


def test_score_test_and_switch_equal_rate_change():
    for a, b, e1, e2 in CASES:
        ref = sm_test_poisson_2indep(a, e1, b, e2, method="score", compare="ratio")
        z, p = stats.score_pvalues(a, b, e1, e2)
        if a + b:
            assert float(z) == pytest.approx(ref.statistic, abs=1e-9)
            assert float(p) == pytest.approx(ref.pvalue, abs=1e-9)
    big = stats.poisson_pvalues([263_100, 41], [273_505, 36])
    assert list(big[1]) == ["score test", "E-test"]
    assert big[0][0] == pytest.approx(stats.rate_change(263_100, 273_505).p_value, abs=1e-12)
    assert big[0][1] == pytest.approx(stats.rate_change(41, 36).p_value, abs=1e-9)


def test_closed_form_ratio_interval_equals_statsmodels_root_finding():
    for a, b, e1, e2 in CASES:
        low, high = stats.ratio_interval(a, b, e1, e2)
        ref_low, ref_high = confint_poisson_2indep(a, e1, b, e2, method="score", compare="ratio")
        if a > 0 and b > 0:  # statsmodels' root finder stops at ~1e-9; ours is exact
            assert float(low) == pytest.approx(ref_low, rel=1e-7) and float(high) == pytest.approx(ref_high, rel=1e-7)
    assert float(stats.ratio_interval(0, 7)[0]) == 0.0  # no incidents now: the ratio can be 0
    assert np.isinf(stats.ratio_interval(7, 0)[1])  # none last year: no finite upper bound


def test_dispersed_z_is_the_score_statistic_scaled_by_phi():
    for a, b, e1, e2 in CASES:
        if a + b == 0:
            continue
        ref = sm_test_poisson_2indep(a, e1, b, e2, method="score", compare="ratio")
        z1, p1 = stats.dispersed_z(a, b, e1, e2, phi=1.0)
        z4, _ = stats.dispersed_z(a, b, e1, e2, phi=4.0)
        assert float(z1) == pytest.approx(ref.statistic, abs=1e-9) and float(p1) == pytest.approx(ref.pvalue, abs=1e-9)
        assert float(z4) == pytest.approx(ref.statistic / 2, abs=1e-9)
    z, p = stats.dispersed_z(60, 40, phi=2.0, df=34)
    assert float(z) == pytest.approx(20 / np.sqrt(200)) and float(p) == pytest.approx(2 * sps.t.sf(float(z), 34))
    assert stats.dispersion_df([52, 3]).tolist() == [pytest.approx(2 * 51**2 / 152), np.inf]


def test_weekly_dispersion_by_hand_and_robust_to_seasonal_drift():
    # diffs 2, -4, 4, -2: squares 40 / (2 x 4) = 5; mean 10 -> phi 0.5, floored at 1
    assert stats.weekly_dispersion([[10, 12, 8, 12, 10]], min_weeks=2).tolist() == [1.0]
    # diffs 10, -10, 10, -10: 400 / 8 = 50, mean 15 -> 3.33
    assert stats.weekly_dispersion([[10, 20, 10, 20, 10]], min_weeks=2)[0] == pytest.approx(50 / 14)
    assert stats.weekly_dispersion([[1, 50, 2]]).tolist() == [1.0]  # too few weeks: no estimate
    rng = np.random.default_rng(2)
    season = 100 + 60 * np.sin(np.linspace(0, 2 * np.pi, 52))  # a summer peak is not noise
    weeks = rng.poisson(season, (400, 52))
    phi = stats.weekly_dispersion(weeks)
    assert np.median(phi) < 1.15 and np.median(weeks.var(axis=1, ddof=1) / weeks.mean(axis=1)) > 10
    harm = stats.weekly_dispersion(3 * weeks, 9 * weeks)  # weights cancel: same phi
    np.testing.assert_allclose(harm, phi)


def test_assess_changes_adjusts_within_families_with_benjamini_hochberg():
    frame = pd.DataFrame({"current": [41, 29, 300, 12, 60], "prior": [36, 42, 420, 30, 40], "days": 28,
                          "prior_days": 28, "phi": [1, 1.5, 1, 1, 2], "history_weeks": 52,
                          "family": ["a", "a", "a", "a", "b"], "alpha": [0.05] * 4 + [0.01]})
    out = stats.assess_changes(frame)
    a = out[out["family"] == "a"]
    np.testing.assert_allclose(a["q"], multipletests(a["p"], method="fdr_bh")[1], atol=1e-12)
    assert out.loc[4, "q"] == out.loc[4, "p"]  # a family of one is not adjusted
    np.testing.assert_allclose(out["p"], np.fmax(out["p_poisson"], out["p_dispersed"]))
    assert out["changed"].tolist() == [False, False, True, True, False]
    assert out.loc[2, "verdict"] == "Down 29% (300 vs 420): unlikely to be chance (adjusted p < 0.001)."
    assert out.loc[0, "verdict"] == "Up 14% (41 vs 36): within normal variation."
    assert out.loc[0, "finding"] == "within normal variation"


def test_verdict_sentences_say_it_plainly():
    assert stats.verdict_sentence(41, 36, 13.9, 0.57, 0.05) == "Up 14% (41 vs 36): within normal variation."
    assert stats.verdict_sentence(29, 42, -31.0, 0.003, 0.05) == "Down 31% (29 vs 42): unlikely to be chance (p = 0.003)."
    assert stats.verdict_sentence(5, 0, None, 0.02, 0.05, adjusted=True) == \
        "5 vs none a year earlier: unlikely to be chance (adjusted p = 0.020)."
    assert stats.verdict_sentence(0, 0, None, None, 0.05) == "None in either window."
    assert stats.verdict_sentence(3, 4, -25.0, 0.9, 0.05, comparable=False).startswith("No data for the same")
    weighted = stats.assess_changes(pd.DataFrame({"current": [12_000.0], "prior": [9_000.0], "days": 28,
                                                  "prior_days": 28, "phi": 1.0, "var_current": [1.2e6],
                                                  "var_prior": [0.9e6], "family": "h", "alpha": 0.01}),
                                    weighted=True)
    assert np.isnan(weighted.loc[0, "p_poisson"])  # no exact test for a weighted sum
    assert weighted.loc[0, "z"] == pytest.approx(3000 / np.sqrt(2.1e6))
    assert "harm" in stats.verdict_method(weighted=True).lower()


# Simulation: a family of areas (22 district-like series, weekly means 40-300; 40 beat-like, 2-20),
# 52 weeks of history to estimate phi, last year's 28-day window and this year's, with no change.
# Weekly counts are Poisson or negative binomial with variance phi x mean (size = mean / (phi - 1)).

DISTRICTS, BEATS = np.geomspace(40, 300, 22), np.geomspace(2, 20, 40)


def _weekly(rng, mean, phi, shape):
    mean = np.broadcast_to(mean, shape)
    if phi == 1:
        return rng.poisson(mean)
    size = mean / (phi - 1)
    return rng.negative_binomial(size, size / (size + mean))


def _simulate(rng, means, phi, tables, ratio=1.0, known_phi=False):
    n = tables * len(means)
    mean = np.tile(means, tables)[:, None]
    history = _weekly(rng, mean, phi, (n, 52))
    frame = pd.DataFrame({
        "current": _weekly(rng, mean * ratio, phi, (n, 4)).sum(axis=1),
        "prior": _weekly(rng, mean, phi, (n, 4)).sum(axis=1), "days": 28, "prior_days": 28,
        "phi": float(phi) if known_phi else stats.weekly_dispersion(history),
        "family": np.repeat(np.arange(tables), len(means)), "alpha": 0.05,
    })
    if not known_phi:
        frame["history_weeks"] = 52
    return stats.assess_changes(frame)


@pytest.mark.parametrize("phi", [1.0, 1.5, 2.0], ids=["poisson", "negbin-1.5", "negbin-2"])
@pytest.mark.parametrize("means", [DISTRICTS, BEATS], ids=["districts", "beats"])
def test_no_change_gives_few_unlikely_to_be_chance_verdicts(phi, means):
    out = _simulate(np.random.default_rng(int(phi * 10) + len(means)), means, phi, tables=400)
    assert out["changed"].mean() < 0.06  # verdicts after Benjamini-Hochberg (about 0.2% here)
    # With nothing changed anywhere, BH keeps the chance of any false alarm in a table near alpha
    # (1.3-4.5% over 1000 tables; without it, 1 - 0.95^22 = 68%).
    assert out.groupby("family")["changed"].any().mean() < 0.075
    assert (out["p"] < 0.05).mean() < 0.06  # each test on its own keeps its size (3.3-5.2%)
    if phi > 1:  # the naive Poisson test would cry wolf: the dispersion guard is what holds it
        assert (out["p_poisson"] < 0.05).mean() > 0.08


POWER_DESIGNS = [(1.0, 10, 0.6), (1.0, 3, 0.5), (2.0, 50, 0.75), (1.5, 100, 0.85), (1.3, 15, 0.7)]


@pytest.mark.parametrize(("phi", "weekly_mean", "ratio"), POWER_DESIGNS)
def test_planted_change_is_detected_at_the_predicted_rate(phi, weekly_mean, ratio):
    """A planted drop in one 28-day window (4 weeks), e.g. 40 -> 24 a week. statsmodels'
    power_poisson_ratio_2indep with dispersion=phi is the power of the z test at known phi; ours matches
    it when phi is known, and loses a little when phi is estimated from 52 weeks (floored at 1, t test)."""
    predicted = power_poisson_ratio_2indep(4 * weekly_mean * ratio, 4 * weekly_mean, 1, value=1, alpha=0.05,
                                           dispersion=phi, alternative="two-sided").power
    rng = np.random.default_rng(int(weekly_mean * 100 + phi * 10))
    known = _simulate(rng, np.array([float(weekly_mean)]), phi, tables=2000, ratio=ratio, known_phi=True)
    estimated = _simulate(rng, np.array([float(weekly_mean)]), phi, tables=2000, ratio=ratio)
    assert abs(known["changed"].mean() - predicted) < 0.04
    # Estimating phi costs up to ~7 points of power here (mostly the floor at 1 when counts are Poisson).
    assert predicted - 0.09 < estimated["changed"].mean() < predicted + 0.04
