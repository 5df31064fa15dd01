"""Plot data: what each plot draws is what its CSV holds, with n and the method in the caption."""

from __future__ import annotations

import pytest

from evaluate import plots
from evaluate.statistics import Interval


def test_a_box_has_quartiles_tukey_whiskers_and_its_points():
    plot = plots.box_plot("box-x", "X", {"a": [1.0, 2.0, 3.0, 4.0, 100.0, None], "b": []}, (0.0, None), resamples=200)
    [row] = plot.rows  # a group without values is left out
    assert (row["group"], row["n"], row["q1"], row["median"], row["q3"]) == ("a", 5, 2.0, 3.0, 4.0)
    assert (row["whisker_low"], row["whisker_high"], row["max"]) == (1.0, 4.0, 100.0)  # 100 is beyond 1.5 IQR
    assert plot.options["points"] == {"a": [1.0, 2.0, 3.0, 4.0, 100.0]}
    assert plot.caption.startswith("n = 5 translations (a 5)") and "bootstrap" in plot.caption
    assert plot.table == "plot-box-x" and set(plot.columns) == set(row)


def test_a_box_takes_the_callers_intervals():
    given = Interval(2.5, 2.0, 3.0, 2, "given method")
    plot = plots.box_plot("box-y", "Y", {"a": [2.0, 3.0]}, (0.0, 4.0), resamples=200, intervals={"a": given})
    assert (plot.rows[0]["mean_low"], plot.rows[0]["mean_high"]) == (2.0, 3.0) and "given method" in plot.caption


def test_large_groups_are_drawn_as_boxes_without_points():
    plot = plots.box_plot("box-z", "Z", {"a": [0.5] * (plots.STRIP_MAX_POINTS + 1)}, (0.0, 1.0), resamples=50)
    assert plot.options["points"] == {} and f"n ≤ {plots.STRIP_MAX_POINTS}" in plot.caption


def test_a_scatter_fits_every_point_and_draws_a_seeded_subset():
    n = plots.SCATTER_MAX_POINTS + 100
    points = [("s", f"k{i}", i / n, 2 * i / n + 0.1) for i in range(n)]
    plot = plots.scatter_with_fit("scatter-x", "X", points, x_label="x", y_label="y", x_range=None, y_range=None)
    assert len(plot.rows) == plots.SCATTER_MAX_POINTS and f"n = {n}" in plot.caption
    assert plot.options["fit"]["slope"] == pytest.approx(2) and plot.options["fit"]["intercept"] == pytest.approx(0.1)
    again = plots.scatter_with_fit("scatter-x", "X", points, x_label="x", y_label="y", x_range=None, y_range=None)
    assert again.rows == plot.rows
    flat = plots.scatter_with_fit(
        "scatter-y", "Y", points[:1] * 3, x_label="x", y_label="y", x_range=None, y_range=None
    )
    assert flat.options["fit"] is None and "No line" in flat.caption


def test_plot_ids_and_kinds_are_checked():
    with pytest.raises(ValueError, match="slug"):
        plots.forest("Bad Id", "t", [], caption="n = 0")
    with pytest.raises(ValueError, match="kind"):
        plots.Plot("x", "t", "pie", "n = 0", [], [])
