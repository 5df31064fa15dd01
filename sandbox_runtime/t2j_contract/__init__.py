"""Contract helpers available to programs inside the sandbox (read-only in the runtime venv).

A contract is a module with up to three stage functions, each taking (torch_program, jax_program):
`spec`, `numeric`, `behavioral`. They run in that order; a stage fails by raising Mismatch (the helpers
below do so with a clear message). A contract may instead be a pytest-style test module (see
t2j_contract.pytest_contract). See sandbox_runtime/README.md.
"""

from __future__ import annotations

from t2j_contract.compare import (
    CONVERGENCE_ATOL,
    CONVERGENCE_RTOL,
    UNIT_ATOL,
    UNIT_RTOL,
    Mismatch,
    assert_close,
    assert_same_shapes,
    assert_tracks,
    difference,
    fail,
)
from t2j_contract.convert import to_jax, to_numpy, to_torch
from t2j_contract.data import integers, normal, rng, uniform
from t2j_contract.params import conv, dense, flax_params, layer_norm, load_torch, lstm_cell, shapes, torch_params
from t2j_contract.spec import Expect, Unfinished, check_interface, expect, require, todo

__version__ = "0.3.0"

__all__ = [
    "CONVERGENCE_ATOL",
    "CONVERGENCE_RTOL",
    "UNIT_ATOL",
    "UNIT_RTOL",
    "Expect",
    "Mismatch",
    "Unfinished",
    "assert_close",
    "assert_same_shapes",
    "assert_tracks",
    "check_interface",
    "conv",
    "dense",
    "difference",
    "expect",
    "fail",
    "flax_params",
    "integers",
    "layer_norm",
    "load_torch",
    "lstm_cell",
    "normal",
    "require",
    "rng",
    "shapes",
    "to_jax",
    "to_numpy",
    "to_torch",
    "todo",
    "torch_params",
    "uniform",
]
