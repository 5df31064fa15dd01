"""Reading a contract without running it: its kind, and the interface, layout, tolerances and tests it expects,
as the workspace's contract tab lists them for developers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from annotate.contract_interface import NotAContract, contract_kind, describe, stage_of
from tests.annotate.contract_support import contract_file, demo_file

RUNTIME = Path(__file__).resolve().parents[2] / "sandbox_runtime"


def by_name(description) -> dict:
    return {entry.name: entry for entry in description.expected}


def test_a_contract_is_staged_or_pytest_style_and_anything_else_is_refused_with_the_reason():
    assert contract_kind(demo_file("cnn", "contract.py")) == "staged"
    assert contract_kind(contract_file("linreg_equivalence.py")) == "pytest"
    assert contract_kind("class TestShapes:\n    def test_one(self):\n        pass\n") == "pytest"

    with pytest.raises(NotAContract, match="neither a staged contract .* nor a pytest-style module"):
        contract_kind("TOLERANCE = 1e-5\ndef helper():\n    pass\n")
    with pytest.raises(NotAContract, match="both stage functions \\(spec\\) and tests \\(test_x"):
        contract_kind("def spec(t, j):\n    pass\ndef test_x():\n    pass\n")
    with pytest.raises(NotAContract, match="not valid Python: line 1"):
        contract_kind("def spec(:\n")


def test_the_cnn_contract_lists_what_its_blind_guessers_needed():
    # Issue 15: fixing cnn took five guesses because this was only on the admins' page.
    description = describe(demo_file("cnn", "contract.py"))

    expected = by_name(description)
    assert (expected["model"].kind, expected["optimizer"].kind) == ("value", "value")
    assert (expected["train_step"].kind, expected["train_step"].params) == ("function", "4 positional arguments")
    assert expected["train_step"].stages == ["spec", "behavioral"]
    assert any("jax_program.model.apply(params, to_jax(_nhwc(x)))" in use for use in expected["model"].uses)
    assert any(
        use.startswith("params, opt_state, loss, acc = jax_program.train_step(") for use in expected["train_step"].uses
    )
    assert [layer.split(":")[0] for layer in description.layers] == ["'conv1'", "'conv2'", "'fc'"]
    assert description.shape_checks == ["model parameters"]
    assert "NHWC" in description.summary


def test_tolerances_are_listed_per_check_with_the_helpers_defaults_marked():
    tolerances = {t.check: t for t in describe(demo_file("linreg", "contract.py")).tolerances}

    assert (tolerances["mse_loss"].rtol, tolerances["mse_loss"].atol, tolerances["mse_loss"].default) == (
        "1e-05",
        "1e-05",
        True,
    )
    loss = tolerances["training loss"]
    assert (loss.stage, loss.rtol, loss.atol, loss.default) == ("behavioral", "0.0001", "1e-05", False)


def test_a_pytest_style_contract_lists_the_names_it_imports_its_tests_and_their_tolerances():
    description = describe(contract_file("linreg_equivalence.py"))

    assert description.kind == "pytest" and description.stages == ["spec", "numeric", "behavioral"]
    assert [(t.name, t.stage) for t in description.tests] == [
        ("test_forward_pass", "numeric"),
        ("test_loss", "numeric"),
        ("test_train_step", "numeric"),
        ("test_convergence", "behavioral"),
    ]
    expected = by_name(description)
    assert set(expected) == {"mse_loss", "predict", "train_step"}
    assert expected["train_step"].stages == ["spec", "numeric", "behavioral"]
    assert any(
        "train_step(params, opt_state, jnp.asarray(X), jnp.asarray(Y))" in use for use in expected["train_step"].uses
    )
    constants = {t.check: t.rtol for t in description.tolerances if not t.stage}
    assert constants == {"TOLERANCE": "1e-05", "CONVERGENCE_TOLERANCE": "0.01"}
    forward = next(t for t in description.tolerances if t.check == "test_forward_pass")
    assert (forward.rtol, forward.atol) == ("1e-05", "1e-05")  # TOLERANCE resolved to its value


def test_a_scaffolds_todos_come_with_its_expected_names():
    contract = (
        "from t2j_contract import check_interface, expect\n"
        "INTERFACE = [\n"
        "    expect('LinearRegression', kind='class', todo='TODO 2: the JAX form of class LinearRegression'),\n"
        "]\n"
        "def spec(torch_program, jax_program):\n"
        "    check_interface(jax_program, INTERFACE)\n"
    )
    entry = by_name(describe(contract))["LinearRegression"]
    assert (entry.kind, entry.todo, entry.stages) == (
        "class",
        "TODO 2: the JAX form of class LinearRegression",
        ["spec"],
    )


@pytest.mark.parametrize(
    "name, marks, stage",
    [
        ("test_forward_pass", [], "numeric"),
        ("test_train_step", [], "numeric"),  # the authors' tier 1: one step is a unit check
        ("test_convergence", [], "behavioral"),
        ("test_training_loop_tracks", [], "behavioral"),
        ("test_signature", ["spec"], "spec"),
        ("test_anything", ["convergence"], "behavioral"),
        ("test_converges", ["numeric"], "numeric"),  # a mark wins over the name
    ],
)
def test_tests_map_to_stages_by_the_same_rule_in_the_sandbox_and_here(name, marks, stage):
    if str(RUNTIME) not in sys.path:
        sys.path.insert(0, str(RUNTIME))
    from t2j_contract.pytest_contract import stage_of as sandbox_stage_of

    assert stage_of(name, marks) == sandbox_stage_of(name, marks) == stage
