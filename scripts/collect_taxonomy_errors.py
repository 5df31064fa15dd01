"""Real exception texts per error category, from short wrong programs run in the sandbox (issue 13).

    flock /tmp/t2j-heavy.lock .venv/bin/python scripts/collect_taxonomy_errors.py [--only NAME ...]

Runs every program below through `annotate.sandbox.run` (no Run is stored) and writes
`fixtures/taxonomy/sandbox_errors.json`: a list of {program_name, category, error} where error is
"ExceptionType: message" exactly as the sandbox reported it. Each program declares the category a person
would pick for its bug and the exception type it must raise; when one raises anything else (or nothing) the
script says which and writes nothing, so every text stands for the bug it is filed under. With --only, the
named programs run and their texts are printed, nothing is written.

Where JAX raises nothing for a bug (numerical mismatches, some PRNG misuse, general slips) the program does what
a developer does to see it: an assertion against expected values, `np.testing.assert_allclose` against the
PyTorch result, or JAX's NaN/Inf debugging flags (see fixtures/taxonomy/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "fixtures" / "taxonomy" / "sandbox_errors.json"


@dataclass(frozen=True)
class Program:
    name: str
    category: str
    raises: str  # the exception type the sandbox must report
    code: str


def _p(name: str, category: str, raises: str, code: str) -> Program:
    return Program(name, category, raises, textwrap.dedent(code).lstrip())


# One line per program head keeps the list readable; `ruff format` would split each into five.
# fmt: off
PROGRAMS: list[Program] = [
    # --- prng -------------------------------------------------------------------------------------------
    _p("normal_without_key", "prng", "TypeError", """
        import jax
        noise = jax.random.normal(shape=(3,))
    """),
    _p("int_seed_as_key", "prng", "TypeError", """
        import jax
        noise = jax.random.normal(42, (3,))
    """),
    _p("key_reused_under_debug_flag", "prng", "KeyReuseError", """
        import jax
        jax.config.update("jax_debug_key_reuse", True)
        key = jax.random.key(0)
        w = jax.random.normal(key, (3,))
        b = jax.random.normal(key, (3,))
    """),
    _p("dropout_without_rngs", "prng", "InvalidRngError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class Net(nn.Module):
            @nn.compact
            def __call__(self, x, train: bool):
                x = nn.Dense(4)(x)
                return nn.Dropout(0.5, deterministic=not train)(x)

        x = jnp.ones((2, 3))
        params = Net().init(jax.random.key(0), x, train=False)
        y = Net().apply(params, x, train=True)
    """),
    _p("make_rng_stream_not_given", "prng", "InvalidRngError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class NoisyState(nn.Module):
            @nn.compact
            def __call__(self, x):
                h = jax.random.normal(self.make_rng("lstm"), x.shape)
                return x + h

        x = jnp.ones((2, 3))
        variables = NoisyState().init({"params": jax.random.key(0), "lstm": jax.random.key(1)}, x)
        y = NoisyState().apply(variables, x)
    """),
    _p("dropout_mask_same_every_step", "prng", "AssertionError", """
        import jax, jax.numpy as jnp
        key = jax.random.key(0)
        masks = []
        for step in range(3):
            masks.append(jax.random.bernoulli(key, 0.5, (8,)))
        assert not all(bool(jnp.array_equal(masks[0], m)) for m in masks[1:]), (
            "the dropout mask is the same at every training step because the key is never split")
    """),
    _p("weights_and_noise_from_one_key", "prng", "AssertionError", """
        import jax, jax.numpy as jnp
        key = jax.random.PRNGKey(42)
        w = jax.random.normal(key, (4,))
        noise = jax.random.normal(key, (4,))
        assert not jnp.allclose(w, noise), "weights and noise are identical: the same PRNG key is used for both"
    """),
    _p("seed_differs_from_torch", "prng", "AssertionError", """
        import jax, jax.numpy as jnp
        reference = jax.random.uniform(jax.random.PRNGKey(42), (3,))  # the run seeded like torch.manual_seed(42)
        w = jax.random.uniform(jax.random.PRNGKey(0), (3,))
        assert jnp.allclose(w, reference), "initial weights differ from the reference run: PRNGKey(0), PyTorch seeds 42"
    """),
    _p("float_seed", "prng", "TypeError", """
        import jax
        key = jax.random.PRNGKey(0.5)
    """),
    _p("init_with_int_instead_of_key", "prng", "InvalidRngError", """
        import jax.numpy as jnp
        import flax.linen as nn
        params = nn.Dense(3).init(0, jnp.ones((1, 2)))
    """),
    _p("split_of_plain_array", "prng", "TypeError", """
        import jax, jax.numpy as jnp
        keys = jax.random.split(jnp.array([0.5, 1.5]))
    """),
    _p("key_data_of_raw_key", "prng", "TypeError", """
        import jax
        data = jax.random.key_data(jax.random.PRNGKey(0))
        key = jax.random.wrap_key_data(data.astype("float32"))
    """),
    # --- nonexistent-api -----------------------------------------------------------------------------------
    _p("stax_from_experimental", "nonexistent-api", "ImportError", """
        from jax.experimental import stax
    """),
    _p("import_experimental_stax", "nonexistent-api", "ModuleNotFoundError", """
        import jax.experimental.stax as stax
    """),
    _p("import_flax_optim", "nonexistent-api", "ModuleNotFoundError", """
        import flax.optim
    """),
    _p("experimental_optimizers", "nonexistent-api", "ModuleNotFoundError", """
        from jax.experimental.optimizers import adam
    """),
    _p("jnp_random", "nonexistent-api", "AttributeError", """
        import jax.numpy as jnp
        noise = jnp.random.normal(0, 1, (3,))
    """),
    _p("random_normal_random", "nonexistent-api", "AttributeError", """
        import jax
        x = jax.random.normal_random(jax.random.key(0), (3,))
    """),
    _p("optax_capital_sgd", "nonexistent-api", "AttributeError", """
        import optax
        tx = optax.SGD(0.01)
    """),
    _p("optax_lr_keyword", "nonexistent-api", "TypeError", """
        import optax
        tx = optax.adam(lr=0.001)
    """),
    _p("jnp_clamp", "nonexistent-api", "AttributeError", """
        import jax.numpy as jnp
        y = jnp.clamp(jnp.arange(5), 1, 3)
    """),
    _p("softmax_dim_keyword", "nonexistent-api", "TypeError", """
        import jax, jax.numpy as jnp
        p = jax.nn.softmax(jnp.ones((2, 3)), dim=1)
    """),
    _p("dense_in_features", "nonexistent-api", "TypeError", """
        import flax.linen as nn
        layer = nn.Dense(in_features=3, features=4)
    """),
    _p("max_pool_as_layer", "nonexistent-api", "TypeError", """
        import flax.linen as nn
        pool = nn.max_pool(window_shape=(2, 2), strides=(2, 2))
    """),
    _p("tree_map_removed", "nonexistent-api", "AttributeError", """
        import jax, jax.numpy as jnp
        doubled = jax.tree_map(lambda x: 2 * x, {"w": jnp.ones(2)})
    """),
    # --- inplace-mutation ----------------------------------------------------------------------------------
    _p("item_assignment", "inplace-mutation", "TypeError", """
        import jax.numpy as jnp
        x = jnp.zeros(5)
        x[0] = 1.0
    """),
    _p("augmented_slice_assignment", "inplace-mutation", "TypeError", """
        import jax.numpy as jnp
        counts = jnp.zeros(4)
        counts[1:] += 1
    """),
    _p("assignment_inside_jit", "inplace-mutation", "TypeError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def zero_first(x):
            x[0] = 0.0
            return x

        zero_first(jnp.ones(3))
    """),
    _p("param_leaf_assignment", "inplace-mutation", "TypeError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        params = nn.Dense(2).init(jax.random.key(0), jnp.ones((1, 3)))["params"]
        params["kernel"][0, 0] = 0.0
    """),
    _p("at_assigned_like_index", "inplace-mutation", "TypeError", """
        import jax.numpy as jnp
        x = jnp.zeros(3)
        x.at[0] = 5.0
    """),
    _p("torch_style_add_", "inplace-mutation", "AttributeError", """
        import jax.numpy as jnp
        w = jnp.ones(3)
        w.add_(1.0)
    """),
    _p("numpy_view_write", "inplace-mutation", "ValueError", """
        import numpy as np
        import jax.numpy as jnp
        x = jnp.arange(4.0)
        view = np.asarray(x)
        view[0] = 10.0
    """),
    _p("place_in_place", "inplace-mutation", "ValueError", """
        import jax.numpy as jnp
        x = jnp.arange(6.0)
        jnp.place(x, x > 2, 0.0)
    """),
    _p("jnp_put_in_place", "inplace-mutation", "ValueError", """
        import jax.numpy as jnp
        x = jnp.zeros(4)
        jnp.put(x, jnp.array([1]), 3.0)
    """),
    _p("fill_diagonal_in_place", "inplace-mutation", "NotImplementedError", """
        import jax.numpy as jnp
        m = jnp.ones((3, 3))
        jnp.fill_diagonal(m, 0.0)
    """),
    _p("mask_assignment_in_scan", "inplace-mutation", "TypeError", """
        import jax, jax.numpy as jnp

        def step(h, x):
            h[x > 0] = 0.0
            return h, h

        jax.lax.scan(step, jnp.ones(3), jnp.ones((2, 3)))
    """),
    # --- tracer --------------------------------------------------------------------------------------------
    _p("python_if_on_traced", "tracer", "TracerBoolConversionError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def relu(x):
            if x > 0:
                return x
            return 0.0

        relu(jnp.float32(1.0))
    """),
    _p("boolean_mask_under_jit", "tracer", "NonConcreteBooleanIndexError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def positives(x):
            return x[x > 0]

        positives(jnp.arange(-3.0, 3.0))
    """),
    _p("int_of_traced", "tracer", "ConcretizationTypeError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def first_n(x, n):
            return x[: int(n)]

        first_n(jnp.arange(5), 3)
    """),
    _p("range_of_traced", "tracer", "TracerIntegerConversionError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def total(n):
            s = 0
            for i in range(n):
                s += i
            return s

        total(4)
    """),
    _p("zeros_of_traced_size", "tracer", "TypeError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def make(n):
            return jnp.zeros(n)

        make(3)
    """),
    _p("leaked_tracer", "tracer", "UnexpectedTracerError", """
        import jax, jax.numpy as jnp
        seen = []

        @jax.jit
        def remember(x):
            seen.append(x)
            return x * 2

        remember(jnp.ones(2))
        print(seen[0] + 1)
    """),
    _p("numpy_of_traced", "tracer", "TracerArrayConversionError", """
        import jax, jax.numpy as jnp
        import numpy as np

        @jax.jit
        def norm(x):
            return np.linalg.norm(x)

        norm(jnp.ones(3))
    """),
    _p("model_object_passed_to_jit", "tracer", "TypeError", """
        import jax, jax.numpy as jnp

        class LinearModel:
            def __init__(self):
                self.w = jnp.ones((3, 1))

            def __call__(self, x):
                return x @ self.w

        @jax.jit
        def loss(model, x):
            return jnp.mean(model(x) ** 2)

        loss(LinearModel(), jnp.ones((2, 3)))
    """),
    _p("unhashable_static_argument", "tracer", "ValueError", """
        import jax, jax.numpy as jnp
        from functools import partial

        @partial(jax.jit, static_argnums=(1,))
        def scale(x, factors):
            return x * factors[0]

        scale(jnp.ones(2), [2.0])
    """),
    _p("item_under_jit", "tracer", "ConcretizationTypeError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def loss(w):
            value = jnp.sum(w ** 2)
            print("loss", value.item())
            return value

        loss(jnp.ones(3))
    """),
    _p("nonzero_without_size", "tracer", "ConcretizationTypeError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def active(x):
            return jnp.nonzero(x)[0]

        active(jnp.array([0, 1, 0, 1]))
    """),
    _p("while_on_traced", "tracer", "TracerBoolConversionError", """
        import jax, jax.numpy as jnp

        @jax.jit
        def halve_until_small(x):
            while x > 1.0:
                x = x / 2
            return x

        halve_until_small(jnp.float32(10.0))
    """),
    _p("print_inside_jit_runs_once", "tracer", "AssertionError", """
        import jax, jax.numpy as jnp
        logged = []

        @jax.jit
        def step(x):
            logged.append("step")
            return x + 1

        for _ in range(3):
            step(jnp.ones(2))
        assert len(logged) == 3, (
            f"logged {len(logged)} of 3 steps: Python side effects inside jax.jit run only while tracing")
    """),
    # --- shape-dtype ---------------------------------------------------------------------------------------
    _p("dot_contracting_mismatch", "shape-dtype", "TypeError", """
        import jax.numpy as jnp
        y = jnp.dot(jnp.ones((4, 10)), jnp.ones((5, 1)))
    """),
    _p("add_broadcast_mismatch", "shape-dtype", "TypeError", """
        import jax.numpy as jnp
        y = jnp.ones((100, 16)) + jnp.ones((10, 16))
    """),
    _p("reshape_wrong_size", "shape-dtype", "TypeError", """
        import jax.numpy as jnp
        x = jnp.arange(12).reshape((5, 3))
    """),
    _p("dense_param_shape_changed", "shape-dtype", "ScopeParamShapeError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        model = nn.Dense(4)
        params = model.init(jax.random.key(0), jnp.ones((1, 3)))
        model.apply(params, jnp.ones((1, 5)))
    """),
    _p("scan_length_mismatch", "shape-dtype", "ValueError", """
        import jax, jax.numpy as jnp

        def step(h, x):
            return h + x, h

        xs = jnp.ones((100, 10, 1))
        jax.lax.scan(step, jnp.zeros((10, 1)), xs, length=10)
    """),
    _p("lax_add_mixed_dtypes", "shape-dtype", "TypeError", """
        import jax, jax.numpy as jnp
        y = jax.lax.add(jnp.ones(3, dtype=jnp.int32), jnp.ones(3, dtype=jnp.float32))
    """),
    _p("embed_float_tokens", "shape-dtype", "ValueError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        tokens = jax.random.normal(jax.random.key(0), (2, 5))
        params = nn.Embed(100, 8).init(jax.random.key(1), tokens)
    """),
    _p("cond_branch_shapes", "shape-dtype", "TypeError", """
        import jax, jax.numpy as jnp
        y = jax.lax.cond(True, lambda: jnp.ones(3), lambda: jnp.ones(4))
    """),
    _p("vmap_inconsistent_sizes", "shape-dtype", "ValueError", """
        import jax, jax.numpy as jnp
        y = jax.vmap(lambda a, b: a * b)(jnp.ones(3), jnp.ones(4))
    """),
    _p("grad_of_vector_output", "shape-dtype", "TypeError", """
        import jax, jax.numpy as jnp
        g = jax.grad(lambda w: w * 2.0)(jnp.ones(3))
    """),
    _p("grad_of_integer_input", "shape-dtype", "TypeError", """
        import jax, jax.numpy as jnp
        g = jax.grad(lambda w: jnp.sum(w * w))(jnp.arange(3))
    """),
    _p("einsum_wrong_dims", "shape-dtype", "ValueError", """
        import jax.numpy as jnp
        scores = jnp.einsum("bsh,bh->bs", jnp.ones((2, 7, 16)), jnp.ones((2, 7)))
    """),
    _p("conv_nchw_input", "shape-dtype", "ScopeParamShapeError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        conv = nn.Conv(8, (3, 3))
        params = conv.init(jax.random.key(0), jnp.ones((1, 32, 32, 3)))
        conv.apply(params, jnp.ones((1, 3, 32, 32)))
    """),
    # --- stateful-api --------------------------------------------------------------------------------------
    _p("batch_stats_immutable", "stateful-api", "ModifyScopeVariableError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class Net(nn.Module):
            @nn.compact
            def __call__(self, x, train: bool):
                return nn.BatchNorm(use_running_average=not train)(x)

        x = jnp.ones((4, 3))
        variables = Net().init(jax.random.key(0), x, train=False)
        y = Net().apply(variables, x, train=True)
    """),
    _p("batch_stats_missing", "stateful-api", "ScopeCollectionNotFound", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class Net(nn.Module):
            @nn.compact
            def __call__(self, x):
                return nn.BatchNorm(use_running_average=True)(x)

        x = jnp.ones((4, 3))
        variables = Net().init(jax.random.key(0), x)
        y = Net().apply({"params": variables["params"]}, x)
    """),
    _p("unbound_module_called", "stateful-api", "CallCompactUnboundModuleError", """
        import jax.numpy as jnp
        import flax.linen as nn

        class MLP(nn.Module):
            @nn.compact
            def __call__(self, x):
                return nn.Dense(2)(x)

        y = MLP()(jnp.ones((1, 3)))
    """),
    _p("setup_field_outside_apply", "stateful-api", "AttributeError", """
        import jax.numpy as jnp
        import flax.linen as nn

        class Decoder(nn.Module):
            def setup(self):
                self.embedding = nn.Embed(10, 4)

            def __call__(self, x):
                return self.embedding(x)

        table = Decoder().embedding
    """),
    _p("submodule_outside_compact", "stateful-api", "AssignSubModuleError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class Net(nn.Module):
            def __call__(self, x):
                return nn.Dense(2)(x)

        Net().init(jax.random.key(0), jnp.ones((1, 3)))
    """),
    _p("attribute_set_on_frozen_module", "stateful-api", "SetAttributeFrozenModuleError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class Counter(nn.Module):
            @nn.compact
            def __call__(self, x):
                self.calls = 1
                return x

        Counter().init(jax.random.key(0), jnp.ones(2))
    """),
    _p("params_not_wrapped", "stateful-api", "ApplyScopeInvalidVariablesStructureError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        model = nn.Dense(2)
        x = jnp.ones((1, 3))
        params = model.init(jax.random.key(0), x)["params"]
        y = model.apply({"params": {"params": params}}, x)
    """),
    _p("train_state_positional_grads", "stateful-api", "TypeError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        import optax
        from flax.training import train_state
        model = nn.Dense(1)
        x = jnp.ones((4, 3))
        params = model.init(jax.random.key(0), x)["params"]
        state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=optax.sgd(0.1))
        grads = jax.grad(lambda p: jnp.mean(model.apply({"params": p}, x) ** 2))(state.params)
        state = state.apply_gradients(grads)
    """),
    _p("torch_parameters_on_flax", "stateful-api", "AttributeError", """
        import jax.numpy as jnp
        import flax.linen as nn
        import optax
        model = nn.Dense(2)
        tx = optax.adam(1e-3)
        opt_state = tx.init(model.parameters())
    """),
    _p("optimizer_step_torch_style", "stateful-api", "AttributeError", """
        import optax
        tx = optax.sgd(0.01)
        tx.zero_grad()
        tx.step()
    """),
    _p("opt_state_not_initialised", "stateful-api", "TypeError", """
        import jax.numpy as jnp
        import optax
        params = {"w": jnp.ones(3)}
        grads = {"w": jnp.ones(3)}
        tx = optax.adam(1e-3)
        updates, opt_state = tx.update(grads, optax.OptState(0))
    """),
    _p("linen_init_override", "stateful-api", "IncorrectPostInitOverrideError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn

        class Decoder(nn.Module):
            def __init__(self, vocab_size):
                super().__init__()
                self.vocab_size = vocab_size

            @nn.compact
            def __call__(self, x):
                return nn.Dense(self.vocab_size)(x)

        Decoder(10).init(jax.random.key(0), jnp.ones((1, 4)))
    """),
    # --- missing-import ------------------------------------------------------------------------------------
    _p("jnp_not_imported", "missing-import", "NameError", """
        import jax
        x = jnp.ones(3)
    """),
    _p("jax_not_imported", "missing-import", "NameError", """
        import jax.numpy as jnp
        y = jax.nn.relu(jnp.ones(3))
    """),
    _p("optax_not_imported", "missing-import", "NameError", """
        import jax.numpy as jnp
        tx = optax.adam(1e-3)
    """),
    _p("linen_not_imported", "missing-import", "NameError", """
        import jax

        class MLP(nn.Module):
            pass
    """),
    _p("numpy_not_imported", "missing-import", "NameError", """
        import jax.numpy as jnp
        indices = np.arange(10)
    """),
    _p("partial_not_imported", "missing-import", "NameError", """
        import jax

        @partial(jax.jit, static_argnums=(1,))
        def f(x, n):
            return x * n
    """),
    _p("random_not_imported", "missing-import", "NameError", """
        import jax
        key = random.PRNGKey(0)
    """),
    _p("value_and_grad_not_imported", "missing-import", "NameError", """
        import jax.numpy as jnp
        from jax import random
        loss, grads = value_and_grad(lambda w: jnp.sum(w ** 2))(jnp.ones(3))
    """),
    _p("train_state_not_imported", "missing-import", "NameError", """
        import optax
        state = train_state.TrainState.create(apply_fn=None, params={}, tx=optax.sgd(0.1))
    """),
    _p("lax_not_imported", "missing-import", "NameError", """
        import jax.numpy as jnp
        out = lax.scan(lambda c, x: (c + x, c), 0.0, jnp.ones(3))
    """),
    _p("pickle_not_imported", "missing-import", "NameError", """
        params = {"w": 1.0}
        with open("model.pkl", "wb") as f:
            pickle.dump(params, f)
    """),
    _p("jit_not_imported", "missing-import", "NameError", """
        import jax.numpy as jnp

        @jit
        def f(x):
            return x + 1
    """),
    # --- numerical -----------------------------------------------------------------------------------------
    _p("loss_differs_from_pytorch", "numerical", "AssertionError", """
        import jax.numpy as jnp
        pred, target = jnp.array([0.2, 0.9, 0.4]), jnp.array([0.0, 1.0, 1.0])
        loss = float(jnp.mean(jnp.abs(pred - target)))
        expected = 0.1367  # the PyTorch run (nn.MSELoss)
        assert abs(loss - expected) < 1e-4, f"loss {loss:.2f} != {expected:.2f}"
    """),
    _p("layernorm_eps_allclose", "numerical", "AssertionError", """
        import jax, jax.numpy as jnp
        import numpy as np
        import torch
        import flax.linen as nn
        x = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32) * 1e-3
        expected = torch.nn.LayerNorm(8)(torch.from_numpy(x)).detach().numpy()
        ln = nn.LayerNorm()
        got = ln.apply(ln.init(jax.random.key(0), x), x)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    """),
    _p("debug_nans_log", "numerical", "FloatingPointError", """
        import jax, jax.numpy as jnp
        jax.config.update("jax_debug_nans", True)
        loss = jnp.log(jnp.array([0.5, -1.0])).sum()
    """),
    _p("debug_infs_exp", "numerical", "FloatingPointError", """
        import jax, jax.numpy as jnp
        jax.config.update("jax_debug_infs", True)
        logits = jnp.array([10.0, 100.0])
        probs = jnp.exp(logits * 10) / jnp.sum(jnp.exp(logits * 10))
    """),
    _p("learning_rate_final_weight", "numerical", "AssertionError", """
        import jax, jax.numpy as jnp
        import torch
        xs = torch.linspace(0, 1, 20).reshape(-1, 1)
        model = torch.nn.Linear(1, 1)
        torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        for _ in range(100):
            optimizer.zero_grad()
            torch.mean((model(xs) - (2 * xs + 3)) ** 2).backward()
            optimizer.step()
        expected_w = model.weight.item()

        x = jnp.linspace(0, 1, 20)
        y = 2 * x + 3
        w, b = 0.0, 0.0
        lr = 0.001
        for _ in range(100):
            gw, gb = jax.grad(lambda w, b: jnp.mean((w * x + b - y) ** 2), argnums=(0, 1))(w, b)
            w, b = w - lr * gw, b - lr * gb
        assert abs(float(w) - expected_w) < 1e-3, f"learned weight {float(w):.4f}, PyTorch learned {expected_w:.4f}"
    """),
    _p("init_std_differs", "numerical", "AssertionError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        kernel = nn.Dense(256).init(jax.random.key(0), jnp.ones((1, 256)))["params"]["kernel"]
        bound = 1 / 256 ** 0.5  # nn.Linear: kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert float(jnp.max(jnp.abs(kernel))) <= bound, (
            f"initial weights exceed PyTorch's bound {bound:.4f}: max |w| = {float(jnp.max(jnp.abs(kernel))):.4f}")
    """),
    _p("outputs_differ_max_abs", "numerical", "AssertionError", """
        import numpy as np
        import jax.numpy as jnp
        import torch
        logits = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
        expected = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
        got = np.asarray(jnp.log(jnp.exp(logits) / jnp.sum(jnp.exp(logits))) * 0.98)
        diff = float(np.max(np.abs(got - expected)))
        assert diff < 1e-5, f"outputs differ from PyTorch: max abs diff {diff:.1e}"
    """),
    _p("batchnorm_momentum_running_mean", "numerical", "AssertionError", """
        import jax, jax.numpy as jnp
        import flax.linen as nn
        x = jnp.full((8, 2), 4.0)
        bn = nn.BatchNorm(use_running_average=False, momentum=0.1)
        variables = bn.init(jax.random.key(0), x)
        _, updated = bn.apply(variables, x, mutable=["batch_stats"])
        mean = float(updated["batch_stats"]["mean"][0])
        assert abs(mean - 0.4) < 1e-6, f"running mean {mean:.3f} after one step, PyTorch gives 0.400"
    """),
    _p("accuracy_below_reference", "numerical", "AssertionError", """
        import jax.numpy as jnp
        logits = jnp.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
        labels = jnp.array([1, 1, 1, 0])
        accuracy = float(jnp.mean(jnp.argmax(logits, axis=-1) == labels)) * 100
        assert accuracy == 100.0, f"Test Accuracy = {accuracy:.2f}, PyTorch printed Test Accuracy = 100.00"
    """),
    _p("float16_sum_precision", "numerical", "AssertionError", """
        import numpy as np
        import jax.numpy as jnp
        x = jnp.full((4096,), 0.1, dtype=jnp.float16)
        total = float(jnp.sum(x))
        np.testing.assert_allclose(total, 409.6, rtol=1e-4, err_msg="sum drifts from the float32 PyTorch result")
    """),
    _p("printed_loss_mismatch", "numerical", "AssertionError", """
        import io, contextlib
        import jax.numpy as jnp
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print(f"Epoch [10/100], Loss: {float(jnp.float32(0.731)):.4f}")
        expected = "Epoch [10/100], Loss: 0.6931"
        assert out.getvalue().strip() == expected, f"printed {out.getvalue().strip()!r}, PyTorch printed {expected!r}"
    """),
    _p("checkify_nan", "numerical", "JaxRuntimeError", """
        import jax, jax.numpy as jnp
        from jax.experimental import checkify

        def loss(w):
            return jnp.sqrt(w - 2.0).sum()

        err, value = checkify.checkify(loss, errors=checkify.nan_checks)(jnp.ones(3))
        err.throw()
    """),
    # --- other ---------------------------------------------------------------------------------------------
    _p("own_variable_undefined", "other", "NameError", """
        import jax, jax.numpy as jnp
        latent_dim = 10
        real_data = jax.random.uniform(jax.random.key(0), (100, data_dim))
    """),
    _p("own_function_missing_argument", "other", "TypeError", """
        def train_step(params, batch, lr):
            return params

        params = train_step({"w": 1.0}, [1, 2])
    """),
    _p("input_file_missing", "other", "FileNotFoundError", """
        with open("path_to_image.jpg", "rb") as f:
            image = f.read()
    """),
    _p("placeholder_not_implemented", "other", "NotImplementedError", """
        def load_dataset():
            raise NotImplementedError("TODO: port the CIFAR-10 loader")

        train = load_dataset()
    """),
    _p("stub_returns_none", "other", "TypeError", """
        import jax.numpy as jnp

        def forward(x):
            pass  # model body left for later

        loss = jnp.mean((forward(jnp.ones(3)) - 1.0) ** 2)
    """),
    _p("config_key_missing", "other", "KeyError", """
        config = {"learning_rate": 0.01, "epochs": 10}
        lr = config["lr"]
    """),
    _p("average_over_no_batches", "other", "ZeroDivisionError", """
        batches = []
        total = sum(len(b) for b in batches)
        avg_loss = total / len(batches)
    """),
    _p("stale_attribute_after_refactor", "other", "AttributeError", """
        class LinearModel:
            def __init__(self):
                self.params = {"w": 1.0, "b": 0.0}

        model = LinearModel()
        print(f"Trained weights: {model.w}, bias: {model.b}")
    """),
    _p("too_many_values_to_unpack", "other", "ValueError", """
        def train_step(state, batch):
            return state, 0.5, {"acc": 1.0}

        state, loss = train_step({}, None)
    """),
    _p("unbound_local_counter", "other", "UnboundLocalError", """
        step_count = 0

        def log_step():
            step_count += 1

        log_step()
    """),
    _p("indentation_in_draft", "other", "IndentationError", """
        def loss_fn(params, x, y):
            preds = x * params
              return ((preds - y) ** 2).mean()
    """),
    _p("empty_loader_next", "other", "StopIteration", """
        loader = iter([])
        images, labels = next(loader)
    """),
]
# fmt: on


def _error_text(result) -> str:
    return f"{result.exception_type}: {result.exception_message}"


def collect(programs: list[Program]) -> tuple[list[dict], list[str]]:
    """Run each program; return the entries and the problems (wrong or missing exception)."""
    from annotate import runs, sandbox
    from annotate.sandbox.box import wait_for_teardowns

    entries, problems = [], []
    try:
        for program in programs:
            result = sandbox.run(program.code, "jax", runs.cache_key(purpose="taxonomy-fixtures"))
            print(f"{program.name}: {result.status} {_error_text(result)[:160]!r}", file=sys.stderr)
            if result.exception_type != program.raises:
                problems.append(
                    f"{program.name}: expected {program.raises}, the sandbox reported "
                    f"{result.status} {result.exception_type or '(no exception)'} {result.stderr[-300:]!r}"
                )
                continue
            entries.append({"program_name": program.name, "category": program.category, "error": _error_text(result)})
    finally:
        wait_for_teardowns()  # this process ends soon: leave no dying box behind
    return entries, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these programs, print, write nothing")
    args = parser.parse_args()
    known = {p.name: p for p in PROGRAMS}
    if len(known) != len(PROGRAMS):
        raise SystemExit("two programs share a name")
    if args.only:
        unknown = [name for name in args.only if name not in known]
        if unknown:
            raise SystemExit(f"unknown program(s): {', '.join(unknown)}")
        programs = [known[name] for name in args.only]
    else:
        programs = PROGRAMS

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")
    import django

    django.setup()
    entries, problems = collect(programs)
    if problems:
        print("\n".join(["Programs that did not raise what they declare (nothing written):", *problems]))
        return 1
    if args.only:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return 0
    OUTPUT.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} texts to {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
