"""Fixed-seed data: the same NumPy inputs every run, to feed both programs (converted with to_torch / to_jax)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rng(seed: int = 0) -> np.random.Generator:
    """A NumPy generator with a fixed seed (PCG64: the same numbers on every machine and NumPy 1.17+)."""
    return np.random.default_rng(seed)


def normal(shape: Sequence[int], seed: int = 0, scale: float = 1.0, dtype: str = "float32") -> np.ndarray:
    return (scale * rng(seed).standard_normal(tuple(shape))).astype(dtype)


def uniform(
    shape: Sequence[int], seed: int = 0, low: float = 0.0, high: float = 1.0, dtype: str = "float32"
) -> np.ndarray:
    return rng(seed).uniform(low, high, tuple(shape)).astype(dtype)


def integers(shape: Sequence[int], high: int, seed: int = 0, low: int = 0, dtype: str = "int64") -> np.ndarray:
    """Integers in [low, high), e.g. class labels."""
    return rng(seed).integers(low, high, tuple(shape)).astype(dtype)
