"""Pytest-style contracts in the real sandbox: test modules written the way the T2J authors wrote theirs
(module-level arrays, tier-1 and tier-2 tests, `from pytorch_code import ...`, `from jax_code_fixed import ...`)
decide the verdict like staged contracts, with each test's outcome stored and mapped to our stages."""

from __future__ import annotations

import pytest

from annotate import contracts, fixlog
from annotate.models import FixSession, Run, SessionStatus
from tests.annotate.contract_support import (
    contract_file,
    demo_file,
    demo_sample,
    paper_example,
)
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.paper import needs_paper_data

pytest_plugins = ["tests.annotate.sandbox_fixtures", "tests.annotate.contract_fixtures"]  # real_program_settings
pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]

LINREG_TESTS = contract_file("linreg_equivalence.py")


def outcomes(result: contracts.ContractResult) -> dict[str, tuple[str, str]]:
    return {test["name"]: (test["stage"], test["outcome"]) for test in result.tests}


def test_the_authors_style_contract_passes_the_fixed_translation(real_program_settings):
    result = contracts.run_contract(demo_sample("linreg", LINREG_TESTS), demo_file("linreg", "fixed.py"))

    assert result.verdict == "passed", result.message
    assert [(s["name"], s["status"]) for s in result.stages] == [
        ("spec", "passed"),
        ("numeric", "passed"),
        ("behavioral", "passed"),
    ]
    assert outcomes(result) == {
        "test_forward_pass": ("numeric", "passed"),
        "test_loss": ("numeric", "passed"),
        "test_train_step": ("numeric", "passed"),
        "test_convergence": ("behavioral", "passed"),
    }
    run = Run.objects.get(pk=result.run_id)
    assert run.verdict == "passed" and run.contract_report["kind"] == "pytest"
    assert [test["outcome"] for test in run.contract_report["tests"]] == ["passed"] * 4


def test_the_weak_draft_fails_the_numeric_stage_at_the_training_step_test(real_program_settings):
    result = contracts.run_contract(demo_sample("linreg", LINREG_TESTS), demo_file("linreg", "draft_weak.py"))

    assert result.verdict == "failed"
    assert [(s["name"], s["status"]) for s in result.stages] == [
        ("spec", "passed"),
        ("numeric", "failed"),
        ("behavioral", "not-reached"),
    ]
    failed = result.stages[1]["mismatch"]
    # The weak draft's train_step calls optimizer.zero_grad() on what is an optax state.
    assert failed["test"] == "test_train_step" and "zero_grad" in failed["message"]
    assert "jax_program.py" in failed["message"]
    assert result.message.startswith("failed at the numeric stage: test_train_step")
    assert outcomes(result) == {
        "test_forward_pass": ("numeric", "passed"),
        "test_loss": ("numeric", "passed"),
        "test_train_step": ("numeric", "failed"),
        "test_convergence": ("behavioral", "not-reached"),
    }


def test_an_array_mismatch_is_reported_as_expected_against_got(real_program_settings):
    code = demo_file("linreg", "fixed.py").replace('return x @ params["w"] + params["b"]', 'return x @ params["w"]')

    result = contracts.run_contract(demo_sample("linreg", LINREG_TESTS), code)

    mismatch = result.stages[1]["mismatch"]
    assert mismatch["test"] == "test_forward_pass" and mismatch["function"] == "numpy.testing.assert_allclose"
    assert mismatch["shape"] == mismatch["expected_shape"] == [64, 1]
    assert mismatch["dtype"] == mismatch["expected_dtype"] == "float32"
    assert mismatch["first_index"] == [0, 0] and mismatch["max_abs"] > 0.1
    assert mismatch["rtol"] == mismatch["atol"] == 1e-5
    assert mismatch["where"].startswith("contract.py:")


def test_a_name_the_contract_imports_but_the_translation_lacks_fails_spec(real_program_settings):
    code = (
        demo_file("linreg", "fixed.py")
        .replace("def mse_loss(", "def squared_error(")
        .replace("jax.value_and_grad(mse_loss)", "jax.value_and_grad(squared_error)")
    )

    result = contracts.run_contract(demo_sample("linreg", LINREG_TESTS), code)

    assert [s["status"] for s in result.stages] == ["failed", "not-reached", "not-reached"]
    assert (
        result.stages[0]["mismatch"]["message"] == "the JAX translation has no 'mse_loss', which the contract imports"
    )


def test_a_broken_test_module_is_a_contract_error(real_program_settings):
    broken = LINREG_TESTS.replace("from pytorch_code import LEARNING_RATE", "from pytorch_code import LEARNING_RATES")

    result = contracts.run_contract(demo_sample("linreg", broken), demo_file("linreg", "fixed.py"))

    assert result.verdict == "contract-error" and "LEARNING_RATES" in result.message


@needs_paper_data
def test_the_papers_e1_script_is_imported_as_pytorch_code_and_its_output_kept(real_program_settings):
    example = paper_example("e1")
    sample = SampleFactory(
        key="e1", pytorch_code=example["Input_Code"], contract=contract_file("e1_equivalence.py"), contract_version=1
    )

    result = contracts.run_contract(sample, example["LLM_fix_output"])

    assert result.verdict == "passed", result.message
    assert outcomes(result)["test_convergence"] == ("behavioral", "passed")
    # Importing the unguarded script trained it and printed its log: captured, timed, shown.
    torch_import = next(entry for entry in result.report["imports"] if entry["module"] == "torch_program")
    assert "Epoch [1000/1000]" in torch_import["output"] and "Learned weight" in torch_import["output"]
    assert torch_import["seconds"] > 0

    weak = contracts.run_contract(sample, example["LLM_weak_output"])

    assert weak.verdict == "failed" and weak.stages[1]["name"] == "numeric"
    assert weak.stages[1]["mismatch"]["test"] == "test_forward_pass"


def test_a_pytest_style_contract_gates_verification_and_goes_stale_like_a_staged_one(real_program_settings, developer):
    sample = demo_sample("linreg", LINREG_TESTS)
    translation = TranslationFactory(sample=sample, system=SystemFactory(name="weak-llm"), code="x = 1\n")
    session = FixSessionFactory(translation=translation, owner=developer, current_code=demo_file("linreg", "fixed.py"))

    outcome = fixlog.verify(session, developer, confirmed=False)

    session.refresh_from_db()
    assert outcome.passed and session.status == SessionStatus.VERIFIED
    assert session.verification["method"] == "contract"
    contracts.change_contract(sample, LINREG_TESTS.replace("TOLERANCE = 1e-5", "TOLERANCE = 1e-6"), based_on=1)
    assert FixSession.objects.get(pk=session.pk).is_stale
