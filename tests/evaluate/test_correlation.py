from __future__ import annotations

import pytest

from evaluate.correlation import correlate, correlation_table


def test_pearson_and_spearman_with_n_and_p():
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    ys = [1.0, 4.0, 9.0, 16.0, 25.0]  # monotone but not linear
    c = correlate("m", xs, ys)
    assert c.n == 5
    assert c.spearman_rho == pytest.approx(1.0)
    # By hand: dx = -2..2, dy = -10 -7 -2 5 14; sum dx*dy = 60, sum dx^2 = 10, sum dy^2 = 374.
    assert c.pearson_r == pytest.approx(60 / (10 * 374) ** 0.5)
    assert 0 < c.pearson_p < 0.01


def test_missing_values_are_left_out_pairwise():
    c = correlate("m", [1.0, None, 2.0, 3.0, 4.0], [2.0, 5.0, None, 6.0, 8.0])
    assert c.n == 3


def test_too_few_or_constant_values_give_no_correlation():
    assert correlate("m", [1.0, 2.0], [1.0, 2.0]).pearson_r is None
    assert correlate("m", [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).spearman_rho is None


def test_the_table_correlates_each_metric_against_fixcost_score():
    rows = [{"fixcost_score": 1 / (1 + s), "codebleu": 0.5 - s / 10, "runtime_median_s": None} for s in range(5)]
    table = correlation_table(rows, ["codebleu", "runtime_median_s"])
    assert [(c.metric, c.n) for c in table] == [("codebleu", 5), ("runtime_median_s", 0)]
    assert table[0].spearman_rho == pytest.approx(1.0)
