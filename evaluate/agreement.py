"""Agreement between judges: Cohen's kappa (two raters), weighted kappa (ordinal 0–4 scores), Fleiss' kappa (more)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters' labels on the same items; NaN when chance agreement is total."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    if not first:
        return math.nan
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[label] * counts_b[label] for label in counts_a) / n**2
    return (observed - expected) / (1 - expected) if expected < 1 else math.nan


def weighted_kappa(
    first: Sequence[int],
    second: Sequence[int],
    *,
    categories: Sequence[int] = (0, 1, 2, 3, 4),
    weights: str = "quadratic",
) -> float:
    """Cohen's weighted kappa for ordinal scores (linear or quadratic disagreement weights)."""
    if len(first) != len(second):
        raise ValueError("both raters must score the same items")
    if weights not in ("linear", "quadratic"):
        raise ValueError("weights must be 'linear' or 'quadratic'")
    if not first:
        return math.nan
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    observed = np.zeros((k, k))
    for a, b in zip(first, second, strict=True):
        observed[index[a], index[b]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    w = distance if weights == "linear" else distance**2
    disagreement_expected = (w * expected).sum()
    if disagreement_expected == 0:
        return math.nan
    return float(1 - (w * observed).sum() / disagreement_expected)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from a table: one row per item, one column per category, cells = raters choosing it.

    Every item must have the same number of raters.
    """
    counts = np.asarray(table, dtype=float)
    if counts.ndim != 2 or counts.shape[0] == 0:
        return math.nan
    raters = counts.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of raters on every item")
    n = raters[0]
    p_items = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_items.mean()
    p_cat = counts.sum(axis=0) / counts.sum()
    p_e = (p_cat**2).sum()
    return float((p_bar - p_e) / (1 - p_e)) if p_e < 1 else math.nan


def labels_table(ratings: Sequence[Sequence[Hashable]], categories: Sequence[Hashable]) -> list[list[int]]:
    """Turn per-item rater labels into Fleiss' count table."""
    return [[Counter(item)[c] for c in categories] for item in ratings]
