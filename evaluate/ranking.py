"""Rankings from blind pairwise votes: Comparison Score per pair of systems, Bradley–Terry with bootstrap intervals.

Votes are reduced to outcomes (system a, system b, points of a): a win is 1, a loss 0, a tie or both-bad 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evaluate.models import Verdict

POINTS_LEFT = {Verdict.LEFT: 1.0, Verdict.RIGHT: 0.0, Verdict.TIE: 0.5, Verdict.BOTH_BAD: 0.5}


@dataclass(frozen=True)
class Outcome:
    a: str
    b: str
    points_a: float  # 1 a won, 0 b won, 0.5 tie or both bad


def outcome_of(left_system: str, right_system: str, verdict: str) -> Outcome:
    if verdict not in POINTS_LEFT:
        raise ValueError(f"unknown verdict {verdict!r}")
    return Outcome(left_system, right_system, POINTS_LEFT[verdict])


def outcomes_from(comparisons: Iterable) -> list[Outcome]:
    """Outcomes of Comparison rows (with left/right translations and their systems loaded)."""
    return [outcome_of(c.left.system.name, c.right.system.name, c.verdict) for c in comparisons]


@dataclass(frozen=True)
class PairScore:
    a: str
    b: str
    n: int
    score_b: float  # share of B's wins over A, ties half


def comparison_score(outcomes: Iterable[Outcome], a: str, b: str) -> PairScore:
    """Share of head-to-head wins of `b` over `a` (ties and both-bad count half); NaN when they never met."""
    n, points_b = 0, 0.0
    for o in outcomes:
        if (o.a, o.b) == (a, b):
            n, points_b = n + 1, points_b + 1 - o.points_a
        elif (o.a, o.b) == (b, a):
            n, points_b = n + 1, points_b + o.points_a
    return PairScore(a, b, n, points_b / n if n else math.nan)


def pair_scores(outcomes: Sequence[Outcome]) -> list[PairScore]:
    systems = sorted({o.a for o in outcomes} | {o.b for o in outcomes})
    scores = [comparison_score(outcomes, a, b) for i, a in enumerate(systems) for b in systems[i + 1 :]]
    return [s for s in scores if s.n]


def bradley_terry(
    outcomes: Sequence[Outcome],
    systems: Sequence[str],
    *,
    prior: float = 0.1,
    iterations: int = 500,
    tol: float = 1e-10,
) -> np.ndarray:
    """Log-strengths (mean 0) by Hunter's MM algorithm; ties are half a win each way.

    `prior` adds that many virtual wins each way to every pair of systems that met, so an unbeaten system
    gets a large but finite strength.
    """
    index = {name: i for i, name in enumerate(systems)}
    a = np.array([index[o.a] for o in outcomes], dtype=int)
    b = np.array([index[o.b] for o in outcomes], dtype=int)
    points = np.array([o.points_a for o in outcomes], dtype=float)
    return _fit(_wins(a, b, points, len(systems)), prior=prior, iterations=iterations, tol=tol)


def _wins(a: np.ndarray, b: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    wins = np.zeros((k, k))
    np.add.at(wins, (a, b), points)
    np.add.at(wins, (b, a), 1 - points)
    return wins


def _fit(wins: np.ndarray, *, prior: float, iterations: int, tol: float) -> np.ndarray:
    games = wins + wins.T
    wins = wins + prior * (games > 0)
    games = wins + wins.T
    strength = np.ones(len(wins))
    total_wins = wins.sum(axis=1)
    for _ in range(iterations):
        denom = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1), strength)
        new = np.maximum(new, 1e-300)
        new = new / math.exp(np.log(new).mean())
        converged = np.max(np.abs(new - strength)) < tol
        strength = new
        if converged:
            break
    log_strength = np.log(strength)
    return log_strength - log_strength.mean()


@dataclass(frozen=True)
class RankedSystem:
    rank: int
    system: str
    strength: float  # log-strength, mean 0 over systems
    low: float  # bootstrap 95% interval
    high: float
    votes: int


def bradley_terry_ranking(outcomes: Sequence[Outcome], *, bootstrap: int = 1000, seed: int = 0) -> list[RankedSystem]:
    """Bradley–Terry ranking with percentile bootstrap 95% intervals (votes resampled with replacement)."""
    systems = sorted({o.a for o in outcomes} | {o.b for o in outcomes})
    if len(systems) < 2:
        return []
    index = {name: i for i, name in enumerate(systems)}
    a = np.array([index[o.a] for o in outcomes], dtype=int)
    b = np.array([index[o.b] for o in outcomes], dtype=int)
    points = np.array([o.points_a for o in outcomes], dtype=float)
    k = len(systems)
    point = _fit(_wins(a, b, points, k), prior=0.1, iterations=500, tol=1e-10)
    rng = np.random.default_rng(seed)
    draws = np.empty((bootstrap, k))
    for i in range(bootstrap):
        pick = rng.integers(0, len(outcomes), len(outcomes))
        draws[i] = _fit(_wins(a[pick], b[pick], points[pick], k), prior=0.1, iterations=200, tol=1e-8)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0) if bootstrap else (point, point)
    votes = np.bincount(a, minlength=k) + np.bincount(b, minlength=k)
    order = sorted(range(k), key=lambda i: -point[i])
    return [
        RankedSystem(rank + 1, systems[i], float(point[i]), float(low[i]), float(high[i]), int(votes[i]))
        for rank, i in enumerate(order)
    ]


def rank_by_metric(values: dict[str, float | None], *, higher_is_better: bool = True) -> list[tuple[int, str, float]]:
    """Systems ordered by a per-system metric, those without a value left out."""
    present = [(name, value) for name, value in values.items() if value is not None and not math.isnan(value)]
    present.sort(key=lambda item: -item[1] if higher_is_better else item[1])
    return [(rank + 1, name, value) for rank, (name, value) in enumerate(present)]
