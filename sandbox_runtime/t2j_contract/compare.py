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
    details = difference(actual, expected, rtol=rtol, atol=atol)
    if details is not None:
        message = details.pop("message")
        fail(name, message, **details)


def difference(
    actual: Any, expected: Any, *, rtol: float = UNIT_RTOL, atol: float = UNIT_ATOL
) -> dict[str, Any] | None:
    """How two arrays differ beyond atol + rtol * |expected|, or None when they agree.

    `actual` is the translation's value, `expected` the PyTorch program's. The details name both shapes and
    dtypes, the max abs and rel difference, the FIRST element out of tolerance (row-major: `first_index`,
    `first_actual`, `first_expected`) and the worst one (`index`, `actual`, `expected`), how many are off,
    the tolerance, and a one-line `message`.
    """
    actual, expected = np.asarray(to_numpy(actual)), np.asarray(to_numpy(expected))
    details: dict[str, Any] = {
        "shape": list(actual.shape),
        "expected_shape": list(expected.shape),
        "dtype": str(actual.dtype),
        "expected_dtype": str(expected.dtype),
    }
    if actual.shape != expected.shape:
        return {"message": f"shape {actual.shape} differs from the expected {expected.shape}", **details}
    if actual.size == 0:
        return None
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    details.update(rtol=rtol, atol=atol, size=int(a.size))
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    if (nan_a != nan_e).any():
        index = np.unravel_index(int(np.argmax(nan_a != nan_e)), a.shape)
        at = _index(index)
        details.update(actual=float(a[index]), expected=float(e[index]))
        if a.ndim:
            details.update(index=at, first_index=at, first_actual=float(a[index]), first_expected=float(e[index]))
        return {"message": "NaN where the other side has a number" + (f" at index {at}" if a.ndim else ""), **details}
    abs_diff = np.where(nan_e, 0.0, np.abs(a - e))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_diff = np.where(abs_diff == 0, 0.0, abs_diff / np.abs(e))
    excess = abs_diff - (atol + rtol * np.abs(e))
    over = excess > 0
    if not over.any():
        return None
    worst = np.unravel_index(int(np.argmax(excess)), a.shape)
    first = np.unravel_index(int(np.argmax(over)), a.shape)
    max_abs, max_rel = float(abs_diff.max()), float(rel_diff.max())
    where = f"first at index {_index(first)}: " if a.ndim else ""
    details.update(actual=float(a[worst]), expected=float(e[worst]), max_abs=max_abs, max_rel=max_rel)
    details.update(mismatched=int(over.sum()))
    if a.ndim:  # a scalar has no index to name
        details.update(index=_index(worst), first_index=_index(first))
        details.update(first_actual=float(a[first]), first_expected=float(e[first]))
    message = (
        f"max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g} exceed the tolerance (rtol {rtol:g}, atol {atol:g}); "
        f"{where}got {a[first]:.6g}, expected {e[first]:.6g}"
    )
    if a.ndim and worst != first:
        message += f"; worst at index {_index(worst)}: got {a[worst]:.6g}, expected {e[worst]:.6g}"
    return {"message": message, **details}


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
    """Two parameter trees (dicts/lists of arrays) have the same keys and the same shape at every leaf.

    The expected tree's shapes are remembered under `name` (see expected_shapes): the contract run reports
    them, so developers see the shapes the contract expects even before their translation gets that far.
    """
    EXPECTED_SHAPES[name] = _shape_tree(expected)
    _same_shapes(name, actual, expected)


# Shapes each assert_same_shapes of this process expected, by check name (the driver reports them).
EXPECTED_SHAPES: dict[str, Any] = {}


def _same_shapes(name: str, actual: Any, expected: Any) -> None:
    if isinstance(expected, Mapping):
        _same_keys(name, actual, expected)
        for key in expected:
            _same_shapes(f"{name}[{key!r}]", actual[key], expected[key])
        return
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            fail(name, f"expected a sequence of {len(expected)} items, got {_kind(actual)}")
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _same_shapes(f"{name}[{index}]", a, e)
        return
    got, want = tuple(np.shape(to_numpy(actual))), tuple(np.shape(to_numpy(expected)))
    if got != want:
        fail(name, f"shape {got} differs from the expected {want}", shape=list(got), expected_shape=list(want))


def _shape_tree(tree: Any) -> Any:
    """The tree with every array replaced by its shape as a list (JSON-friendly)."""
    if isinstance(tree, Mapping):
        return {str(key): _shape_tree(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [_shape_tree(value) for value in tree]
    return list(np.shape(to_numpy(tree)))


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
