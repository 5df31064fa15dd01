"""Closeness checks that say what differed: the check's name, the worst element, max abs/rel difference, tolerance."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from t2j_contract.convert import to_numpy

# The paper's two tiers: unit equivalence (forward, loss, one step) and convergence after training.
UNIT_RTOL = 1e-5
UNIT_ATOL = 1e-5
CONVERGENCE_RTOL = 1e-2
CONVERGENCE_ATOL = 1e-2


class Mismatch(AssertionError):
    """A check of the contract found the translation differs from the PyTorch program."""

    def __init__(self, check: str, message: str, **details: Any) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, **_plain(self.details)}


def fail(check: str, message: str, **details: Any) -> None:
    """Fail the current stage with a mismatch of your own wording."""
    raise Mismatch(check, message, **details)


def assert_close(name: str, actual: Any, expected: Any, *, rtol: float = UNIT_RTOL, atol: float = UNIT_ATOL) -> None:
    """`actual` (JAX side) equals `expected` (PyTorch side) elementwise within atol + rtol * |expected|.

    Both may be arrays of any framework, numbers, or nested dicts/lists/tuples of them (compared leaf by
    leaf, the leaf's path added to the name). Raises Mismatch naming the worst element.
    """
    if isinstance(expected, Mapping):
        _same_keys(name, actual, expected)
        for key in expected:
            assert_close(f"{name}[{key!r}]", actual[key], expected[key], rtol=rtol, atol=atol)
        return
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            got = f"{type(actual).__name__} of {len(actual)}" if isinstance(actual, list | tuple) else _kind(actual)
            fail(name, f"expected a sequence of {len(expected)} items, got {got}")
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(f"{name}[{index}]", a, e, rtol=rtol, atol=atol)
        return
    _assert_close_array(name, to_numpy(actual), to_numpy(expected), rtol, atol)


def _assert_close_array(name: str, actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> None:
    if actual.shape != expected.shape:
        fail(
            name,
            f"shape {actual.shape} differs from the expected {expected.shape}",
            shape=list(actual.shape),
            expected_shape=list(expected.shape),
        )
    if actual.size == 0:
        return
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    if (nan_a != nan_e).any():
        index = np.unravel_index(int(np.argmax(nan_a != nan_e)), a.shape)
        fail(
            name,
            f"NaN where the other side has a number at index {_index(index)}",
            index=_index(index),
            actual=float(a[index]),
            expected=float(e[index]),
            rtol=rtol,
            atol=atol,
        )
    abs_diff = np.where(nan_e, 0.0, np.abs(a - e))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_diff = np.where(abs_diff == 0, 0.0, abs_diff / np.abs(e))
    excess = abs_diff - (atol + rtol * np.abs(e))
    if not (excess > 0).any():
        return
    worst = np.unravel_index(int(np.argmax(excess)), a.shape)
    max_abs, max_rel = float(abs_diff.max()), float(rel_diff.max())
    where = f"worst at index {_index(worst)}: " if a.ndim else ""
    fail(
        name,
        f"max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g} exceed the tolerance (rtol {rtol:g}, atol {atol:g}); "
        f"{where}got {a[worst]:.6g}, expected {e[worst]:.6g}",
        index=_index(worst),
        actual=float(a[worst]),
        expected=float(e[worst]),
        max_abs=max_abs,
        max_rel=max_rel,
        rtol=rtol,
        atol=atol,
        mismatched=int((excess > 0).sum()),
        size=int(a.size),
    )


def assert_tracks(
    name: str,
    actual: Sequence[Any],
    expected: Sequence[Any],
    *,
    rtol: float = CONVERGENCE_RTOL,
    atol: float = CONVERGENCE_ATOL,
) -> None:
    """Two trajectories (e.g. losses per training step) agree step by step; reports the FIRST step off."""
    actual, expected = list(actual), list(expected)
    if len(actual) != len(expected):
        fail(name, f"{len(actual)} steps, expected {len(expected)}")
    for step, (a, e) in enumerate(zip(actual, expected, strict=True)):
        try:
            assert_close(f"{name} at step {step}", a, e, rtol=rtol, atol=atol)
        except Mismatch as mismatch:
            mismatch.details["step"] = step
            raise


def assert_same_shapes(name: str, actual: Any, expected: Any) -> None:
    """Two parameter trees (dicts/lists of arrays) have the same keys and the same shape at every leaf."""
    if isinstance(expected, Mapping):
        _same_keys(name, actual, expected)
        for key in expected:
            assert_same_shapes(f"{name}[{key!r}]", actual[key], expected[key])
        return
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            fail(name, f"expected a sequence of {len(expected)} items, got {_kind(actual)}")
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same_shapes(f"{name}[{index}]", a, e)
        return
    got, want = tuple(np.shape(to_numpy(actual))), tuple(np.shape(to_numpy(expected)))
    if got != want:
        fail(name, f"shape {got} differs from the expected {want}", shape=list(got), expected_shape=list(want))


def _same_keys(name: str, actual: Any, expected: Mapping) -> None:
    if not isinstance(actual, Mapping):
        fail(name, f"expected a mapping with keys {sorted(map(str, expected))}, got {_kind(actual)}")
    missing = [str(k) for k in expected if k not in actual]
    extra = [str(k) for k in actual if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        fail(name, "keys differ: " + ", ".join(parts), missing=missing, unexpected=extra)


def _kind(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def _index(index: tuple) -> list[int]:
    return [int(i) for i in index]


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
