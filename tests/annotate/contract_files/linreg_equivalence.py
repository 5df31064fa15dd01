"""Equivalence tests for the demo's linreg, written the way the T2J authors wrote theirs: the programs are
sibling modules, the fixtures are module-level arrays, tier-1 unit tests compare one forward pass, the loss
and one training step at 1e-5, and a tier-2 test compares where training converges at 1e-2."""

import jax.numpy as jnp
import numpy as np
import optax
import torch
from jax_code_fixed import mse_loss, predict, train_step
from pytorch_code import LEARNING_RATE, LinearRegression
from pytorch_code import mse_loss as torch_mse_loss
from pytorch_code import train_step as torch_train_step

TOLERANCE = 1e-5
CONVERGENCE_TOLERANCE = 1e-2

rng = np.random.default_rng(0)
X = rng.standard_normal((64, 3)).astype(np.float32)
Y = (X @ np.array([[2.0], [-3.0], [0.5]], dtype=np.float32) + 1.0).astype(np.float32)
W0 = rng.standard_normal((3, 1)).astype(np.float32)
B0 = rng.standard_normal((1,)).astype(np.float32)


def torch_model():
    model = LinearRegression(3)
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(W0.T))
        model.linear.bias.copy_(torch.from_numpy(B0))
    return model


def jax_params():
    return {"w": jnp.asarray(W0), "b": jnp.asarray(B0)}


def test_forward_pass():
    expected = torch_model()(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(predict(jax_params(), jnp.asarray(X)), expected, rtol=TOLERANCE, atol=TOLERANCE)


def test_loss():
    model = torch_model()
    expected = torch_mse_loss(model(torch.from_numpy(X)), torch.from_numpy(Y)).item()
    got = float(mse_loss(jax_params(), jnp.asarray(X), jnp.asarray(Y)))
    assert abs(got - expected) <= TOLERANCE * max(1.0, abs(expected))


def test_train_step():
    model = torch_model()
    torch_train_step(
        model, torch.optim.SGD(model.parameters(), lr=LEARNING_RATE), torch.from_numpy(X), torch.from_numpy(Y)
    )
    params = jax_params()
    params, _, _ = train_step(params, optax.sgd(LEARNING_RATE).init(params), jnp.asarray(X), jnp.asarray(Y))
    np.testing.assert_allclose(params["w"], model.linear.weight.detach().numpy().T, rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(params["b"], model.linear.bias.detach().numpy(), rtol=TOLERANCE, atol=TOLERANCE)


def test_convergence():
    model = torch_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    params = jax_params()
    opt_state = optax.sgd(LEARNING_RATE).init(params)
    for _ in range(100):
        torch_loss = torch_train_step(model, optimizer, torch.from_numpy(X), torch.from_numpy(Y))
        params, opt_state, loss = train_step(params, opt_state, jnp.asarray(X), jnp.asarray(Y))
    assert np.allclose(float(loss), torch_loss, rtol=CONVERGENCE_TOLERANCE, atol=CONVERGENCE_TOLERANCE)
    assert np.allclose(params["w"], model.linear.weight.detach().numpy().T, atol=CONVERGENCE_TOLERANCE)
