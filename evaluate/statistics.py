"""Confidence intervals and paired tests for the metric tables, all from scipy, all seeded.

- `mean_ci`: bootstrap CI of a mean (`scipy.stats.bootstrap`, BCa; percentile above BCA_MAX_N values).
- `paired_difference`: per-sample differences of two systems on the same samples: a bootstrap CI of the mean
  difference (`paired=True`), the Wilcoxon signed-rank test (`scipy.stats.wilcoxon`) and who scored higher.
- `proportion_ci`: Clopper–Pearson ("exact") binomial CI of a share, e.g. the Comparison Score
  (`scipy.stats.binomtest(...).proportion_ci(method="exact")`; 20 wins of 20 give [0.832, 1]).
- `pearson`, `spearman`: a correlation with its p-value and CI (Fisher's z for Pearson via
  `pearsonr(...).confidence_interval()`; a paired percentile bootstrap for Spearman up to SPEARMAN_BOOTSTRAP_MAX_N
  pairs, Fisher's z with Bonett & Wright's variance above).

Every interval lies inside the value range it is given (a metric's range from the registry, [-1, 1] for a
correlation, [0, 1] for a share): bootstrap intervals of a mean lie between the data's extremes anyway, and the
result is clipped to the range as a guarantee. Every result says its n and, in `method`, how it was computed.
Resampling uses `numpy.random.default_rng(seed)`, so the same data give the same interval every time (the stored
dashboard and the experiment report are reproducible).

Sources: Efron & Tibshirani, An Introduction to the Bootstrap (1993), ch. 13-14 (percentile and BCa);
Wilcoxon (1945); Clopper & Pearson, Biometrika 26 (1934); Fisher's z-transformation (Fisher 1921); Bonett &
Wright, Psychometrika 65 (2000) for the variance of Spearman's z.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 9999  # scipy's default; the dashboard passes fewer (its figures are refreshed often)
SEED = 0
# BCa needs a jackknife over the data, n statistics of n values each: above this many values it costs more than
# the resampling itself, and with that many values the BCa corrections are small: percentile intervals agree closely.
BCA_MAX_N = 1000
# Ranking every resample costs n log n: above this many pairs a Spearman bootstrap takes seconds per column, and
# the large-sample interval it would replace is accurate there.
SPEARMAN_BOOTSTRAP_MAX_N = 500
BATCH = 500  # resamples held in memory at once (a resample is n floats)
CORRELATION_RANGE = (-1.0, 1.0)
SHARE_RANGE = (0.0, 1.0)

ValueRange = tuple[float, float | None]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its CI. low/high are None when undefined (n < 2); `method` says how it was made."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    method: str = ""


@dataclass(frozen=True)
class PairedDifference:
    """System b minus system a over the samples both have a value for.

    `difference.estimate` is the mean per-sample difference b - a; `b_higher`, `a_higher`, `equal` count the
    samples by sign (which side is better depends on the metric's direction); `wilcoxon_p` is two-sided, None
    when every difference is zero or n < 1.
    """

    n: int
    mean_a: float | None
    mean_b: float | None
    difference: Interval
    wilcoxon_statistic: float | None
    wilcoxon_p: float | None
    wilcoxon_method: str
    b_higher: int
    a_higher: int
    equal: int


@dataclass(frozen=True)
class CorrelationCI:
    """A correlation coefficient with its two-sided p-value and CI (estimate None when undefined)."""

    coefficient: Interval
    p: float | None


def mean_ci(
    values: Sequence[float | None],
    value_range: ValueRange | None = None,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Mean of the values that are not None, with a bootstrap CI inside `value_range` (low, high or None).

    BCa (bias-corrected and accelerated, Efron & Tibshirani 1993 ch. 14) up to BCA_MAX_N values, percentile
    above; no interval for fewer than 2 values; a zero-width one when all values are equal.
    """
    present = np.array([v for v in values if v is not None], dtype=float)
    return _bootstrap_mean((present,), value_range, confidence=confidence, resamples=resamples, seed=seed)


def paired_difference(
    a: Sequence[float | None],
    b: Sequence[float | None],
    value_range: ValueRange | None = None,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedDifference:
    """b - a per sample (a[i] and b[i] are the same sample; pairs with a None are left out).

    The CI is a paired bootstrap of the mean difference (samples resampled with both values, `paired=True`),
    kept inside ±(range width); the test is Wilcoxon's signed-rank test, two-sided, zero differences dropped
    (zero_method="wilcox"), exact null distribution for small n without ties, normal approximation otherwise
    (scipy's method="auto").
    """
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    xs = np.array([x for x, _ in pairs], dtype=float)
    ys = np.array([y for _, y in pairs], dtype=float)
    diffs = ys - xs
    difference = _bootstrap_mean(
        (xs, ys), _difference_range(value_range), confidence=confidence, resamples=resamples, seed=seed
    )
    statistic, p = _wilcoxon(diffs)
    return PairedDifference(
        n=len(pairs),
        mean_a=_float(xs.mean()) if len(pairs) else None,
        mean_b=_float(ys.mean()) if len(pairs) else None,
        difference=difference,
        wilcoxon_statistic=statistic,
        wilcoxon_p=p,
        wilcoxon_method="Wilcoxon signed-rank, two-sided, zero differences dropped (scipy.stats.wilcoxon)",
        b_higher=int((diffs > 0).sum()),
        a_higher=int((diffs < 0).sum()),
        equal=int((diffs == 0).sum()),
    )


def proportion_ci(successes: float, n: int, *, confidence: float = CONFIDENCE) -> Interval:
    """Share successes / n with its Clopper–Pearson ("exact") CI, always inside [0, 1].

    A whole number of successes goes through `scipy.stats.binomtest(k, n).proportion_ci(method="exact")`. A
    Comparison Score counts ties as half a win, so `successes` may end in .5: the same interval is then read
    from its beta-quantile form (Clopper & Pearson 1934), which is what the exact method computes for whole k.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    if n == 0:
        return Interval(None, None, None, 0, "")
    method = f"Clopper–Pearson exact {confidence:.0%} CI (scipy.stats.binomtest)"
    if float(successes).is_integer():
        ci = stats.binomtest(int(successes), n).proportion_ci(confidence_level=confidence, method="exact")
        low, high = ci.low, ci.high
    else:
        alpha = 1 - confidence
        low = stats.beta.ppf(alpha / 2, successes, n - successes + 1)
        high = stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes)
        method += ", ties as half a win (beta quantiles)"
    return _interval(successes / n, low, high, n, SHARE_RANGE, method)


def pearson(xs: Sequence[float], ys: Sequence[float], *, confidence: float = CONFIDENCE) -> CorrelationCI:
    """Pearson's r, its p-value and the Fisher-z CI (`pearsonr(...).confidence_interval()`); None when undefined
    (n < 3 or a constant side)."""
    x, y = _paired_arrays(xs, ys)
    if not _correlatable(x, y):
        return CorrelationCI(Interval(None, None, None, len(x)), None)
    result = stats.pearsonr(x, y)
    ci = result.confidence_interval(confidence_level=confidence)
    method = f"Pearson r, Fisher z {confidence:.0%} CI (scipy.stats.pearsonr)"
    return CorrelationCI(
        _interval(result.statistic, ci.low, ci.high, len(x), CORRELATION_RANGE, method), _float(result.pvalue)
    )


def spearman(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> CorrelationCI:
    """Spearman's ρ with its p-value (`scipy.stats.spearmanr`) and CI; None when undefined (n < 3, a constant side).

    The CI is a paired percentile bootstrap up to SPEARMAN_BOOTSTRAP_MAX_N pairs; resamples in which one side is
    constant have no ρ and are left out of the percentiles (the method says how many were used). Above that n it is
    Fisher's z interval with Bonett & Wright's (2000) variance (1 + ρ²/2) / (n - 3).
    """
    x, y = _paired_arrays(xs, ys)
    if not _correlatable(x, y):
        return CorrelationCI(Interval(None, None, None, len(x)), None)
    result = stats.spearmanr(x, y)
    rho, n = float(result.statistic), len(x)
    if n > SPEARMAN_BOOTSTRAP_MAX_N:
        low, high = _fisher_z_interval(rho, n, confidence)
        method = f"Spearman ρ, Fisher z {confidence:.0%} CI, Bonett–Wright variance (n > {SPEARMAN_BOOTSTRAP_MAX_N})"
    else:
        low, high, used = _bootstrap_spearman(x, y, confidence=confidence, resamples=resamples, seed=seed)
        method = (
            f"Spearman ρ, percentile bootstrap {confidence:.0%} CI of the pairs "
            f"(scipy.stats.bootstrap, {used:,} of {resamples:,} resamples with a defined ρ, seed {seed})"
        )
    return CorrelationCI(_interval(rho, low, high, n, CORRELATION_RANGE, method), _float(result.pvalue))


def _bootstrap_spearman(
    x: np.ndarray, y: np.ndarray, *, confidence: float, resamples: int, seed: int
) -> tuple[float | None, float | None, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resamples and the NaN percentiles they cause: handled below
        boot = stats.bootstrap(
            (x, y),
            _spearman_rho,
            paired=True,
            vectorized=True,
            method="percentile",
            n_resamples=resamples,
            batch=BATCH,
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    draws = boot.bootstrap_distribution[np.isfinite(boot.bootstrap_distribution)]
    if not len(draws):
        return None, None, 0
    alpha = (1 - confidence) / 2
    low, high = np.percentile(draws, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high), len(draws)


def _fisher_z_interval(rho: float, n: int, confidence: float) -> tuple[float, float]:
    z = math.atanh(max(-1.0, min(1.0, rho)) * (1 - 1e-15))  # |ρ| = 1 would be infinite
    half = stats.norm.ppf(1 - (1 - confidence) / 2) * math.sqrt((1 + rho**2 / 2) / (n - 3))
    return math.tanh(z - half), math.tanh(z + half)


# --- helpers ----------------------------------------------------------------------------------------------


def _bootstrap_mean(
    data: tuple[np.ndarray, ...], value_range: ValueRange | None, *, confidence: float, resamples: int, seed: int
) -> Interval:
    """The bootstrap CI of mean(data[0]), or of mean(data[1] - data[0]) for two paired arrays."""
    values = data[0] if len(data) == 1 else data[1] - data[0]
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0)
    estimate = float(values.mean())
    if n < 2:
        return _interval(estimate, None, None, n, value_range, "")
    if np.ptp(values) == 0:
        return _interval(estimate, estimate, estimate, n, value_range, "all values equal: zero-width interval")
    method = "BCa" if n <= BCA_MAX_N else "percentile"
    what = "mean" if len(data) == 1 else "mean paired difference"
    statistic = _mean if len(data) == 1 else _mean_difference
    with warnings.catch_warnings():
        # BCa on data with few distinct values can warn of a degenerate distribution: the interval is then NaN,
        # which becomes "no interval" below rather than a warning in the refresh job's log.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            data,
            statistic,
            paired=len(data) > 1,
            vectorized=True,
            method=method,
            n_resamples=resamples,
            batch=BATCH,
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    label = (
        f"{method} bootstrap {confidence:.0%} CI of the {what} "
        f"(scipy.stats.bootstrap, {resamples:,} resamples, seed {seed})"
    )
    ci = result.confidence_interval
    return _interval(estimate, ci.low, ci.high, n, value_range, label)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(b - a, axis=axis)


def _spearman_rho(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """ρ of each resample along `axis`: Pearson's r of the ranks (ties get average ranks); NaN when constant."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def _wilcoxon(diffs: np.ndarray) -> tuple[float | None, float | None]:
    if not np.any(diffs != 0):
        return None, None
    result = stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided")
    return _float(result.statistic), _float(result.pvalue)


def _difference_range(value_range: ValueRange | None) -> ValueRange | None:
    """The range of a difference of two values in `value_range`: ±(high - low), unbounded when high is."""
    if value_range is None or value_range[1] is None:
        return None
    width = value_range[1] - value_range[0]
    return (-width, width)


def _interval(estimate, low, high, n: int, value_range: ValueRange | None, method: str) -> Interval:
    low, high = _float(low), _float(high)
    if low is None or high is None:
        low = high = None
    else:
        low, high = _clip(low, value_range), _clip(high, value_range)
    return Interval(_clip(_float(estimate), value_range), low, high, n, method)


def _clip(value: float | None, value_range: ValueRange | None) -> float | None:
    if value is None or value_range is None:
        return value
    low, high = value_range
    value = max(value, low)
    return value if high is None else min(value, high)


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _paired_arrays(xs: Sequence[float | None], ys: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return np.array([x for x, _ in pairs], dtype=float), np.array([y for _, y in pairs], dtype=float)


def _correlatable(x: np.ndarray, y: np.ndarray) -> bool:
    return len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
