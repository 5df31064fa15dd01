from __future__ import annotations

import math
import random

import pytest

from evaluate.ranking import (
    Outcome,
    bradley_terry,
    bradley_terry_ranking,
    comparison_score,
    outcome_of,
    outcomes_from,
    pair_scores,
    rank_by_metric,
)
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.evaluate.factories import ComparisonFactory


def test_comparison_score_counts_wins_of_b_and_half_ties_in_both_orientations():
    outcomes = [
        outcome_of("base", "t2j", "right"),  # t2j wins
        outcome_of("t2j", "base", "left"),  # t2j wins, shown on the left
        outcome_of("base", "t2j", "tie"),
        outcome_of("t2j", "base", "both-bad"),
        outcome_of("base", "t2j", "left"),  # base wins
        outcome_of("base", "other", "left"),  # not this pair
    ]
    score = comparison_score(outcomes, "base", "t2j")
    assert (score.n, score.score_b) == (5, pytest.approx((1 + 1 + 0.5 + 0.5 + 0) / 5))
    assert comparison_score(outcomes, "t2j", "base").score_b == pytest.approx(1 - 3 / 5)


def test_systems_that_never_met_have_no_score():
    assert math.isnan(comparison_score([outcome_of("a", "b", "left")], "a", "c").score_b)
    assert [(p.a, p.b) for p in pair_scores([outcome_of("b", "a", "left"), outcome_of("c", "a", "tie")])] == [
        ("a", "b"),
        ("a", "c"),
    ]


def test_unknown_verdicts_are_refused():
    with pytest.raises(ValueError):
        outcome_of("a", "b", "maybe")


def test_bradley_terry_matches_the_closed_form_for_two_systems():
    # With 3 wins to 1 the MLE odds are 3:1, so log-strengths differ by log 3 (tiny prior aside).
    outcomes = [Outcome("a", "b", 1.0)] * 3 + [Outcome("a", "b", 0.0)]
    a, b = bradley_terry(outcomes, ["a", "b"], prior=0.0)
    assert a - b == pytest.approx(math.log(3), abs=1e-6)
    assert a + b == pytest.approx(0.0)


def test_bradley_terry_recovers_a_known_order_and_its_intervals_cover_the_truth():
    truth = {"weak": -1.0, "mid": 0.0, "strong": 1.0}
    rng = random.Random(7)
    names = list(truth)
    outcomes = []
    for _ in range(600):
        a, b = rng.sample(names, 2)
        p_a = 1 / (1 + math.exp(truth[b] - truth[a]))
        outcomes.append(Outcome(a, b, 1.0 if rng.random() < p_a else 0.0))

    ranked = bradley_terry_ranking(outcomes, bootstrap=200, seed=1)

    assert [r.system for r in ranked] == ["strong", "mid", "weak"]
    for r in ranked:
        assert r.low <= truth[r.system] <= r.high, r
        assert r.low < r.strength < r.high
    assert ranked[0].votes == sum(1 for o in outcomes if "strong" in (o.a, o.b))


def test_an_unbeaten_system_gets_a_finite_strength():
    ranked = bradley_terry_ranking([Outcome("a", "b", 1.0)] * 5, bootstrap=20)
    assert ranked[0].system == "a" and math.isfinite(ranked[0].strength)


def test_one_system_has_no_ranking():
    assert bradley_terry_ranking([]) == []


def test_metric_rankings_leave_out_missing_values_and_respect_direction():
    values = {"a": 3.0, "b": None, "c": 1.0, "d": float("nan")}
    assert rank_by_metric(values) == [(1, "a", 3.0), (2, "c", 1.0)]
    assert rank_by_metric(values, higher_is_better=False) == [(1, "c", 1.0), (2, "a", 3.0)]


@pytest.mark.django_db
def test_outcomes_are_read_from_comparisons_by_system_name():
    sample = SampleFactory()
    left = TranslationFactory(sample=sample, system=SystemFactory(name="left-sys"))
    right = TranslationFactory(sample=sample, system=SystemFactory(name="right-sys"))
    ComparisonFactory(sample=sample, left=left, right=right, verdict="right")
    assert outcomes_from([c for c in left.sample.comparisons.all()]) == [Outcome("left-sys", "right-sys", 0.0)]
