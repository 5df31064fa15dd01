"""Step hygiene: exact and near duplicates and repeated fixes within a session, on made-up steps and on the
paper's dataset (read from ../shared, never copied)."""

from __future__ import annotations

import json

import pytest

from annotate.hygiene import StepText, describe, flags_for, session_flags
from tests.paper import PAPER_DATASET, needs_paper_data

FIX = StepText(1, "TypeError: unexpected PRNG key type", "x = random.uniform((3,))", "pass a key",
               "x = random.uniform(key, (3,))")  # fmt: skip


def test_an_exact_copy_is_a_duplicate():
    assert flags_for(StepText(2, *FIX.fields()), [FIX]) == [{"kind": "duplicate", "of": 1}]


def test_a_copy_with_small_edits_is_a_near_duplicate():
    edited = StepText(2, FIX.error + ".", FIX.error_code, "pass a key!", FIX.fixed_code + " ")

    assert flags_for(edited, [FIX]) == [{"kind": "near-duplicate", "of": 1}]


def test_the_same_change_for_a_similar_error_is_a_repeat():
    again = StepText(2, "TypeError: unexpected PRNG key type <class 'tuple'>", FIX.error_code,
                     "the data needs its own key", FIX.fixed_code)  # fmt: skip

    assert flags_for(again, [FIX]) == [{"kind": "repeat", "of": 1}]


@pytest.mark.parametrize(
    "step",
    [
        StepText(2, "ValueError: something else entirely", FIX.error_code, "another story", FIX.fixed_code),
        StepText(2, FIX.error, "y = 1", FIX.fix_info, "y = 2"),  # the same error, another change: the next try
        StepText(2, "", "", "", ""),
    ],
)
def test_different_steps_are_not_flagged(step):
    assert flags_for(step, [FIX]) == []


def test_the_first_earlier_match_is_named_and_runs_are_described_together():
    steps = [StepText(i, f"E{i}", f"a{i}", f"f{i}", f"b{i}") for i in range(1, 4)]
    steps += [StepText(i + 3, *steps[i - 1].fields()) for i in range(1, 4)]

    flags = session_flags(steps)

    assert [flags[i] for i in (1, 2, 3)] == [[], [], []]
    assert flags[4] == [{"kind": "duplicate", "of": 1}]
    assert describe(flags) == ["4-6 duplicate of 1-3"]
    assert describe({1: [], 7: [{"kind": "repeat", "of": 2}]}) == ["7 repeat of 2"]


@needs_paper_data
def test_the_papers_repeated_and_extra_steps_are_found():
    examples = json.loads(PAPER_DATASET.read_text(encoding="utf-8"))["Pytorch_to_JAX_Examples"]
    found = {}
    for example in examples:
        steps = [StepText(i, s["Error"], s["Error_Code"], s["Fix_info"], s["Fixed_Code"])
                 for i, s in enumerate(example["Errors"], start=1)]  # fmt: skip
        if phrases := describe(session_flags(steps)):
            found[example["Example_id"]] = phrases

    assert found == {
        "m3": ["14-23 duplicate of 4-13"],  # a block of ten steps logged twice
        "e1": ["12 repeat of 9"],  # the seed change again, after the fix the paper counted
        "e5": ["17 near-duplicate of 16"],
    }
