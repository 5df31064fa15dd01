"""The contract helper package (sandbox_runtime/t2j_contract), imported from the source tree by path.

Inside the sandbox it is installed read-only into the runtime venv; here the same source is tested with the
dev venv's torch, jax and flax. The driver's stage logic runs in-process on small plain-Python modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "sandbox_runtime"
if str(RUNTIME) not in sys.path:
    sys.path.insert(0, str(RUNTIME))

import flax.linen as fnn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import t2j_contract as tc  # noqa: E402
import torch  # noqa: E402
from t2j_contract import driver  # noqa: E402


def _mismatch(call) -> tc.Mismatch:
    with pytest.raises(tc.Mismatch) as info:
        call()
    return info.value


# --- assert_close ---------------------------------------------------------------------------------------


def test_assert_close_accepts_equal_values_across_frameworks():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    tc.assert_close("same", jnp.asarray(values), torch.from_numpy(values.copy()))
    tc.assert_close("within tolerance", values + 1e-7, values)


def test_assert_close_reports_name_worst_element_differences_and_tolerance():
    expected = np.zeros((2, 3), dtype=np.float32)
    actual = expected.copy()
    actual[1, 2] = 0.5

    mismatch = _mismatch(lambda: tc.assert_close("logits", actual, expected, rtol=1e-5, atol=1e-6))

    assert mismatch.check == "logits"
    details = mismatch.as_dict()
    assert details["index"] == [1, 2]
    assert details["max_abs"] == pytest.approx(0.5)
    assert details["atol"] == 1e-6 and details["rtol"] == 1e-5
    assert details["mismatched"] == 1 and details["size"] == 6
    assert "max abs diff 0.5" in mismatch.message and "first at index [1, 2]" in mismatch.message
    json.dumps(details)  # travels as JSON out of the box


def test_assert_close_reports_shape_and_nan_differences():
    shape = _mismatch(lambda: tc.assert_close("out", np.zeros((3, 2)), np.zeros((2, 3))))
    assert "shape (3, 2) differs from the expected (2, 3)" in shape.message

    nan = _mismatch(lambda: tc.assert_close("loss", np.array([1.0, np.nan]), np.array([1.0, 2.0])))
    assert "NaN" in nan.message and nan.details["index"] == [1]


def test_assert_close_walks_trees_and_names_the_leaf():
    expected = {"dense": {"kernel": np.ones((2, 2)), "bias": np.zeros(2)}}
    actual = {"dense": {"kernel": np.ones((2, 2)), "bias": np.array([0.0, 1.0])}}

    assert _mismatch(lambda: tc.assert_close("grads", actual, expected)).check == "grads['dense']['bias']"
    missing = _mismatch(lambda: tc.assert_close("grads", {"dense": {"kernel": np.ones((2, 2))}}, expected))
    assert "missing ['bias']" in missing.message


def test_assert_tracks_names_the_first_step_that_drifts():
    expected = [1.0, 0.8, 0.6, 0.4]
    actual = [1.0, 0.8, 0.7, 0.9]

    mismatch = _mismatch(lambda: tc.assert_tracks("training loss", actual, expected, rtol=1e-3, atol=1e-6))

    assert mismatch.check == "training loss at step 2"
    assert mismatch.details["step"] == 2
    tc.assert_tracks("close enough", [1.0, 0.80001], [1.0, 0.8])


def test_assert_same_shapes_compares_parameter_trees():
    tc.assert_same_shapes("params", {"w": jnp.zeros((3, 1))}, {"w": np.zeros((3, 1))})
    mismatch = _mismatch(lambda: tc.assert_same_shapes("params", {"w": jnp.zeros((1, 3))}, {"w": np.zeros((3, 1))}))
    assert mismatch.check == "params['w']" and "(1, 3)" in mismatch.message


# --- spec -----------------------------------------------------------------------------------------------


def test_require_checks_presence_callability_and_parameters():
    module = type(sys)("jax_program")
    exec("def train_step(params, opt_state, x, y):\n    pass\noptimizer = object()\nSCALE = 2\n", module.__dict__)

    assert tc.require(module, "train_step", params=4) is module.train_step
    tc.require(module, "train_step", params=["params", "opt_state"])
    tc.require(module, "optimizer", kind="any")
    assert "has no function named 'predict'" in _mismatch(lambda: tc.require(module, "predict")).message
    assert "should be callable" in _mismatch(lambda: tc.require(module, "SCALE")).message
    assert "should accept 3 positional" in _mismatch(lambda: tc.require(module, "train_step", params=3)).message
    wrong_names = _mismatch(lambda: tc.require(module, "train_step", params=["model", "optimizer"]))
    assert "should take parameters (model, optimizer)" in wrong_names.message


def test_require_sees_through_jit():
    module = type(sys)("jax_program")
    module.step = jax.jit(lambda params, x: x)
    tc.require(module, "step", params=["params", "x"])


# --- conversions and parameters ------------------------------------------------------------------------------


def test_conversions_round_trip_values_and_trees():
    values = np.arange(4, dtype=np.float32)
    as_torch = tc.to_torch(values)
    as_jax = tc.to_jax(as_torch)
    assert isinstance(as_torch, torch.Tensor) and isinstance(as_jax, jax.Array)
    assert np.array_equal(tc.to_numpy(as_jax), values)
    tree = tc.to_jax({"w": as_torch, "b": [1.0, 2.0]})
    assert isinstance(tree["w"], jax.Array) and tree["b"].shape == (2,)
    writable = tc.to_numpy(jnp.ones(2))
    writable[0] = 5.0  # a copy, not a read-only view of the JAX buffer


def test_dense_conv_and_layer_norm_reproduce_torch_layers_in_flax():
    torch.manual_seed(0)
    linear, conv, norm = torch.nn.Linear(4, 3), torch.nn.Conv2d(2, 5, 3, padding=1), torch.nn.LayerNorm(4)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = tc.normal((2, 4), seed=1)
    images = tc.normal((2, 2, 6, 6), seed=2)

    dense_out = fnn.Dense(3).apply(tc.flax_params(tc.dense(linear)), tc.to_jax(x))
    conv_out = fnn.Conv(5, (3, 3), padding=1).apply(
        tc.flax_params(tc.conv(conv)), tc.to_jax(images.transpose(0, 2, 3, 1))
    )
    norm_out = fnn.LayerNorm().apply(tc.flax_params(tc.layer_norm(norm)), tc.to_jax(x))

    tc.assert_close("dense", dense_out, linear(tc.to_torch(x)))
    tc.assert_close("conv", conv_out, conv(tc.to_torch(images)).permute(0, 2, 3, 1), rtol=1e-4, atol=1e-5)
    tc.assert_close("layer norm", norm_out, norm(tc.to_torch(x)), rtol=1e-4, atol=1e-5)


def test_lstm_cell_maps_torch_gates_and_biases_onto_flax():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(input_size=2, hidden_size=5, batch_first=True)
    x = tc.normal((3, 4, 2), seed=1)

    rnn = fnn.RNN(fnn.OptimizedLSTMCell(5))
    params = rnn.init(jax.random.PRNGKey(0), tc.to_jax(x))
    injected = tc.flax_params({"cell": tc.lstm_cell(lstm)})
    tc.assert_same_shapes("lstm params", params, injected)

    tc.assert_close("lstm outputs", rnn.apply(injected, tc.to_jax(x)), lstm(tc.to_torch(x))[0], rtol=1e-4, atol=1e-6)


def test_gradients_come_out_in_the_flax_layout():
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    x = tc.normal((5, 3), seed=1)
    linear(tc.to_torch(x)).sum().backward()
    grads = jax.grad(lambda p: fnn.Dense(2).apply(p, tc.to_jax(x)).sum())(tc.flax_params(tc.dense(linear)))

    tc.assert_close("dense gradient", grads, tc.flax_params(tc.dense(linear, grad=True)))
    untouched = torch.nn.Linear(3, 2)
    assert "no gradient" in _mismatch(lambda: tc.dense(untouched, grad=True)).message


def test_load_torch_sets_parameters_and_refuses_what_does_not_fit():
    linear = torch.nn.Linear(2, 1)
    tc.load_torch(linear, {"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])})
    assert linear(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(3.5)
    assert "no parameters ['scale']" in _mismatch(lambda: tc.load_torch(linear, {"scale": np.ones(1)})).message
    assert "does not fit" in _mismatch(lambda: tc.load_torch(linear, {"weight": np.ones((2, 2))})).message


def test_fixed_seed_data_is_the_same_every_time_and_differs_by_seed():
    assert np.array_equal(tc.normal((3, 2), seed=4), tc.normal((3, 2), seed=4))
    assert not np.array_equal(tc.normal((3, 2), seed=4), tc.normal((3, 2), seed=5))
    labels = tc.integers((100,), high=3, seed=1)
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1, 2}
    assert tc.normal((2,), seed=0).dtype == np.float32


# --- the driver's stage logic ------------------------------------------------------------------------------


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A folder standing in for /box: write the three modules, then run the driver's stages in-process."""
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in (driver.TORCH, driver.JAX, driver.CONTRACT):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # the driver swaps it; put it back afterwards

    def run(torch_src: str, jax_src: str, contract_src: str, **config) -> dict:
        for name, source in ((driver.TORCH, torch_src), (driver.JAX, jax_src), (driver.CONTRACT, contract_src)):
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        try:
            return driver.run({"nonce": "n", "mode": "check", **config})
        except driver.ContractError as error:
            return driver.contract_error(error)
        finally:
            for name in (driver.TORCH, driver.JAX, driver.CONTRACT):
                sys.modules.pop(name, None)

    return run


CONTRACT = """
    from t2j_contract import assert_close, require

    def spec(torch_program, jax_program):
        require(jax_program, "double", params=1)

    def numeric(torch_program, jax_program):
        assert_close("double(3)", jax_program.double(3.0), torch_program.double(3.0))

    def behavioral(torch_program, jax_program):
        assert_close("double(-1)", jax_program.double(-1.0), torch_program.double(-1.0))
"""
TORCH_SRC = "def double(x):\n    return 2 * x\n"


def test_stages_pass_in_order(box):
    result = box(TORCH_SRC, "def double(x):\n    return x + x\n", CONTRACT)
    assert result["verdict"] == "passed"
    assert [(s["name"], s["status"]) for s in result["stages"]] == [
        ("spec", "passed"),
        ("numeric", "passed"),
        ("behavioral", "passed"),
    ]


def test_the_first_failing_stage_stops_the_run(box):
    result = box(TORCH_SRC, "def double(x):\n    return 3 * x\n", CONTRACT)
    assert result["verdict"] == "failed"
    assert [s["status"] for s in result["stages"]] == ["passed", "failed", "not-reached"]
    assert result["stages"][1]["mismatch"]["check"] == "double(3)"


def test_an_error_in_the_translation_fails_it_and_says_where(box):
    result = box(TORCH_SRC, "def double(x):\n    return x.nope\n", CONTRACT)
    mismatch = result["stages"][1]["mismatch"]
    assert result["verdict"] == "failed"
    assert "AttributeError" in mismatch["message"] and "jax_program.py:2 in double" in mismatch["message"]


def test_a_translation_that_does_not_import_fails_spec(box):
    result = box(TORCH_SRC, "import jax.numpy as jnp\nX = jnp.random.normal()\n", CONTRACT)
    assert [s["status"] for s in result["stages"]] == ["failed", "not-reached", "not-reached"]
    assert "does not import" in result["stages"][0]["mismatch"]["message"]


def test_a_crashing_contract_or_reference_is_a_contract_error(box):
    crashing = CONTRACT.replace('assert_close("double(3)"', '1 / 0; assert_close("double(3)"')
    result = box(TORCH_SRC, TORCH_SRC, crashing)
    assert result["verdict"] == "contract-error"
    assert "ZeroDivisionError" in result["error"]["message"] and "contract.py" in result["error"]["message"]

    broken_reference = box("def double(x):\n    raise ValueError('bad')\n", TORCH_SRC, CONTRACT)
    assert broken_reference["verdict"] == "contract-error"
    assert broken_reference["error"]["where"] == "torch_program"


def test_a_program_that_runs_at_import_gets_the_main_guard_hint(box):
    result = box("print('step 0 loss 1.0')\n" + TORCH_SRC, TORCH_SRC, CONTRACT)
    assert result["verdict"] == "contract-error"
    assert "printed output while being imported" in result["error"]["message"]
    assert 'if __name__ == "__main__":' in result["error"]["hint"]


def test_a_stage_over_its_time_budget_blames_the_slow_side(box, monkeypatch):
    # However busy the test machine, these busy loops must not count as starved of CPU.
    monkeypatch.setattr(driver, "STARVED_CPU_SHARE", 0.0)
    slow_jax = "def double(x):\n    while True:\n        pass\n"
    result = box(TORCH_SRC, slow_jax, CONTRACT, stage_budget_s=0.5)
    assert result["verdict"] == "failed"
    assert "took more than 0.5 s" in result["stages"][1]["mismatch"]["message"]

    slow_contract = CONTRACT.replace(
        "def numeric(torch_program, jax_program):", "def numeric(torch_program, jax_program):\n        while True: pass"
    )
    result = box(TORCH_SRC, TORCH_SRC, slow_contract, stage_budget_s=0.5)
    assert result["verdict"] == "contract-error" and "numeric stage took more than 0.5 s" in result["error"]["message"]


def test_a_stage_starved_of_cpu_by_a_busy_machine_blames_neither_side(box):
    # Seen under load: a correct translation "took more than 15 s" while the process got little CPU. Sleeping
    # takes no CPU either, so it stands in for a starved process deterministically.
    starved_jax = "import time\ndef double(x):\n    time.sleep(5)\n    return 2 * x\n"
    result = box(TORCH_SRC, starved_jax, CONTRACT, stage_budget_s=0.5)

    assert result["verdict"] == "contract-error"
    assert "the numeric stage was stopped after 0.5 s having had only" in result["error"]["message"]
    assert "no fault of either program" in result["error"]["message"]
    assert "again" in result["error"]["hint"]


def test_a_contract_without_stages_is_a_contract_error(box):
    result = box(TORCH_SRC, TORCH_SRC, "TOLERANCE = 1e-5\n")
    assert result["verdict"] == "contract-error" and "defines none of the stage functions" in result["error"]["message"]


def test_stages_that_passed_before_a_contract_error_are_reported(box):
    unfinished = CONTRACT.replace("import assert_close, require", "import assert_close, require, todo").replace(
        'assert_close("double(3)"', 'todo("TODO 4: the JAX call"); assert_close("double(3)"'
    )
    result = box(TORCH_SRC, TORCH_SRC, unfinished)
    assert result["verdict"] == "contract-error"
    assert result["error"]["message"] == "the contract is unfinished at its numeric stage: TODO 4: the JAX call"
    assert result["stages"] == [{"name": "spec", "status": "passed", "mismatch": None}]


def test_a_contract_may_let_script_like_programs_run_at_import_and_their_output_is_kept(box):
    driver.IMPORTS.clear()
    script = "print('epoch 1 loss 0.5')\n" + TORCH_SRC
    result = box(script, TORCH_SRC, "PROGRAMS_RUN_AT_IMPORT = True\n" + textwrap.dedent(CONTRACT), stage_budget_s=5)
    assert result["verdict"] == "passed"
    assert [(i["module"], i["output"]) for i in driver.IMPORTS] == [
        ("torch_program", "epoch 1 loss 0.5\n"),
        ("jax_program", ""),
    ]


# --- differences, interfaces, expected shapes ----------------------------------------------------------------


def test_difference_names_shapes_dtypes_and_the_first_and_worst_elements_off():
    expected = np.zeros((2, 3), dtype=np.float64)
    actual = expected.astype(np.float32)
    actual[0, 2], actual[1, 1] = 0.1, 0.7

    details = tc.difference(actual, expected, rtol=1e-5, atol=1e-5)

    assert (details["dtype"], details["expected_dtype"]) == ("float32", "float64")
    assert details["shape"] == details["expected_shape"] == [2, 3]
    assert (details["first_index"], details["index"]) == ([0, 2], [1, 1])
    assert details["first_actual"] == pytest.approx(0.1) and details["first_expected"] == 0.0
    assert details["mismatched"] == 2 and details["max_abs"] == pytest.approx(0.7)
    assert "first at index [0, 2]" in details["message"] and "worst at index [1, 1]" in details["message"]
    assert tc.difference(expected + 1e-7, expected) is None
    assert tc.difference(np.zeros(3), np.zeros((3, 1)))["message"] == "shape (3,) differs from the expected (3, 1)"


def test_check_interface_lists_every_misfit_with_its_todo():
    module = type(sys)("jax_program")
    exec("def train_step(params, opt_state, x, y):\n    pass\n", module.__dict__)
    interface = [
        tc.expect("train_step", params=["model", "optimizer", "x", "y"], todo="TODO 4: train_step"),
        tc.expect("LinearRegression", kind="class", todo="TODO 2: the class"),
        tc.expect("train_step", params=4),
    ]

    mismatch = _mismatch(lambda: tc.check_interface(module, interface))

    assert mismatch.check == "interface" and mismatch.message.startswith("2 of 3 names do not fit: train_step: ")
    assert mismatch.details["todos"] == ["TODO 4: train_step", "TODO 2: the class"]
    assert "[TODO 2: the class]" in mismatch.message
    tc.check_interface(module, interface[2:])


def test_assert_same_shapes_remembers_the_shapes_it_expected():
    from t2j_contract import compare

    compare.EXPECTED_SHAPES.clear()
    _mismatch(lambda: tc.assert_same_shapes("model parameters", {"w": np.zeros(3)}, {"w": np.zeros((3, 1))}))
    assert compare.EXPECTED_SHAPES == {"model parameters": {"w": [3, 1]}}


# --- pytest-style contracts (the driver in a subprocess, as in the box; numpy-only programs) --------------------

PYTEST_TORCH = "import numpy as np\nprint('trained at import')\n\ndef forward(w, x):\n    return x @ w\n"
PYTEST_JAX = "import numpy as np\n\ndef forward(w, x):\n    return x @ w\n"
PYTEST_CONTRACT = """
    import numpy as np
    import pytest
    from pytorch_code import forward as torch_forward
    from jax_code_fixed import forward

    X = np.arange(6.0).reshape(3, 2)
    W = np.ones((2, 1))

    def test_forward_pass():
        np.testing.assert_allclose(forward(W, X), torch_forward(W, X), rtol=1e-5, atol=1e-5)

    def test_loss():
        assert np.allclose(forward(W, X).sum(), torch_forward(W, X).sum())

    @pytest.mark.spec
    def test_signature():
        assert forward.__code__.co_argcount == 2

    def test_convergence():
        assert np.allclose(forward(2 * W, X), torch_forward(2 * W, X), atol=1e-2)
"""


@pytest.fixture
def pytest_box(tmp_path):
    """Run the driver as the box does (main.py in a folder with the three modules), with this venv's pytest."""

    def run(torch_src: str, jax_src: str, contract_src: str) -> dict:
        sources = {"torch_program": torch_src, "jax_program": jax_src, "contract": textwrap.dedent(contract_src)}
        for name, source in sources.items():
            (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        config = {"nonce": "n", "mode": "check", "kind": "pytest", "stage_budget_s": 20}
        (tmp_path / "t2j_run.json").write_text(json.dumps(config), encoding="utf-8")
        (tmp_path / "main.py").write_text("from t2j_contract.driver import main\n\nmain()\n", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(RUNTIME)}
        done = subprocess.run(
            [sys.executable, "main.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        line = next(line for line in done.stdout.splitlines() if line.startswith("T2J-CONTRACT-RESULT n "))
        return json.loads(line.split(" ", 2)[2])

    return run


def test_a_test_module_passes_with_its_tests_mapped_to_stages(pytest_box):
    result = pytest_box(PYTEST_TORCH, PYTEST_JAX, PYTEST_CONTRACT)

    assert result["verdict"] == "passed"
    assert [(s["name"], s["status"]) for s in result["stages"]] == [
        ("spec", "passed"),
        ("numeric", "passed"),
        ("behavioral", "passed"),
    ]
    assert [(t["name"], t["stage"], t["outcome"]) for t in result["tests"]] == [
        ("test_signature", "spec", "passed"),
        ("test_forward_pass", "numeric", "passed"),
        ("test_loss", "numeric", "passed"),
        ("test_convergence", "behavioral", "passed"),
    ]
    assert result["imports"][0] == {
        "module": "torch_program",
        "seconds": result["imports"][0]["seconds"],
        "output": "trained at import\n",
        "truncated": False,
    }


def test_a_failing_test_names_itself_with_what_differed_and_stops_later_stages(pytest_box):
    result = pytest_box(PYTEST_TORCH, PYTEST_JAX.replace("return x @ w", "return x @ w + 0.5"), PYTEST_CONTRACT)

    assert [s["status"] for s in result["stages"]] == ["passed", "failed", "not-reached"]
    mismatch = result["stages"][1]["mismatch"]
    assert (mismatch["test"], mismatch["function"]) == ("test_forward_pass", "numpy.testing.assert_allclose")
    assert (mismatch["first_index"], mismatch["first_actual"], mismatch["first_expected"]) == ([0, 0], 1.5, 1.0)
    assert mismatch["where"] == "contract.py:11"
    outcomes = {t["name"]: t["outcome"] for t in result["tests"]}
    assert outcomes == {
        "test_signature": "passed",
        "test_forward_pass": "failed",
        "test_loss": "failed",
        "test_convergence": "not-reached",
    }
    loss = next(t for t in result["tests"] if t["name"] == "test_loss")
    assert loss["mismatch"]["function"] == "numpy.allclose"  # `assert np.allclose(...)` is explained too


def test_a_name_the_candidate_lacks_fails_spec_and_an_error_of_the_contracts_own_is_a_contract_error(pytest_box):
    result = pytest_box(PYTEST_TORCH, "import numpy as np\n\ndef predict(w, x):\n    return x @ w\n", PYTEST_CONTRACT)
    assert [s["status"] for s in result["stages"]] == ["failed", "not-reached", "not-reached"]
    assert result["stages"][0]["mismatch"]["message"] == (
        "the JAX translation has no 'forward', which the contract imports"
    )

    broken = PYTEST_CONTRACT.replace("    def test_loss():\n", "    def test_loss():\n        undefined_helper()\n")
    result = pytest_box(PYTEST_TORCH, PYTEST_JAX, broken)
    assert result["verdict"] == "contract-error"
    assert (
        "test_loss: the contract raised NameError: name 'undefined_helper' is not defined" in result["error"]["message"]
    )


def test_a_module_without_tests_or_that_does_not_parse_is_a_contract_error(pytest_box):
    empty = pytest_box(PYTEST_TORCH, PYTEST_JAX, "from jax_code import forward\nX = 1\n")
    assert empty["error"]["message"] == "the contract has no tests (functions named test_...)"

    broken = pytest_box(PYTEST_TORCH, PYTEST_JAX, "def test_x(:\n    pass\n")
    assert broken["verdict"] == "contract-error" and "cannot be collected" in broken["error"]["message"]
