"""Pearson and Spearman correlations (with n and p) of each per-translation metric against FixCost Score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Correlation:
    metric: str
    n: int
    pearson_r: float | None
    pearson_p: float | None
    spearman_rho: float | None
    spearman_p: float | None


def _clean(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def correlate(metric: str, xs: Sequence[float | None], ys: Sequence[float | None]) -> Correlation:
    """Correlation over the items where both values exist; None where it is undefined (n < 3, constant input)."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    n = len(pairs)
    if n < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return Correlation(metric, n, None, None, None, None)
    x, y = zip(*pairs, strict=True)
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    return Correlation(
        metric,
        n,
        _clean(pearson.statistic),
        _clean(pearson.pvalue),
        _clean(spearman.statistic),
        _clean(spearman.pvalue),
    )


def correlation_table(rows: Sequence[dict], metrics: Sequence[str], target: str = "fixcost_score") -> list[Correlation]:
    """One Correlation per metric column of `rows` (export rows) against the `target` column."""
    ys = [row.get(target) for row in rows]
    return [correlate(metric, [row.get(metric) for row in rows], ys) for metric in metrics]
