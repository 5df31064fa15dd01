"""The step prefill: the record-step form starts from the error of the code the step starts from, the change
since the last step, the suggested category with its reason, and similar shared fixes with why they matched."""

from __future__ import annotations

import pytest

from annotate import fixlog, prefill
from annotate.models import RunKind, RunStatus, SessionStatus
from tests.annotate.factories import FixStepFactory
from tests.annotate.fix_sessions import DRAFT, FIXED, failing_run, open_session

pytestmark = pytest.mark.django_db

E1 = "TypeError: unexpected PRNG key type <class 'tuple'>"
E2 = "TypeError: LSTMCell.initialize_carry() missing 1 required positional argument: 'input_shape'"


def run_on(session, code: str, error: str = "", **kwargs):
    """A failing run of `code` (saved first, as the workspace's Run button does)."""
    if code != session.current_code:
        fixlog.save_code(session, code, session.version, session.owner)
    exception_type, _, message = error.partition(": ")
    return failing_run(session, code=code, exception_type=exception_type, exception_message=message, **kwargs)


def test_the_step_prefill_comes_from_the_failing_run_and_the_diff(developer):
    session = open_session(developer)
    run = failing_run(session)
    fixlog.save_code(session, FIXED, 1, developer)

    step_prefill = prefill.prefill_step(session)

    assert step_prefill.error.startswith("TypeError: JAX arrays are immutable")
    assert step_prefill.run_id == run.pk and step_prefill.chosen.on_snapshot
    assert "x[0] = 1.0" in step_prefill.error_code and "x.at[0]" not in step_prefill.error_code
    assert "x = x.at[0].set(1.0)" in step_prefill.fixed_code
    assert step_prefill.category == "inplace-mutation"
    assert step_prefill.category_reason.startswith("the error's wording")
    assert (step_prefill.code_before, step_prefill.code_after) == (DRAFT, FIXED)


def test_the_error_is_the_one_the_starting_code_showed_not_the_latest(developer):
    """Run (E1) -> fix that line -> Run (E2) -> Record step: the step answers E1."""
    session = open_session(developer)
    first = run_on(session, DRAFT, E1)
    second = run_on(session, FIXED, E2)

    step_prefill = prefill.prefill_step(session)

    assert (step_prefill.error, step_prefill.run_id) == (E1, first.pk)
    assert step_prefill.category == "prng"
    assert [choice.run for choice in step_prefill.choices] == [second, first]
    assert [choice.on_snapshot for choice in step_prefill.choices] == [False, True]


def test_the_latest_failing_run_on_the_starting_code_wins(developer):
    session = open_session(developer)
    run_on(session, DRAFT, "TypeError: older")
    latest = run_on(session, DRAFT, E1)
    run_on(session, FIXED, E2)

    assert prefill.prefill_step(session).run_id == latest.pk


def test_without_a_run_on_the_starting_code_the_first_failing_run_after_it_is_taken(developer):
    session = open_session(developer)
    first_after = run_on(session, FIXED, E1)
    run_on(session, FIXED + "print(1)\n", E2)

    step_prefill = prefill.prefill_step(session)

    assert step_prefill.run_id == first_after.pk and not step_prefill.chosen.on_snapshot


def test_the_next_step_starts_from_the_last_steps_code_and_its_runs(developer):
    session = open_session(developer)
    run_on(session, DRAFT, E1)
    on_fixed = run_on(session, FIXED, E2)  # ran before the step was recorded, on the code the next step starts from
    fixlog.record_step(session, developer, fix_info="split the key", error=E1)

    step_prefill = prefill.prefill_step(session)

    assert (step_prefill.error, step_prefill.run_id) == (E2, on_fixed.pk)
    assert [choice.run for choice in step_prefill.choices] == [on_fixed]  # the older run on the draft is no choice


def test_a_contract_failure_gives_its_first_mismatch(developer):
    session = open_session(developer)
    fixlog.save_code(session, DRAFT.replace("zeros(3)", "ones(3)"), 1, developer)
    stages = [
        {"name": "spec", "status": "passed", "mismatch": None},
        {"name": "numeric", "status": "failed",
         "mismatch": {"check": "forward", "message": "max abs diff 0.5 exceeds the tolerance", "expected": 1.0,
                      "actual": 1.5}},
        {"name": "behavioral", "status": "not-reached", "mismatch": None},
    ]  # fmt: skip
    run = failing_run(session, kind=RunKind.CONTRACT, status=RunStatus.OK, exception_type="", code=DRAFT,
                      verdict="failed", stages=stages)  # fmt: skip

    step_prefill = prefill.prefill_step(session)

    assert step_prefill.error == (
        "Contract mismatch at the numeric stage, check forward: max abs diff 0.5 exceeds the tolerance\n"
        "expected 1.0, got 1.5"
    )
    assert (step_prefill.run_id, step_prefill.chosen.source) == (run.pk, "contract")
    assert step_prefill.category == "numerical"


def test_clean_runs_refusals_and_contract_errors_are_no_error_to_answer(developer):
    session = open_session(developer)
    failing_run(session, status=RunStatus.OK, exception_type="")
    failing_run(session, status=RunStatus.REFUSED, exception_type="")
    failing_run(session, kind=RunKind.CONTRACT, status=RunStatus.OK, verdict="contract-error")
    failing_run(session, kind=RunKind.CONTRACT, status=RunStatus.OK, verdict="passed")

    step_prefill = prefill.prefill_step(session)

    assert (step_prefill.error, step_prefill.choices, step_prefill.chosen) == ("", [], None)


def test_another_run_can_be_picked(developer):
    session = open_session(developer)
    run_on(session, DRAFT, E1)
    later = run_on(session, FIXED, E2)

    step_prefill = prefill.prefill_step(session, run_id=later.pk)

    assert (step_prefill.error, step_prefill.run_id) == (E2, later.pk)


def test_the_error_of_a_run_without_an_exception_is_the_end_of_stderr(developer):
    session = open_session(developer)
    failing_run(
        session,
        status=RunStatus.TIMEOUT,
        exception_type="",
        exception_message="",
        stderr="a\nb\nkilled: wall-clock limit\n",
    )

    assert prefill.prefill_step(session).error == "a\nb\nkilled: wall-clock limit"


def test_the_step_prefill_ignores_failing_runs_of_code_before_the_last_step(developer):
    session = open_session(developer)
    failing_run(session)
    fixlog.save_code(session, FIXED, 1, developer)
    fixlog.record_step(session, developer, fix_info="fixed the in-place update", error="E")

    assert prefill.prefill_step(session).error == ""
    assert prefill.prefill_step(session).run_id is None


def test_similar_fixes_are_shared_steps_of_other_sessions(developer):
    shared = FixStepFactory(session__status=SessionStatus.VERIFIED, error="TypeError: item assignment immutable")
    session = open_session(developer)
    FixStepFactory(session=session, error="TypeError: item assignment immutable", author=developer)

    (found,) = prefill.similar_fixes(session, "TypeError: does not support item assignment")

    assert found.step == shared and "assignment" in found.shared_tokens
    assert prefill.similar_fixes(session, "") == []


def test_the_picker_shows_the_newest_runs_and_always_the_chosen_one(developer, django_assert_max_num_queries):
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)
    first_after = failing_run(session, code=FIXED, exception_message="the first")
    for n in range(prefill.MAX_CHOICES + 5):
        failing_run(session, code=FIXED, exception_message=f"later {n}")

    with django_assert_max_num_queries(12):
        step_prefill = prefill.prefill_step(session)

    assert step_prefill.run_id == first_after.pk and step_prefill.error == "TypeError: the first"
    assert len(step_prefill.choices) == prefill.MAX_CHOICES + 1
    assert step_prefill.choices[0].error == f"TypeError: later {prefill.MAX_CHOICES + 4}"
