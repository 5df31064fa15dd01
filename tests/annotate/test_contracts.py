"""Contracts: demo contracts pass correct translations and catch typical bugs at the right stage;
broken contracts are contract errors; results are stored on the Run; changed contracts make sessions stale."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from annotate import contracts, fixlog
from annotate.demo import DEMO_DIR
from annotate.models import FixSession, Run, Sample, SessionEvent, SessionEventKind, SessionStatus
from annotate.sandbox import RunResult
from tests.annotate.factories import (
    FixSessionFactory,
    RunFactory,
    SampleFactory,
    SystemFactory,
    TranslationFactory,
)

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # sandbox_settings: the real sandbox, cold starts

DEMO_KEYS = ["linreg", "mlp", "cnn", "attention", "focal", "lstm"]
TINY_TORCH = "def double(x):\n    return 2 * x\n"


def _read(key: str, name: str) -> str:
    return (DEMO_DIR / key / name).read_text(encoding="utf-8")


def demo_sample(key: str, **fields):
    return SampleFactory(
        key=key, pytorch_code=_read(key, "pytorch.py"), contract=_read(key, "contract.py"), contract_version=1, **fields
    )


def mutated(key: str, old: str, new: str) -> str:
    code = _read(key, "fixed.py")
    assert code.count(old) == 1, f"{old!r} must occur once in {key}/fixed.py"
    return code.replace(old, new)


def failed_stage(result: contracts.ContractResult) -> dict:
    return next(stage for stage in result.stages if stage["status"] == "failed")


# --- demo contracts on correct and buggy translations (real sandbox) ------------------------------------------


@pytest.mark.sandbox
def test_the_sandbox_runs_the_helper_package_of_this_source_tree(sandbox_settings):
    # A stale copy would test yesterday's driver: re-run scripts/setup_sandbox.sh after changing the package.
    source = Path(settings.BASE_DIR) / "sandbox_runtime" / "t2j_contract"
    installed = next(Path(settings.T2J_SANDBOX_VENV, "lib").glob("python3*/site-packages/t2j_contract"))
    for path in source.glob("*.py"):
        assert (installed / path.name).read_bytes() == path.read_bytes(), f"{path.name}: run scripts/setup_sandbox.sh"


@pytest.mark.sandbox
@pytest.mark.django_db
@pytest.mark.parametrize("key", DEMO_KEYS)
def test_the_demo_contract_passes_the_fixed_translation(sandbox_settings, key):
    result = contracts.run_contract(demo_sample(key), _read(key, "fixed.py"))

    assert result.verdict == "passed", result.message
    assert [(s["name"], s["status"]) for s in result.stages] == [
        ("spec", "passed"),
        ("numeric", "passed"),
        ("behavioral", "passed"),
    ]


BUGS = [
    # (sample, old, new, stage that must fail, check named, words in the message)
    (
        "linreg",
        "def predict(params, x):",
        "def forward(params, x):",
        "spec",
        "jax_program.predict",
        "has no function named 'predict'",
    ),
    (
        "mlp",
        'x = nn.relu(nn.Dense(self.hidden, name="fc2")(x))',
        'x = nn.tanh(nn.Dense(self.hidden, name="fc2")(x))',
        "numeric",
        "forward logits",
        "exceed the tolerance",
    ),
    (
        "mlp",
        "jax.nn.log_softmax(logits, axis=1)",
        "jax.nn.log_softmax(logits, axis=0)",
        "numeric",
        "cross_entropy",
        "exceed the tolerance",
    ),
    (
        "linreg",
        "LEARNING_RATE = 0.1",
        "LEARNING_RATE = 0.01",
        "behavioral",
        "training loss at step 1",
        "exceed the tolerance",
    ),
    (
        "focal",
        "return optax.apply_updates(params, updates), opt_state, loss",
        "return params, opt_state, loss",
        "behavioral",
        "training loss at step 1",
        "exceed the tolerance",
    ),
]


@pytest.mark.sandbox
@pytest.mark.django_db
@pytest.mark.parametrize("key, old, new, stage, check, words", BUGS, ids=lambda v: v if v in DEMO_KEYS else None)
def test_a_typical_bug_fails_at_its_stage_with_a_clear_mismatch(sandbox_settings, key, old, new, stage, check, words):
    result = contracts.run_contract(demo_sample(key), mutated(key, old, new))

    assert result.verdict == "failed"
    failed = failed_stage(result)
    assert failed["name"] == stage
    assert failed["mismatch"]["check"] == check
    assert words in failed["mismatch"]["message"]
    order = [s["name"] for s in result.stages]
    assert all(s["status"] == "passed" for s in result.stages[: order.index(stage)])
    assert all(s["status"] == "not-reached" for s in result.stages[order.index(stage) + 1 :])
    assert result.message.startswith(f"failed at the {stage} stage: {check}")


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_numeric_mismatch_reports_values_and_tolerance(sandbox_settings):
    code = mutated("linreg", 'return x @ params["w"] + params["b"]', 'return x @ params["w"] - params["b"]')

    mismatch = failed_stage(contracts.run_contract(demo_sample("linreg"), code))["mismatch"]

    assert mismatch["check"] == "predict(params, x)"
    assert mismatch["max_abs"] > 0.1 and mismatch["rtol"] == 1e-5 and mismatch["atol"] == 1e-5
    assert isinstance(mismatch["index"], list) and "expected" in mismatch


# --- contract errors: never the translation's fault ------------------------------------------------------------


def tiny_sample(contract: str):
    return SampleFactory(pytorch_code=TINY_TORCH, contract=contract, contract_version=1)


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_crashing_contract_is_a_contract_error(sandbox_settings):
    sample = tiny_sample("def spec(torch_program, jax_program):\n    raise RuntimeError('the contract is broken')\n")

    result = contracts.run_contract(sample, TINY_TORCH)

    assert result.verdict == "contract-error"
    assert "RuntimeError: the contract is broken" in result.message
    assert result.stages == []


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_hanging_contract_is_a_contract_error(sandbox_settings):
    # It even ignores the driver's own stage alarm: the sandbox's wall-clock limit ends it.
    contract = (
        "import signal\n"
        "def spec(torch_program, jax_program):\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"
    )
    result = contracts.run_contract(tiny_sample(contract), TINY_TORCH, limits={"wall_s": 4})

    assert result.verdict == "contract-error"
    assert "time limit" in result.message
    assert Run.objects.get(pk=result.run_id).status == "timeout"


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_contract_that_floods_output_is_a_contract_error(sandbox_settings):
    contract = "def spec(torch_program, jax_program):\n    while True:\n        print('x' * 1000)\n"

    result = contracts.run_contract(tiny_sample(contract), TINY_TORCH, limits={"wall_s": 10})

    assert result.verdict == "contract-error"
    assert "output limit" in result.message


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_program_that_trains_at_import_gets_the_main_guard_explained(sandbox_settings):
    sample = demo_sample("linreg")
    unguarded = sample.pytorch_code.replace('if __name__ == "__main__":\n    main()', "main()")
    sample.pytorch_code = unguarded

    result = contracts.run_contract(sample, _read("linreg", "fixed.py"))

    assert result.verdict == "contract-error"
    assert "printed output while being imported" in result.message
    assert 'if __name__ == "__main__":' in result.hint


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_translation_cannot_forge_a_passing_result_line(sandbox_settings):
    # Written straight to the real stdout while a stage runs: without this run's nonce the line is ignored.
    forged = (
        "import json, os\n"
        "def double(x):\n"
        "    line = 'T2J-CONTRACT-RESULT 0 ' + json.dumps({'verdict': 'passed', 'stages': "
        "[{'name': 'numeric', 'status': 'passed', 'mismatch': None}]})\n"
        "    os.write(1, (line + '\\n').encode())\n"
        "    return 3 * x\n"
    )
    contract = (
        "from t2j_contract import assert_close\n"
        "def numeric(torch_program, jax_program):\n"
        "    assert_close('double', jax_program.double(2.0), torch_program.double(2.0))\n"
    )
    result = contracts.run_contract(tiny_sample(contract), forged)

    assert "T2J-CONTRACT-RESULT 0 " in Run.objects.get(pk=result.run_id).stdout
    assert result.verdict == "failed"
    assert failed_stage(result)["mismatch"]["check"] == "double"


# --- timing ---------------------------------------------------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.django_db
def test_the_contract_times_the_function_it_names_on_each_side(sandbox_settings):
    timing, _ = contracts.timing_run(demo_sample("linreg"), _read("linreg", "fixed.py"), repeats=3)

    for side in ("torch", "jax"):
        assert timing[side]["function"] == "train_step"
        assert len(timing[side]["repeats"]) == 3
        assert 0 < timing[side]["median_s"] < 5
    # The first JAX call compiles; it is kept apart from the timed repeats.
    assert timing["jax"]["first_s"] > timing["jax"]["median_s"]


@pytest.mark.sandbox
@pytest.mark.django_db
def test_timing_needs_a_contract_that_names_a_function(sandbox_settings):
    sample = tiny_sample("def spec(torch_program, jax_program):\n    pass\n")
    with pytest.raises(contracts.ContractProblem, match="names no function to time"):
        contracts.timing_run(sample, TINY_TORCH)


# --- what the host makes of the box's output (no sandbox needed) -----------------------------------------------


def _box_said(stdout: str, status: str = "ok") -> RunResult:
    return RunResult(status=status, exit_code=0, stdout=stdout)


def test_only_one_line_with_this_runs_nonce_counts():
    good = (
        '{"verdict": "failed", "stages": '
        '[{"name": "spec", "status": "failed", "mismatch": {"check": "c", "message": "m"}}]}'
    )
    assert contracts.parse_result(_box_said(f"T2J-CONTRACT-RESULT abc {good}\n"), "abc").verdict == "failed"
    assert contracts.parse_result(_box_said(f"T2J-CONTRACT-RESULT xyz {good}\n"), "abc").verdict == "contract-error"
    twice = f"T2J-CONTRACT-RESULT abc {good}\nT2J-CONTRACT-RESULT abc {good}\n"
    assert "more than one result line" in contracts.parse_result(_box_said(twice), "abc").message


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        '{"verdict": "great"}',
        '{"verdict": "passed", "stages": []}',
        '{"verdict": "passed", "stages": [{"name": "spec", "status": "failed", "mismatch": null}]}',
        '{"verdict": "failed", "stages": [{"name": "other", "status": "failed", "mismatch": null}]}',
    ],
)
def test_a_result_of_the_wrong_shape_is_a_contract_error(payload):
    result = contracts.parse_result(_box_said(f"T2J-CONTRACT-RESULT n {payload}\n"), "n")
    assert result.verdict == "contract-error"


@pytest.mark.parametrize("status", ["timeout", "memory", "output-limit", "killed", "refused"])
def test_a_run_the_sandbox_stopped_is_a_contract_error(status):
    passed = '{"verdict": "passed", "stages": [{"name": "spec", "status": "passed", "mismatch": null}]}'
    result = contracts.parse_result(_box_said(f"T2J-CONTRACT-RESULT n {passed}\n", status), "n")
    assert result.verdict == "contract-error" and result.exit_code == 2


# --- the workspace gate and the stored Run ---------------------------------------------------------------------


def _session_on(sample, code: str, owner) -> FixSession:
    translation = TranslationFactory(sample=sample, system=SystemFactory(name="weak-llm"), code=code)
    return FixSessionFactory(translation=translation, owner=owner, current_code=code)


@pytest.mark.sandbox
@pytest.mark.django_db
def test_verify_closes_a_session_only_when_the_contract_passes(sandbox_settings, developer):
    sample = demo_sample("linreg")
    session = _session_on(sample, mutated("linreg", "LEARNING_RATE = 0.1", "LEARNING_RATE = 0.5"), developer)

    outcome = fixlog.verify(session, developer, confirmed=False)

    session.refresh_from_db()
    assert not outcome.passed and session.status == SessionStatus.OPEN
    assert "behavioral" in outcome.message
    failed_run = Run.objects.get(pk=outcome.run_id)
    assert (failed_run.kind, failed_run.verdict, failed_run.session_id) == ("contract", "failed", session.pk)

    fixlog.save_code(session, _read("linreg", "fixed.py"), session.version, developer)
    outcome = fixlog.verify(session, developer, confirmed=False)

    session.refresh_from_db()
    assert outcome.passed and session.status == SessionStatus.VERIFIED
    assert session.verification["method"] == "contract"
    assert [s["status"] for s in session.verification["stages"]] == ["passed", "passed", "passed"]
    assert session.contract_version == 1 and session.verified_run_id == outcome.run_id
    run = Run.objects.get(pk=outcome.run_id)
    assert run.verdict == "passed" and run.contract_version == 1 and run.user == developer
    assert run.code == session.current_code  # the Run records the checked candidate, not the driver
    assert "spec passed, numeric passed, behavioral passed" in outcome.message


# --- stale marking ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_changing_a_contract_marks_sessions_verified_under_the_old_one_stale(admin_user):
    sample = SampleFactory(contract="def spec(t, j):\n    pass\n", contract_version=1)
    by_contract = FixSessionFactory(
        translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED, contract_version=1
    )
    by_clean_run = FixSessionFactory(translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED)
    still_open = FixSessionFactory(translation=TranslationFactory(sample=sample))

    stale = contracts.change_contract(sample, "def spec(t, j):\n    assert True\n", based_on=1, user=admin_user)

    assert stale == 1 and sample.contract_version == 2
    by_contract.refresh_from_db()
    assert by_contract.is_stale
    event = SessionEvent.objects.get(session=by_contract)
    assert event.kind == SessionEventKind.STALE and event.actor == admin_user
    assert event.detail == {"verified_under": 1, "contract_version": 2}
    for other in (by_clean_run, still_open):
        other.refresh_from_db()
        assert not other.is_stale

    # Saving the same text again changes nothing and marks nothing twice.
    assert contracts.change_contract(sample, sample.contract, based_on=2) == 0
    assert sample.contract_version == 2 and SessionEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_contract_change_based_on_an_old_version_or_invalid_python_is_refused():
    sample = SampleFactory(contract="def spec(t, j):\n    pass\n", contract_version=3)

    with pytest.raises(contracts.ContractProblem, match="changed meanwhile"):
        contracts.change_contract(sample, "def spec(t, j):\n    return\n", based_on=2)
    with pytest.raises(contracts.ContractProblem, match="not valid Python: line 1"):
        contracts.change_contract(sample, "def spec(:\n", based_on=3)

    sample.refresh_from_db()
    assert sample.contract_version == 3 and sample.contract == "def spec(t, j):\n    pass\n"


@pytest.mark.django_db
def test_running_without_a_contract_is_refused():
    with pytest.raises(contracts.ContractProblem, match="has no contract"):
        contracts.run_contract(SampleFactory(contract=""), "x = 1\n")
    assert Run.objects.count() == 0


# --- manage.py verify ------------------------------------------------------------------------------------------


@pytest.mark.sandbox
@pytest.mark.django_db
def test_verify_command_checks_the_open_session_and_exits_1_on_failure(sandbox_settings, developer):
    sample = demo_sample("linreg")
    session = _session_on(sample, _read("linreg", "fixed.py"), developer)
    FixSession.objects.filter(pk=session.pk).update(current_code=mutated("linreg", "def predict(", "def guess("))
    out = StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("verify", sample="linreg", system="weak-llm", stdout=out)

    assert exit_info.value.code == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == f"linreg by weak-llm: checking the open session {session.pk} code against contract v1"
    assert lines[1].startswith("  FAIL  spec: jax_program.predict")
    assert lines[2:4] == ["  ----  numeric", "  ----  behavioral"]
    assert lines[4].startswith("failed (run ")


@pytest.mark.sandbox
@pytest.mark.django_db
def test_verify_command_checks_the_draft_and_exits_0_when_it_passes(sandbox_settings):
    TranslationFactory(
        sample=demo_sample("focal"), system=SystemFactory(name="t2j-llm"), code=_read("focal", "fixed.py")
    )
    out = StringIO()

    call_command("verify", sample="focal", system="t2j-llm", stdout=out)

    assert "checking the draft code" in out.getvalue()
    assert ["  PASS  spec", "  PASS  numeric", "  PASS  behavioral"] == out.getvalue().splitlines()[1:4]


@pytest.mark.django_db
def test_verify_command_exits_2_when_there_is_nothing_to_check():
    with pytest.raises(CommandError, match="no translation of sample 'nope'") as error:
        call_command("verify", sample="nope", system="weak-llm", stdout=StringIO())
    assert error.value.returncode == 2

    TranslationFactory(sample=SampleFactory(key="plain", contract=""), system=SystemFactory(name="weak-llm"))
    with pytest.raises(CommandError, match="has no contract") as error:
        call_command("verify", sample="plain", system="weak-llm", stdout=StringIO())
    assert error.value.returncode == 2


@pytest.mark.django_db
def test_a_stored_contract_run_reads_back_for_the_stage_panel():
    stages = [
        {"name": "spec", "status": "passed", "mismatch": None},
        {"name": "numeric", "status": "failed", "mismatch": {"check": "forward logits", "message": "max abs diff 1"}},
        {"name": "behavioral", "status": "not-reached", "mismatch": None},
    ]
    run = RunFactory(kind="contract", verdict="failed", stages=stages)

    result = contracts.result_of(run)

    assert (result.verdict, result.stages, result.run_id) == ("failed", stages, run.pk)
    assert result.message == "failed at the numeric stage: forward logits: max abs diff 1"
    assert contracts.stage_summary(stages) == "spec passed, numeric failed, behavioral not-reached"


@pytest.mark.parametrize(
    "contract, names",
    [
        (_read("lstm", "contract.py"), True),
        ("TIME = {'torch': 'f', 'jax': 'f'}\n\ndef timing(t, j):\n    return {}\n", True),
        ("TIME: dict = {}\n\ndef timing(t, j):\n    return {}\n", True),
        ("def timing(t, j):\n    return {}\n", False),  # nothing named
        ("TIME = {}\n", False),  # no calls to time
        ("def spec(t, j):\n    TIME = 1\n    def timing(): ...\n", False),  # not at the top level
        ("def broken(:\n", False),
        ("", False),
    ],
)
def test_whether_a_contract_names_functions_to_time_is_read_without_running_it(contract, names):
    assert contracts.names_timed_functions(Sample(contract=contract)) is names


def test_what_the_box_reports_beside_the_stages_is_checked_before_it_is_kept():
    payload = {
        "verdict": "failed",
        "stages": [{"name": "numeric", "status": "failed", "mismatch": {"check": "test_loss", "message": "m"}}],
        "tests": [
            {"name": "test_loss", "stage": "numeric", "outcome": "failed", "message": "x" * 5000, "duration_s": 0.5},
            {"name": "test_forged", "stage": "nowhere", "outcome": "passed"},
            {"name": "test_odd", "stage": "numeric", "outcome": "great"},
            "not a test",
        ],
        "imports": [
            {"module": "torch_program", "seconds": 1.5, "output": "epoch 1\n", "truncated": False},
            {"module": "/etc/passwd", "seconds": 1, "output": ""},
        ],
        "shapes": {"model parameters": {"params": {"w": [3, 1]}}, "bad": {"w": ["x"]}},
    }
    result = contracts.parse_result(_box_said(f"T2J-CONTRACT-RESULT n {json.dumps(payload)}\n"), "n")

    assert [test["name"] for test in result.tests] == ["test_loss"]
    assert len(result.tests[0]["message"]) == contracts.MAX_TEXT
    assert result.report["imports"] == [
        {"module": "torch_program", "seconds": 1.5, "output": "epoch 1\n", "truncated": False}
    ]
    assert result.report["shapes"] == {"model parameters": {"params": {"w": [3, 1]}}}
    assert result.expected_shapes == [("model parameters", "params.w (3, 1)")]


def test_a_contract_error_keeps_only_the_stages_that_passed_before_it():
    payload = {
        "verdict": "contract-error",
        "stages": [
            {"name": "spec", "status": "passed", "mismatch": None},
            {"name": "numeric", "status": "failed", "mismatch": {"check": "forged"}},
        ],
        "error": {"message": "the contract is unfinished at its numeric stage: TODO 5", "hint": "finish it"},
    }
    result = contracts.parse_result(_box_said(f"T2J-CONTRACT-RESULT n {json.dumps(payload)}\n"), "n")

    assert result.verdict == "contract-error" and result.exit_code == 2
    assert result.stages == [{"name": "spec", "status": "passed", "mismatch": None}]
    assert (result.message, result.hint) == ("the contract is unfinished at its numeric stage: TODO 5", "finish it")
