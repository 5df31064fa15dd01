"""The same parameters on both sides: read a torch module's weights into Flax-layout trees, or load values into it.

PyTorch and Flax store layers differently: Linear weights are (out, in) vs Dense kernels (in, out); Conv2d
weights are OIHW vs Flax HWIO kernels; LayerNorm weight is Flax's scale; an LSTM keeps all four gates in
one matrix and two biases where Flax's OptimizedLSTMCell has one Dense per gate. These helpers do those
moves, so a contract injects identical parameters into both programs in a few lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from t2j_contract.compare import fail
from t2j_contract.convert import to_jax, to_numpy

LSTM_GATES = ("i", "f", "g", "o")  # PyTorch's gate order in weight_ih / weight_hh


def torch_params(module: Any) -> dict[str, np.ndarray]:
    """{parameter name: NumPy copy} of a torch module, e.g. {'fc1.weight': ..., 'fc1.bias': ...}."""
    return {name: to_numpy(param) for name, param in module.named_parameters()}


def load_torch(module: Any, values: Mapping[str, Any]) -> None:
    """Overwrite a torch module's parameters with `values` ({name: array}); every name must exist and fit."""
    import torch

    params = dict(module.named_parameters())
    unknown = sorted(set(values) - set(params))
    if unknown:
        fail("load_torch", f"the torch module has no parameters {unknown}; it has {sorted(params)}")
    with torch.no_grad():
        for name, value in values.items():
            array = to_numpy(value)
            if tuple(array.shape) != tuple(params[name].shape):
                fail("load_torch", f"{name}: shape {array.shape} does not fit {tuple(params[name].shape)}")
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(array)).to(params[name].dtype))


def _read(param: Any, grad: bool) -> np.ndarray:
    """The parameter's value, or with grad=True its gradient after backward() (the same layout moves apply)."""
    if not grad:
        return to_numpy(param)
    if param.grad is None:
        fail("torch gradient", "the torch parameter has no gradient: call backward() first")
    return to_numpy(param.grad)


def dense(linear: Any, grad: bool = False) -> dict[str, np.ndarray]:
    """A torch nn.Linear as a Flax nn.Dense parameter dict: kernel (in, out), bias (out,)."""
    out = {"kernel": _read(linear.weight, grad).T.copy()}
    if linear.bias is not None:
        out["bias"] = _read(linear.bias, grad)
    return out


def conv(conv2d: Any, grad: bool = False) -> dict[str, np.ndarray]:
    """A torch nn.Conv2d (OIHW) as a Flax nn.Conv parameter dict (kernel HWIO, bias)."""
    out = {"kernel": _read(conv2d.weight, grad).transpose(2, 3, 1, 0).copy()}
    if conv2d.bias is not None:
        out["bias"] = _read(conv2d.bias, grad)
    return out


def layer_norm(norm: Any, grad: bool = False) -> dict[str, np.ndarray]:
    """A torch nn.LayerNorm as a Flax nn.LayerNorm parameter dict (scale, bias)."""
    return {"scale": _read(norm.weight, grad), "bias": _read(norm.bias, grad)}


def lstm_cell(lstm: Any, layer: int = 0, grad: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """One layer of a torch nn.LSTM as Flax OptimizedLSTMCell / LSTMCell params (ii..io, hi..ho).

    Flax keeps one bias per gate (on the hidden Dense); PyTorch has b_ih and b_hh, which only ever appear
    summed, so their sum is that bias (and, for gradients, both get the same gradient: take one).
    """
    w_ih = _read(getattr(lstm, f"weight_ih_l{layer}"), grad)
    w_hh = _read(getattr(lstm, f"weight_hh_l{layer}"), grad)
    b_ih = _read(getattr(lstm, f"bias_ih_l{layer}"), grad)
    bias = b_ih if grad else b_ih + _read(getattr(lstm, f"bias_hh_l{layer}"), grad)
    hidden = w_hh.shape[1]
    cell: dict[str, dict[str, np.ndarray]] = {}
    for number, gate in enumerate(LSTM_GATES):
        rows = slice(number * hidden, (number + 1) * hidden)
        cell[f"i{gate}"] = {"kernel": w_ih[rows].T.copy()}
        cell[f"h{gate}"] = {"kernel": w_hh[rows].T.copy(), "bias": bias[rows].copy()}
    return cell


def flax_params(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A Flax variables dict {'params': tree} of JAX arrays, ready for `model.apply`."""
    return {"params": to_jax(dict(tree))}


def shapes(tree: Any) -> Any:
    """The tree with every array replaced by its shape (a tuple): handy in spec messages."""
    if isinstance(tree, Mapping):
        return {key: shapes(value) for key, value in tree.items()}
    return tuple(np.shape(to_numpy(tree)))
