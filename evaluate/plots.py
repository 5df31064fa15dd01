"""The data of each plot, as the rows its CSV download holds and the options the chart needs.

A `Plot` is plain JSON-ready data: `rows` are what is drawn (also the CSV beside the plot), `options` what the
chart needs besides (axis ranges, labels, the fitted line). templates/evaluate/_plot.html renders one (a canvas,
its caption with n and the method, the CSV link, the data through `json_script`) and static/js/charts/plots.js
draws it with the vendored Chart.js. Builders here take plain values, not rows of the database, so the dashboard
and an experiment's report draw the same plots from their own data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from evaluate.statistics import Interval, ValueRange, mean_ci

KINDS = ("box", "bars", "forest", "scatter", "stacked")
STRIP_MAX_POINTS = 200  # per group: above it the box is drawn without its points (the page would weigh megabytes)
# Above this many points a scatter draws a seeded random subset: every point of every scatter would make the
# dashboard weigh megabytes (the per-translation metrics download holds every value).
SCATTER_MAX_POINTS = 400
DIGITS = 4  # values drawn and downloaded with a plot are rounded to this many decimals
SCATTER_SEED = 0
TUKEY_WHISKER = 1.5  # whiskers reach the furthest value within 1.5 IQR of the box (Tukey 1977)


@dataclass
class Plot:
    """One plot: `id` is a slug unique on its page (its CSV download is the table `plot-<id>` unless `table`
    names another); `kind` is one of KINDS; `caption` says n and how the figures were computed."""

    id: str
    title: str
    kind: str
    caption: str
    columns: list[str]
    rows: list[dict]
    options: dict = field(default_factory=dict)
    table: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown plot kind {self.kind!r}")
        if not re.fullmatch(r"[a-z0-9-]+", self.id):
            raise ValueError(f"plot id {self.id!r} must be a lowercase slug")
        self.table = self.table or f"plot-{self.id}"


def box_plot(
    id: str,
    title: str,
    values: Mapping[str, Sequence[float | None]],
    value_range: ValueRange | None,
    *,
    resamples: int,
    intervals: Mapping[str, Interval] | None = None,
    what: str = "translations",
) -> Plot:
    """Per group (system or arm): quartiles (numpy's linear interpolation), Tukey whiskers, the mean with its
    bootstrap CI (from `intervals` when the caller has them, else computed), and the values themselves as a
    strip when there are at most STRIP_MAX_POINTS."""
    rows, points, methods = [], {}, set()
    for group, group_values in values.items():
        present = np.array([v for v in group_values if v is not None], dtype=float)
        if not len(present):
            continue
        ci = (intervals or {}).get(group) or mean_ci(present.tolist(), value_range, resamples=resamples)
        methods.add(ci.method)
        rows.append(
            {
                "group": group,
                **_box_stats(present),
                "mean": _rounded(ci.estimate),
                "mean_low": _rounded(ci.low),
                "mean_high": _rounded(ci.high),
            }
        )
        if len(present) <= STRIP_MAX_POINTS:
            points[group] = [round(v, DIGITS) for v in present.tolist()]
    n = sum(row["n"] for row in rows)
    caption = (
        f"n = {n} {what} ({_counts(rows)}). Box: quartiles (linear interpolation), "
        f"whiskers to the furthest value within {TUKEY_WHISKER} IQR; ◆ mean. "
        + ("Points: every value. " if len(points) == len(rows) else f"Points where n ≤ {STRIP_MAX_POINTS}. ")
        + _methods_sentence("Mean CI", methods)
    )
    columns = [
        "group",
        "n",
        "min",
        "q1",
        "median",
        "q3",
        "max",
        "whisker_low",
        "whisker_high",
        "mean",
        "mean_low",
        "mean_high",
    ]
    return Plot(id, title, "box", caption, columns, rows, {"value_range": _range(value_range), "points": points})


def mean_bars(id: str, title: str, intervals: Mapping[str, Interval], value_range: ValueRange | None) -> Plot:
    """One bar per group: its mean with the CI as an error bar."""
    rows = [
        {"group": group, "n": ci.n, "mean": ci.estimate, "low": ci.low, "high": ci.high}
        for group, ci in intervals.items()
        if ci.estimate is not None
    ]
    methods = {ci.method for ci in intervals.values() if ci.estimate is not None}
    caption = f"n per bar: {_counts(rows)}. " + _methods_sentence("CI", methods)
    return Plot(
        id, title, "bars", caption, ["group", "n", "mean", "low", "high"], rows, {"value_range": _range(value_range)}
    )


def forest(id: str, title: str, rows: list[dict], *, caption: str, zero: float | None = 0.0, value_range=None) -> Plot:
    """Points with intervals, one row each: rows hold `label`, `estimate`, `low`, `high` and any further columns
    (n, p, votes) that the CSV keeps. `zero` draws the line of no difference."""
    columns = list(rows[0]) if rows else ["label", "estimate", "low", "high"]
    return Plot(id, title, "forest", caption, columns, rows, {"zero": zero, "value_range": _range(value_range)})


def scatter_with_fit(
    id: str,
    title: str,
    points: Sequence[tuple[str, str, float, float]],
    *,
    x_label: str,
    y_label: str,
    x_range: ValueRange | None,
    y_range: ValueRange | None,
) -> Plot:
    """Points (group, sample, x, y) with the least-squares line (`scipy.stats.linregress`) fitted over all of
    them; at most SCATTER_MAX_POINTS are drawn (a seeded random subset), the fit and n always use every point."""
    n = len(points)
    fit = None
    xs = np.array([p[2] for p in points], dtype=float)
    ys = np.array([p[3] for p in points], dtype=float)
    if n >= 2 and np.ptp(xs) > 0:
        line = stats.linregress(xs, ys)
        x0, x1 = float(xs.min()), float(xs.max())
        fit = {
            "slope": float(line.slope),
            "intercept": float(line.intercept),
            "x0": x0,
            "x1": x1,
            "y0": float(line.intercept + line.slope * x0),
            "y1": float(line.intercept + line.slope * x1),
        }
    drawn = list(points)
    if n > SCATTER_MAX_POINTS:
        keep = np.sort(np.random.default_rng(SCATTER_SEED).choice(n, SCATTER_MAX_POINTS, replace=False))
        drawn = [points[i] for i in keep]
    rows = [{"group": g, "sample": s, "x": round(x, DIGITS), "y": round(y, DIGITS)} for g, s, x, y in drawn]
    caption = f"n = {n} translations with both values"
    if len(drawn) < n:
        caption += f"; {len(drawn)} drawn (random subset, seed {SCATTER_SEED}; every value: the metrics download)"
    if fit:
        line = f"y = {fit['intercept']:.3f} + {fit['slope']:.3f}·x"
        caption += f". Least-squares line over all n: {line} (scipy.stats.linregress)."
    else:
        caption += ". No line: fewer than two points or a constant x."
    options = {
        "x_label": x_label,
        "y_label": y_label,
        "x_range": _range(x_range),
        "y_range": _range(y_range),
        "fit": fit,
    }
    return Plot(id, title, "scatter", caption, ["group", "sample", "x", "y"], rows, options)


def stacked(id: str, title: str, rows: list[dict], categories: Sequence[str], *, caption: str, table: str = "") -> Plot:
    """Counts per group as stacked bars: rows hold `group` (or `system`) and one count per category."""
    columns = list(rows[0]) if rows else ["system", *categories]
    return Plot(id, title, "stacked", caption, columns, rows, {"categories": list(categories)}, table=table)


def _box_stats(values: np.ndarray) -> dict:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    reach = TUKEY_WHISKER * (q3 - q1)
    inside = values[(values >= q1 - reach) & (values <= q3 + reach)]
    stats_ = (values.min(), q1, median, q3, values.max(), inside.min(), inside.max())
    names = ("min", "q1", "median", "q3", "max", "whisker_low", "whisker_high")
    return {"n": len(values), **{name: _rounded(v) for name, v in zip(names, stats_, strict=True)}}


def _rounded(value) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def _counts(rows: list[dict]) -> str:
    return ", ".join(f"{row['group']} {row['n']}" for row in rows)


def _range(value_range: ValueRange | None) -> list | None:
    return list(value_range) if value_range is not None else None


def _methods_sentence(what: str, methods: set[str]) -> str:
    methods.discard("")
    return f"{what}: {'; '.join(sorted(methods))}." if methods else ""
