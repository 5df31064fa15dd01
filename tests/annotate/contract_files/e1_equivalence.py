"""Equivalence tests for the paper's e1 (linear regression, an unguarded PyTorch script that trains and prints
when imported), in the T2J authors' style: sibling imports, module-level arrays, tier-1 tests at 1e-5 and a
tier-2 convergence test at 1e-2."""

import jax.numpy as jnp
import numpy as np
import torch
from jax_code_fixed import loss_fn, model, train_model, train_step
from pytorch_code import LinearRegressionModel

TOLERANCE = 1e-5
CONVERGENCE_TOLERANCE = 1e-2
EPOCHS = 1000

rng = np.random.default_rng(42)
X = (rng.uniform(size=(100, 1)) * 10).astype(np.float32)
Y = (2 * X + 3 + rng.standard_normal((100, 1))).astype(np.float32)
W0 = np.array([[0.5]], dtype=np.float32)
B0 = np.array([-0.25], dtype=np.float32)


def torch_model():
    reference = LinearRegressionModel()
    with torch.no_grad():
        reference.linear.weight.copy_(torch.from_numpy(W0.T))
        reference.linear.bias.copy_(torch.from_numpy(B0))
    return reference


def sgd_steps(reference, steps):
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.MSELoss()(reference(torch.from_numpy(X)), torch.from_numpy(Y)).backward()
        optimizer.step()
    return reference


def test_forward_pass():
    expected = torch_model()(torch.from_numpy(X)).detach().numpy()
    got = model({"w": jnp.asarray(W0), "b": jnp.asarray(B0)}, jnp.asarray(X))
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


def test_loss():
    expected = torch.nn.MSELoss()(torch_model()(torch.from_numpy(X)), torch.from_numpy(Y)).item()
    got = float(loss_fn({"w": jnp.asarray(W0), "b": jnp.asarray(B0)}, jnp.asarray(X), jnp.asarray(Y)))
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE)


def test_train_step():
    reference = sgd_steps(torch_model(), 1)
    params = train_step({"w": jnp.asarray(W0), "b": jnp.asarray(B0)}, jnp.asarray(X), jnp.asarray(Y))
    np.testing.assert_allclose(params["w"], reference.linear.weight.detach().numpy().T, rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(params["b"], reference.linear.bias.detach().numpy(), rtol=TOLERANCE, atol=TOLERANCE)


def test_convergence():
    # Each side from its own initial parameters, as the programs do: the least-squares fit is where both end.
    reference = sgd_steps(LinearRegressionModel(), EPOCHS)
    params = train_model(jnp.asarray(X), jnp.asarray(Y), num_epochs=EPOCHS)
    np.testing.assert_allclose(params["w"], reference.linear.weight.detach().numpy().T, atol=CONVERGENCE_TOLERANCE)
    np.testing.assert_allclose(params["b"], reference.linear.bias.detach().numpy(), atol=CONVERGENCE_TOLERANCE)
