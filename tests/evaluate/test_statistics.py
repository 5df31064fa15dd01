"""Intervals and tests of evaluate.statistics: known values, and every interval inside its value range."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaluate import metrics, statistics
from evaluate.statistics import mean_ci, paired_difference, pearson, proportion_ci, spearman


def test_twenty_wins_of_twenty_give_the_clopper_pearson_interval():
    ci = proportion_ci(20, 20)
    # Clopper–Pearson for k = n: the lower bound solves p^n = alpha / 2.
    assert (ci.estimate, ci.n, ci.high) == (1.0, 20, 1.0)
    assert ci.low == pytest.approx(0.025 ** (1 / 20)) and round(ci.low, 3) == 0.832
    assert "Clopper–Pearson" in ci.method


def test_half_wins_from_ties_sit_between_the_whole_counts():
    below, tied, above = proportion_ci(19, 20), proportion_ci(19.5, 20), proportion_ci(20, 20)
    assert below.low < tied.low < above.low and below.high < tied.high <= above.high
    assert tied.estimate == 0.975 and "ties" in tied.method
    # For a whole count the beta-quantile form is the exact interval itself.
    assert stats.beta.ppf(0.025, 7, 20 - 7 + 1) == pytest.approx(proportion_ci(7, 20).low)
    assert proportion_ci(0, 0).estimate is None
    with pytest.raises(ValueError):
        proportion_ci(21, 20)


def test_the_mean_interval_is_scipys_bca_bootstrap_seeded():
    values = [0.31, 0.12, 0.45, 0.27, 0.38, 0.22, 0.19, 0.41]
    ci = mean_ci(values + [None], (0.0, 1.0), resamples=2000, seed=3)
    expected = stats.bootstrap(
        (np.array(values),), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(3)
    )
    assert (ci.low, ci.high) == pytest.approx((expected.confidence_interval.low, expected.confidence_interval.high))
    assert ci.estimate == pytest.approx(np.mean(values)) and ci.n == 8
    assert ci == mean_ci(values, (0.0, 1.0), resamples=2000, seed=3)  # the same figures on every refresh
    assert "BCa" in ci.method and "2,000 resamples" in ci.method and "seed 3" in ci.method


def test_a_mean_near_the_top_of_the_range_stays_inside_it():
    # Few CodeBLEU values near 1: a normal approximation (mean ± 1.96 sd / sqrt(n)) goes past 1.
    values = [1.0, 1.0, 1.0, 0.55]
    normal_high = np.mean(values) + 1.96 * np.std(values, ddof=1) / 2
    assert normal_high > 1
    ci = mean_ci(values, (0.0, 1.0))
    assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0


def test_few_or_equal_values():
    assert mean_ci([None], (0.0, 1.0)).estimate is None and mean_ci([], None).n == 0
    one = mean_ci([0.4], (0.0, 1.0))
    assert (one.estimate, one.low, one.high, one.n) == (0.4, None, None, 1)
    same = mean_ci([2.0, 2.0, 2.0], (0.0, 4.0))
    assert (same.low, same.high) == (2.0, 2.0) and "zero-width" in same.method


def test_large_samples_use_the_percentile_bootstrap():
    values = np.random.default_rng(0).random(statistics.BCA_MAX_N + 1).tolist()
    assert "percentile bootstrap" in mean_ci(values, (0.0, 1.0), resamples=200).method


def test_paired_difference_with_wilcoxon_and_win_counts():
    a = [0.10, 0.20, 0.30, 0.25, 0.15, 0.40]
    b = [0.30, 0.35, 0.42, 0.20, 0.45, 0.40]
    d = paired_difference(a + [None], b + [0.9], (0.0, 1.0))
    assert d.n == 6 and (d.b_higher, d.a_higher, d.equal) == (4, 1, 1)
    assert d.difference.estimate == pytest.approx(np.mean(np.subtract(b, a)))
    assert d.difference.low < d.difference.estimate < d.difference.high
    # The zero difference is dropped: Wilcoxon on the 5 others, exact: ranks 3, 2, 4, 5 up, 1 down, W = 1.
    assert d.wilcoxon_statistic == 1.0 and d.wilcoxon_p == pytest.approx(
        stats.wilcoxon([0.2, 0.15, 0.12, 0.3, -0.05]).pvalue
    )
    assert d.wilcoxon_p == pytest.approx(4 / 32)  # P(W <= 1) twice: {} and {1} of 2^5 sign patterns


def test_paired_difference_when_nothing_differs():
    d = paired_difference([0.2, 0.3, 0.4], [0.2, 0.3, 0.4], (0.0, 1.0))
    assert d.wilcoxon_p is None and d.difference.estimate == 0.0 and (d.difference.low, d.difference.high) == (0, 0)


def test_pearson_interval_is_fishers_z():
    xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    ys = [2.1, 1.9, 3.5, 3.9, 6.2, 5.1, 7.7, 7.4]
    c = pearson(xs, ys)
    r = np.corrcoef(xs, ys)[0, 1]
    half = 1.959964 / math.sqrt(8 - 3)
    assert c.coefficient.estimate == pytest.approx(r)
    assert (c.coefficient.low, c.coefficient.high) == pytest.approx(
        (math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)), abs=1e-5
    )
    assert c.p == pytest.approx(stats.pearsonr(xs, ys).pvalue)
    assert pearson([1.0, 2.0], [1.0, 2.0]).coefficient.estimate is None


def test_spearman_interval_is_a_bootstrap_then_fishers_z_for_many_pairs():
    rng = np.random.default_rng(1)
    xs = rng.random(30)
    ys = xs + rng.random(30)
    c = spearman(xs, ys, resamples=500)
    assert c.coefficient.estimate == pytest.approx(stats.spearmanr(xs, ys).statistic)
    assert c.coefficient.low < c.coefficient.estimate < c.coefficient.high and "bootstrap" in c.coefficient.method
    many = rng.random(statistics.SPEARMAN_BOOTSTRAP_MAX_N + 10)
    assert "Bonett–Wright" in spearman(many, many + rng.random(len(many))).coefficient.method
    # Mostly tied data: resamples without a defined ρ are left out rather than making the interval NaN.
    tied = spearman([0, 0, 0, 0, 0, 1, 0, 0, 0, 1], list(range(10)), resamples=500)
    assert tied.coefficient.low is not None and "of 500 resamples" in tied.coefficient.method


@pytest.mark.parametrize(
    "column", [c for c in metrics.dashboard_columns() if c.value_range is not None], ids=lambda c: c.name
)
def test_every_interval_lies_inside_the_metrics_value_range(column):
    """Values piled at the range's ends (where a normal approximation leaves it) for each registered column."""
    low, high = column.value_range
    top = high if high is not None else low + 10
    rng = np.random.default_rng(7)
    for values in ([top] * 9 + [low], [low] * 9 + [top], rng.uniform(low, top, 12).tolist(), [top, low]):
        ci = mean_ci(values, column.value_range, resamples=500)
        flipped = paired_difference(values, values[::-1], column.value_range, resamples=500)
        for value in (ci.estimate, ci.low, ci.high):
            assert low <= value and (high is None or value <= high)
        if high is not None:
            for value in (flipped.difference.low, flipped.difference.high):
                assert -(high - low) <= value <= high - low


def test_correlation_intervals_lie_inside_minus_one_one():
    for xs, ys in (([1, 2, 3, 4], [1, 2, 3, 5]), ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])):
        for c in (pearson(xs, ys), spearman(xs, ys, resamples=200)):
            ci = c.coefficient
            assert -1 <= ci.low <= ci.high <= 1 and -1 <= ci.estimate <= 1
            assert ci.low - 1e-12 <= ci.estimate <= ci.high + 1e-12  # ρ = -1 may come out as -0.9999999999999999
