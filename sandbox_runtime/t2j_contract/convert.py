"""Conversions between PyTorch tensors, NumPy arrays and JAX arrays, for single arrays and nested trees.

torch and jax are imported when first needed, so each helper works where only its framework is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def to_numpy(value: Any) -> Any:
    """A NumPy array (a copy, writable) from a torch tensor, JAX array, number or list; trees map leaf by leaf."""
    if isinstance(value, Mapping):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "shape"):
        return tuple(to_numpy(item) for item in value)
    detach = getattr(value, "detach", None)
    if callable(detach):  # torch.Tensor
        return detach().cpu().numpy().copy()
    return np.array(value)


def to_torch(value: Any, dtype: Any = None) -> Any:
    """A torch tensor from anything `to_numpy` takes; trees map leaf by leaf."""
    import torch

    if isinstance(value, Mapping):
        return {key: to_torch(item, dtype) for key, item in value.items()}
    if isinstance(value, tuple | list) and not _is_numeric_list(value):
        return type(value)(to_torch(item, dtype) for item in value)
    tensor = torch.from_numpy(np.ascontiguousarray(to_numpy(value)))
    return tensor.to(dtype) if dtype is not None else tensor


def to_jax(value: Any, dtype: Any = None) -> Any:
    """A JAX array from anything `to_numpy` takes; trees map leaf by leaf."""
    import jax.numpy as jnp

    if isinstance(value, Mapping):
        return {key: to_jax(item, dtype) for key, item in value.items()}
    if isinstance(value, tuple | list) and not _is_numeric_list(value):
        return type(value)(to_jax(item, dtype) for item in value)
    return jnp.asarray(to_numpy(value), dtype=dtype)


def _is_numeric_list(value: tuple | list) -> bool:
    return all(isinstance(item, int | float | bool | list | tuple) for item in value)
