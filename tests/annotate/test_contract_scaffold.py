"""Contract scaffolds from a sample's PyTorch program (read, never run on the host): valid Python whose spec stage
passes on the PyTorch program itself and, on a real translation, names the TODOs a person must decide."""

from __future__ import annotations

import ast
import json

import pytest

from annotate import contract_scaffold, contracts
from annotate.contract_interface import describe
from tests.annotate.contract_support import DEMO_KEYS, demo_file
from tests.annotate.factories import SampleFactory
from tests.paper import INTRINSIC, needs_paper_data

pytest_plugins = ["tests.annotate.sandbox_fixtures", "tests.annotate.contract_fixtures"]



def scaffold_of(key: str) -> contract_scaffold.Scaffold:
    return contract_scaffold.scaffold(key, demo_file(key, "pytorch.py"))


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_a_demo_scaffold_is_a_staged_contract_listing_the_programs_names_with_todos(key):
    scaffold = scaffold_of(key)

    tree = ast.parse(scaffold.text)  # valid Python
    description = describe(scaffold.text)
    assert description.kind == "staged" and description.stages == ["spec", "numeric", "behavioral"]
    program = ast.parse(demo_file(key, "pytorch.py"))
    public = {
        node.name
        for node in program.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_") and node.name != "main"
    }
    assert {entry.name for entry in description.expected} == public
    assert all(entry.todo for entry in description.expected)
    # Numbered in file order, each written where it applies.
    assert [todo.split(":")[0] for todo in scaffold.todos] == [f"TODO {n}" for n in range(1, len(scaffold.todos) + 1)]
    assert all(todo in scaffold.text for todo in scaffold.todos)
    assert not any(isinstance(node, ast.Assign) and "PROGRAMS_RUN_AT_IMPORT" in ast.unparse(node) for node in tree.body)


def test_each_module_gets_a_forward_check_with_its_parameters_in_flax_layout():
    text = scaffold_of("cnn").text

    assert "return torch_program.SmallCNN()" in text
    assert "x = normal((8, 1, torch_program.SIZE, torch_program.SIZE), seed=1)" in text  # NCHW, from Conv2d(1, ...)
    assert "'conv1': conv(model.conv1)" in text and "'fc': dense(model.fc)" in text
    assert 'assert_close("SmallCNN forward", got, expected, rtol=RTOL, atol=ATOL)' in text
    lstm = scaffold_of("lstm").text
    assert "'lstm': lstm_cell(model.lstm)" in lstm
    assert "x = normal((8, torch_program.SEQ_LEN, 1), seed=1)" in lstm  # batch_first=True, input_size=1
    linreg = scaffold_of("linreg").text
    assert "return torch_program.LinearRegression(torch_program.N_FEATURES)" in linreg  # as main() builds it
    assert "x = normal((8, torch_program.N_FEATURES), seed=1)" in linreg


@needs_paper_data
def test_the_papers_programs_all_give_valid_scaffolds_and_scripts_may_run_at_import():
    programs = json.loads(INTRINSIC.read_text(encoding="utf-8"))["samples"]

    for key, sample in programs.items():
        text = contract_scaffold.scaffold(key, sample["pytorch"]).text
        compile(text, f"{key}-scaffold.py", "exec")
    e1 = describe(contract_scaffold.scaffold("e1", programs["e1"]["pytorch"]).text)
    assert e1.programs_run_at_import  # e1 trains and prints at module level
    assert [entry.name for entry in e1.expected] == ["LinearRegressionModel"]


def test_a_program_that_is_not_python_gets_no_scaffold():
    with pytest.raises(contract_scaffold.ScaffoldProblem, match="not valid Python"):
        contract_scaffold.scaffold("broken", "def f(:\n")


# --- in the sandbox -------------------------------------------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.django_db
@pytest.mark.parametrize("key", DEMO_KEYS)
def test_the_scaffold_spec_passes_on_the_pytorch_program_and_names_the_todos_against_the_fixed_jax(
    real_program_settings, key
):
    scaffold = scaffold_of(key)
    sample = SampleFactory(key=key, pytorch_code=demo_file(key, "pytorch.py"))

    on_itself = contracts.run_contract(sample, sample.pytorch_code, contract=scaffold.text)

    # Its spec stage passes; the first TODO the run reaches makes it a contract error, never a failure.
    assert on_itself.stages[:1] == [{"name": "spec", "status": "passed", "mismatch": None}]
    assert on_itself.verdict == "contract-error"

    on_fixed = contracts.run_contract(sample, demo_file(key, "fixed.py"), contract=scaffold.text)

    assert on_fixed.verdict == "failed"
    spec = on_fixed.stages[0]
    assert spec["name"] == "spec" and spec["status"] == "failed" and spec["mismatch"]["check"] == "interface"
    named = spec["mismatch"]["todos"]
    assert named and set(named) <= set(scaffold.todos)
    assert all(todo in spec["mismatch"]["message"] for todo in named)
