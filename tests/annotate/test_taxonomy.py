"""Error categories suggested for fix steps: hand-checked cases and the distribution over the paper's steps."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.conf import settings

from annotate.models import StepCategory as C
from annotate.taxonomy import suggest_category

PAPER_FILE = settings.BASE_DIR.parent / "shared" / "t2j-paper" / "fix_bugs_dataset.json"


def paper_steps() -> dict[str, dict]:
    data = json.loads(PAPER_FILE.read_text())
    return {
        f"{example['Example_id']}[{i}]": error
        for example in data["Pytorch_to_JAX_Examples"]
        for i, error in enumerate(example["Errors"])
    }


# Paper steps read by hand: the category a person assigns from the error text and the fix.
HAND_CHECKED = {
    "e1[0]": C.NONEXISTENT_API,  # module 'jax.numpy' has no attribute 'random'
    "e1[8]": C.PRNG,  # random seed should be 42 to match torch.manual_seed(42)
    "e2[4]": C.NUMERICAL,  # optimizer should be SGD, not Adam
    "e2[5]": C.NUMERICAL,  # learning rate 0.01, not 0.001
    "e4[0]": C.TRACER,  # a function passed where a JAX type is expected (not a valid JAX type)
    "e4[5]": C.PRNG,  # the PRNG key must be split for each use
    "e5[0]": C.SHAPE_DTYPE,  # dot_general contracting dimensions differ
    "e5[6]": C.MISSING_IMPORT,  # jax used but not imported
    "e5[14]": C.MISSING_IMPORT,  # optax used but not imported
    "e6[9]": C.TRACER,  # a module passed to jit: cannot interpret as an abstract array
    "h5[15]": C.STATEFUL_API,  # Flax submodule only accessible inside init/apply
    "h5[20]": C.NONEXISTENT_API,  # nn.OptimizedLSTMCell not available in Linen
    "h6[2]": C.STATEFUL_API,  # AssignSubModuleError: define submodules in setup() or @compact
    "h10[0]": C.STATEFUL_API,  # CallCompactUnboundModuleError
    "m3[1]": C.STATEFUL_API,  # ApplyScopeInvalidVariablesStructureError
    "m4[2]": C.SHAPE_DTYPE,  # mul got incompatible shapes for broadcasting
    "m5[3]": C.TRACER,  # UnexpectedTracerError
    "m7[0]": C.NONEXISTENT_API,  # can't import stax from jax (moved to jax.example_libraries)
}


@pytest.mark.parametrize("step_id, expected", HAND_CHECKED.items())
def test_hand_checked_paper_steps(step_id, expected):
    error = paper_steps()[step_id]

    assert suggest_category(error["Error"], error["Error_Code"], error["Fixed_Code"]) == expected


@pytest.mark.parametrize(
    "error, before, after, expected",
    [
        ("TypeError: '<class 'jaxlib.xla_extension.ArrayImpl'>' object does not support item assignment",
         "x[0] = 1", "x = x.at[0].set(1)", C.INPLACE_MUTATION),
        ("ConcretizationTypeError: Abstract tracer value encountered where concrete value is expected", "", "",
         C.TRACER),
        ("NameError: name 'jnp' is not defined", "", "", C.MISSING_IMPORT),
        ("", "y = jnp.zeros(3)\n", "import jax.numpy as jnp\ny = jnp.zeros(3)\n", C.MISSING_IMPORT),
        ("AttributeError: module 'optax' has no attribute 'SGD'", "", "", C.NONEXISTENT_API),
        ("Final loss differs from PyTorch beyond tolerance 1e-5", "", "", C.NUMERICAL),
        ("", "x = x + 1", "x = x.at[i].add(1)", C.INPLACE_MUTATION),
        ("Something odd happened", "a", "b", C.OTHER),
    ],
)  # fmt: skip
def test_constructed_cases(error, before, after, expected):
    assert suggest_category(error, before, after) == expected


def test_every_suggestion_is_a_category_value():
    steps = paper_steps()

    assert {suggest_category(s["Error"], s["Error_Code"], s["Fixed_Code"]) for s in steps.values()} <= set(C.values)


def test_distribution_over_the_papers_steps_is_sensible():
    steps = paper_steps()
    counts = Counter(suggest_category(s["Error"], s["Error_Code"], s["Fixed_Code"]) for s in steps.values())

    assert len(steps) == 276
    assert counts[C.OTHER] < 0.2 * len(steps)  # most steps land in a real category
    # Every category occurs except in-place mutation: no paper step mentions it or adds `.at[` (checked by hand).
    assert {c for c in C.values if counts[c] > 0} == set(C.values) - {C.INPLACE_MUTATION}
    # Most of the paper's steps describe behaviour that differs from the PyTorch original.
    assert counts.most_common(1)[0][0] == C.NUMERICAL
