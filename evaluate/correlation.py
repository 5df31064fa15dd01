"""Pearson and Spearman correlations (with n, p and 95% CIs) of each per-translation metric against FixCost Score.

The coefficients, p-values and intervals are evaluate.statistics': Fisher's z CI for Pearson's r, a bootstrap
(or, for many pairs, Fisher's z with Bonett & Wright's variance) for Spearman's ρ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluate import statistics


@dataclass(frozen=True)
class Correlation:
    metric: str
    n: int
    pearson_r: float | None
    pearson_p: float | None
    spearman_rho: float | None
    spearman_p: float | None
    pearson_low: float | None = None
    pearson_high: float | None = None
    spearman_low: float | None = None
    spearman_high: float | None = None
    pearson_method: str = ""
    spearman_method: str = ""


def correlate(
    metric: str, xs: Sequence[float | None], ys: Sequence[float | None], *, resamples: int = statistics.RESAMPLES
) -> Correlation:
    """Correlation over the items where both values exist; None where it is undefined (n < 3, constant input)."""
    pearson = statistics.pearson(xs, ys)
    spearman = statistics.spearman(xs, ys, resamples=resamples)
    return Correlation(
        metric,
        pearson.coefficient.n,
        pearson.coefficient.estimate,
        pearson.p,
        spearman.coefficient.estimate,
        spearman.p,
        pearson.coefficient.low,
        pearson.coefficient.high,
        spearman.coefficient.low,
        spearman.coefficient.high,
        pearson.coefficient.method,
        spearman.coefficient.method,
    )


def correlation_table(
    rows: Sequence[dict],
    metrics: Sequence[str],
    target: str = "fixcost_score",
    *,
    resamples: int = statistics.RESAMPLES,
) -> list[Correlation]:
    """One Correlation per metric column of `rows` (export rows) against the `target` column."""
    ys = [row.get(target) for row in rows]
    return [correlate(metric, [row.get(metric) for row in rows], ys, resamples=resamples) for metric in metrics]
