from __future__ import annotations

import math

import pytest

from evaluate.agreement import cohen_kappa, fleiss_kappa, labels_table, weighted_kappa


def test_cohen_kappa_on_the_textbook_example():
    # Wikipedia "Cohen's kappa": 50 proposals, both yes 20, A yes/B no 5, A no/B yes 10, both no 15 -> 0.4.
    first = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_cohen_kappa_is_one_for_perfect_agreement_and_undefined_without_variation():
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]))
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_fleiss_kappa_on_the_textbook_example():
    # Wikipedia "Fleiss' kappa": 10 subjects, 14 raters, 5 categories -> 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_kappa_needs_the_same_number_of_raters_per_item():
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 0], [1, 2]])


def test_labels_table_counts_each_items_labels():
    assert labels_table([["a", "a", "b"], ["b", "b", "b"]], ["a", "b"]) == [[2, 1], [0, 3]]


def test_weighted_kappa_by_hand():
    # 4 items scored 0-4: (0,0) (4,4) (2,3) (1,1). Quadratic weights w = (i-j)^2/16.
    # Observed weighted disagreement: (1/16)/4 = 1/64. Marginals A: 0,1,2,4 ; B: 0,1,3,4 (each 1/4).
    # Expected: mean over all 16 A x B combinations of (i-j)^2/16 = 118/256 / 16 ... computed below exactly.
    a, b = [0, 4, 2, 1], [0, 4, 3, 1]
    expected = sum((i - j) ** 2 / 16 for i in a for j in b) / 16
    observed = (1 / 16) / 4
    assert weighted_kappa(a, b) == pytest.approx(1 - observed / expected)
    linear_expected = sum(abs(i - j) / 4 for i in a for j in b) / 16
    assert weighted_kappa(a, b, weights="linear") == pytest.approx(1 - (1 / 4) / 4 / linear_expected)


def test_weighted_kappa_penalises_far_disagreement_more():
    near = weighted_kappa([0, 1, 2, 3, 4], [1, 1, 2, 3, 4])
    far = weighted_kappa([0, 1, 2, 3, 4], [4, 1, 2, 3, 4])
    assert far < near < 1
